"""The `train` task in the real bubblewrap sandbox: metrics, verified accuracy, located problems."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from grader.checks.accuracy import accuracy
from grader.sandbox import Sandbox
from grader.sandbox.tasks.train import PREDICTIONS_FILE, TRAINED_GRAPH, train_class
from grader.training import build_pack, calibrate, train_request, training_measured
from tests.sandbox_factory import FAST, needs_bwrap
from tests.training_factory import (
    GOOD_NET,
    NAN_NET,
    RAISING_NET,
    SMALLEST,
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
    request = train_request(program, "TinyNet", ARGS, budget, seed=0, samples=4)
    return run_train_task(sandbox, request, pack.files())


def test_sandboxed_training_matches_the_same_loop_in_process(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.status == "ok", outcome.summary()
    assert outcome.isolation["mechanism"] == "bwrap"
    measured = training_measured(outcome, program, target="TinyNet", pack=pack)
    assert measured["problem"] is None and measured["verified"] is True
    assert measured["accuracy_source"] == "replayed"
    assert measured["device"] == "cpu" and measured["seeds"]["torch"] == 0
    assert [e["epoch"] for e in measured["epochs"]] == [1]
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
    assert local["val_acc"] == measured["val_acc"]
    assert local["epochs"][0]["train_loss"] == measured["epochs"][0]["train_loss"]

    calibration = calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=2,
                            cache_dir=tmp_path, device="cpu", threads=1)
    verdict = accuracy({"found": True, "training": measured}, {"calibration": calibration}, {})
    assert verdict.status in ("passed", "failed")
    assert verdict.details["val_acc"] == measured["val_acc"]
    assert verdict.details["reference_val_acc"] == calibration["val_acc"]


def test_a_lying_result_is_caught_by_the_returned_predictions(sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    outcome.result["val_acc"] = 99.0
    measured = training_measured(outcome, program, pack=pack)
    assert measured["problem"]["kind"] == "corrupt" and measured["val_acc"] < 99.0


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


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_predictions_the_students_process_wrote_do_not_decide_the_accuracy(sandbox, pack,
                                                                           tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    honest = training_measured(outcome, program, pack=pack)["val_acc"]
    # A process that read the labels could hand back perfect predictions and a matching claim.
    n = outcome.result["n_val"]
    outcome.artifacts[PREDICTIONS_FILE] = _npy(pack.y_val[:n, 0].copy())
    outcome.result["val_acc"] = 100.0
    measured = training_measured(outcome, program, pack=pack)
    assert measured["problem"] is None
    assert measured["val_acc"] == pytest.approx(honest, abs=0.1) and measured["val_acc"] < 100
    assert measured["accuracy_source"].startswith("replayed (the run's own predictions differ")


def test_without_a_replayable_network_the_predictions_are_scored_and_the_report_says_so(
        sandbox, pack, tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    outcome = train(sandbox, pack, program)
    assert outcome.ok, outcome.summary()
    del outcome.artifacts[TRAINED_GRAPH]
    measured = training_measured(outcome, program, pack=pack)
    assert measured["problem"] is None and measured["verified"] is True
    assert measured["accuracy_source"] == ("predictions (the training task exported no "
                                           "trained network)")
    verdict = accuracy({"found": True, "training": measured},
                       {"calibration": {"val_acc": [1.0]}}, {})
    assert verdict.details["accuracy_source"] == measured["accuracy_source"]
