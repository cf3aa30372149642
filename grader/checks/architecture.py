"""The model's layers, in order and with their settings, match the handout's reference model.

Compares the trusted replayed graph of one configuration with the reference's, through
`grader.graph.normalise` (so code style does not matter) and `grader.graph.diff` (located
differences and a side-by-side table). Partial credit is the share of the reference's layers the
student reproduced exactly, with extra layers counted against it: what a TA reading the table
would give for "mostly right, one BatchNorm missing".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grader.checks.common import problem_text, target_unavailable
from grader.checks.registry import Compiling, Param, Verdict, check
from grader.graph.diff import ALLOWABLE, Comparison, Difference, compare
from grader.graph.normalise import GraphError, Sequence, normalise

SHOWN_IN_MESSAGE = 3


def _param_shapes(config: Mapping) -> dict[str, list[int]]:
    """Parameter shapes, from a `param_shapes` table or an observation-style `parameters` list."""
    table = config.get("param_shapes")
    if isinstance(table, Mapping):
        return {str(k): list(v) for k, v in table.items() if isinstance(v, list)}
    params = config.get("parameters")
    if isinstance(params, list):
        return {p["name"]: p["shape"] for p in params
                if isinstance(p, Mapping) and "name" in p and isinstance(p.get("shape"), list)}
    return {}


def _sequence(config: Mapping, graph: Mapping) -> Sequence:
    return normalise(graph, _param_shapes(config), config.get("modules") or ())


def _used_params(graph: Mapping) -> set[str]:
    return {ref["param"] for node in graph.get("nodes", []) for ref in node.get("inputs") or []
            if isinstance(ref, Mapping) and isinstance(ref.get("param"), str)}


def _unused_modules(config: Mapping, graph: Mapping) -> list[Difference]:
    """Modules with parameters of which the forward pass used none.

    Judged by the parameters themselves, so a module reached under another name (a member of
    an `nn.Sequential` that is also an attribute) or run by `module.forward(x)` counts as used.
    Only the outermost unused module is reported (an unused block, not each of its layers).
    """
    modules = [m for m in config.get("modules") or () if isinstance(m, Mapping) and m.get("name")]
    used = _used_params(graph)
    unused: list[Mapping] = []
    for m in modules:
        names = m.get("param_names")
        if names is None:   # an observation from before `param_names` existed
            names = [n for n in used if n.startswith(m["name"] + ".")] or (
                [] if (m.get("params") or 0) == 0 else [f"{m['name']}.?"])
        if names and not set(names) & used:
            unused.append(m)
    out = []
    for m in unused:
        name = m["name"]
        if any(name.startswith(o["name"] + ".") for o in unused if o is not m):
            continue
        shown = ", ".join(f"`{n}`" for n in [name, *(m.get("aliases") or [])])
        out.append(Difference(
            "unused", f"module `{name}`", None, str(m.get("type") or "module"),
            f"{shown} ({m.get('type') or 'module'}) is defined in __init__ but never used "
            "in forward"))
    return out


def _unregistered(config: Mapping) -> list[Difference]:
    """Layers kept in plain Python containers: built and run, but never trained."""
    out = []
    for item in config.get("unregistered") or ():
        if not isinstance(item, Mapping) or not item.get("params"):
            continue
        types = ", ".join(item.get("types") or ["modules"])
        out.append(Difference(
            "unregistered", f"attribute `{item.get('name')}`",
            "nn.ModuleList or nn.Sequential", f"a plain Python {item.get('container')}",
            f"`{item.get('name')}` is a plain Python {item.get('container')} of "
            f"{item.get('modules')} modules ({types}): their {item.get('params'):,} parameters "
            "are not registered with the model, so model.parameters() and the optimizer never "
            "see them and they are never trained; hold them in nn.ModuleList or "
            "nn.Sequential"))
    return out


MESSAGE_RANK = {kind: rank for rank, kind in enumerate((
    "unregistered", "skip", "source", "missing", "extra", "replaced", "attribute", "repeated",
    "module_type", "unused", "order"))}


def _message(comparison: Comparison) -> str:
    if comparison.ok:
        notes = f" ({'; '.join(comparison.notes)})" if comparison.notes else ""
        return f"all {comparison.reference_layers} layers match the handout's model{notes}"
    # The one-line message leads with what changes the computation most (a lost skip or an
    # untrained layer before a moved BatchNorm); the details keep every difference in order.
    ranked = sorted(comparison.differences,
                    key=lambda d: MESSAGE_RANK.get(d.kind, len(MESSAGE_RANK)))
    shown = [d.message for d in ranked[:SHOWN_IN_MESSAGE]]
    more = len(comparison.differences) - len(shown)
    return "; ".join(shown) + (f" (and {more} more difference{'s' * (more > 1)})" if more else "")


def judge(student_config: Mapping, reference_graph: Mapping, *,
          module_types: Mapping[str, str] | None = None, allow: Iterable[str] = (),
          reference_config: Mapping | None = None) -> Verdict:
    """The verdict for one observed configuration against the reference graph."""
    graph = student_config.get("graph")
    if not graph:
        return Verdict.internal("the model ran but its forward pass was not recorded")
    try:
        student = _sequence(student_config, graph)
        reference = _sequence(reference_config or {}, reference_graph)
    except GraphError as exc:
        return Verdict.internal(f"malformed graph: {exc}")
    if not reference.layers:
        return Verdict.internal("the compiled reference graph has no layers")
    comparison = compare(student, reference, module_types=module_types, allow=allow)
    # Unregistered layers explain everything else that looks odd (weights seen as constants),
    # so they are named first.
    comparison.differences[:0] = _unregistered(student_config)
    comparison.differences.extend(_unused_modules(student_config, graph))
    details = comparison.details()
    if comparison.ok:
        return Verdict.passed(_message(comparison), **details)
    return Verdict.failed(_message(comparison), fraction=comparison.fraction, **details)


VIEW = """{% if d.differences %}
<h4>Differences</h4>
<ul class="diffs">
{% for x in d.differences %}
  <li>{% if x.message != c.message or loop.length > 1 %}{{ x.message or x.kind }}<br>{% endif %}
    <span class="note">{% if x.location %}at {{ x.location }} · {% endif %}expected</span>
      <code>{{ x.expected if x.expected is not none else "nothing" }}</code>
      <span class="note">· found</span>
      <code>{{ x.found if x.found is not none else "nothing" }}</code></li>
{% endfor %}
</ul>
{% endif %}
{% if d.table %}
<h4>Your layers beside the reference's</h4>
<div class="scroll">
<table class="arch">
  <thead><tr><th>Block</th><th>Yours</th><th>Reference</th><th></th></tr></thead>
  <tbody>
  {% for row in d.table %}
    {% set st = row.status or "match" %}
    <tr class="{{ st }}">
      <td class="block">{{ row.block }}</td>
      <td class="yours" data-label="yours">{% if row.student is none %}
        <span class="absent">missing</span>{% else %}
        {{ row.student|word_diff(row.reference) if st == "mismatch" else row.student }}{% endif %}
        </td>
      <td class="ref" data-label="reference">{% if row.reference is none %}
        <span class="absent">not in the reference</span>{% else %}
        {{ row.reference|word_diff(row.student) if st == "mismatch" else row.reference }}{% endif %}
        </td>
      {% set label = {"match": "✓ same", "mismatch": "≠ differs", "missing": "− missing",
                      "extra": "+ extra"} %}
      <td class="st">{{ label.get(st, st) }}</td>
    </tr>
  {% endfor %}
  </tbody>
