"""One student's failure, at any stage, is that student's row and never a crashed batch.

A failure is injected (grader.faults, `GRADER_FAULTS`) into each stage for one student of a
small class: reading the submission, observing the models, judging the checks, rendering the
report, writing the class outputs. Everyone else is graded in full and every class output is
written; the injected rows are `internal`, keep what was graded before the failure, and say so.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import pytest

from grader.batch.run import grade_batch
from grader.batch.store import ResultStore
from grader.pipeline import Options
from tests.pipeline_factory import reference_notebook
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap
RUBRIC = "csc413-2023-a2"
FAULTS = {"bob": "ingest", "carol": "observe", "dave": "checks", "erin": "report",
          "frank": "export"}


def _class(folder, students):
    folder.mkdir(parents=True, exist_ok=True)
    for student in students:
        shutil.copyfile(reference_notebook(RUBRIC), folder / f"{student}.ipynb")
    return folder


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    klass = _class(root / "class", ["alice", *FAULTS])
    spec = ",".join(f"{stage}={student}" for student, stage in FAULTS.items())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADER_FAULTS", spec)
        summary = grade_batch([klass], RUBRIC, root / "out", Options(checks="static"),
                              workers=2, quiet=True)
    return summary, root / "out"


def test_every_student_has_a_row_and_every_class_output_is_written(batch):
    summary, out = batch
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == {"alice", *FAULTS}
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == 1.5
    for student in FAULTS:
        assert rows[student]["status"] == "internal", student
    assert (out / "index.html").is_file()
    for student in ["alice", *FAULTS]:
        assert (out / student / "report.html").is_file(), student
        assert (out / student / "report-ta.html").is_file(), student
    assert summary.internal == len(FAULTS) and summary.needs_attention
    assert summary.total == 6 and not summary.failed_outputs


def test_each_injected_row_says_what_failed_and_keeps_the_traceback_for_staff(batch):
    _, out = batch
    store = ResultStore(out)
    for student, stage in FAULTS.items():
        result = store.load(student)
        assert result is not None, stage
        assert result.status == "internal", student
        text = " ".join(p.message for p in result.problems)
        assert "injected failure" in text, (student, text)
        assert any("InjectedFault" in line for p in result.problems for line in p.traceback)
    # A failure after grading keeps the grades: the report (erin) and the class outputs (frank).
    assert store.load("frank").score == pytest.approx(1.5)
    erin = store.load("erin")
    assert erin.score == pytest.approx(1.5)
    assert "could not produce your full report" in (out / "erin" / "report.html").read_text()
    assert "InjectedFault" not in (out / "erin" / "report.html").read_text()
    assert "InjectedFault" in (out / "erin" / "report-ta.html").read_text()


def test_a_failure_while_observing_costs_only_what_it_reached(batch):
    _, out = batch
    carol = ResultStore(out).load("carol")
    assert all(c.status != "passed" for q in carol.questions for c in q.checks)
    assert "while observing the models" in carol.error.message


def test_the_command_exits_3_when_rows_need_attention(tmp_path):
    klass = _class(tmp_path / "class", ["alice", "bob"])
    env = {**__import__("os").environ, "GRADER_FAULTS": "checks=bob"}
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(klass), "--rubric",
                           RUBRIC, "--out", str(tmp_path / "out"), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "need a TA's attention" in proc.stderr
    assert "1 with grader failures" in proc.stdout
