"""The model returns raw scores (logits): no softmax, log-softmax or sigmoid on its output.

The course's loss, `nn.CrossEntropyLoss`, applies log-softmax itself; a model that returns
probabilities still trains, but on squashed scores (slower, and worse under the same budget),
and its "logits" are no longer what the handout's code expects. Judged from the trusted replay's
layer sequence: what the output's last meaningful operation is, whatever style wrote it
(`nn.Softmax`, `F.softmax`, `x.softmax(1)`, `torch.sigmoid`).
"""

from __future__ import annotations

from typing import Any

from grader.checks.common import problem_text, target_unavailable
from grader.checks.registry import Compiling, Param, Verdict, check
from grader.graph.normalise import DISPLAY, GraphError, normalise

# What turns scores into probabilities (or their logarithms), after the last convolution.
SQUASHING = {"softmax": "a softmax", "log_softmax": "a log-softmax", "sigmoid": "a sigmoid"}


def final_op(graph: dict) -> str | None:
    """The last meaningful operation of the model's forward pass, in canonical form."""
    layers = normalise(graph).layers
    return layers[-1].op if layers else None


DETAILS = ('`{"final_op": the output\'s last operation, "expected_final_op": the '
           "reference's}`")


@check("logits", details=DETAILS, title="Returns raw scores (logits)",
       explains="Whether your model's output is the raw scores the loss expects, with no "
                "softmax, log-softmax or sigmoid at the end.",
       params={"config": Param((str,), doc="the configuration whose output is judged "
                                           "(default: the first the reference was compiled "
                                           "for)")})
def logits(measured: dict, expected: dict, params: dict) -> Verdict:
    """The output is raw scores: nothing squashes it after the final layer."""
    unavailable = target_unavailable(measured)
    if unavailable:
        return unavailable
    name = params.get("config") or expected.get("config")
    config = (measured.get("configs") or {}).get(name or "")
    if config is None:
        return Verdict.internal(f"config '{name}' was not observed")
    if config.get("status") != "ok":
        return Verdict.error(problem_text(config.get("problem")), problem=config.get("problem"))
    if not config.get("graph"):
        return Verdict.internal("the model ran but its forward pass was not recorded")
    try:
        last = final_op(config["graph"])
    except GraphError as exc:
        return Verdict.internal(f"malformed graph: {exc}")
    details = {"final_op": last, "expected_final_op": expected.get("final_op")}
    if last in SQUASHING:
        return Verdict.failed(
            f"the model returns the output of {SQUASHING[last]} ({DISPLAY.get(last, last)}): "
            "nn.CrossEntropyLoss expects raw scores (logits) and applies log-softmax itself; "
            "return the final layer's output instead", **details)
    return Verdict.passed(f"the output is the raw scores of the final "
                          f"{DISPLAY.get(last or '', last or 'layer')}", **details)


@logits.expect
def _expect(reference: dict, params: dict, compiling: Compiling | None = None) -> dict[str, Any]:
    """The configuration judged, and the reference's own last operation (never a squashing)."""
    name = params.get("config") or next(iter(reference["configs"]))
    last = final_op(reference["configs"][name]["graph"])
    if last in SQUASHING:
        raise ValueError(f"the reference's output ends in {last}: it is not logits")
    return {"config": name, "final_op": last}
