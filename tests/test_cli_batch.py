"""A real `grader grade` batch: killed with SIGKILL midway and resumed, and run on Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline_factory import ROOT, edited, reference_notebook
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap
RUBRIC = "csc413-2023-a2"
VARIANTS = [
    ("PoolUpsampleNet", "nn.MaxPool2d(2)", "nn.AvgPool2d(2)"),
    ("ConvTransposeNet", "nf, nc = num_filters, num_colours", "nf, nc = 32, num_colours"),
    ("UNet", "torch.cat([x, x4], dim=1)", "torch.cat([x4, x], dim=1)"),
    ("PoolUpsampleNet", "            nn.ReLU(),\n", ""),
]


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    for i, (cls, old, new) in enumerate(VARIANTS):
        edited(RUBRIC, root / f"s{i}.ipynb", cls, old, new)
    for i in range(len(VARIANTS), 7):
        (root / f"s{i}.ipynb").write_bytes(reference_notebook(RUBRIC).read_bytes())
    (root / "s7.ipynb").write_text("{", encoding="utf-8")
    return root


def command(klass: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(klass), "--rubric", RUBRIC,
            "--out", str(out), "--quiet", *extra]


def gradebook(out: Path) -> list[dict]:
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    return sorted(rows, key=lambda r: r["student"])


def scores(out: Path) -> dict[str, list]:
    """Per student, every check's status and score (what must not depend on how it ran)."""
    found = {}
    for path in sorted(out.glob("*/result.json")):
        r = json.loads(path.read_text())
        found[r["student"]] = [(q["id"], c["id"], c["status"], c["score"])
                               for q in r["questions"] for c in q["checks"]]
    return found


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def uninterrupted(klass, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    proc = subprocess.run(command(klass, out, "--workers", "2"), capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_kill_9_midway_then_rerun_gives_the_same_gradebook(klass, uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(command(klass, out, "--workers", "1"), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(out.glob("*/result.json"))) < 2 and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the batch finished before it could be killed")
        time.sleep(0.05)
    workers = children(proc.pid)
    assert workers, "the batch grades on worker processes"
    os.kill(proc.pid, signal.SIGKILL)   # only the batch process: its workers must follow
    proc.wait()
    deadline = time.monotonic() + 20
    while [p for p in workers if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)], "workers outlived their batch"
    done_before = len(list(out.glob("*/result.json")))
    assert 2 <= done_before < 8
    assert not (out / "gradebook.csv").exists()
    again = subprocess.run(command(klass, out, "--workers", "2"), capture_output=True, text=True,
                           timeout=600, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{8 - done_before} graded now, {done_before} already graded" in again.stdout
    assert gradebook(out) == gradebook(uninterrupted)
    assert scores(out) == scores(uninterrupted)
    assert not list(out.glob("**/.*.tmp")), "no half-written file may survive"


def test_a_local_dask_cluster_gives_the_same_results(klass, uninterrupted, tmp_path):
    out = tmp_path / "dask"
    proc = subprocess.run(command(klass, out, "--dask", "local", "--workers", "2"),
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert scores(out) == scores(uninterrupted)
    assert gradebook(out) == gradebook(uninterrupted)


def test_the_gradebook_has_a_row_per_submission_and_the_faults_cost_points(uninterrupted):
    rows = {r["student"]: r for r in gradebook(uninterrupted)}
    assert len(rows) == 8
    assert float(rows["s0"]["4.1"]) < 0.5            # AvgPool instead of MaxPool
    assert float(rows["s1"]["5.1"]) < 0.5            # hard-coded num_filters
    assert float(rows["s2"]["6.1"]) == pytest.approx(0.5)   # concat order is free
    assert float(rows["s3"]["4.1"]) < 0.5            # a missing ReLU
    assert rows["s7"]["status"] == "error"
    for student in ("s4", "s5", "s6"):
        assert float(rows[student]["total"]) == pytest.approx(1.5)
