"""The `grader` command as a TA and a student run it: real processes, real output folders."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.rubric.schema import shipped_rubrics
from tests.pipeline_factory import ROOT, edited, reference_notebook
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap
RUBRIC = "csc413-2023-a2"


def grader(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    """A small class: the reference, a buggy notebook, a corrupt file and a folder submission."""
    root = tmp_path_factory.mktemp("class")
    (root / "alice.ipynb").write_bytes(reference_notebook(RUBRIC).read_bytes())
    edited(RUBRIC, root / "bob.ipynb", "PoolUpsampleNet", "nn.MaxPool2d(2)", "nn.AvgPool2d(2)")
    (root / "carol.ipynb").write_text("{not json", encoding="utf-8")
    (root / "dave").mkdir()
    (root / "dave" / "a2.ipynb").write_bytes(reference_notebook(RUBRIC).read_bytes())
    (root / "notes.txt").write_text("not a submission", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def graded(klass, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = grader("grade", str(klass), "--rubric", RUBRIC, "--out", str(out), "--workers", "2",
                  "--export", "canvas")
    return proc, out


def test_grade_writes_every_row_report_and_class_page(graded):
    proc, out = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 submission(s): 4 graded now" in proc.stdout
    assert "ignored" in proc.stdout and "notes.txt" in proc.stdout
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == {"alice", "bob", "carol", "dave"}
    assert float(rows["alice"]["total"]) == pytest.approx(1.5)
    assert float(rows["dave"]["total"]) == pytest.approx(1.5)
    assert float(rows["bob"]["4.1"]) < 0.5 and float(rows["bob"]["5.1"]) == pytest.approx(0.5)
    assert rows["carol"]["status"] == "error"
    for student in rows:
        result = json.loads((out / student / "result.json").read_text())
        assert result["student"] == student
        assert (out / student / "report.html").is_file()
        assert (out / student / "results.json").is_file()  # Gradescope
    bob = (out / "bob" / "report.html").read_text()
    assert "AvgPool2d" in bob and "MaxPool2d" in bob  # the deduction, in the student's words
    index = (out / "index.html").read_text()
    assert "bob/report.html" in index and "carol" in index
    assert (out / "canvas.csv").is_file()


def test_rerun_reuses_results_and_regrades_only_what_changed(graded, klass):
    _, out = graded
    before = (out / "gradebook.csv").read_text()
    again = grader("grade", str(klass), "--rubric", RUBRIC, "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 graded now, 4 already graded" in again.stdout
    assert (out / "gradebook.csv").read_text() == before
    # bob fixes his notebook: only bob is graded again
    (klass / "bob.ipynb").write_bytes(reference_notebook(RUBRIC).read_bytes())
    fixed = grader("grade", str(klass), "--rubric", RUBRIC, "--out", str(out))
    assert "1 graded now, 3 already graded" in fixed.stdout
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert float(rows["bob"]["total"]) == pytest.approx(1.5)


def test_check_prints_a_summary_and_writes_the_students_report(tmp_path):
    path = edited(RUBRIC, tmp_path / "mine.ipynb", "UNet", "torch.cat([x1, x3], dim=1)", "x3")
    path = edited(RUBRIC, path, "UNet", "_up(nf + nf, nc, kernel)", "_up(nf, nc, kernel)",
                  source=path)
    proc = grader("check", str(path), "--rubric", RUBRIC, "--json", "me.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "6.1" in proc.stdout and "skip connection" in proc.stdout
    assert "hidden" in proc.stdout  # hidden checks are announced, not run
    report = (tmp_path / "grader-report.html").read_text()
    assert "skip connection" in report
    result = json.loads((tmp_path / "me.json").read_text())
    assert result["public_only"] is True
    assert all(c["status"] == "skipped" for q in result["questions"] for c in q["checks"]
               if c["visibility"] == "hidden")


@pytest.mark.parametrize("rubric_id", shipped_rubrics())
def test_selftest_passes_on_the_reference_notebooks(tmp_path, rubric_id):
    proc = grader("selftest", "--rubric", rubric_id, "--checks", "static",
                  "--out", str(tmp_path / "st"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "FULL MARKS" in proc.stdout


def test_a_bad_rubric_is_a_clear_error_with_its_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "rubrics" / f"{RUBRIC}.yaml").read_text().replace("kind: output_shape",
                                                                     "kind: output_shap", 1)
    bad.write_text(text)
    proc = grader("grade", str(reference_notebook(RUBRIC)), "--rubric", str(bad),
                  "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "bad.yaml:" in proc.stderr and "output_shap" in proc.stderr
    assert "did you mean 'output_shape'" in proc.stderr


def test_self_check_needs_no_reference_code(tmp_path):
    """A student's machine has the grader and the compiled rubric, not the reference."""
    script = ("import sys; sys.modules['reference'] = None\n"
              "from grader.cli import main\n"
              f"raise SystemExit(main(['check', {str(reference_notebook(RUBRIC))!r}, "
              f"'--rubric', {RUBRIC!r}, '--json', 'me.json']))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "me.json").read_text())
    assert result["assessed_max_score"] > 0
    assert result["score"] == pytest.approx(result["assessed_max_score"])
