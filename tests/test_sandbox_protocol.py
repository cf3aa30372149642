"""The pipe protocol between the trusted side and the sandbox: framing, caps, deadlines, names."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest

from grader.sandbox.protocol import (
    Deadline,
    PeerClosed,
    ProtocolError,
    Reader,
    safe_relative,
    send_message,
)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_message_with_binary_attachments_round_trips(pipe):
    r, w = pipe
    blobs = {"w.npz": bytes(range(256)) * 10, "empty": b"", "ünï/cödé.bin": b"\x00\xff"}
    writer = threading.Thread(target=send_message, args=(w, {"op": "done", "x": [1, 2.5]}, blobs))
    writer.start()  # the payload is larger than a pipe buffer: reading must interleave
    header, got = Reader(r).read_message(time.monotonic() + 5)
    writer.join()
    assert header == {"op": "done", "x": [1, 2.5]}
    assert got == blobs


def test_large_attachment_streams_through_a_pipe(pipe):
    r, w = pipe
    big = os.urandom(3 << 20)
    writer = threading.Thread(target=send_message, args=(w, {"op": "a"}, {"big": big}))
    writer.start()
    _, got = Reader(r).read_message(time.monotonic() + 10)
    writer.join()
    assert got["big"] == big


def test_caps_are_checked_before_reading_the_payload(pipe):
    r, w = pipe
    os.write(w, struct.pack(">I", 10_000_000))  # claims 10 MB, sends nothing
    with pytest.raises(ProtocolError, match="exceeds the cap"):
        Reader(r).read_message(time.monotonic() + 1, max_json=1 << 20)


def test_attachment_total_cap(pipe):
    r, w = pipe
    send_message(w, {"op": "x"}, {"a": b"1" * 5000})
    with pytest.raises(ProtocolError, match="attachments exceed"):
        Reader(r).read_message(time.monotonic() + 1, max_blobs=4000)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"blobs": "nope"}',
                                     b'{"blobs": [["a", -1]]}', b"[" * 100_000])
def test_malformed_headers_are_protocol_errors(pipe, payload):
    r, w = pipe
    threading.Thread(target=os.write, args=(w, struct.pack(">I", len(payload)) + payload)).start()
    with pytest.raises(ProtocolError):
        Reader(r).read_message(time.monotonic() + 2)


def test_deadline_and_closed_peer(pipe):
    r, w = pipe
    start = time.monotonic()
    with pytest.raises(Deadline):
        Reader(r).read_message(time.monotonic() + 0.3)
    assert time.monotonic() - start < 2
    os.write(w, b"\x00\x00")  # half a length prefix, then the peer goes away
    os.close(w)
    with pytest.raises(PeerClosed):
        Reader(r).read_message(time.monotonic() + 1)


@pytest.mark.parametrize("name", ["a.py", "sub/dir/w.npz", "ünï.txt"])
def test_safe_relative_accepts_plain_names(name):
    assert safe_relative(name).as_posix() == name


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\0b",
                                  "x" * 300, 5, None])
def test_safe_relative_rejects_escapes(name):
    with pytest.raises(ValueError):
        safe_relative(name)
