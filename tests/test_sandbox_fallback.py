"""Without bubblewrap the sandbox must say so loudly, refuse when isolation is required, and still
enforce what it can: limits, process-tree cleanup, a private scratch folder."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from grader.sandbox import Sandbox, SandboxUnavailable, run_once
from grader.sandbox.launch import probe_bwrap
from tests.sandbox_factory import FAST, daemon_code, echo, host_processes_with, token


@pytest.fixture
def no_bwrap_on_path(monkeypatch):
    """A machine without bwrap: the real lookup on a PATH that does not contain it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    probe_bwrap.cache_clear()
    yield
    monkeypatch.undo()
    probe_bwrap.cache_clear()


def test_forced_fallback_is_reported_in_isolation_and_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="grader.sandbox"):
        with Sandbox(FAST, workers=1, preload=(), mechanism="none") as sb:
            outcome = sb.run(echo("import os", "os.getcwd()"))
    assert outcome.status == "ok", outcome.error
    iso = outcome.isolation
    assert iso["mechanism"] == "none" and iso["pid_namespace"] is False
    assert iso["network"].startswith("NOT isolated")
    assert any("NO SANDBOX ISOLATION" in w for w in iso["warnings"])
    assert any("NO SANDBOX ISOLATION" in r.getMessage() for r in caplog.records)
    scratch = iso["filesystem"]["scratch"]
    assert outcome.result["value"].startswith(scratch)
    assert not Path(scratch).exists(), "the host scratch folder must be removed with the pool"


def test_missing_bwrap_falls_back_loudly_or_refuses(no_bwrap_on_path):
    assert not probe_bwrap().works and "not installed" in probe_bwrap().reason
    with Sandbox(FAST, workers=1, preload=()) as sb:
        outcome = sb.run(echo("", "1"))
    assert outcome.status == "ok"
    assert any("not installed" in w for w in outcome.isolation["warnings"])
    with pytest.raises(SandboxUnavailable, match="not installed"):
        Sandbox(FAST, workers=1, preload=(), require_isolation=True).start()
    with pytest.raises(SandboxUnavailable):
        run_once(echo("", "1"), FAST, mechanism="bwrap")


def test_require_isolation_refuses_mechanism_none():
    with pytest.raises(SandboxUnavailable):
        run_once(echo("", "1"), FAST, mechanism="none", require_isolation=True)


def test_fallback_still_kills_daemons_before_reporting(tmp_path):
    word = token()
    marker = tmp_path / "daemon-was-here"
    outcome = run_once(echo(daemon_code(word, str(marker), delay=1.5)), FAST, mechanism="none")
    assert outcome.status == "ok", outcome.error
    assert host_processes_with(word) == []
    time.sleep(2)
    assert not marker.exists(), "a setsid'd grandchild survived the task"


def test_fallback_still_enforces_limits():
    with Sandbox(FAST, workers=1, preload=(), mechanism="none") as sb:
        assert sb.run(echo("x = bytearray(20 * 1024**3)")).status == "memory"
        spin = sb.run(echo("while True:\n    pass"), limits=FAST.replace(timeout=30, cpu=1))
        assert spin.status == "timeout"
        after = sb.run(echo("import os", "os.getpid()"))
        assert after.status == "ok" and after.result["value"] != os.getpid()


def test_frozen_worker_is_destroyed_by_the_trusted_side_and_replaced():
    """Without a pid namespace a task can stop the whole worker; the parent's deadline fires."""
    with Sandbox(FAST, workers=1, preload=(), mechanism="none") as sb:
        before = sb.worker_pids()
        start = time.monotonic()
        outcome = sb.run(echo("""
            import os, signal
            handler = os.getppid()
            zygote = int(open(f"/proc/{handler}/stat").read().rsplit(")", 1)[1].split()[1])
            os.kill(zygote, signal.SIGSTOP)
            os.kill(handler, signal.SIGSTOP)
        """), limits=FAST.replace(timeout=1, grace=1))
        assert outcome.status == "timeout" and "did not answer" in outcome.error
        assert time.monotonic() - start < 5
        assert sb.run(echo("", "'replaced'")).result == {"value": "replaced"}
        assert sb.worker_pids() != before


def test_kill_everything_is_refused_outside_a_sandbox_namespace():
    """kill(-1) run by mistake on the host would hit every process this user may signal."""
    from grader.sandbox.cleanup import TaskProcesses

    with pytest.raises(RuntimeError, match="refusing kill"):
        TaskProcesses(private_pid_namespace=True)
