"""kill -9 in the middle of a batch loses nothing: rerun it and the gradebook is the same.

The batch is a real separate process (`python -m tests.batch_factory`: discover, skip what is
current, grade on a pool, store each result, write the gradebook). It is SIGKILLed once some
results are on disk, then run again to completion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch_factory import make_files

ROOT = Path(__file__).resolve().parents[1]
N = 24


def _batch(class_dir: Path, out: Path, log: Path, engine: str) -> list[str]:
    return [sys.executable, "-m", "tests.batch_factory", str(class_dir), str(out),
            "--workers", "2", "--delay", "0.12", "--log", str(log), "--engine", engine]


def _complete(out: Path) -> set[str]:
    return {p.parent.name for p in out.glob("*/result.json")}


def _graded(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [line.split()[1] for line in log.read_text().splitlines()
            if line.startswith("graded ")]


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


def _run(cmd: list[str], timeout: float = 120) -> None:
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=timeout, start_new_session=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, Path]:
    """The class folder and the output of a batch that ran start to finish."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    class_dir = tmp / "class"
    make_files(class_dir, N)
    reference = tmp / "reference"
    _run(_batch(class_dir, reference, tmp / "ref.log", "local"))
    assert len(_complete(reference)) == N
    return class_dir, reference


@pytest.mark.parametrize(("engine", "kill_after"), [("local", 3), ("local", 13), ("dask", 7)])
def test_kill_9_midway_then_rerun_gives_the_same_gradebook(tmp_path, uninterrupted, engine,
                                                           kill_after):
    class_dir, reference = uninterrupted

    out = tmp_path / "out"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    proc = subprocess.Popen(_batch(class_dir, out, first_log, engine), cwd=ROOT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while len(_complete(out)) < kill_after:
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        done_before = _complete(out)
        assert kill_after <= len(done_before) < N
        assert not (out / "gradebook.csv").exists()
    finally:
        try:  # the killed batch's own workers, if any outlived it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    _run(_batch(class_dir, out, second_log, engine))
    regraded = _graded(second_log)
    assert not set(regraded) & done_before, "a complete result was graded again"
    assert sorted(regraded) == sorted(set(regraded))
    assert set(regraded) | done_before == {f"s{i:03d}" for i in range(N)}
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    assert (out / "gradebook.csv").read_bytes() == (reference / "gradebook.csv").read_bytes()
    assert _tree(out) == _tree(reference)  # every result.json and artifact, byte for byte
