"""Parameter counts (total and trainable) at several configurations."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Param, Verdict, check


@check("param_count", params={
    "configs": Param((list,), doc="config names (default: every config of the target)"),
    "trainable_only": Param((bool,), default=False,
                            doc="compare only trainable parameters (default: both counts)"),
})
def param_count(measured: dict, expected: dict, params: dict) -> Verdict:
    """The number of parameters equals the reference's: a strong sign of a conforming model."""

    def judge(got: dict, want: dict, name: str):
        counts = got["parameters"]
        problems = []
        if counts["trainable"] != want["trainable"]:
            frozen = counts["total"] - counts["trainable"]
            why = (f" ({frozen:,} are frozen with requires_grad=False)"
                   if frozen and counts["total"] == want["total"] else "")
            problems.append(f"{counts['trainable']:,} trainable parameters, "
                            f"expected {want['trainable']:,}{why}")
        if not params.get("trainable_only") and counts["total"] != want["total"]:
            problems.append(f"{counts['total']:,} parameters in all, expected {want['total']:,}")
        loose = sum(int(u.get("params") or 0) for u in got.get("unregistered") or ())
        if problems and loose:
            problems.append(f"{loose:,} more are held in a plain Python container and not "
                            "registered with the model")
        details = {"expected": want, "found": {"total": counts["total"],
                                               "trainable": counts["trainable"]}}
        return not problems, "; ".join(problems) or f"{counts['total']:,} parameters", details

    return over_configs(measured, expected, params.get("configs"), judge)


@param_count.expect
def _expect(reference: dict, params: dict) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"total": reference["configs"][name]["parameters"]["total"],
                   "trainable": reference["configs"][name]["parameters"]["trainable"]}
            for name in names}
