"""``grader answers`` end to end: terminal table, JSON document and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.answers.cli import main
from tests.answers_factory import write_notebook

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "answers"


def test_examples_are_judged_and_written_as_json(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "verdicts.json"
    paths = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    assert main([*paths, "--json", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["kind"] == "pa2-grader/answers" and doc["errors"] == []
    by_student = {(s["source"].split("/")[-1], s["student"]): s for s in doc["sets"]}
    good = by_student[("pool_upsample_2023.yaml", "example-student")]
    assert good["summary"] == {"correct": 6}
    assert [a["convention"] for a in good["answers"]] == ["conv"] * 6
    mistakes = by_student[("pool_upsample_mistakes.yaml", "example-mistakes")]
    statuses = {a["key"]: a["status"] for a in mistakes["answers"]}
    assert statuses == {"weights": "incorrect", "weights_doubled": "incorrect",
                        "outputs": "incorrect", "outputs_doubled": "incorrect",
                        "connections": "partial", "connections_doubled": "unparseable"}
    weights = next(a for a in mistakes["answers"] if a["key"] == "weights")
    assert weights["hints"] == ["the NF² term: you have 2k²·NF², expected 4k²·NF²"]
    cnn = [s for s in doc["sets"] if s["model"] == "CNN"]
    assert [next(a["convention"] for a in s["answers"] if a["key"] == "weights")
            for s in cnn] == ["conv+bias+bn", "conv+bn"]
    padding = next(s for s in doc["sets"] if s["model"] == "ConvTransposeNet")
    assert padding["summary"] == {"correct": 2}

    printed = capsys.readouterr().out
    assert "the NF² term: you have 2k²·NF², expected 4k²·NF²" in printed
    assert "expected a term after '^'" in printed
    assert "INCORRECT" in printed and "UNREADABLE" in printed


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", [
        ("markdown", "<!-- answers: PoolUpsampleNet -->\nweights: k^2 (NIC NF + 4NF^2 + NF NC"
                     " + NC^2)")])
    out = tmp_path / "v.json"
    status = main([str(tmp_path / "missing.yaml"), str(nb), "--json", str(out)])
    assert status == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["errors"][0]["message"].endswith("no such file")
    assert doc["summary"] == {"correct": 1}
    captured = capsys.readouterr()
    assert "no such file" in captured.err


def test_command_line_model_and_given(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("answers:\n  weights: '9 NIC NF + 36 NF^2 + 9 NF NC + 9 NC^2'\n",
                    encoding="utf-8")
    assert main([str(path), "--model", "PoolUpsampleNet", "--quiet"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 partial")
    assert main([str(path), "--model", "PoolUpsampleNet", "--given", "k=3", "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 correct")


def test_list_conventions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conventions"]) == 0
    out = capsys.readouterr().out
    assert "conv+resample+bn" in out and "2023/5.4" in out


@pytest.mark.parametrize("argv", [[], ["x.yaml", "--given", "W=3"], ["x.yaml", "--given", "k"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
