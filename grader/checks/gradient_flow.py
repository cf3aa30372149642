"""Every parameter receives a gradient and the output depends on the input."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Param, Verdict, check


def _shown(names: list[str]) -> str:
    return ", ".join(names[:4]) + (" …" if len(names) > 4 else "")


@check("gradient_flow", params={
    "configs": Param((list,), doc="config names (default: every config of the target)"),
})
def gradient_flow(measured: dict, expected: dict, params: dict) -> Verdict:
    """A layer that gets no gradient never learns: an unused, detached or frozen layer."""

    def judge(got: dict, want: dict, name: str):
        missing = got["parameters"].get("without_grad", [])
        frozen = [n for n in got["parameters"].get("frozen") or []
                  if n not in set(want.get("frozen") or ())]
        problems = []
        if frozen:
            problems.append(f"{len(frozen)} parameter(s) are frozen (requires_grad=False: "
                            f"{_shown(frozen)}), so training never changes them")
        if missing:
            problems.append(f"{len(missing)} parameter(s) receive no gradient ({_shown(missing)})")
        if not got.get("input_affects_output", True):
            problems.append("the output does not depend on the input")
        details = {"without_grad": missing, "frozen": frozen,
                   "input_affects_output": got.get("input_affects_output")}
        return not problems, "; ".join(problems) or "gradients reach every parameter", details

    return over_configs(measured, expected, params.get("configs"), judge)


@gradient_flow.expect
def _expect(reference: dict, params: dict) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"without_grad": reference["configs"][name]["parameters"]["without_grad"]}
            for name in names}
