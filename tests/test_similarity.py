"""The similarity report: disguised copies flagged, independent correct solutions and the starter
not, missing classes skipped, the page escapes student code, the command runs end to end."""

from __future__ import annotations

import csv
import random
from dataclasses import replace
from pathlib import Path

import pytest

from grader.ingest.layouts import read_download
from grader.rubric.schema import load_rubric
from grader.similarity import PAGE, TABLE, analyse, read_entries, write_similarity
from grader.similarity.cli import main as similarity_main
from grader.similarity.normalise import normalise
from tests import similarity_factory as factory

RUBRIC = "csc413-2023-a2"

# Four students whose habits differ in most choices (grouping of layers, activation, forward).
STYLES = {
    "ana": factory.Style("sequential", "module", False, "2 * {nf}", False, False, "module",
                         "chain", "conv", "block", "x", True, False, False, False, False, False,
                         False, "append", False),
    "ben": factory.Style("explicit", "functional", True, "{nf} * 2", True, True, "functional",
                         "nested", "layer", "block", "out", False, True, True, True, True, True,
                         True, "append", True),
    "cai": factory.Style("helper", "module", False, "local", True, False, "nearest2d", "named",
                         "down", "cbr", "h", False, False, False, False, False, False, False,
                         "direct", False),
    "dee": factory.Style("modulelist", "module", True, "2 * {nf}", False, True, "module",
                         "chain", "stage", "unit", "y", True, False, True, True, True, True,
                         True, "unpack", False),
}


def student_code(name: str) -> dict[str, str]:
    return {t: factory.solution(STYLES[name], t) for t in factory.TARGETS}


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(RUBRIC)


def run(folder: Path, rubric, **kwargs):  # noqa: ANN001, ANN003, ANN201
    found = read_download([folder], "auto", rubric.student_pattern)
    submissions, skipped = read_entries(found.entries)
    return analyse(submissions, rubric, skipped=skipped, **kwargs)


def pair_score(result, a: str, b: str) -> float:  # noqa: ANN001
    for pair in result.pairs:
        if {pair.a, pair.b} == {a, b}:
            return pair.score
    return 0.0


@pytest.fixture(scope="module")
def copied_class(tmp_path_factory, rubric):  # noqa: ANN001, ANN201
    """Four independent students and a disguised copy of one of them."""
    rng = random.Random(7)
    students = {name: student_code(name) for name in STYLES}
    students["eve"] = {t: factory.disguise(src, rng) for t, src in students["cai"].items()}
    students["eve"]["UNet"] += "\n# <script>alert('copied')</script>\n"
    folder = factory.write_class(tmp_path_factory.mktemp("class"), students)
    return folder, run(folder, rubric)


def test_disguises_do_not_change_the_canonical_stream():
    rng = random.Random(3)
    source = factory.IMPORTS + factory.solution(STYLES["ana"], "PoolUpsampleNet")
    canonical = [t.text for t in normalise(source, kept=factory.TARGETS)]
    for step in (factory.rename, factory.reorder, factory.reformat, factory.comment):
        disguised = factory.IMPORTS + step(factory.solution(STYLES["ana"], "PoolUpsampleNet"),
                                           rng)
        assert [t.text for t in normalise(disguised, kept=factory.TARGETS)] == canonical, step


def test_layer_spelling_is_not_evidence():
    positional = ("import torch.nn as nn\nclass N(nn.Module):\n    def __init__(self, k):\n"
                  "        self.c = nn.Conv2d(1, 8, k, 1, k // 2)\n"
                  "        self.p = nn.MaxPool2d(2, 2)\n")
    keywords = "from torch import nn\nclass N(nn.Module):\n    def __init__(self, size):\n" \
               "        self.p = nn.MaxPool2d(kernel_size=2)\n" \
               "        self.c = nn.Conv2d(in_channels=1, out_channels=8, kernel_size=size, " \
               "padding=size // 2)\n"
    assert ([t.text for t in normalise(positional, kept=["N"])]
            == [t.text for t in normalise(keywords, kept=["N"])])


def test_disguised_copy_is_flagged(copied_class):  # noqa: ANN001
    _, result = copied_class
    flagged = {frozenset((p.a, p.b)) for p in result.flagged}
    assert frozenset(("cai", "eve")) in flagged
    assert pair_score(result, "cai", "eve") >= 0.9


def test_independent_correct_solutions_are_not_flagged(copied_class):  # noqa: ANN001
    _, result = copied_class
    for pair in result.flagged:
        assert {pair.a, pair.b} == {"cai", "eve"}, (pair.a, pair.b, pair.score)
    assert all(pair_score(result, a, b) < result.settings.threshold / 2
               for a in ("ana", "ben", "dee") for b in ("ana", "ben", "cai", "dee") if a != b)


