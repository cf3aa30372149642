"""Parameter counts (total and trainable) at several configurations."""

from __future__ import annotations

from grader.checks.common import over_configs
from grader.checks.registry import Compiling, Param, Verdict, check

VIEW = """{% if d.configs %}
<h4>Parameter counts, expected and found</h4>
<div class="scroll">
<table>
  <thead><tr><th>Configuration</th><th class="num">Expected total</th>
    <th class="num">Found total</th><th class="num">Expected trainable</th>
    <th class="num">Found trainable</th><th class="num">Difference</th></tr></thead>
  <tbody>
  {% for name, conf in d.configs.items() %}
    {% if conf.expected and conf.found %}
    {% set total_ok = conf.found.total == conf.expected.total %}
    {% set trainable_ok = conf.found.trainable == conf.expected.trainable %}
    {% set both = conf.found.total is number and conf.expected.total is number %}
    <tr>
      <td><strong>{{ name }}</strong></td>
      <td class="num">{{ conf.expected.total|thousands }}</td>
      <td class="num {{ 'ok' if total_ok else 'bad' }}">{{ conf.found.total|thousands }}</td>
      <td class="num">{{ conf.expected.trainable|thousands }}</td>
      <td class="num {{ 'ok' if trainable_ok else 'bad' }}">
        {{ conf.found.trainable|thousands }}</td>
      <td class="num">
        {{ (conf.found.total - conf.expected.total)|signed if both else "—" }}</td>
    </tr>
    {% else %}
    <tr><td><strong>{{ name }}</strong></td>
      <td colspan="5" class="bad">{{ conf.error or conf.message or "not measured" }}</td></tr>
    {% endif %}
  {% endfor %}
  </tbody>
</table>
</div>
{% endif %}
"""


DETAILS = ('`{"configs": {name: {"ok", "message", "expected": {"total", "trainable"}, '
           '"found": {"total", "trainable"}}}}`')


@check("param_count", details=DETAILS, title="Number of parameters", view=VIEW,
       explains="How many parameters your model has (total and trainable).",
       params={
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
def _expect(reference: dict, params: dict, compiling: Compiling | None = None) -> dict:
    names = params.get("configs") or list(reference["configs"])
    return {name: {"total": reference["configs"][name]["parameters"]["total"],
                   "trainable": reference["configs"][name]["parameters"]["trainable"]}
            for name in names}
