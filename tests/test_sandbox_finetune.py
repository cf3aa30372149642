"""Real Part C notebooks through a real sandbox: the student's train(args, model) runs for two
optimizer steps on tiny substituted data, and the checks judge what it changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.checks.registry import get
from grader.finetune import finetune_measured, finetune_request, measured_from_result
from grader.ingest import load_submission
from grader.sandbox import Limits, Sandbox
from tests.finetune_factory import REFERENCE_2020, finetune_cells, write_finetune
from tests.ingest_factory import write_notebook
from tests.sandbox_factory import needs_bwrap

TRAIN, HEAD = get("finetune_train"), get("finetune_head")
EXPECT_TRAIN, EXPECT_HEAD = TRAIN.expect_fn({}, {}), HEAD.expect_fn({}, {})


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Limits(timeout=90, cpu=180, memory=3 << 30), workers=1) as sb:
        yield sb


def grade(path: Path, sandbox: Sandbox) -> tuple[dict, object, object]:
    measured = finetune_measured(load_submission(path), sandbox, timeout=75)
    return (measured, TRAIN(measured, EXPECT_TRAIN, {}), HEAD(measured, EXPECT_HEAD, {}))


def test_request_is_json_and_keeps_the_cells_mapped(tmp_path: Path) -> None:
    sub = load_submission(write_notebook(tmp_path / "a.ipynb", finetune_cells()))
    request = finetune_request(sub)
    json.dumps(request)
    prelude, *cells = request["notebook"]["cells"]
    assert "_grader_finetune_hooks()" in prelude["source"] and "import grader" not in (
        prelude["source"])
    assert [c["metadata"]["grader"]["cell"] for c in cells] == [1, 2, 3, 4, 5, 6]


def test_never_called_and_undefined_are_found_false(tmp_path: Path) -> None:
    sub = load_submission(write_notebook(tmp_path / "b.ipynb", finetune_cells(call=False)))
    quiet = {"prelude": {"status": "ok"}, "captured": [], "events": [],
             "cells": [{"cell": i, "label": f"cell {i}", "status": "ok"} for i in (2, 3, 4, 5, 6)]}
    measured = measured_from_result(quiet, sub)
    assert not measured["found"] and measured["problem"]["kind"] == "missing"
    assert measured["problem"]["cell"] == 5 and "never called" in measured["problem"]["message"]
    other = measured_from_result(quiet, sub, target="finetune")
    assert "no function named finetune" in other["problem"]["message"]
    # the cell that should call train raised first: that cell and its traceback are the problem
    quiet["cells"][-1] = {"cell": 6, "label": "cell 6", "status": "error", "ename": "NameError",
                          "evalue": "name 'nn' is not defined",
                          "traceback": ["cell 6, line 4: model.classifier[4] = nn.Conv2d(...)",
                                        "NameError: name 'nn' is not defined"]}
    sub6 = load_submission(write_notebook(tmp_path / "c.ipynb", finetune_cells()))
    failed = measured_from_result(quiet, sub6)
    assert failed["problem"]["cell"] == 6 and "NameError" in failed["problem"]["message"]
    assert failed["problem"]["traceback"][0].startswith("cell 6, line 4")


@needs_bwrap
def test_reference_notebook_gets_full_marks(sandbox: Sandbox) -> None:
    measured, train, head = grade(REFERENCE_2020, sandbox)
    ft = measured["finetune"]
    assert train.status == "passed", train.message
    assert head.status == "passed", head.message
    assert ft["run"]["status"] == "stopped" and ft["run"]["steps"] == 2
    assert ft["changed"] == ["classifier.4.weight", "classifier.4.bias"]
    assert ft["optimised"] == ft["changed"] == ft["trainable"]
    assert ft["unchanged_count"] == ft["parameter_tensors"] - 2 > 100
    assert ft["head"]["out_channels"] == 2 and ft["trainable_count"] == 514
    assert ft["calls"] == 1          # the two colourisation train(args) calls are not it


@needs_bwrap
def test_forgot_to_freeze(sandbox: Sandbox, tmp_path: Path) -> None:
    measured, train, head = grade(write_finetune(tmp_path, "forgot_freeze"), sandbox)
    # learned_parameters was right: only the head changed; C.2 wants the rest frozen
    assert train.status == "passed", train.message
    assert head.status == "failed" and head.fraction == 0.5
    assert "still require gradients" in head.message
    assert len(measured["finetune"]["trainable"]) == measured["finetune"]["parameter_tensors"]


@needs_bwrap
def test_optimizer_over_every_parameter_without_freezing(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    measured, train, head = grade(write_finetune(tmp_path, "all_params"), sandbox)
    ft = measured["finetune"]
    assert train.status == "failed" and train.fraction == 0.0
    assert train.message.startswith("train() also updated backbone.")
    assert len(ft["changed"]) > 100 and "classifier.4.weight" in ft["changed"]
    assert head.status == "failed"


@needs_bwrap
def test_head_left_with_21_classes(sandbox: Sandbox, tmp_path: Path) -> None:
    _, train, head = grade(write_finetune(tmp_path, "head_21"), sandbox)
    assert train.status == "passed", train.message
    assert head.status == "failed" and head.fraction == 0.5
    assert head.message == ("model.classifier[4] has 21 outputs; replace it with a "
                            "256→2 1×1 convolution")


@needs_bwrap
def test_train_that_raises_is_located_in_the_students_cell(sandbox: Sandbox,
                                                          tmp_path: Path) -> None:
    measured, train, head = grade(write_finetune(tmp_path, "train_raises"), sandbox)
    problem = measured["finetune"]["run"]["problem"]
    assert train.status == "error" and "named_parameter" in train.message
    assert (problem["cell"], problem["line"]) == (5, 4)
    assert problem["traceback"] == [
        "cell 6, line 7: train(args, model)",
        "cell 5, line 4: for name, param in model.named_parameter():",
        "AttributeError: 'DeepLabV3' object has no attribute 'named_parameter'"]
    assert head.status == "passed", head.message   # the top-level code was right
