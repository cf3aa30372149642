"""The accuracy check: a bar under the reference's own seed spread, partial credit, failures."""

from __future__ import annotations

import pytest

from grader.checks.accuracy import accuracy, thresholds

REFERENCE = [60.1, 59.0, 62.0]   # the reference UNet's spread measured on the synthetic horses


def verdict(student_acc: float | None, problem: dict | None = None, **params):
    measured = {"found": True, "problem": None,
                "training": {"val_acc": student_acc, "val_loss": 1.0, "epochs": [],
                             "problem": problem, "attempts": [{"seed": 0,
                                                               "val_acc": student_acc}]}}
    expected = {"calibration": {"val_acc": REFERENCE, "budget": {"epochs": 5},
                                "data": {"synthetic": True}, "curve": []}}
    return accuracy(measured, expected, params)


def test_the_bar_sits_below_the_references_worst_seed_less_its_spread():
    mean, pass_at, zero_at = thresholds(REFERENCE, {})
    assert mean == pytest.approx(60.3667, abs=1e-3)
    assert pass_at == pytest.approx(0.9 * mean)          # below 59.0 - 3.0 (worst less spread)
    assert zero_at == pytest.approx(0.6 * mean)
    # a noisy reference moves the bar down by its spread
    _, noisy_pass, _ = thresholds([50.0, 60.0, 62.0], {})
    assert noisy_pass == pytest.approx(50.0 - 12.0)


def test_an_equivalent_model_with_an_unlucky_seed_still_gets_full_credit():
    # 57.8 %: the concatenation-swapped UNet's worst seed in the same measurement
    v = verdict(57.8)
    assert v.status == "passed" and v.fraction == 1.0
    assert "reference 60.4 %" in v.message


def test_partial_credit_is_linear_between_the_two_bars():
    _, pass_at, zero_at = thresholds(REFERENCE, {})
    middle = (pass_at + zero_at) / 2
    v = verdict(middle)
    assert v.status == "failed" and v.fraction == pytest.approx(0.5)
    assert verdict(zero_at - 1).fraction == 0.0


def test_the_students_crash_is_an_error_not_a_low_score():
    v = verdict(None, {"kind": "exception", "message": "forward() returned shape [100, 24, 8, 8]",
                       "cell": 7, "line": 3, "traceback": []})
    assert v.status == "error"
    assert "cell 7" in v.message


def test_no_calibration_is_the_graders_fault():
    v = accuracy({"found": True, "training": {"val_acc": 50.0, "problem": None}}, {}, {})
    assert v.status == "internal"
