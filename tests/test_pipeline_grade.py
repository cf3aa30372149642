"""One submission end to end through the real pipeline: ingest, sandbox, replay, checks."""

from __future__ import annotations

import json

import pytest

from grader.pipeline import Grader, Options
from grader.rubric.compile import compiled_path, is_current, load_compiled
from grader.rubric.schema import load_rubric, shipped_rubrics
from tests.pipeline_factory import (
    checks_by_status,
    edited,
    question_scores,
    reference_notebook,
    with_cell,
)
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap
RUBRIC = "csc413-2023-a2"


@pytest.fixture(scope="module")
def grader():
    with Grader(RUBRIC) as g:
        yield g


@pytest.fixture(scope="module")
def reference_result(grader):
    return grader.grade_path(reference_notebook(RUBRIC)).result.to_dict()


def test_reference_notebook_gets_every_static_point(reference_result):
    r = reference_result
    assert r["status"] == "graded"
    assert r["checks_mode"] == "static"
    statuses = checks_by_status(r)
    assert set(statuses) == {"passed", "skipped"}, statuses
    # every training question is skipped (and the written ones: no write-up), every other
    # one earns its points
    assert statuses["skipped"] == {"4.2/accuracy", "5.2/accuracy", "6.2/accuracy",
                                   "4.3/written", "5.4/written"}
    assert r["score"] == pytest.approx(r["assessed_max_score"]) == pytest.approx(1.5)
    assert r["max_score"] == pytest.approx(4.5)
    assert r["environment"]["isolation"], "the report must say which isolation was in force"
    assert r["timings"]["sandbox_s"] > 0 and r["resources"]["max_rss_bytes"] > 0
    json.dumps(r)  # the record is plain JSON


def test_a_missing_batchnorm_costs_points_only_where_it_should(grader, tmp_path,
                                                                 reference_result):
    path = edited(RUBRIC, tmp_path / "nobn.ipynb", "PoolUpsampleNet",
                  "            nn.BatchNorm2d(2 * nf),\n", "")
    r = grader.grade_path(path).result.to_dict()
    lost = checks_by_status(r)["failed"]
    assert "4.1/architecture" in lost and "4.1/param_count" in lost
    assert not any(uid.startswith(("5.", "6.")) for uid in lost)
    arch = next(c for c in r["questions"][0]["checks"] if c["id"] == "architecture")
    assert "BatchNorm2d" in arch["message"]
    assert question_scores(r)["5.1"] == question_scores(reference_result)["5.1"]
    assert 0 < question_scores(r)["4.1"] < 0.5


def test_hard_coded_colours_pass_the_handout_config_but_not_the_hidden_ones(grader, tmp_path):
    path = edited(RUBRIC, tmp_path / "hardcoded.ipynb", "ConvTransposeNet",
                  "nf, nc = num_filters, num_colours", "nf, nc = num_filters, 24")
    r = grader.grade_path(path).result.to_dict()
    statuses = checks_by_status(r)
    assert {"5.1/output_shape", "5.1/param_count", "5.1/architecture"} <= statuses["passed"]
    assert {"5.1/generalises_shape", "5.1/generalises_params"} <= statuses["failed"]


def test_a_concatenation_in_the_other_order_is_accepted(grader, tmp_path):
    path = edited(RUBRIC, tmp_path / "order.ipynb", "UNet",
                  "torch.cat([x1, x3], dim=1)", "torch.cat([x3, x1], dim=1)")
    path = edited(RUBRIC, path, "UNet", "torch.cat([x, x4], dim=1)", "torch.cat([x4, x], dim=1)",
                  source=path)
    r = grader.grade_path(path).result.to_dict()
    assert question_scores(r)["6.1"] == pytest.approx(0.5), checks_by_status(r)


def test_syntax_error_is_located_and_other_models_still_graded(grader, tmp_path):
    path = edited(RUBRIC, tmp_path / "syntax.ipynb", "UNet",
                  "        x1 = self.conv1(x)\n", "        x1 = self.conv1(x\n")
    r = grader.grade_path(path).result.to_dict()
    assert r["status"] == "graded"
    errors = checks_by_status(r)["error"]
    assert {"6.1/architecture", "6.1/output_shape"} <= errors
    assert question_scores(r)["4.1"] == pytest.approx(0.5)
    problem = next(p for p in r["problems"] if p["kind"] == "syntax")
    assert problem["cell"] == 14  # the UNet cell, 1-based as the student sees it


