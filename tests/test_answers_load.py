"""Reading answers from YAML/JSON files, notebook cells and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.answers.answerset import check_answer_set
from grader.answers.load import AnswersFileError, load_answer_sets
from tests.answers_factory import write_notebook

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "answers"

STUDENT_CELL = r"""<!-- answers: 2023/4.3 student=ada -->
### My answers
**Weights:** $k^2(N_{IC}N_F + 4N_F^2 + N_FN_C + N_C^2)$
- weights (64×64): unchanged
* outputs = $1600 NF$
  $+ 1280 NC$
outputs doubled: 4x
Number of connections: $$k^2 \left(1024 NIC\,NF + 640 NF^2 + 256 NF\,NC + 1024 NC^2 \right)$$
connections 64x64: ×4
"""

PADDING_CELL = """<!-- answers: question=2023/5.4 -->
k=4: padding=1, convt_padding=1, output_padding=0
For k = 5: conv padding = 2, ConvT padding = 2, output padding = 2
"""


def _statuses(result) -> dict[str, str]:
    return {v.key: v.status for v in result.verdicts}


def test_notebook_cells_with_the_marker_are_read(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "a2-code.ipynb", [
        ("code", "print('hello')"),
        ("markdown", "## 4.3\nweights: k^2 NF  <- not marked, ignored"),
        ("markdown", STUDENT_CELL),
        ("markdown", PADDING_CELL),
    ])
    sets = load_answer_sets(path)
    assert [s.source for s in sets] == [f"{path} cell 3", f"{path} cell 4"]
    counting, padding = (check_answer_set(s) for s in sets)
    assert counting.student == "ada"
    assert set(_statuses(counting).values()) == {"correct"}
    assert len(counting.verdicts) == 6
    assert counting.problems == ["line 2 ignored: '### My answers'"]
    assert _statuses(padding) == {"padding.k4": "correct", "padding.k5": "incorrect"}


def test_notebook_cell_with_a_yaml_block(tmp_path: Path) -> None:
    cell = ("<!-- answers -->\n```yaml\nmodel: CNN\ngiven: {k: 3}\nanswers:\n"
            "  weights: '9NF + 72NF^2 + 9NF NC + 9NC^2'\n"
            "  outputs: '2368NF + 2304NC'\n```\n")
    path = write_notebook(tmp_path / "nb.ipynb", [("markdown", cell)])
    (aset,) = load_answer_sets(path)
    result = check_answer_set(aset)
    assert result.given == {"NIC": 1, "k": 3}
    assert [(v.key, v.status, v.convention) for v in result.verdicts] == [
        ("weights", "correct", "conv"), ("outputs", "correct", "conv+resample")]


def test_notebook_without_marked_cells_is_an_error(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", [("markdown", "weights: k^2 NF")])
    with pytest.raises(AnswersFileError, match="<!-- answers"):
        load_answer_sets(path)


def test_markdown_file_with_two_sections(tmp_path: Path) -> None:
    path = tmp_path / "answers.md"
    path.write_text(STUDENT_CELL + "\n" + PADDING_CELL, encoding="utf-8")
    sets = load_answer_sets(path)
    assert [s.model for s in sets] == ["PoolUpsampleNet", "ConvTransposeNet"]
    assert sets[1].answers["padding"]["k5"].startswith("conv padding = 2")


def test_yaml_examples_load() -> None:
    sets = load_answer_sets(EXAMPLES / "cnn_2020.yaml")
    assert [s.student for s in sets] == ["counts-biases-and-batchnorm", "batchnorm-no-biases"]
    assert all(s.question == "2020/A.3" and s.model == "CNN" for s in sets)


def test_json_file_and_a_bare_answers_mapping(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"model": "PoolUpsampleNet",
                                "Number of weights": "k^2 (NIC NF + 4 NF^2 + NF NC + NC^2)",
                                "outputs (64x64)": "x4"}), encoding="utf-8")
    (aset,) = load_answer_sets(path)
    assert set(aset.answers) == {"weights", "outputs_doubled"}
    assert _statuses(check_answer_set(aset)) == {"weights": "correct",
                                                  "outputs_doubled": "correct"}


def test_given_null_frees_a_default(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("model: CNN\ngiven: {k: null}\nanswers:\n"
                    "  weights: 'k^2 (NC^2 + NC NF + 8 NF^2 + NF) + 4 NC + 18 NF'\n",
                    encoding="utf-8")
    (aset,) = load_answer_sets(path)
    result = check_answer_set(aset)
    assert result.given == {"NIC": 1}
    assert _statuses(result) == {"weights": "correct"}


def test_double_quoted_yaml_latex_survives(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text('model: PoolUpsampleNet\nanswers:\n'
                    '  weights: "k^2 \\times (NIC NF + 4 NF^2 + NF NC + NC^2)"\n'
                    '  outputs: "\\frac{3200 NF + 2560 NC}{2}"\n', encoding="utf-8")
    (aset,) = load_answer_sets(path)
    assert set(_statuses(check_answer_set(aset)).values()) == {"correct"}


def test_missing_answers_are_reported_when_the_question_is_known(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("question: 2023/4.3\nanswers:\n  weights: k^2 (NIC NF + 4 NF^2 + NF NC + "
                    "NC^2)\n  wieghts_doubled: same\n", encoding="utf-8")
    (aset,) = load_answer_sets(path)
    result = check_answer_set(aset)
    statuses = _statuses(result)
    assert statuses.pop("weights") == "correct"
    assert set(statuses.values()) == {"missing"} and len(statuses) == 5
    assert result.problems == ["unknown answer 'wieghts_doubled' ignored"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("answers: {weights: k}\n", "say which model"),
        ("model: ResNet\nanswers: {weights: k}\n", "unknown model 'ResNet'"),
        ("question: A.3\nanswers: {weights: k}\n", "ambiguous"),
        ("question: 9.9\nanswers: {weights: k}\n", "unknown question"),
        ("question: 2023/4.3\nmodel: CNN\nanswers: {weights: k}\n", "is about PoolUpsampleNet"),
        ("model: CNN\ngiven: {W: 3}\nanswers: {weights: k}\n", "unknown variable 'W'"),
        ("model: CNN\naccept: {outputs: [everything]}\nanswers: {weights: k}\n",
         "unknown convention 'everything'"),
        ("model: CNN\nanswers: [1, 2]\n", "answers must be a mapping"),
        ("model: CNN\nanswers: {weights: 'k^2\n", "does not parse as yaml"),
        ("", "empty answers file"),
    ],
)
def test_bad_answers_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnswersFileError, match=message):
        load_answer_sets(path)


def test_missing_file() -> None:
    with pytest.raises(AnswersFileError, match="no such file"):
        load_answer_sets("/nonexistent/answers.yaml")
