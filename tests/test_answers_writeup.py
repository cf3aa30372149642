"""Written answers read from the write-up as handed in: PDF, converter Markdown, LaTeX, notebook.

Every write-up here is built by the test itself (``tests/writeup_factory.py``); nothing is
downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.answers.answerset import check_answer_set
from grader.answers.cli import main
from grader.answers.writeup import (
    WriteupError,
    WrittenVerdict,
    answers_from_writeup,
    judge_writeup,
    read_document,
)
from tests.answers_factory import write_notebook
from tests.writeup_factory import write_pdf, write_text

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "answers"
Q2023 = ["2023/4.3", "2023/5.4"]

WEIGHTS = "k^2(NIC NF + 4NF^2 + NF NC + NC^2)"
CONNECTIONS = "k^2(1024 NIC NF + 640 NF^2 + 256 NF NC + 1024 NC^2)"
ANSWERS_2023 = f"""Weights: {WEIGHTS}
Outputs: 1600NF + 1280NC
Connections: {CONNECTIONS}
When the input is doubled, the weights stay the same, while the outputs and connections
quadruple.
"""


def _statuses(verdict: WrittenVerdict) -> dict[str, str]:
    return {a["key"]: a["status"] for a in verdict.details["answers"]}


def _answers(verdict: WrittenVerdict) -> dict[str, dict]:
    return {a["key"]: a for a in verdict.details["answers"]}


def _one(path: Path, question: str) -> WrittenVerdict:
    (verdict,) = judge_writeup(path, [question])
    return verdict


# --- one test per form students hand in -----------------------------------------------------

def test_pdf_text_layer_keeps_exponents_and_finds_both_questions(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "a2-writeup.pdf", [[
        "CSC413 Programming Assignment 2", "",
        "4.2", "The colours are washed out.", "",
        "4.3",
        "Weights: k^{2}(NIC·NF + 4NF^{2} + NF·NC + NC^{2})",
        "Outputs: 1600NF + 1280NC",
        "Connections: k^{2}(1024NIC·NF + 640NF^{2} + 256NF·NC + 1024NC^{2})",
        "When the input is doubled, the weights stay the same, while the outputs and",
        "connections quadruple.", "",
        "5 Strided and Transposed Dilated Convolutions",
        "5.4",
        "For k = 4: padding = 1, output_padding = 0.",
        "For k = 5: padding = 2, output_padding = 1.",
    ]])
    doc = read_document(pdf)
    weights_line = next(line for line in doc.lines if line.text.startswith("Weights"))
    assert "k^{2}" in weights_line.text and "NF^{2}" in weights_line.text  # not "k2", "NF2"
    counting, padding = judge_writeup(pdf, Q2023)
    assert (counting.status, counting.fraction) == ("passed", 1.0)
    assert set(_statuses(counting).values()) == {"correct"}
    assert counting.details["headings"] == ["page 1, line 4"]
    assert _answers(counting)["weights"]["where"] == "page 1, line 5"
    assert counting.details["conventions"]["outputs"] == "conv"
    assert "conv / transposed-conv output units" in counting.message
    assert (padding.status, padding.fraction) == ("passed", 1.0)


def test_the_course_template_with_lettered_parts_and_its_pdf_artefacts(tmp_path: Path) -> None:
    """The course's LaTeX template as students' PDFs print it: numbered sections, each part a
    bare letter with its points ("c blue[1.0pt]" when the colour package is missing), the
    handout's numbered notes inside the part, answers after "not doubled" (the original input)
    and "connects" for connections; "output_padding" typed in math comes out subscripted."""
    pdf = write_pdf(tmp_path / "a2-writeup.pdf", [[
        "4 Pooling and Upsampling [3 pts]",
        "c blue[1.0pt]",
        "Compute the number of weights, outputs, and connections in the model, as a function of",
        "NIC, NF and NC. Compute these values when each input dimension is doubled.",
        "Note:",
        "1. Please ignore biases when answering the questions.",
        "2. Please ignore nn.BatchNorm2d when answering the number of weights, outputs and",
        "connections, but we still accept answers that do.",
        "Answer:",
        "when each input dimension (width/height) is not doubled",
        "Total number of weights: k^{2}(NIC·NF + 4NF^{2} + NF·NC + NC^{2})",
        "Total number of outputs: 1600NF + 1280NC",
        "Total number of connects: k^{2}(1024NIC·NF + 640NF^{2} + 256NF·NC + 1024NC^{2})",
        "when each input dimension (width/height) is doubled",
        "the number of weights would not change, but the number of outputs and connects would",
        "be multiplied by 4.",
        "5 Strided and Transposed Dilated Convolutions [2 pts]",
        "d blue[0.5pt]",
        "How would the padding parameters need to be modified for a kernel size of 4 or 5?",
        "Answer:",
        "kernel size is 4, padding is 1 and output_{p}adding is 0.",
        "kernel size is 5 padding is 2 and output_{p}adding is 1.",
    ]])
    counting, padding = judge_writeup(pdf, Q2023)
    assert counting.details["headings"] == ["page 1, line 2"]
    assert _statuses(counting) == dict.fromkeys(
        ["weights", "weights_doubled", "outputs", "outputs_doubled", "connections",
         "connections_doubled"], "correct")
    assert _answers(counting)["outputs"]["where"] == "page 1, line 12"
    assert (padding.status, padding.fraction) == ("passed", 1.0)


def test_pdf_table_with_a_wrapped_total_row_and_a_page_without_text(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "writeup.pdf", [[
        "1 Part A: Colourization as Classification",
        "1.3",
        "Layer | Weights | Outputs | Connections",
        "conv1 | 9NF | 1024NF | 9216NF",
        "conv2 | 18NF^{2} | 512NF | 4608NF^{2}",
        "Total | 9NF + 72NF^{2} + 9NF·NC | 1728NF + 1280NC | 9216NF + 8064NF^{2}",
        " | + 9NC^{2} |  | + 2304NF·NC + 9216NC^{2}",
        "",
        "Doubling the input: the weights are unchanged, outputs and connections x4.",
    ], []])
    assert read_document(pdf).pages_without_text == (2,)
    verdict = _one(pdf, "2020/A.3")
    answers = _answers(verdict)
    assert answers["weights"]["form"] == "table total"
    assert answers["weights"]["answer"].endswith("+ 9NC^{2}")  # the wrapped line joined
    assert set(_statuses(verdict).values()) == {"correct"}
    assert verdict.details["conventions"]["outputs"] == "conv"


def test_converter_markdown_with_a_per_layer_table_is_summed(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md", (EXAMPLES / "writeup_2023.md").read_text())
    counting, padding = judge_writeup(md, Q2023)
    assert counting.status == "passed" and padding.status == "passed"
    answers = _answers(counting)
    assert answers["weights"]["form"] == "table, rows summed"
    assert answers["weights"]["read"] == "summed"
    assert answers["outputs"]["answer"].count("+") == 4  # five layers added up
    assert answers["outputs_doubled"]["answer"] == "×4"


def test_a_table_with_one_row_per_quantity_and_a_column_per_input_size(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md", rf"""## 4.3
| Quantity | 32 × 32 input | 64 × 64 input |
|---|---|---|
| Weights | ${WEIGHTS}$ | unchanged |
| Outputs | $1600N_F + 1280N_C$ | $6400N_F + 5120N_C$ |
| Connections | ${CONNECTIONS}$ | $\times 4$ |
""")
    verdict = _one(md, "2023/4.3")
    assert set(_statuses(verdict).values()) == {"correct"}
    assert _answers(verdict)["outputs_doubled"]["answer"] == "6400N_F + 5120N_C"


def test_latex_fragment_with_frac_and_times(tmp_path: Path) -> None:
    tex = write_text(tmp_path / "writeup.tex", r"""
