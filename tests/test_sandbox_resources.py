"""Resource limits: memory, wall time, CPU time, process swarms and output volume are stopped,
reported with the right status, and leave a worker that runs the next task normally."""

from __future__ import annotations

import time

import pytest

from grader.sandbox import Sandbox
from tests.sandbox_factory import (
    FAST,
    echo,
    host_descendants,
    needs_bwrap,
    needs_cgroups,
)

pytestmark = [needs_bwrap, pytest.mark.sandbox]

FINE = echo("import os\nvalue = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())",
            "value")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(FAST, workers=1, preload=()) as sb:
        yield sb


def assert_next_task_fine(sb: Sandbox) -> None:
    outcome = sb.run(FINE)
    assert outcome.status == "ok", outcome.error
    assert len(outcome.result["value"]) == 3, "only init, the worker and this task may exist"


def test_a_20_gb_allocation_is_a_memory_outcome(sandbox):
    pids = sandbox.worker_pids()
    outcome = sandbox.run(echo("block = bytearray(20 * 1024**3)"))
    assert outcome.status == "memory", outcome.summary()
    assert "MemoryError" in outcome.error
    assert_next_task_fine(sandbox)
    assert sandbox.worker_pids() == pids, "a refused allocation must not cost the worker"


@needs_cgroups
def test_creeping_allocation_is_stopped_by_the_cgroup(sandbox):
    limits = FAST.replace(memory=200 << 20)
    outcome = sandbox.run(echo("""
        chunks = []
        while True:
            chunks.append(b"x" * (16 << 20))  # written, so really resident
    """), limits=limits)
    assert outcome.status == "memory", outcome.summary()
    assert outcome.resources["task_memory_bytes"] <= (200 << 20) * 1.2
    assert_next_task_fine(sandbox)


@needs_cgroups
@pytest.mark.parametrize("place", ["/dev/shm", "/scratch", "/tmp"])
def test_filling_a_tmpfs_counts_as_memory(sandbox, place):
    outcome = sandbox.run(echo(f"""
        with open("{place}/fill", "wb") as fh:
            for _ in range(100):
                fh.write(b"x" * (16 << 20))
    """), limits=FAST.replace(memory=200 << 20))
    assert outcome.status == "memory", outcome.summary()
    assert "out-of-memory" in outcome.summary()
    assert_next_task_fine(sandbox)


def test_spinning_forever_times_out_on_wall_time(sandbox):
    start = time.monotonic()
    outcome = sandbox.run(echo("while True:\n    pass"), limits=FAST.replace(timeout=2, cpu=60))
    took = time.monotonic() - start
    assert outcome.status == "timeout" and "wall time" in outcome.error
    assert 2 <= took < 4, took
    assert_next_task_fine(sandbox)


def test_sleeping_forever_times_out_too(sandbox):
    outcome = sandbox.run(echo("import time\ntime.sleep(3600)"), limits=FAST.replace(timeout=1))
    assert outcome.status == "timeout"
    assert outcome.resources["wall_s"] < 2.5


def test_cpu_limit_counts_cpu_not_wall(sandbox):
    start = time.monotonic()
    outcome = sandbox.run(echo("while True:\n    pass"), limits=FAST.replace(timeout=30, cpu=1))
    assert outcome.status == "timeout" and "CPU time" in outcome.error
    assert time.monotonic() - start < 6
    assert outcome.resources["cpu_s"] >= 0.9


def test_cpu_of_helper_processes_counts(sandbox):
    # Four processes share the budget: per-process RLIMIT_CPU alone would allow 4x.
    outcome = sandbox.run(echo("""
        import os
        for _ in range(3):
            if os.fork() == 0:
                break
        while True:
            pass
    """), limits=FAST.replace(timeout=30, cpu=2))
    assert outcome.status == "timeout" and "CPU time" in outcome.error
    assert outcome.resources["wall_s"] < 5


@needs_cgroups
def test_fork_bomb_is_bounded_and_cleaned_up():
    with Sandbox(FAST.replace(max_procs=48), workers=1, preload=()) as sb:
        outer = sb.worker_pids()[0]
        outcome = sb.run(echo("""
            import os, time
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.05)
        """), limits=FAST.replace(timeout=3))
        assert outcome.status == "timeout"
        assert outcome.resources["forks_refused"] > 0, "the process cap was never reached"
        # Left on the host: the zygote and at most two handlers (one exiting, one waiting).
        assert len(host_descendants(outer)) <= 3
        assert_next_task_fine(sb)


def test_huge_stdout_is_capped_and_stopped(sandbox):
    outcome = sandbox.run(echo("""
        import sys
        line = "spam " * 200 + "\\n"
        while True:
            sys.stdout.write(line)
    """))
    assert outcome.status == "output_limit", outcome.summary()
    assert "stdout" in outcome.truncated
    assert len(outcome.stdout) <= FAST.output
    assert outcome.stdout.startswith("spam spam")
    assert_next_task_fine(sandbox)


def test_moderate_output_is_truncated_but_the_task_succeeds(sandbox):
    outcome = sandbox.run(echo("""
        import sys
        print("x" * 600_000)
        print("warning!", file=sys.stderr)
    """, "42"))
    assert outcome.status == "ok" and outcome.result == {"value": 42}
    assert outcome.truncated == ["stdout"] and len(outcome.stdout) == FAST.output
    assert outcome.stderr == "warning!\n"


def test_oversized_result_and_artifacts_are_output_limit(sandbox):
    small = FAST.replace(result=10_000, artifacts=50_000)
    big_result = sandbox.run(echo("", "'x' * 20_000"), limits=small)
    assert big_result.status == "output_limit" and "result" in big_result.error
    big_files = sandbox.run(echo("""
        for i in range(3):
            (out_dir / f"w{i}.bin").write_bytes(b"0" * 30_000)
    """, "1"), limits=small)
    assert big_files.status == "output_limit" and "artifacts" in big_files.error
    assert big_files.artifacts == {}


def test_a_file_over_the_size_limit_cannot_be_written(sandbox):
    outcome = sandbox.run(echo("open('big', 'wb').write(b'0' * 3_000_000)"),
                          limits=FAST.replace(file_size=1_000_000))
    assert outcome.status == "output_limit"
    assert "File too large" in outcome.error
