"""From inside the bwrap sandbox, try to reach the network, read what is not ours, write outside
scratch, and escalate; each attempt must fail inside and leave the host untouched."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from grader.sandbox import Sandbox
from tests.sandbox_factory import FAST, echo, needs_bwrap, token, wait_until

pytestmark = [needs_bwrap, pytest.mark.sandbox]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(FAST, workers=1, preload=(), require_isolation=True) as sb:
        yield sb


def attempts(paths: list[str], action: str) -> str:
    """Echo code that tries `action` on each path and records what happened."""
    return f"""
        import os
        outcome = {{}}
        for path in {paths!r}:
            try:
                {action}
                outcome[path] = "DONE"
            except OSError as exc:
                outcome[path] = type(exc).__name__
    """


def test_isolation_report_says_what_is_in_force(sandbox):
    iso = sandbox.run(echo("x = 1", "x")).isolation
    assert iso["mechanism"] == "bwrap" and iso["pid_namespace"] and iso["network"].startswith(
        "isolated")
    assert iso["warnings"] == []
    assert iso["rlimits"]["CORE"] == [0, 0] and iso["rlimits"]["CPU"][0] == FAST.cpu
    readable = iso["filesystem"]["read_only"]
    assert str(REPO / "grader") in readable and str(REPO) not in readable


def test_host_loopback_server_is_unreachable(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    # Sanity: the server really is reachable from the host itself.
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert wait_until(lambda: len(accepted) == 1, 2)
    outcome = sandbox.run(echo(f"""
        import socket
        tries = {{}}
        for host in ("127.0.0.1", "1.1.1.1", "8.8.8.8"):
            try:
                socket.create_connection((host, {port} if host == "127.0.0.1" else 53), timeout=2)
                tries[host] = "CONNECTED"
            except OSError as exc:
                tries[host] = type(exc).__name__
        interfaces = [name for _, name in socket.if_nameindex()]
    """, "[tries, interfaces]"))
    stop.set()
    thread.join()
    server.close()
    assert outcome.status == "ok", outcome.error
    tries, interfaces = outcome.result["value"]
    assert tries["127.0.0.1"] == "ConnectionRefusedError"
    assert "CONNECTED" not in tries.values()
    assert interfaces == ["lo"]
    assert len(accepted) == 1, "the sandbox reached the host's loopback server"


def test_cannot_read_other_submissions_reference_or_secrets(sandbox, tmp_path):
    classroom = tmp_path / "class"
    (classroom / "alice").mkdir(parents=True)
    (classroom / "bob").mkdir()
    (classroom / "alice" / "a2.py").write_text("SECRET_ALICE = 1\n")
    targets = [str(classroom / "alice" / "a2.py"), str(REPO / "reference" / "models.py"),
               str(REPO / "rubrics"), str(REPO / "submissions"), str(REPO / "pyproject.toml"),
               "/root/.bashrc", "/etc/shadow", "/etc/ssh", "/proc/1/root/etc/hostname"]
    assert (REPO / "reference" / "models.py").exists() and Path("/etc/shadow").exists()
    # The bob submission's own file is given to the task and must stay readable.
    outcome = sandbox.run(
        echo(attempts(targets, "open(path).read() if os.path.isfile(path) else "
                      "os.listdir(path) if os.path.exists(path) else open(path)"),
             "[outcome, open('mine.py').read()]"),
        files={"mine.py": b"BOB = 2\n"})
    assert outcome.status == "ok", outcome.error
    seen, mine = outcome.result["value"]
    assert mine == "BOB = 2\n"
    leaked = {path: what for path, what in seen.items() if what == "DONE"}
    assert leaked == {}, f"readable from inside the sandbox: {leaked}"


def test_writes_outside_scratch_fail_and_nothing_appears_on_host(sandbox, tmp_path):
    word = token()
    targets = [f"/tmp/{word}", str(REPO / ".venv" / word), str(REPO / "grader" / word),
               str(REPO / word), f"/root/{word}", str(tmp_path / word), f"/{word}",
               f"/dev/{word}", f"/etc/{word}"]
    outcome = sandbox.run(echo(attempts(targets, "open(path, 'w').write('x')"), "outcome"))
    assert outcome.status == "ok", outcome.error
    # /tmp inside is the sandbox's private tmpfs: writes there are allowed, invisible here
    # (that includes the repo's paths when the clone lives under /tmp), but never into the
    # read-only interpreter, venv or grader binds.
    inside_ok = {p for p, what in outcome.result["value"].items() if what == "DONE"}
    assert all(p.startswith("/tmp/") for p in inside_ok), inside_ok
    assert not inside_ok & {str(REPO / ".venv" / word), str(REPO / "grader" / word)}
    for path in targets:
        assert not Path(path).exists(), f"{path} appeared on the host"
    assert not list(Path("/tmp").glob(f"*{word}*"))


def test_no_privileges_and_the_worker_cannot_be_inspected(sandbox):
    outcome = sandbox.run(echo("""
        import ctypes, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        caps = status["CapEff"].strip()
        libc = ctypes.CDLL(None, use_errno=True)
        userns = libc.unshare(0x10000000)          # CLONE_NEWUSER
        worker = os.getppid()
        peeks = {}
        for what in ("mem", "environ", "maps"):
            try:
                with open(f"/proc/{worker}/{what}", "rb") as fh:
                    fh.read(64)
                peeks[what] = "READ"
            except OSError as exc:
                peeks[what] = type(exc).__name__
        ptrace = libc.ptrace(16, worker, None, None)  # PTRACE_ATTACH
        uid_map = open("/proc/self/uid_map").read().split()
    """, "[caps, userns, peeks, ptrace, os.getpid(), uid_map]"))
    assert outcome.status == "ok", outcome.error
    caps, userns, peeks, ptrace, pid, uid_map = outcome.result["value"]
    assert caps == "0000000000000000"
    assert userns == -1, "nested user namespaces must be disabled"
    assert set(peeks.values()) == {"PermissionError"}
    assert ptrace == -1
    assert pid < 100, "the task must live in its own pid namespace"
    assert uid_map[2] == "1", "only one uid may be mapped into the sandbox"


def test_grader_environment_does_not_reach_the_sandbox(monkeypatch):
    secret = token()
    monkeypatch.setenv("GRADER_TEST_SECRET", secret)
    with Sandbox(FAST, workers=1, preload=()) as sb:
        outcome = sb.run(echo("""
            import os
            seen = []
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        seen.append(open(f"/proc/{pid}/environ", "rb").read().decode())
                    except OSError:
                        pass
            seen.append(repr(dict(os.environ)))
        """, "seen"))
    assert outcome.status == "ok", outcome.error
    assert len(outcome.result["value"]) >= 2
    assert not [text for text in outcome.result["value"] if secret in text]