def test_the_starter_alone_is_not_flagged(tmp_path, rubric):  # noqa: ANN001
    folder = factory.write_class(tmp_path / "class", {"s1": factory.skeleton(),
                                                      "s2": factory.skeleton(),
                                                      "ana": student_code("ana")})
    result = run(folder, rubric)
    assert result.flagged == []
    assert pair_score(result, "s1", "s2") == 0.0


def test_a_course_starter_is_subtracted(tmp_path, rubric):  # noqa: ANN001
    """Two students who only kept a helper the course's starter provides are not a pair
    once that starter is given."""
    helper = ("def provided_block(cin, cout, kernel):\n    return nn.Sequential(nn.Conv2d(cin, "
              "cout, kernel, padding=kernel // 2, bias=False), nn.GroupNorm(4, cout), "
              "nn.LeakyReLU(0.2), nn.Dropout2d(0.1), nn.Conv2d(cout, cout, 1))\n\n\n")
    code = {t: helper + factory.solution(STYLES["ana"], t).replace(
        "nn.Sequential(", "provided_block(4, 4, 3), nn.Sequential(", 1) for t in factory.TARGETS}
    starter = factory.write_class(tmp_path / "starter", {"starter": {
        t: helper + src for t, src in factory.skeleton().items()}}) / "starter.ipynb"
    folder = factory.write_class(tmp_path / "class", {
        "s1": code, "s2": {t: factory.solution(STYLES["ben"], t) for t in factory.TARGETS}})
    with_starter = run(folder, rubric, starter=starter)
    assert "starter notebook starter.ipynb" in " ".join(with_starter.baseline)
    assert with_starter.flagged == []


def test_a_missing_class_is_skipped(tmp_path, rubric):  # noqa: ANN001
    rng = random.Random(1)
    partial = {t: src for t, src in student_code("ben").items() if t != "UNet"}
    copy = {t: factory.disguise(src, rng) for t, src in partial.items()}
    folder = factory.write_class(tmp_path / "class", {"ben": partial, "cop": copy,
                                                      "ana": student_code("ana")})
    (folder / "broken.ipynb").write_text("{not json", encoding="utf-8")
    result = run(folder, rubric)
    assert set(result.missing["UNet"]) == {"ben", "cop"}
    assert [s.student for s in result.skipped] == ["broken"]
    pair = next(p for p in result.flagged if {p.a, p.b} == {"ben", "cop"})
    assert {m.target for m in pair.matches} == {"PoolUpsampleNet", "ConvTransposeNet"}


def test_page_highlights_shared_lines_and_escapes_code(copied_class, tmp_path):  # noqa: ANN001
    from grader.similarity.report import write_report

    _, result = copied_class
    page, table = write_report(result, tmp_path)
    html = page.read_text(encoding="utf-8")
    assert 'class="l shared"' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert "script-src 'none'" in html.replace("&#39;", "'")
    assert "never a deduction" in html
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    top = [r for r in rows if {r["student_a"], r["student_b"]} == {"cai", "eve"}]
    assert top and all(r["flagged"] == "yes" and r["shared_lines_a"].startswith("cell")
                       for r in top)


def test_cli_end_to_end(copied_class, tmp_path, capsys):  # noqa: ANN001
    folder, _ = copied_class
    out = tmp_path / "out"
    assert similarity_main([str(folder), "--rubric", RUBRIC, "--out", str(out),
                            "--threshold", "0.6"]) == 0
    printed = capsys.readouterr().out
    assert "cai ~ eve" in printed and "never a deduction" in printed
    assert (out / PAGE).is_file() and (out / TABLE).is_file()
    assert similarity_main([str(folder), "--rubric", "no-such-rubric", "--out",
                            str(out)]) == 2


def test_grader_command_dispatches(copied_class, tmp_path):  # noqa: ANN001
    from grader.cli import main

    folder, _ = copied_class
    assert main(["similarity", str(folder), "--rubric", RUBRIC, "--out",
                 str(tmp_path / "o")]) == 0


def test_write_similarity_for_a_batch(copied_class, tmp_path, rubric):  # noqa: ANN001
    folder, _ = copied_class
    entries = read_download([folder], "auto", rubric.student_pattern).entries
    page = write_similarity(tmp_path, entries, rubric)
    assert page == tmp_path / PAGE and page.is_file()


def test_threshold_applies(copied_class):  # noqa: ANN001
    _, result = copied_class
    strict = replace(result, settings=replace(result.settings, threshold=1.01))
    assert strict.flagged == []
