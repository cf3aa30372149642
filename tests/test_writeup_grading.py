"""Written questions in `grader grade`: answers read from each student's write-up (given with
`--writeups`, handed in beside the notebook as a PDF, or in the notebook's Markdown) reach the
result, the report and the gradebook; no write-up is "not assessed", never zero."""

from __future__ import annotations

import csv
import json
import re

import nbformat
import pytest

from grader.batch.run import grade_batch
from grader.batch.store import ResultStore
from grader.pipeline import Options
from tests import lms_factory as lms
from tests.sandbox_factory import needs_bwrap
from tests.writeup_factory import write_pdf

pytestmark = needs_bwrap

RIGHT_43 = """## Question 4.3
- Weights: $k^2 (N_{IC} N_F + 4 N_F^2 + N_F N_C + N_C^2)$
- Outputs: $1600 N_F + 1280 N_C$
- Connections: $k^2 (1024 N_{IC} N_F + 640 N_F^2 + 256 N_F N_C + 1024 N_C^2)$

With a 64 x 64 input the weights are unchanged; outputs and connections are multiplied by 4.
"""
WRONG_43 = RIGHT_43.replace("4 N_F^2", "2 N_F^2")
RIGHT_54 = """## Question 5.4
- k = 4: padding = 1, output_padding = 0
- k = 5: padding = 2, output_padding = 1
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("writeups")
    klass = root / "class"
    for student in ("alice", "bob", "carol", "dave", "ivy"):
        lms.notebook(klass / f"{student}.ipynb")
    # erin hands in a folder: her notebook and a PDF write-up with a text layer
    lms.notebook(klass / "erin" / "a2_code.ipynb")
    write_pdf(klass / "erin" / "a2-writeup.pdf", [[
        "4.3", "Weights: k^{2}(NIC·NF + 4NF^{2} + NF·NC + NC^{2})",
        "Outputs: 1600NF + 1280NC",
        "Connections: k^{2}(1024NIC·NF + 640NF^{2} + 256NF·NC + 1024NC^{2})",
        "When the input is doubled the weights stay the same; outputs and connections "
        "quadruple.", "", "5.4", "For k = 4: padding = 1, output_padding = 0.",
        "For k = 5: padding = 2, output_padding = 1."]])
    # frank answers in his notebook's own Markdown
    nb = nbformat.read(klass / "alice.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(RIGHT_43))
    nbformat.write(nb, klass / "frank.ipynb")
    # gina's notebook keeps the starter's headings only: her answers are elsewhere
    nb = nbformat.read(klass / "alice.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("### Question 4.3\n\nSee the handout."))
    nbformat.write(nb, klass / "gina.ipynb")
    writeups = root / "writeups"
    writeups.mkdir()
    (writeups / "alice.md").write_text(RIGHT_43 + RIGHT_54, encoding="utf-8")
    (writeups / "bob_a2-writeup.md").write_text(WRONG_43 + RIGHT_54, encoding="utf-8")
    (writeups / "dave.md").write_text("# My write-up\n\nThe colours look fine.\n",
                                      encoding="utf-8")
    (writeups / "ivy.md").write_text("## Question 4.3\n\nThe receptive field grows with "
                                     "every pooling layer, so more pixels are connected.\n",
                                     encoding="utf-8")
    (writeups / "hank.md").write_text(RIGHT_43, encoding="utf-8")   # no student hank
    out = root / "out"
    summary = grade_batch([klass], lms.RUBRIC, out, Options(checks="static"), quiet=True,
                          writeups=writeups)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    return summary, out, rows, writeups, klass


def test_a_correct_writeup_earns_the_written_points(graded):
    _, out, rows, _, _ = graded
    assert float(rows["alice"]["4.3"]) == 1.0 and float(rows["alice"]["5.4"]) == 0.5
    check = ResultStore(out).load("alice").question("4.3").checks[0]
    assert check.kind == "written" and check.details["source"] == "alice.md"


def test_a_wrong_term_is_named_and_costs_only_that_answer(graded):
    _, out, rows, _, _ = graded
    assert 0 < float(rows["bob"]["4.3"]) < 1.0 and float(rows["bob"]["5.4"]) == 0.5
    check = ResultStore(out).load("bob").question("4.3").checks[0]
    assert check.status == "failed" and "NF" in check.message
    ta = (out / "bob" / "report-ta.html").read_text(encoding="utf-8")
    student = (out / "bob" / "report.html").read_text(encoding="utf-8")
    assert "Answers read from bob_a2-writeup.md" in student
    assert "<th>expected</th>" in ta and "<th>expected</th>" not in student


def test_no_writeup_is_not_assessed_and_a_missing_heading_goes_to_a_ta(graded):
    summary, _, rows, _, _ = graded
    assert rows["carol"]["4.3"] == "" and rows["carol"]["5.4"] == ""
    assert "not assessed in this run: 4.2, 4.3" in rows["carol"]["review"]
    assert rows["dave"]["4.3"] == ""
    assert "needs review: 4.3 written (no answer found under a 4.3 heading in dave.md" \
        in rows["dave"]["review"]
    assert summary.review >= 1


def test_a_pdf_beside_the_notebook_and_the_notebooks_markdown_are_read(graded):
    _, out, rows, _, _ = graded
    assert float(rows["erin"]["4.3"]) == 1.0 and float(rows["erin"]["5.4"]) == 0.5
    assert ResultStore(out).load("erin").question("4.3").checks[0].details["source"] \
        == "a2-writeup.pdf"
    assert float(rows["frank"]["4.3"]) == 1.0 and rows["frank"]["5.4"] == ""
    assert rows["gina"]["4.3"] == ""        # a bare starter heading is not an answer: blank


def test_a_changed_writeup_is_regraded_and_nothing_else(graded, tmp_path):
    _, out, _, writeups, klass = graded
    (writeups / "bob_a2-writeup.md").write_text(RIGHT_43 + RIGHT_54, encoding="utf-8")
    again = grade_batch([klass], lms.RUBRIC, out, Options(checks="static"), quiet=True,
                        writeups=writeups)
    assert again.graded_now == 1
    result = json.loads((out / "bob" / "result.json").read_text(encoding="utf-8"))
    assert result["questions"][2]["id"] == "4.3" and result["questions"][2]["score"] == 1.0


def test_review_reasons_read_as_sentences_for_staff_and_students(graded):
    """What a TA reads in the gradebook and what both reports show is a sentence with the
    text found, never a data structure or a string spelt out one character a line."""
    _, out, rows, _, _ = graded
    assert rows["ivy"]["4.3"] == ""
    assert "needs review: 4.3 written (" in rows["ivy"]["review"]
    assert rows["ivy"]["review"].count("could be read as a count") == 1   # said once
    assert "[{" not in rows["ivy"]["review"] and "'key'" not in rows["ivy"]["review"]
    for student, said in (("ivy", "receptive field grows"),
                          ("dave", "no answer found under a 4.3 heading")):
        report = (out / student / "report.html").read_text(encoding="utf-8")
        assert "For a TA to read" in report and said in report
        reasons = re.findall(r"<li>the question: (.*)", report)
        assert reasons and all(len(reason) > 20 for reason in reasons), reasons


def test_a_writeup_named_for_no_student_is_reported_not_dropped(graded):
    summary, _, rows, _, _ = graded
    assert "hank" not in rows
    assert any("hank.md" in note and "no student" in note for note in summary.notes)
