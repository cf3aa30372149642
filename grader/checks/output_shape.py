"""Output shapes at the rubric's configurations and input sizes, measured by replay."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Compiling, Param, Verdict, check

VIEW = """{% if d.configs %}
<h4>Output shapes, expected and found</h4>
<div class="scroll">
<table>
  <thead><tr><th>Configuration</th><th>Input</th><th>Expected</th><th>Found</th><th></th>
    </tr></thead>
  <tbody>
  {% for name, conf in d.configs.items() %}
    {% if conf.runs %}
      {% for run in conf.runs %}
      <tr>
        <td>{% if loop.first %}<strong>{{ name }}</strong>{% endif %}</td>
        <td class="mono">{{ run.input|shape }}</td>
        <td class="mono">{{ run.expected|shape }}</td>
        <td class="{{ 'ok' if run.ok else 'bad' }}">
          {{ run.error if run.error else run.found|shape }}</td>
        <td>{{ "✓" if run.ok else "✗" }}</td>
      </tr>
      {% endfor %}
    {% else %}
      <tr><td><strong>{{ name }}</strong></td>
        <td colspan="4" class="bad">{{ conf.error or conf.message or "not run" }}</td></tr>
    {% endif %}
  {% endfor %}
  </tbody>
</table>
</div>
{% endif %}
"""


DETAILS = ('`{"configs": {name: {"ok", "message", "runs": [{"input", "expected", "found", '
           '"ok", "error"}]}}}`')


@check("output_shape", details=DETAILS, title="Output shape", view=VIEW,
       explains="The shape of your model's output for several inputs and configurations.",
       params={
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
def _expect(reference: dict, params: dict, compiling: Compiling | None = None) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"outputs": [{"input": o["input"], "shape": o["shape"]}
                               for o in reference["configs"][name]["outputs"]]}
            for name in names}
