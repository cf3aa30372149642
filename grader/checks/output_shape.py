"""Output shapes at the rubric's configurations and input sizes, measured by replay."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Param, Verdict, check


@check("output_shape", params={
    "configs": Param((list,), doc="config names (default: every config of the target)"),
})
def output_shape(measured: dict, expected: dict, params: dict) -> Verdict:
    """The model's output has the reference's shape for every configuration and input size."""

    def judge(got: dict, want: dict, name: str):
        wrong, details = [], []
        for run in want["outputs"]:
            shape_in = run["input"]
            found = next((o for o in got.get("outputs", []) if o["input"] == shape_in), None)
            found_shape = found.get("shape") if found else None
            ok = found_shape == run["shape"]
            details.append({"input": shape_in, "expected": run["shape"], "found": found_shape,
                            "ok": ok, "error": (found or {}).get("error")})
            if not ok:
                got_text = found.get("error") if found and found.get("error") else found_shape
                wrong.append(f"input {tuple(shape_in)} gave {got_text}, "
                             f"expected {tuple(run['shape'])}")
        return not wrong, "; ".join(wrong) or "all shapes match", {"runs": details}

    return over_configs(measured, expected, params.get("configs"), judge)


@output_shape.expect
def _expect(reference: dict, params: dict) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"outputs": [{"input": o["input"], "shape": o["shape"]}
                               for o in reference["configs"][name]["outputs"]]}
            for name in names}
