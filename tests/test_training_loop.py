"""The budgeted training loop shared by the sandbox task and the reference calibration."""

from __future__ import annotations

import numpy as np
import pytest

from grader.sandbox.tasks.train import load_program, train_class
from grader.training import build_pack
from reference.models import PoolUpsampleNet
from tests.training_factory import (
    GOOD_NET,
    IMPORTS,
    NAN_NET,
    RAISING_NET,
    TINY,
    WRONG_SHAPE_NET,
    majority_accuracy,
)

FILENAME = "<student>"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build_pack(budget=TINY, cache_dir=tmp_path_factory.mktemp("cache"))


def student_class(net_source: str) -> type:
    cls, problem = load_program(f"{IMPORTS}\n\n{net_source}\n", FILENAME, "TinyNet", [])
    assert problem is None, problem
    return cls


def test_reference_learns_well_above_chance_in_a_tiny_budget(pack):
    result, predictions = train_class(PoolUpsampleNet, [3, 8, 24, 1], None, pack.arrays(), TINY,
                                      seed=0, device="cpu")
    assert result["problem"] is None
    baseline = majority_accuracy(pack.y_val)
    assert result["val_acc"] > 2 * baseline, (result["val_acc"], baseline)
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
    assert result["epochs"][-1]["train_loss"] < result["epochs"][0]["train_loss"]
    assert result["device"] == "cpu" and result["seeds"]["torch"] == 0
    # the returned predictions are what the accuracy was computed from
    truth = pack.y_val[:, 0]
    assert predictions.shape == truth.shape and predictions.dtype == np.uint8
    assert 100.0 * (predictions == truth).mean() == pytest.approx(result["val_acc"], abs=1e-9)


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(pack):
    cls = student_class(GOOD_NET)
    budget = {**TINY, "epochs": 1}
    first, p1 = train_class(cls, [3, 8, 24, 1], None, pack.arrays(), budget, 5, "cpu")
    again, p2 = train_class(cls, [3, 8, 24, 1], None, pack.arrays(), budget, 5, "cpu")
    other, _ = train_class(cls, [3, 8, 24, 1], None, pack.arrays(), budget, 6, "cpu")
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in first["epochs"]]
    assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in again["epochs"]]
    assert np.array_equal(p1, p2)
    assert other["epochs"][0]["train_loss"] != first["epochs"][0]["train_loss"]


def test_wrong_output_shape_is_a_clear_problem(pack):
    result, predictions = train_class(student_class(WRONG_SHAPE_NET), [3, 8, 24, 1], None,
                                      pack.arrays(), TINY, 0, "cpu")
    problem = result["problem"]
    assert predictions is None and result["epochs"] == []
    assert problem["kind"] == "exception" and problem["reason"] == "output_shape"
    assert "[20, 24, 30, 30]" in problem["message"] and "[20, 24, 32, 32]" in problem["message"]


def test_non_finite_loss_is_a_clear_problem(pack):
    result, _ = train_class(student_class(NAN_NET), [3, 8, 24, 1], None, pack.arrays(), TINY, 0,
                            "cpu")
    assert result["problem"]["reason"] == "non_finite"
    assert "epoch 1" in result["problem"]["message"] and "nan" in result["problem"]["message"]


def test_forward_exception_points_at_the_students_line(pack):
    # the student's view() assumes batches of 20; the budget's are 40
    budget = {**TINY, "batch_size": 40}
    result, _ = train_class(student_class(RAISING_NET), [3, 8, 24, 1], None, pack.arrays(),
                            budget, 0, "cpu", filename=FILENAME)
    problem = result["problem"]
    assert problem["kind"] == "exception" and problem["phase"] == "forward (training)"
    assert "RuntimeError" in problem["message"]
    source_lines = f"{IMPORTS}\n\n{RAISING_NET}\n".splitlines()
    assert "view(20" in source_lines[problem["line"] - 1]
    assert problem["frames"][-1][:2] == [FILENAME, problem["line"]]


def test_constructor_errors_and_non_modules_are_problems(pack):
    cls = student_class(GOOD_NET)
    result, _ = train_class(cls, [3, 8], None, pack.arrays(), TINY, 0, "cpu", filename=FILENAME)
    assert result["problem"]["kind"] == "exception"
    assert "TinyNet(...) raised TypeError" in result["problem"]["message"]
    result, _ = train_class(dict, [], None, pack.arrays(), TINY, 0, "cpu")
    assert "not a torch.nn.Module" in result["problem"]["message"]


def test_program_problems_syntax_missing_and_aliases():
    cls, problem = load_program("class Net(:\n    pass\n", FILENAME, "TinyNet", [])
    assert cls is None and problem["kind"] == "syntax" and problem["line"] == 1
    cls, problem = load_program(f"{IMPORTS}\n{GOOD_NET}\n", FILENAME, "SmallNet", [])
    assert problem["kind"] == "missing" and "'SmallNet'" in problem["message"]
    cls, problem = load_program(f"{IMPORTS}\n{GOOD_NET}\n", FILENAME, "SmallNet", ["TinyNet"])
    assert problem is None and cls.__name__ == "TinyNet"
    cls, problem = load_program("import torch\nraise SystemExit(3)\n", FILENAME, "TinyNet", [])
    assert problem["kind"] == "exception" and problem["line"] == 2
