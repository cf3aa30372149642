"""Accuracy: the student's model trained by the reference loop, against the reference.

Both are trained on the same data under the same budget; the reference is trained with several
seeds so the threshold reflects its real spread, not one lucky run. Partial credit falls linearly
from `pass_fraction` to `zero_fraction` of the reference's mean accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader import figures
from grader.checks.common import problem_text, target_unavailable
from grader.checks.registry import Compiling, Param, Verdict, check

# 100 Adam steps of 50 images: measured on the synthetic horses (4 seeds each), the reference
# UNet reaches 59.2-60.7 % and an equivalent UNet (concatenation order swapped) 59.6-60.8 %;
# 30 steps of 100 images left the same two spread over 17-27 %, too noisy to judge anyone by.
DEFAULT_BUDGET = {"epochs": 5, "batch_size": 50, "lr": 0.001, "train_images": 1000,
                  "val_images": 500}
# The handout's own training (the starter's defaults: 25 epochs of the 5,000 training horses,
# batches of 100, Adam at 0.001, scored on the 1,000 test horses), so that grades reproduce what
# students reported. A course uses it for final grades on a GPU; on a CPU it takes hours.
HANDOUT_BUDGET = {"epochs": 25, "batch_size": 100, "lr": 0.001, "train_images": 5000,
                  "val_images": 1000}
BUDGETS = ("rubric", "handout")
RETRY_SEEDS = 1   # a run below the bar is retried with the next seed; the better run counts


def budget_of(params: dict, which: str = "rubric") -> dict:
    """The training budget of an accuracy check: the rubric's (its `budget` over the fast
    default) or the handout's (its `handout_budget` over the starter's defaults)."""
    if which == "handout":
        return {**HANDOUT_BUDGET, **(params.get("handout_budget") or {})}
    if which != "rubric":
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, not {which!r}")
    return {**DEFAULT_BUDGET, **(params.get("budget") or {})}


def thresholds(reference_acc: list[float], params: dict) -> tuple[float, float, float]:
    """(reference mean, full credit at, no credit at), in percent.

    The bar sits below the reference's own seed-to-seed spread so that a correct model trained
    with an unlucky initialisation is never marked down.
    """
    mean = sum(reference_acc) / len(reference_acc)
    spread = max(reference_acc) - min(reference_acc)
    pass_at = min(params.get("pass_fraction", 0.9) * mean, min(reference_acc) - spread)
    zero_at = min(params.get("zero_fraction", 0.6) * mean, pass_at)
    return mean, pass_at, zero_at


VIEW = """{% if d.val_acc is defined %}
<h4>Your accuracy against the reference</h4>
{% if c.figures.scale %}{{ c.figures.scale }}{% endif %}
<dl class="kv">
  <dt>your validation accuracy</dt><dd><strong>{{ "%.1f"|format(d.val_acc) }} %</strong>
    {% if d.val_loss is number %} (loss {{ "%.3f"|format(d.val_loss) }}){% endif %}</dd>
  {% if d.reference_val_acc %}<dt>reference, per seed</dt><dd>
    {% for r in d.reference_val_acc %}{{ "%.1f"|format(r) }} %{{ ", " if not loop.last }}
    {% endfor %}
    {% if d.reference_mean is number %} (mean {{ "%.1f"|format(d.reference_mean) }} %){% endif %}
  </dd>{% endif %}
  {% if d.pass_at is number %}<dt>full credit from</dt>
    <dd>{{ "%.1f"|format(d.pass_at) }} %</dd>{% endif %}
  {% if d.zero_at is number %}<dt>no credit at or below</dt>
    <dd>{{ "%.1f"|format(d.zero_at) }} %</dd>{% endif %}
  {% if d.budget %}<dt>training budget</dt><dd>{{ d.budget|yesno }}</dd>{% endif %}
  {% if d.data %}<dt>data</dt><dd>{{ d.data|yesno }}</dd>{% endif %}
  {% if d.seconds is defined and d.seconds is number %}<dt>training time</dt>
    <dd>{{ d.seconds|seconds }}</dd>{% endif %}
  {% if d.accuracy_source %}<dt>accuracy computed from</dt><dd>
    {% if d.accuracy_source.startswith("replayed") %}your trained network, re-run by the grader on
    the validation images{{ d.accuracy_source[8:] }}{% else %}the training run's
    {{ d.accuracy_source }}{% endif %}</dd>{% endif %}
</dl>
{% if c.figures.curves %}
<figure>
  {{ c.figures.curves }}
  <figcaption>Training (solid) and validation (dashed) loss, and validation accuracy, per epoch:
    your model in blue, the reference model in grey, both trained by the same loop on the same
    data.</figcaption>
</figure>
{% endif %}
{% if c.figures.samples %}
<figure>
  <img class="samples" src="{{ c.figures.samples }}"
       alt="Colourised validation images produced by your trained model">
  <figcaption>Validation images: greyscale input, your model's colours, the true
    colours.</figcaption>