\setcounter{section}{3}
\section{PoolUpsampleNet}
\subsection{Code}
\subsection{Training}
\subsection{Counting}
\textbf{Weights:} $k^2 \times \left(N_{IC} N_F + 4 N_F^2 + N_F N_C + N_C^2\right)$ \\
\textbf{Outputs:} $\frac{1}{2}\left(3200 N_F + 2560 N_C\right)$ \\
\textbf{Connections:} $\frac{k^2}{4} \times (4096 N_{IC} N_F + 2560 N_F^2 + 1024 N_F \times N_C
  + 4096 N_C^2)$ \\
If the input is doubled, the number of weights is unchanged while outputs and connections grow
by a factor of 4.
\section{Strided and Transposed Dilated Convolutions}
\subsection{}\subsection{}\subsection{}
\subsection{Padding}
\begin{tabular}{c|c|c|c}
$k$ & Conv2d padding & ConvTranspose2d padding & output padding \\ \hline
4 & 1 & 1 & 0 \\
5 & 2 & 2 & 1 \\
\end{tabular}
""")
    counting, padding = judge_writeup(tex, Q2023)
    assert counting.details["headings"] == ["line 6"]  # \subsection 3 of section 4 = "4.3"
    assert set(_statuses(counting).values()) == {"correct"}, counting.details
    assert _statuses(padding) == {"padding.k4": "correct", "padding.k5": "correct"}


def test_notebook_answers_under_question_headings(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "a2-code.ipynb", [
        ("markdown", "## Part 4: PoolUpsampleNet"),
        ("code", "model = PoolUpsampleNet(3, 32, 24, 1)"),
        ("markdown", "### Question 3\nCompute the number of weights, outputs and connections."),
        ("markdown", "**Answer:**\n" + ANSWERS_2023),
        ("markdown", "### Question 4\nThe model has weights: 123 NF"),
        ("markdown", "## Part 5: ConvTransposeNet\n### Question 4\n"
                     "* k = 4: padding = 1, output_padding = 0\n"
                     "* k = 5: padding = 2, output_padding = 1"),
    ])
    counting, padding = judge_writeup(nb, Q2023)
    assert counting.details["headings"] == ["cell 3, line 1"]
    assert set(_statuses(counting).values()) == {"correct"}
    assert _answers(counting)["weights"]["where"] == "cell 4, line 2"
    assert padding.status == "passed"


def test_plain_text_2020_a3_with_a_formula_in_the_image_size(tmp_path: Path) -> None:
    txt = write_text(tmp_path / "writeup.txt", """Part A