</table>
</div>
{% endif %}
"""


DETAILS = ('`{"differences": [{"kind", "location", "expected", "found", "message"}], '
           '"table": [{"block", "student", "reference", "status": '
           '"match|mismatch|missing|extra"}], "matched", "reference_layers", "extra", '
           '"notes": [...]}`; a difference\'s kind is one of missing, extra, attribute, '
           'replaced, order, skip, source, module_type, unused, unregistered, repeated')


@check("architecture", details=DETAILS, title="Layers match the handout", view=VIEW,
       explains="Your model's layers, in order, compared with the handout's model.",
       params={
    "config": Param((str,), doc="the configuration whose layers are compared (default: the "
                                "first the reference was compiled for)"),
    "module_types": Param((dict,), default={},
                          doc="op -> module type that must issue it, e.g. {conv2d: MyConv2d} "
                              "when the handout makes students use a provided layer"),
    "max_partial": Param((int, float), default=0.75,
                         doc="the most a model with any difference earns of this check; below "
                             "that, credit follows the share of layers reproduced"),
    "allow": Param((list,), default=[],
                   doc="accepted variations: " + "; ".join(f"{k}: {v}"
                                                          for k, v in ALLOWABLE.items())),
    "recomputed": Param((str,), default="note", choices=("note", "deduct"),
                        doc="a block applied twice to the same input computes the handout's "
                            "function with twice the work: `note` (default) names it in the "
                            "verdict without taking points off, `deduct` counts it as a "
                            "difference"),
})
def architecture(measured: dict, expected: dict, params: dict) -> Verdict:
    """The layers match the handout's model: order, settings and skip connections."""
    unavailable = target_unavailable(measured)
    if unavailable:
        return unavailable
    name = params.get("config") or expected.get("config")
    if not name:
        return Verdict.internal("no configuration named for the architecture check")
    if expected.get("config") not in (None, name) or not expected.get("graph"):
        return Verdict.internal(f"no compiled reference graph for config '{name}'; "
                                "run `grader compile` for this rubric")
    config = (measured.get("configs") or {}).get(name)
    if config is None:
        return Verdict.internal(f"config '{name}' was not observed")
    if config.get("status") != "ok":
        return Verdict.error(problem_text(config.get("problem")), problem=config.get("problem"))
    unknown = set(params.get("allow") or ()) - set(ALLOWABLE)
    if unknown:
        return Verdict.internal(f"unknown accepted variation(s) {sorted(unknown)}")
    allow = list(params.get("allow") or ())
    if params.get("recomputed", "note") == "note" and "recomputed" not in allow:
        allow.append("recomputed")
    verdict = judge(config, expected["graph"], module_types=params.get("module_types") or {},
                    allow=allow,
                    reference_config=expected.get("reference_config"))
    cap = float(params.get("max_partial", 0.75))
    if verdict.status == "failed" and verdict.fraction > cap:
        # One wrong layer of seventeen is still a wrong model: never near-full credit.
        return Verdict.failed(verdict.message, cap, **verdict.details)
    return verdict


@architecture.expect
def _expect(reference: dict, params: dict, compiling: Compiling | None = None) -> dict[str, Any]:
    """The reference's measured graph for the config, plus what fills in its kernel sizes."""
    name = params.get("config") or next(iter(reference["configs"]))
    config = reference["configs"][name]
    return {"config": name, "graph": config["graph"],
            "reference_config": {"param_shapes": _param_shapes(config),
                                 "modules": config.get("modules") or []}}
