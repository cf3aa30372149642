"""Accuracy: the student's model trained by the reference loop, against the reference.

Both are trained on the same data under the same budget; the reference is trained with several
seeds so the threshold reflects its real spread, not one lucky run. Partial credit falls linearly
from `pass_fraction` to `zero_fraction` of the reference's mean accuracy.
"""

from __future__ import annotations

from grader.checks.common import problem_text, target_unavailable
from grader.checks.registry import Param, Verdict, check

DEFAULT_BUDGET = {"epochs": 2, "batch_size": 100, "lr": 0.001, "train_images": 1500,
                  "val_images": 500}


def budget_of(params: dict) -> dict:
    """The effective training budget of an accuracy check (rubric values over defaults)."""
    return {**DEFAULT_BUDGET, **(params.get("budget") or {})}


@check("accuracy", stage="training", params={
    "config": Param((str,), doc="the config to train (default: the target's first)"),
    "budget": Param((dict,), default={}, doc="epochs, batch_size, lr, train_images, val_images"),
    "seeds": Param((int,), default=3, doc="reference runs used for calibration"),
    "pass_fraction": Param((int, float), default=0.95,
                           doc="full credit at this fraction of the reference's mean accuracy "
                               "(never above the reference's worst seed)"),
    "zero_fraction": Param((int, float), default=0.7,
                           doc="no credit at or below this fraction of the reference's mean"),
})
def accuracy(measured: dict, expected: dict, params: dict) -> Verdict:
    """Validation accuracy after a budgeted training run, relative to the reference's."""
    unavailable = target_unavailable(measured)
    if unavailable:
        return unavailable
    run = measured.get("training")
    if run is None:
        return Verdict.internal("the model was not trained")
    if run.get("problem"):
        return Verdict.error(problem_text(run["problem"]), training=run)
    calibration = expected.get("calibration")
    if not calibration or not calibration.get("val_acc"):
        return Verdict.internal("no reference calibration for this data and budget")
    ref = calibration["val_acc"]
    mean = sum(ref) / len(ref)
    pass_at = min(params.get("pass_fraction", 0.95) * mean, min(ref))
    zero_at = min(params.get("zero_fraction", 0.7) * mean, pass_at)
    acc = run["val_acc"]
    details = {"val_acc": acc, "val_loss": run.get("val_loss"), "reference_val_acc": ref,
               "reference_mean": mean, "pass_at": pass_at, "zero_at": zero_at,
               "budget": calibration.get("budget"), "data": calibration.get("data"),
               "curve": run.get("epochs", []), "reference_curve": calibration.get("curve", []),
               "seconds": run.get("seconds")}
    summary = (f"validation accuracy {acc:.1f} % vs reference {mean:.1f} % "
               f"({min(ref):.1f}–{max(ref):.1f} over {len(ref)} seeds) under the same budget")
    if acc >= pass_at:
        return Verdict.passed(f"{summary}; needed {pass_at:.1f} %", **details)
    if acc <= zero_at or pass_at <= zero_at:
        return Verdict.failed(f"{summary}; needed {pass_at:.1f} % (no credit below "
                              f"{zero_at:.1f} %)", **details)
    fraction = (acc - zero_at) / (pass_at - zero_at)
    return Verdict.failed(f"{summary}; needed {pass_at:.1f} % for full credit", fraction,
                          **details)