</figure>
{% elif c.figures.samples_missing %}
<p class="note">The colourised samples picture was not available.</p>
{% endif %}
{% endif %}
"""


DETAILS = ('`{"val_acc", "val_loss", "reference_val_acc": [per seed], "reference_mean", '
           '"pass_at", "zero_at", "budget", "data", "curve": [{"epoch", "train_loss", '
           '"val_loss", "val_acc"}], "reference_curve", "samples": '
           '"artifacts/samples_<target>.png", "seconds", "attempts": [{"seed", "val_acc", '
           '"problem"}], "accuracy_source"}`. Full credit from `pass_at` (the smaller of '
           "`pass_fraction` × the reference's mean and its worst seed less its spread), "
           'none at `zero_at`, linear between; a run below the bar is retried once with '
           'the next seed')


@check("accuracy", stage="training", view=VIEW, details=DETAILS,
       title="Trains to the reference's accuracy",
       explains="Your model trained by the course's training loop, compared with the reference "
                "model trained the same way.",
       params={
    "config": Param((str,), doc="the config to train (default: the target's first)"),
    "budget": Param((dict,), default={},
                    doc="the fast budget: epochs, batch_size, lr, train_images, val_images "
                        f"(default {DEFAULT_BUDGET})"),
    "handout_budget": Param((dict,), default={},
                            doc="what differs from the handout's own training under "
                                f"`--budget handout` (default {HANDOUT_BUDGET})"),
    "seeds": Param((int,), default=3, doc="reference runs used for calibration"),
    "pass_fraction": Param((int, float), default=0.9,
                           doc="full credit at this fraction of the reference's mean accuracy, "
                               "or below: never above the reference's worst seed less its "
                               "spread across seeds"),
    "zero_fraction": Param((int, float), default=0.6,
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
    if run.get("review") or run.get("val_acc") is None:
        why = run.get("review") or "the trained network was not scored"
        return Verdict.review(f"{why}: the grader cannot measure this model's accuracy, so a "
                              "TA will look at this question (no automatic credit)",
                              review=why, curve=run.get("epochs", []),
                              seconds=run.get("seconds"), attempts=run.get("attempts") or [])
    calibration = expected.get("calibration")
    if not calibration or not calibration.get("val_acc"):
        return Verdict.internal("no reference calibration for this data and budget")
    ref = calibration["val_acc"]
    mean, pass_at, zero_at = thresholds(ref, params)
    acc = run["val_acc"]
    details = {"val_acc": acc, "val_loss": run.get("val_loss"), "reference_val_acc": ref,
               "reference_mean": mean, "pass_at": pass_at, "zero_at": zero_at,
               "budget": calibration.get("budget"), "data": calibration.get("data"),
               "curve": run.get("epochs", []), "reference_curve": calibration.get("curve", []),
               "seconds": run.get("seconds"), "attempts": run.get("attempts") or [],
               "accuracy_source": run.get("accuracy_source")}
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


@accuracy.figures
def _figures(details: dict, root: Path) -> dict[str, Any]:
    """The training curves against the reference's, the accuracy scale, the samples picture."""
    if not details:
        return {}
    out: dict[str, Any] = {"curves": figures.training_curves(
        details.get("curve"), details.get("reference_curve"),
        pass_at=details.get("pass_at"), zero_at=details.get("zero_at"))}
    ref = [r for r in details.get("reference_val_acc") or [] if isinstance(r, int | float)]
    if all(isinstance(details.get(k), int | float) for k in ("val_acc", "pass_at", "zero_at")):
        out["scale"] = figures.accuracy_scale(details["val_acc"], ref, details["pass_at"],
                                              details["zero_at"])
    if details.get("samples"):
        out["samples"] = figures.embed_png(details["samples"], root)
        out["samples_missing"] = out["samples"] is None
    return out


@accuracy.expect
def _expect(reference: dict, params: dict, compiling: Compiling | None = None) -> dict[str, Any]:
    """The reference trained on the built-in synthetic horses under the check's budget.

    Shipped in the compiled file so that a student's `grader check --checks all` can judge
    accuracy without the reference; a TA grading real CIFAR-10 calibrates on that instead.
    """
    if compiling is None or not compiling.calibrations:
        return {}
    from grader.training.calibrate import calibrate
    from grader.training.data import build_pack

    rubric, spec = compiling.rubric, compiling.spec
    target = rubric.targets[spec.target]
    config = params.get("config") or next(iter(target.configs))
    budget = budget_of(params)
    pack = build_pack(None, None, budget, num_colours=int(target.configs[config].get(
        "num_colours", 24)), seed=rubric.seed)
    calibration = calibrate(target.reference, target.args(config), pack, budget,
                            seeds=int(params.get("seeds") or 3), seed=rubric.seed,
                            config=config, device="cpu")
    return {"calibration": {k: v for k, v in calibration.items() if k != "cached"}}
