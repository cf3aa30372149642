"""`grader grade` on the folders TAs download from their LMS, with the course's late policy:
the right students, the latest attempts, a visible penalty line, extensions that apply on the
next run without regrading."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from grader.batch.store import ResultStore
from grader.rubric.schema import RUBRICS_DIR
from tests import lms_factory as lms
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap
LATE = """
late:
  deadline: "2023-03-10T17:00:00-05:00"
  per: day
  penalty: 10
  cap: 30
  grace_hours: 0.25
"""


def _rubric(tmp: Path) -> Path:
    path = tmp / "csc413-2023-a2.yaml"
    path.write_text((RUBRICS_DIR / "csc413-2023-a2.yaml").read_text(encoding="utf-8") + LATE,
                    encoding="utf-8")
    return path


def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "grade", *args, "--quiet"],
                          capture_output=True, text=True, timeout=600)


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        return {r["student"]: r for r in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def markus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("markus")
    rubric = _rubric(tmp)
    download = lms.markus_download(tmp / "download")
    out = tmp / "out"
    first = _grade(str(download), "--rubric", str(rubric), "--out", str(out))
    return tmp, rubric, download, out, first


def test_markus_download_is_detected_and_the_late_group_gets_a_penalty_line(markus):
    _, _, _, out, first = markus
    assert first.returncode == 0, first.stderr
    assert "layout markus (detected: group folders beside MarkUs's submissions summary" \
        in first.stdout
    rows = _rows(out)
    assert set(rows) == {"lovelac1", "turinga2"}
    on_time, late = rows["lovelac1"], rows["turinga2"]
    assert on_time["adjustments"] == "" and on_time["final"] == on_time["total"]
    assert float(late["final"]) == pytest.approx(float(late["total"]) * 0.9)
    assert "late: submitted 16 h 30 min late (1 day started)" in late["adjustments"]
    assert late["submitted_at"] == "2023-03-11T09:30:00-05:00"
    report = (out / "turinga2" / "report.html").read_text(encoding="utf-8")
    assert "Late penalty" in report and "Final score" in report


def test_an_extension_recomputes_the_penalty_without_regrading(markus):
    tmp, rubric, download, out, _ = markus
    extensions = tmp / "extensions.csv"
    extensions.write_text("student,days,reason\nturinga2,1,medical note\n", encoding="utf-8")
    again = _grade(str(download), "--rubric", str(rubric), "--out", str(out),
                   "--extensions", str(extensions))
    assert again.returncode == 0, again.stderr
    assert "0 graded now, 2 already graded" in again.stdout
    late = _rows(out)["turinga2"]
    assert late["adjustments"] == "" and late["final"] == late["total"]
    assert ResultStore(out).load("turinga2").late is None
    assert "Late penalty" not in (out / "turinga2" / "report.html").read_text(encoding="utf-8")


def test_a_zipped_canvas_download_grades_the_newest_upload_per_student(tmp_path):
    rubric = _rubric(tmp_path)
    archive = lms.zipped(lms.canvas_download(tmp_path / "dl"), tmp_path / "submissions.zip")
    out = tmp_path / "out"
    done = _grade(str(archive), "--rubric", str(rubric), "--out", str(out))
    assert done.returncode == 3, done.stderr    # 23456's write-up needs a TA (below)
    assert "layout canvas (detected:" in done.stdout
    assert "ignored" in done.stdout and "roejim_34567_text.html" in done.stdout
    rows = _rows(out)
    assert set(rows) == {"12345", "23456"}
    assert float(rows["12345"]["total"]) == float(rows["12345"]["assessed_max"])  # the fix
    result = ResultStore(out).load("12345")
    assert result.submission.origin.layout == "canvas"
    assert [Path(e.path).name for e in result.submission.origin.earlier] == [
        "smithjohn_12345_678901_a2_code.ipynb"]
    # Canvas said LATE but gave no time: no penalty is invented, a TA is told.
    assert "canvas marked this submission late" in rows["23456"]["review"]
    # her writeup.pdf came with the notebook but is not a readable PDF: a TA reads it
    assert "could not read writeup.pdf" in rows["23456"]["review"]
    assert rows["23456"]["final"] == rows["23456"]["total"]
    # the class's similarity page is written and linked from the dashboard
    assert (out / "similarity.html").is_file()
    assert 'href="similarity.html"' in (out / "index.html").read_text(encoding="utf-8")


def test_zero_errors_turns_blank_uploads_into_zeros_for_unreadable_submissions(tmp_path):
    """A course that counts an unreadable hand-in as 0 says so once, on the command line, and
    both grade uploads agree; without the flag the cell is blank for a TA to decide."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_text("{ this is not a notebook", encoding="utf-8")

    def uploads(out: Path, *flags: str) -> tuple[str, str]:
        done = _grade(str(folder), "--rubric", "csc413-2023-a2", "--out", str(out),
                      "--export", "canvas", "--export", "markus", *flags)
        assert done.returncode == 0, done.stderr
        with open(out / "canvas.csv", newline="", encoding="utf-8") as handle:
            canvas = {r[0]: r for r in csv.reader(handle)}
        with open(out / "markus.csv", newline="", encoding="utf-8") as handle:
            markus = {r[0]: r for r in csv.reader(handle)}
        return canvas["alice"][-1], markus["alice"][-1]

    assert uploads(tmp_path / "blank") == ("", "")
    canvas, markus = uploads(tmp_path / "zero", "--zero-errors")
    assert float(canvas) == 0.0 and float(markus) == 0.0
