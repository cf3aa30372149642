"""The `train` task in the real bubblewrap sandbox: metrics, replayed accuracy, located problems.

The validation split never enters the sandbox: the task exports the network after every epoch
and the trusted side scores it. A network it cannot replay earns nothing automatically.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from grader.checks.accuracy import accuracy
from grader.sandbox import Sandbox
from grader.sandbox.tasks.train import EPOCH_GRAPH, train_class
from grader.training import build_pack, calibrate, train_request, training_measured
from grader.training.data import BLOB_NAME
from tests.sandbox_factory import FAST, needs_bwrap
from tests.training_factory import (
    GOOD_NET,
    NAN_NET,
    PATCHING_NET,
    RAISING_NET,
    SMALLEST,
    UNREPLAYABLE_NET,
    notebook_program,
    run_train_task,
)

pytestmark = [needs_bwrap, pytest.mark.sandbox, pytest.mark.slow]
ARGS = [3, 8, 24, 1]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(FAST.replace(timeout=60, cpu=120, memory=1 << 30), workers=1, threads=1) as sb:
        yield sb


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build_pack(budget=SMALLEST, cache_dir=tmp_path_factory.mktemp("data"))


def train(sandbox, pack, program, budget=SMALLEST):
    request = train_request(program, "TinyNet", ARGS, budget, seed=0)
    return run_train_task(sandbox, request, pack.training_files())


def test_the_validation_split_never_enters_the_sandbox(pack):
    with np.load(io.BytesIO(pack.training_files()[BLOB_NAME]), allow_pickle=False) as blob:
        assert sorted(blob.files) == ["num_colours", "palette", "x_train", "y_train"]


def test_sandboxed_training_matches_the_same_loop_in_process(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.status == "ok", outcome.summary()
    assert outcome.isolation["mechanism"] == "bwrap"
    assert outcome.result["val_acc"] is None   # the run knows nothing of the validation split
    measured = training_measured(outcome, program, target="TinyNet", pack=pack, samples=4)
    assert measured["problem"] is None and measured["review"] is None
    assert measured["accuracy_source"] == "replayed"
    assert measured["device"] == "cpu" and measured["seeds"]["torch"] == 0
    assert [e["epoch"] for e in measured["epochs"]] == [1]
    assert {"train_loss", "val_loss", "val_acc"} <= set(measured["epochs"][0])
    assert len(measured["samples"]) == 4 and len(measured["samples"][0][0]) == 32

    # the trusted side trains with literally the same code: same seed, same numbers
    namespace: dict = {}
    exec(program.compile(), namespace)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local, _ = train_class(namespace["TinyNet"], ARGS, None, pack.arrays(), SMALLEST, 0,
                               "cpu")
    finally:
        torch.set_num_threads(previous)
    assert local["epochs"][0]["train_loss"] == measured["epochs"][0]["train_loss"]
    assert measured["val_acc"] == pytest.approx(local["val_acc"], abs=0.05)
    assert measured["val_loss"] == pytest.approx(local["val_loss"], rel=1e-4)

    calibration = calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=2,
                            cache_dir=tmp_path, device="cpu", threads=1)
    verdict = accuracy({"found": True, "training": measured}, {"calibration": calibration}, {})
    assert verdict.status in ("passed", "failed")
    assert verdict.details["val_acc"] == measured["val_acc"]
    assert verdict.details["reference_val_acc"] == calibration["val_acc"]


def test_what_the_run_says_about_validation_counts_for_nothing(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    honest = training_measured(outcome, program, pack=pack)["val_acc"]
    outcome.result.update(val_acc=100.0, val_loss=0.0)
    for row in outcome.result["epochs"]:
        row.update(val_acc=100.0, val_loss=0.0)
    measured = training_measured(outcome, program, pack=pack)
    assert measured["val_acc"] == honest < 100.0


def test_non_finite_model_is_a_problem_at_the_class_cell(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, NAN_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    measured = training_measured(outcome, program, target="TinyNet", pack=pack)
    problem = measured["problem"]
    assert problem["reason"] == "non_finite" and problem["cell"] == 3
    verdict = accuracy({"found": True, "training": measured}, {"calibration": {"val_acc": [50]}},
                       {})
    assert verdict.status == "error" and "not finite" in verdict.message


def test_forward_exception_is_located_in_the_students_cell(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, RAISING_NET)
    outcome = train(sandbox, pack, program)  # batches of 50, the student's view wants 20
    assert outcome.ok, outcome.summary()
    problem = training_measured(outcome, program, target="TinyNet")["problem"]
    assert problem["kind"] == "exception" and (problem["cell"], problem["line"]) == (3, 8)
    assert problem["traceback"][0].startswith("cell 3, line 8: return out.view(20, 24, 32, 32)")
    assert problem["traceback"][-1].startswith("RuntimeError")


def test_a_network_the_grader_cannot_replay_goes_to_a_ta(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, UNREPLAYABLE_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    measured = training_measured(outcome, program, pack=pack)
    assert measured["problem"] is None and measured["val_acc"] is None
    assert "could not be replayed" in measured["review"]
    verdict = accuracy({"found": True, "training": measured},
                       {"calibration": {"val_acc": [1.0]}}, {})
    assert verdict.status == "review" and verdict.fraction == 0.0
    assert "a TA will look" in verdict.message


def test_a_missing_export_goes_to_a_ta(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    del outcome.artifacts[EPOCH_GRAPH.format(1)]
    measured = training_measured(outcome, program, pack=pack)
    assert measured["val_acc"] is None and "not exported" in measured["review"]


def test_a_program_that_patches_the_training_loop_gets_no_automatic_credit(sandbox, pack,
                                                                          tmp_path):
    program = notebook_program(tmp_path, PATCHING_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    assert outcome.result["val_acc"] == 100.0   # what it claims ...
    measured = training_measured(outcome, program, pack=pack)
    assert measured["val_acc"] is None and measured["review"]   # ... counts for nothing
    verdict = accuracy({"found": True, "training": measured},
                       {"calibration": {"val_acc": [1.0]}}, {})
    assert verdict.status == "review" and verdict.fraction == 0.0
