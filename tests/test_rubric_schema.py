"""Rubric loading: the shipped rubrics validate, and every kind of mistake is located precisely."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.rubric.schema import load_rubric, parse_rubric, shipped_rubrics
from grader.rubric.yamlpos import RubricError, load_located

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
id: tiny
title: Tiny rubric
targets:
  Net:
    signature: [kernel, num_filters]
    configs:
      base: {kernel: 3, num_filters: 8}
    inputs: [[2, 1, 32, 32]]
questions:
  - id: "1"
    points: 2
    checks:
      - {kind: output_shape, target: Net, configs: [base]}
      - {kind: param_count, target: Net, weight: 2}
"""


def parse(text: str):
    return parse_rubric(load_located("r.yaml", textwrap.dedent(text)))


def error_of(text: str) -> RubricError:
    with pytest.raises(RubricError) as info:
        parse(text)
    return info.value


HANDOUT_POINTS = {"csc413-2023-a2": 4.5, "csc413-f2024-a2": 2.0, "csc413-2020-pa2": 6.0}


@pytest.mark.parametrize("name", shipped_rubrics())
def test_shipped_rubrics_load_and_name_their_targets(name):
    rubric = load_rubric(name)
    assert rubric.id == name
    assert rubric.max_score == sum(q.points for q in rubric.questions) > 0
    for question, spec in rubric.checks():
        if spec.stage == "writeup":   # a written question names no code target
            assert spec.target is None and spec.params["question"], (question.id, spec.id)
        else:
            assert spec.target in rubric.targets, (question.id, spec.id)


@pytest.mark.parametrize("name, points", sorted(HANDOUT_POINTS.items()))
def test_the_course_rubrics_have_the_handout_points(name, points):
    assert load_rubric(name).max_score == points


def test_2023_rubric_questions_and_points_follow_the_handout():
    rubric = load_rubric("csc413-2023-a2")
    assert [(q.id, q.points) for q in rubric.questions] == [
        ("4.1", 0.5), ("4.2", 0.5), ("4.3", 1.0), ("5.1", 0.5), ("5.2", 0.5), ("5.4", 0.5),
        ("6.1", 0.5), ("6.2", 0.5)]   # 5.3 and 6.3 are prose comparisons: graded by TAs
    # Transposed-conv nets are only tested at the kernel the handout fixes.
    for name in ("ConvTransposeNet", "UNet"):
        assert {c["kernel"] for c in rubric.targets[name].configs.values()} == {3}
    assert {c["kernel"] for c in rubric.targets["PoolUpsampleNet"].configs.values()} == {3, 5}


def test_config_args_and_input_templates_resolve():
    rubric = parse(GOOD)
    net = rubric.targets["Net"]
    assert net.args("base") == [3, 8]
    assert net.input_shapes("base") == [[2, 1, 32, 32]]
    rgb = load_rubric("csc413-2023-a2").targets["PoolUpsampleNet"]
    assert rgb.input_shapes("k5_rgb") == [[2, 3, 32, 32], [2, 3, 64, 64]]


def test_check_ids_default_to_the_kind_and_weights_are_kept():
    rubric = parse(GOOD)
    checks = rubric.questions[0].checks
    assert [(c.id, c.weight, c.visibility) for c in checks] == [
        ("output_shape", 1.0, "public"), ("param_count", 2.0, "public")]


def test_unknown_check_kind_names_line_column_and_suggests():
    err = error_of(GOOD.replace("kind: param_count", "kind: param_cont"))
    assert err.file == "r.yaml" and err.line == 14
    assert "questions[0].checks[1].kind" in str(err)
    assert "did you mean 'param_count'" in str(err)


def test_unknown_key_is_reported_at_that_key():
    err = error_of(GOOD.replace("points: 2", "points: 2\n    pionts: 3"))
    assert err.line == 12 and "unknown key 'pionts'" in str(err)


def test_wrong_type_is_reported_with_the_value():
    err = error_of(GOOD.replace("points: 2", "points: two"))
    assert err.line == 11 and "questions[0].points" in str(err) and "'two'" in str(err)


def test_unknown_target_and_config_are_named():
    err = error_of(GOOD.replace("target: Net, configs", "target: Nte, configs"))
    assert "unknown target 'Nte'" in str(err) and err.line == 13
    err = error_of(GOOD.replace("configs: [base]}", "configs: [bsae]}"))
    assert "no config 'bsae'" in str(err)


def test_config_missing_a_signature_argument():
    err = error_of(GOOD.replace("{kernel: 3, num_filters: 8}", "{kernel: 3}"))
    assert "lacks num_filters" in str(err) and err.line == 7


def test_duplicate_keys_and_ids_are_errors():
    err = error_of(GOOD.replace("title: Tiny rubric", "title: Tiny rubric\ntitle: again"))
    assert "duplicate key 'title'" in str(err) and err.line == 3
    err = error_of(GOOD.replace("{kind: param_count, target: Net, weight: 2}",
                                "{kind: output_shape, target: Net}"))
    assert "check id 'output_shape' is used twice" in str(err)


def test_invalid_yaml_points_at_the_syntax_error():
    err = error_of(GOOD.replace("configs: [base]}", "configs: [base}"))
    assert err.line is not None and "invalid YAML" in str(err)


def test_bad_student_pattern_and_visibility():
    err = error_of("student_pattern: '(?P<id>x'\n" + GOOD)
    assert "invalid regular expression" in str(err) and err.line == 1
    err = error_of("student_pattern: '(?P<id>x)'\n" + GOOD)
    assert "(?P<student>" in str(err)
    err = error_of(GOOD.replace("weight: 2}", "weight: 2, visibility: secret}"))
    assert "must be one of public, hidden" in str(err)


def test_missing_rubric_file_lists_shipped_ones(tmp_path):
    with pytest.raises(RubricError) as info:
        load_rubric(tmp_path / "nope.yaml")
    assert "csc413-2023-a2" in str(info.value)


def test_the_rubric_reference_page_is_generated_from_the_schema():
    from pathlib import Path

    from grader.rubric.docs import schema_markdown

    page = Path(__file__).resolve().parents[1] / "docs" / "rubrics.md"
    assert page.read_text(encoding="utf-8") == schema_markdown(), (
        "docs/rubrics.md is stale: python -m grader.rubric.docs > docs/rubrics.md")
