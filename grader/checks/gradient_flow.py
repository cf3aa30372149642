"""Every parameter receives a gradient and the output depends on the input."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Param, Verdict, check


@check("gradient_flow", params={
    "configs": Param((list,), doc="config names (default: every config of the target)"),
})
def gradient_flow(measured: dict, expected: dict, params: dict) -> Verdict:
    """A layer that gets no gradient never learns: usually an unused or detached layer."""

    def judge(got: dict, want: dict, name: str):
        missing = got["parameters"].get("without_grad", [])
        problems = []
        if missing:
            shown = ", ".join(missing[:4]) + (" …" if len(missing) > 4 else "")
            problems.append(f"{len(missing)} parameter(s) receive no gradient ({shown})")
        if not got.get("input_affects_output", True):
            problems.append("the output does not depend on the input")
        details = {"without_grad": missing,
                   "input_affects_output": got.get("input_affects_output")}
        return not problems, "; ".join(problems) or "gradients reach every parameter", details

    return over_configs(measured, expected, params.get("configs"), judge)


@gradient_flow.expect
def _expect(reference: dict, params: dict) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"without_grad": reference["configs"][name]["parameters"]["without_grad"]}
            for name in names}
