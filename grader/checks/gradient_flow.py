"""Every parameter receives a gradient and the output depends on the input."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Compiling, Param, Verdict, check


def _shown(names: list[str]) -> str:
    return ", ".join(names[:4]) + (" …" if len(names) > 4 else "")


VIEW = """{% if d.configs %}
<h4>Gradient flow</h4>
<div class="scroll">
<table>
  <thead><tr><th>Configuration</th><th>Parameters without a gradient</th>
    <th>Frozen parameters</th><th>Output depends on input</th></tr></thead>
  <tbody>
  {% for name, conf in d.configs.items() %}
    <tr>
      <td><strong>{{ name }}</strong></td>
      {% if conf.error %}<td colspan="3" class="bad">{{ conf.error }}</td>{% else %}
      <td>{% if conf.without_grad %}<span class="bad">{{ conf.without_grad|length }}:</span>
        <code>{{ conf.without_grad|join(", ") }}</code>{% else %}
          <span class="ok">none</span>{% endif %}</td>
      <td>{% if conf.frozen %}<span class="bad">{{ conf.frozen|length }}:</span>
        <code>{{ conf.frozen|join(", ") }}</code>{% else %}
          <span class="ok">none</span>{% endif %}</td>
      <td>{{ conf.input_affects_output|yesno }}</td>{% endif %}
    </tr>
  {% endfor %}
  </tbody>
</table>
</div>
{% endif %}
"""


DETAILS = ('`{"configs": {name: {"ok", "message", "without_grad": [...], "frozen": [...], '
           '"input_affects_output"}}}`')


@check("gradient_flow", details=DETAILS, title="Every parameter receives a gradient", view=VIEW,
       explains="Whether a training step reaches every parameter and the output depends on "
                "the input.",
       params={
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
def _expect(reference: dict, params: dict, compiling: Compiling | None = None) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"without_grad": reference["configs"][name]["parameters"]["without_grad"]}
            for name in names}
