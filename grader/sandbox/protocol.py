"""Length-prefixed JSON messages with raw byte attachments, over pipes.

A message is one frame holding a JSON object, followed by one frame per attachment it lists in
`"blobs": [[name, size], ...]`. A frame is a 4-byte big-endian length and that many bytes. Both
ends use this module; the trusted end reads with a deadline and hard size caps because the other
end runs student code's neighbour and may send anything. Nothing here ever unpickles.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from pathlib import PurePosixPath
from typing import Any

_LEN = struct.Struct(">I")
MAX_FRAME = (1 << 32) - 1


class ProtocolError(Exception):
    """The peer sent something malformed, too large, or went away."""


class PeerClosed(ProtocolError):
    """End of file: the peer process exited or closed its end."""


class Deadline(ProtocolError):
    """No complete message arrived in time."""


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def send_message(fd: int, header: dict[str, Any], blobs: dict[str, bytes] | None = None) -> None:
    """Write one message; `blobs` travel as raw frames after the JSON header."""
    blobs = blobs or {}
    header = dict(header, blobs=[[name, len(data)] for name, data in blobs.items()])
    payload = json.dumps(header, separators=(",", ":")).encode()
    if any(len(data) > MAX_FRAME for data in blobs.values()) or len(payload) > MAX_FRAME:
        raise ProtocolError("message part too large for one frame")
    write_all(fd, _LEN.pack(len(payload)) + payload)
    for data in blobs.values():  # one write per part: artifacts may be hundreds of MiB
        write_all(fd, _LEN.pack(len(data)))
        write_all(fd, data)


class Reader:
    """Buffered frame reader on a blocking pipe fd, with an optional deadline per message."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray()

    def _fill(self, need: int, deadline: float | None) -> None:
        while len(self._buf) < need:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Deadline("timed out waiting for the peer")
                ready, _, _ = select.select([self.fd], [], [], left)
                if not ready:
                    continue
            chunk = os.read(self.fd, max(need - len(self._buf), 1 << 16))
            if not chunk:
                raise PeerClosed("peer closed the pipe")
            self._buf += chunk

    def _take(self, n: int, deadline: float | None) -> bytes:
        self._fill(n, deadline)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read_frame(self, deadline: float | None, cap: int) -> bytes:
        (length,) = _LEN.unpack(self._take(_LEN.size, deadline))
        if length > cap:
            raise ProtocolError(f"frame of {length} bytes exceeds the cap of {cap}")
        return self._take(length, deadline)

    def read_message(self, deadline: float | None = None, max_json: int = 64 << 20,
                     max_blobs: int = 1 << 30) -> tuple[dict[str, Any], dict[str, bytes]]:
        """One message; every size is checked against the caps before anything is buffered."""
        raw = self.read_frame(deadline, max_json)
        try:
            header = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"malformed message: {exc}") from None
        if not isinstance(header, dict):
            raise ProtocolError("message is not a JSON object")
        listed = header.pop("blobs", [])
        if not isinstance(listed, list) or not all(
                isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int) and item[1] >= 0 for item in listed):
            raise ProtocolError("malformed attachment list")
        if sum(size for _, size in listed) > max_blobs:
            raise ProtocolError("attachments exceed the cap")
        blobs: dict[str, bytes] = {}
        for name, size in listed:
            data = self.read_frame(deadline, size)
            if len(data) != size or name in blobs:
                raise ProtocolError(f"attachment {name!r} does not match its listing")
            blobs[name] = data
        return header, blobs


def safe_relative(name: object) -> PurePosixPath:
    """A relative path that stays below its folder, or ValueError (input and artifact names)."""
    if not isinstance(name, str) or not name or "\0" in name or len(name) > 255:
        raise ValueError(f"bad file name {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or path.as_posix() != name or ".." in path.parts:
        raise ValueError(f"file name {name!r} must be a plain relative path inside its folder")
    return path