def test_a_hang_in_one_class_costs_only_that_class(tmp_path):
    with Grader(RUBRIC, timeout=8) as g:
        path = edited(RUBRIC, tmp_path / "hang.ipynb", "PoolUpsampleNet",
                      "        padding = kernel // 2\n",
                      "        padding = kernel // 2\n        while True:\n            pass\n")
        r = g.grade_path(path).result.to_dict()
    assert {"4.1/architecture", "4.1/param_count"} <= checks_by_status(r)["error"]
    assert any(p["kind"] == "timeout" for p in r["problems"])
    assert question_scores(r)["5.1"] == pytest.approx(0.5)


def test_a_corrupt_notebook_is_an_error_row_not_a_crash(grader, tmp_path):
    path = tmp_path / "corrupt.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    r = grader.grade_path(path).result.to_dict()
    assert r["status"] == "error" and r["score"] == 0
    assert r["error"]["kind"] == "corrupt"
    assert r["student"] == "corrupt"
    assert sum(len(q["checks"]) for q in r["questions"]) == 26  # every check still has a row
    statuses = {c["status"] for q in r["questions"] for c in q["checks"]
                if c["kind"] in ("accuracy", "written")}
    assert statuses == {"skipped"}     # not run in a static run: blank, not lost


def test_top_level_training_is_left_out_not_run(grader, tmp_path):
    path = with_cell(RUBRIC, tmp_path / "toplevel.ipynb",
                     "import time\nfor epoch in range(25):\n    time.sleep(100)\n")
    r = grader.grade_path(path).result.to_dict()
    assert r["score"] == pytest.approx(1.5)
    assert r["timings"]["total_s"] < 60


def test_the_same_submission_gets_the_same_grade_twice(grader, reference_result):
    again = grader.grade_path(reference_notebook(RUBRIC)).result.to_dict()
    strip = ("graded_at", "timings", "resources", "environment")
    a = {k: v for k, v in reference_result.items() if k not in strip}
    b = {k: v for k, v in again.items() if k not in strip}
    assert a == b


def test_self_check_runs_public_checks_only(tmp_path):
    with Grader(RUBRIC, public_only=True) as g:
        r = g.grade_path(reference_notebook(RUBRIC)).result.to_dict()
    skipped = checks_by_status(r)["skipped"]
    assert "4.1/generalises_shape" in skipped and "6.1/generalises_params" in skipped
    assert r["assessed_max_score"] < 1.5
    assert r["score"] == pytest.approx(r["assessed_max_score"])


def test_the_key_changes_with_what_changes_a_grade():
    rubric = load_rubric(RUBRIC)
    compiled = load_compiled(rubric)
    a = Grader(rubric, compiled=compiled)
    b = Grader(rubric, compiled=compiled, checks="all")
    c = Grader(rubric, compiled=compiled, cache_dir="/elsewhere")
    assert a.key("x") != a.key("y")
    assert a.key("x") != b.key("x")
    assert a.key("x") == c.key("x")  # where the cache lives does not change a grade


@pytest.mark.parametrize("rubric_id", shipped_rubrics())
def test_shipped_compiled_expectations_are_current(rubric_id):
    rubric = load_rubric(rubric_id)
    data = json.loads(compiled_path(rubric).read_text())
    ok, why = is_current(data, rubric)
    assert ok, f"{why}: run `grader compile --rubric {rubric_id}`"


def test_options_reject_an_unknown_mode():
    with pytest.raises(ValueError, match="--checks"):
        Options(checks="everything")


def test_all_checks_train_the_reference_notebook_to_full_marks(tmp_path):
    """The f2024 rubric's two training questions, judged against the shipped calibration."""
    with Grader("csc413-f2024-a2", checks="all", cache_dir=str(tmp_path)) as g:
        graded = g.grade_path(reference_notebook("csc413-f2024-a2"))
    r = graded.result.to_dict()
    assert r["score"] == pytest.approx(r["max_score"]), checks_by_status(r)
    acc = next(c for q in r["questions"] for c in q["checks"] if c["kind"] == "accuracy")
    assert acc["details"]["val_acc"] >= acc["details"]["pass_at"]
    assert len(acc["details"]["reference_val_acc"]) == 3
    assert acc["details"]["curve"] and acc["details"]["reference_curve"]
    picture = graded.artifacts[acc["details"]["samples"]]
    assert picture.startswith(b"\x89PNG")
    assert r["timings"]["training_s"] > 0
    # nothing was calibrated here: the reference runs ship with the rubric
    assert not list(tmp_path.glob("calibration/*.json"))