Question 3
Weights: 9NF + 72NF^2 + 9NF*NC + 9NC^2 (unchanged when doubled)
Outputs = HW*NF + (HW/4)*2NF + (HW/16)*2NF + (HW/16)*NF + (HW/4)*NC + HW*NC
Connections: 9216NF + 8064NF^2 + 2304NF*NC + 9216NC^2, which is 4 times larger for a doubled
input.
Question 4
Batch normalisation removes a and b.
""")
    verdict = _one(txt, "2020/A.3")
    answers = _answers(verdict)
    assert answers["outputs"]["read"] == "evaluated"  # at W = H = 32
    assert answers["outputs_doubled"]["form"].endswith("in W and H at 64×64")
    assert set(_statuses(verdict).values()) == {"correct"}, verdict.details


# --- what cannot be read goes to a TA, with the text that was found --------------------------

def test_an_unreadable_answer_goes_to_review_with_its_excerpt(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md", ANSWERS_2023.replace(
        "Outputs: 1600NF + 1280NC", "Outputs: roughly two million, see the figure").join(
        ["## 4.3\n", ""]))
    verdict = _one(md, "2023/4.3")
    assert (verdict.status, verdict.fraction) == ("review", 0.0)
    assert verdict.details["provisional_fraction"] == pytest.approx(5 / 6)
    (item,) = verdict.details["review"]
    assert item["key"] == "outputs" and item["where"] == "line 3"
    assert "roughly two million" in item["excerpt"]
    assert "a TA will read outputs" in verdict.message


def test_two_different_answers_for_one_count_go_to_review(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md", "## 4.3\n" + ANSWERS_2023 + "\nWeights: 9NF\n")
    verdict = _one(md, "2023/4.3")
    assert _statuses(verdict)["weights"] == "review"
    (item,) = verdict.details["review"]
    assert "judged differently" in item["reason"]
    assert "[line 2]" in item["excerpt"] and "[line 8] Weights: 9NF" in item["excerpt"]


def test_padding_with_two_answers_for_one_kernel_goes_to_review(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md", """**5.4**
For Conv2d layer, padding = 1 still works when kernel become 4x4, but padding will need to be 2
for kernel = 5x5. For ConvTranspose2d layer, for 4x4 kernal, padding=1 and output padding=0
will work, also padding=2 and output padding=2 will work as well. For 5x5 kernal, padding=2 and
output padding=1 will work.
""")
    verdict = _one(md, "2023/5.4")
    assert _statuses(verdict) == {"padding.k4": "review", "padding.k5": "correct"}
    (item,) = verdict.details["review"]
    assert "more than one answer for k = 4" in item["reason"]
    assert "padding=2 and output padding=2" in item["excerpt"]


def test_wrong_answer_names_the_off_term_without_the_expected_one(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md", "### Q4.3\n" + ANSWERS_2023.replace(
        "4NF^2", "2NF^2"))
    verdict = _one(md, "2023/4.3")
    assert (verdict.status, verdict.fraction) == ("failed", pytest.approx(5 / 6))
    assert "weights: the NF² term is off (you have 2k²·NF²)" in verdict.message
    assert "4k²" not in verdict.message  # the expected term stays in the TA's details
    assert _answers(verdict)["weights"]["hints"] == [
        "the NF² term: you have 2k²·NF², expected 4k²·NF²"]
    assert _answers(verdict)["weights"]["convention"] == "conv"


def test_a_doubled_answer_in_w_and_h_is_judged_both_ways(tmp_path: Path) -> None:
    base = "## 4.3\n" + ANSWERS_2023.split("When")[0]
    agree = write_text(tmp_path / "agree.md", base + "Outputs (doubled): 4 NF W H\n")
    assert _statuses(_one(agree, "2023/4.3"))["outputs_doubled"] == "incorrect"  # either way
    differ = write_text(tmp_path / "differ.md",
                        base + "Outputs (doubled): (1600 NF + 1280 NC) W H / 1024\n")
    verdict = _one(differ, "2023/4.3")
    assert _statuses(verdict)["outputs_doubled"] == "review"  # right only if W = 64


def test_an_exponent_that_lost_its_place_is_not_guessed(tmp_path: Path) -> None:
    txt = write_text(tmp_path / "pdftotext.txt",
                     "4.3\ntotal weights = 9NIC NF + 36NF 2 + 9NF NC + 9NC 2\n")
    verdict = _one(txt, "2023/4.3")
    assert _statuses(verdict)["weights"] == "review"
    assert "lost its place" in verdict.details["review"][0]["reason"]


def test_missing_heading(tmp_path: Path) -> None:
    silent = write_text(tmp_path / "silent.md", "## 6.3\nSkip connections help.\n")
    verdict = _one(silent, "2023/4.3")
    assert (verdict.status, verdict.fraction) == ("failed", 0.0)
    assert "no answer found" in verdict.message
    stray = write_text(tmp_path / "stray.md", "## Counting\nweights = k^2 (NIC NF + 4 NF^2)\n")
    verdict = _one(stray, "2023/4.3")
    assert verdict.status == "review"
    assert "weights = k^2" in verdict.details["review"][0]["excerpt"]


def test_a_scanned_pdf_goes_to_review(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "scan.pdf", [[], []])
    verdict = _one(pdf, "2023/4.3")
    assert verdict.status == "review"
    assert "no text layer" in verdict.details["review"][0]["reason"]


def test_answer_sets_are_ready_for_the_checker_and_details_are_json(tmp_path: Path) -> None:
    md = write_text(tmp_path / "writeup.md",
                    f"4.3\nWeights: {WEIGHTS}; outputs: 1600NF + 1280NC; connections: "
                    f"{CONNECTIONS}\nDoubled: weights x1, outputs x4, connections x4\n")
    extracted = answers_from_writeup(md, "2023/4.3")
    assert extracted.kind == "markdown" and extracted.unreadable == []
    assert {a.key: a.where.line for a in extracted.answers} == {
        "weights": 2, "outputs": 2, "connections": 2, "weights_doubled": 3,
        "outputs_doubled": 3, "connections_doubled": 3}
    result = check_answer_set(extracted.sets["2023/4.3"])
    assert {v.status for v in result.verdicts} == {"correct"}
    (verdict,) = judge_writeup(md, ["4.3"])  # the bare number, when only one offering has it
    assert json.loads(json.dumps(verdict.to_dict()))["status"] == "passed"


# --- the forms of headings and of doubled answers -------------------------------------------

@pytest.mark.parametrize(("question", "before", "heading", "after"), [
    ("2023/4.3", "", "4.3", "4.4"),
    ("2023/4.3", "", "**4.3**", "**5.1**"),
    ("2023/4.3", "", "### Question 4.3 [1.0pt] [Type 3]", "### Question 5.1"),
    ("2023/4.3", "", "Q4.3:", "Q5.1:"),
    ("2023/4.3", "", "Part 4 Q3", "Part 4 Q4"),
    ("2023/4.3", "", "Part 4, Question 3.", "Part 5, Question 1."),
    ("2023/4.3", "", "4(c)", "4(d)"),
    ("2023/4.3", "## Part 4: PoolUpsampleNet\n", "### Question 3", "### Question 4"),
    ("2023/4.3", "# Part 1: PoolUpsampleNet\n", "## 1.3", "## 1.4"),
    ("2022/A.3", "", "Part A.3", "Part A.4"),
    ("2022/A.3", "", "A.3", "B.1"),
    ("2022/A.3", "", "A3", "A4"),
    ("2022/A.3", "Part A: Pooling and Upsampling\n", "Q3.", "Q4."),
    ("2020/A.3", "1 Part A: Colourization as Classification\n", "1.3", "1.4"),
    ("2020/A.3", "1. Part 1.\n", "(c) Question: Compute the counts.\nSolution:", "(d) Question:"),
])
def test_heading_forms(tmp_path: Path, question: str, before: str, heading: str,
                       after: str) -> None:
    text = (f"{before}{heading}\nWeights: 9NF + 72NF^2 + 9NF NC + 9NC^2\n\n"
            f"{after}\nWeights: 123NF\n")
    md = write_text(tmp_path / "writeup.md", text)
    extracted = answers_from_writeup(md, [question])
    (weights,) = [a for a in extracted.answers if a.key == "weights"]
    assert weights.text == "9NF + 72NF^2 + 9NF NC + 9NC^2"


@pytest.mark.parametrize(("phrase", "read", "status"), [
    ("×4", "×4", "correct"),
    ("x4", "×4", "correct"),
    ("4 times as many", "×4", "correct"),
    ("it quadruples", "×4", "correct"),
    ("multiplied by four", "×4", "correct"),
    ("unchanged", "unchanged", "incorrect"),
    ("stays the same", "unchanged", "incorrect"),
    ("doubles", "×2", "incorrect"),
])
def test_doubled_answer_phrases(tmp_path: Path, phrase: str, read: str, status: str) -> None:
    labelled = write_text(tmp_path / "labelled.md",
                          f"## 4.3\nOutputs: 1600NF + 1280NC\nOutputs (64x64): {phrase}\n")
    sentence = write_text(tmp_path / "sentence.md",
                          f"## 4.3\nOutputs: 1600NF + 1280NC\n\nWhen the input is doubled, the "
                          f"number of outputs {phrase}.\n")
    for path in (labelled, sentence):
        verdict = _one(path, "2023/4.3")
        answer = _answers(verdict)["outputs_doubled"]
        # a wrong answer read from a sentence costs nothing until a TA confirms it
        expected = status if path is labelled or status == "correct" else "review"
        assert (answer["answer"], answer["status"]) == (read, expected), path.name


# --- the command line ------------------------------------------------------------------------

def test_cli_reads_write_ups_by_offering(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "verdicts.json"
    status = main([str(EXAMPLES / "writeup_2023.md"), "--offering", "2023", "--json", str(out)])
    assert status == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [(w["question"], w["status"], w["fraction"]) for w in doc["writeups"]] == [
        ("2023/4.3", "passed", 1.0), ("2023/5.4", "passed", 1.0)]
    assert doc["summary"] == {"correct": 8}
    printed = capsys.readouterr().out
    assert "found under the heading at line 11" in printed
    assert "=> passed 1.00: 4.3: all 6 answers correct" in printed
    assert main([str(EXAMPLES / "writeup_2020.tex"), "--question", "2020/A.3", "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith("2020/A.3: passed 1.00")


def test_cli_needs_the_question_for_a_write_up(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pdf = write_pdf(tmp_path / "w.pdf", [["4.3", "Weights: 9NF"]])
    assert main([str(pdf)]) == 1
    assert "--offering" in capsys.readouterr().err
    broken = write_text(tmp_path / "broken.pdf", "not a pdf")
    assert main([str(broken), "--offering", "2023"]) == 1
    with pytest.raises(WriteupError, match="not a readable PDF"):
        read_document(broken)


def test_marked_notebooks_still_use_the_marker(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", [
        ("markdown", "<!-- answers: 2023/4.3 -->\nweights: " + WEIGHTS)])
    assert main([str(nb), "-q"]) == 0
