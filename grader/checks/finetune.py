"""Fine-tuning checks (W2020 Part C): what `train(args, model)` updates, and the model it gets.

`measured` is `grader.finetune.finetune_measured(...)` for the target: the parameters that
required gradients, the ones whose values changed during a short real run of the student's
`train`, the ones handed to the optimizer, and the head module `classifier.4` (see
docs/results.md for the details these verdicts carry).
"""

from __future__ import annotations

from typing import Any

from grader.checks.common import problem_text, target_unavailable
from grader.checks.registry import Compiling, Param, Verdict, check

LISTED = 100   # names kept per list in a verdict's details

COMMON = {
    "head": Param((str,), default="classifier.4",
                  doc="qualified name of the layer that alone is fine-tuned"),
}
TRAIN_PARAMS = {
    **COMMON,
    "partial_credit": Param((int, float), default=0.5,
                            doc="fraction when only the head changed but the optimizer was also "
                                "given other (frozen) parameters"),
    "require_step": Param((bool,), default=False,
                          doc="demand that train() really took an optimizer step on the tiny "
                              "data (otherwise the optimizer's parameters are judged)"),
}
HEAD_PARAMS = {
    **COMMON,
    "in_channels": Param((int,), default=256, doc="input channels of the new head"),
    "out_channels": Param((int,), default=2, doc="classes of the new head"),
    "kernel_size": Param((list,), default=[1, 1], doc="kernel of the new head"),
    "kernel_credit": Param((int, float), default=0.5,
                           doc="credit for the head part when only the kernel size differs"),
}


def _get(params: dict, spec: dict[str, Param], key: str) -> Any:
    value = params.get(key)
    return spec[key].default if value is None else value


def _names(names: list[str]) -> str:
    """'a' / 'a and b' / 'a (and 12 more)' for messages."""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} (and {len(names) - 1} more)"


def _short(names: list[str] | None) -> list[str] | None:
    return None if names is None else list(names[:LISTED])


def _details(ft: dict[str, Any], **extra: Any) -> dict[str, Any]:
    trainable = ft.get("trainable") or []
    changed = ft.get("changed")
    out = {"trainable": _short(trainable), "changed": _short(changed),
           "unchanged_count": ft.get("unchanged_count"), "head": ft.get("head"),
           "optimised": _short(ft.get("optimised")),
           "trainable_tensors": len(trainable), "trainable_count": ft.get("trainable_count"),
           "total": ft.get("total"), "steps": (ft.get("run") or {}).get("steps", 0)}
    if changed is not None:
        out["changed_tensors"] = len(changed)
    out.update(extra)
    return out


def _in_head(prefixes: list[str]):
    return lambda name: any(name.startswith(p) for p in prefixes)


def _unusable(measured: dict) -> Verdict | None:
    unavailable = target_unavailable(measured)
    if unavailable:
        return unavailable
    if not measured.get("finetune"):
        return Verdict.internal("the fine-tuning run left no observations for this target")
    return None


VIEW = """{% if d.changed is defined or d.trainable is defined %}
<h4>Which parameters moved</h4>
<dl class="kv">
  {% if d.head %}<dt>new head</dt><dd class="mono">{{ d.head.type }}({{ d.head.in_channels }}
    → {{ d.head.out_channels }}, kernel {{ d.head.kernel_size|yesno }})</dd>{% endif %}
  {% if d.trainable is defined and d.trainable is not none %}
  <dt>trainable ({{ d.trainable|length }})</dt><dd>{% for n in d.trainable %}
    <code>{{ n }}</code>{{ ", " if not loop.last }}{% else %}none{% endfor %}</dd>
  {% endif %}
  {% if d.changed is defined and d.changed is not none %}
  <dt>changed by training ({{ d.changed|length }})</dt><dd>{% for n in d.changed %}
    <code>{{ n }}</code>{{ ", " if not loop.last }}{% else %}none{% endfor %}</dd>
  {% elif d.changed is defined %}
  <dt>changed by training</dt><dd>not measured (the training step did not complete)</dd>
  {% endif %}
  {% if d.unchanged_count is defined and d.unchanged_count is not none %}
  <dt>unchanged</dt><dd>{{ d.unchanged_count|thousands }} parameter tensors</dd>
  {% endif %}
</dl>
{% endif %}
"""


# --- C.1: train() optimises only the head -----------------------------------------------------
DETAILS = ('`{"trainable": [...], "changed": [...] or null (no step taken), '
           '"unchanged_count", "optimised": [...], "head": {"type", "in_channels", '
           '"out_channels", "kernel_size"}, "steps"}`')


@check("finetune_train", stage="finetune", params=TRAIN_PARAMS, view=VIEW,
       details=DETAILS, title="Fine-tuning updates the right parameters",
       explains="Which parameters your fine-tuning code changed.")
def finetune_train(measured: dict, expected: dict, params: dict) -> Verdict:
    """train(args, model) updates only the head's parameters (seen in a short real run)."""
    bad = _unusable(measured)
    if bad:
        return bad
    ft = measured["finetune"]
    head = expected.get("head") or _get(params, TRAIN_PARAMS, "head")
    prefixes = expected.get("trainable_prefix") or [head + "."]
    in_head = _in_head(prefixes)
    run = ft.get("run") or {}
    steps = int(run.get("steps") or 0)
    problem = run.get("problem")
    optimised = ft.get("optimised")
    trainable = set(ft.get("trainable") or [])
    note = ""
    if ft.get("changed") is not None and steps > 0:
        updated = list(ft["changed"])
        seen = f"in {steps} optimizer step(s) on tiny data"
    elif _get(params, TRAIN_PARAMS, "require_step"):
        if problem:
            return Verdict.error(f"train() raised before its first optimizer step: "
                                 f"{problem_text(problem)}", problem=problem, **_details(ft))
        return Verdict.failed("train() took no optimizer step on the tiny data, so nothing was "
                              "fine-tuned", **_details(ft))
    elif optimised is not None:
        # Frozen parameters given to the optimizer never change: only the trainable ones count.
        updated = [n for n in optimised if n in trainable]
        seen = "judged from the parameters given to the optimizer"
        if problem:
            note = f" (train() stopped before its first optimizer step: {problem_text(problem)})"
        else:
            note = " (train() took no optimizer step on the tiny data)"
    elif problem:
        return Verdict.error(f"train() raised before building its optimizer: "
                             f"{problem_text(problem)}", problem=problem, **_details(ft))
    else:
        return Verdict.failed("train() returned without building an optimizer or taking a step: "
                              f"nothing was fine-tuned; train {head} with an optimizer over its "
                              "parameters", **_details(ft))
    extra = [n for n in updated if not in_head(n)]
    hits = [n for n in updated if in_head(n)]
    details = _details(ft, updated=_short(updated), problem=problem)
    if extra:
        verb = "updated" if ft.get("changed") is not None and steps > 0 else "optimises"
        return Verdict.failed(f"train() also {verb} {_names(extra)}: only {head} should change"
                              f"{note}", **details)
    if not hits:
        return Verdict.failed(f"train() did not update {head} ({seen}): give the optimizer the "
                              f"{head} parameters and keep them trainable{note}", **details)
    # A substring test ('classifier.4' in name) also picks up aux_classifier.4: harmless.
    loose = [n for n in (optimised or []) if not in_head(n)
             and not any(p.rstrip(".") in n for p in prefixes)]
    which = ", ".join(n[len(head) + 1:] if n.startswith(head + ".") else n for n in hits)
    left_out = [n for n in ft.get("head_parameters") or [] if n not in hits]
    if left_out:
        fraction = float(_get(params, TRAIN_PARAMS, "partial_credit"))
        return Verdict.failed(
            f"train() updates {_names(hits)} but not {_names(left_out)} ({seen}): every "
            f"parameter of the new {head} (its weight and its bias) should be trained{note}",
            fraction=fraction, **details)
    if loose:
        fraction = float(_get(params, TRAIN_PARAMS, "partial_credit"))
        return Verdict.failed(
            f"only {head} changed, but the optimizer was given {len(loose)} other parameter "
            f"tensor(s) such as {loose[0]}; it works only because they are frozen: build the "
            f"optimizer over the {head} parameters alone{note}", fraction=fraction, **details)
    return Verdict.passed(f"train() updates only {head} ({which}), {seen}{note}", **details)


@finetune_train.expect
def _expect_train(reference: dict, params: dict, compiling: Compiling | None = None) -> dict:
    head = _get(params, TRAIN_PARAMS, "head")
    return {"head": head, "trainable_prefix": [head + "."]}


# --- C.2: the head is replaced and everything else frozen -------------------------------------
def _module_phrase(head: str) -> str:
    """'classifier.4' -> 'model.classifier[4]', the way students write it."""
    parts = head.split(".")
    text = "model"
    for part in parts:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


@check("finetune_head", stage="finetune", params=HEAD_PARAMS, view=VIEW,
       details="the same as finetune_train's, with `head_ok` and `frozen_ok`",
       title="New head, frozen backbone",
       explains="The replaced classification head and which parameters stay frozen.")
def finetune_head(measured: dict, expected: dict, params: dict) -> Verdict:
    """The model given to train() has a fresh in->out 1x1 conv head and nothing else trainable."""
    bad = _unusable(measured)
    if bad:
        return bad
    ft = measured["finetune"]
    head = expected.get("head") or _get(params, HEAD_PARAMS, "head")
    want_in = expected.get("head_in_channels", _get(params, HEAD_PARAMS, "in_channels"))
    want_out = expected.get("head_out_channels", _get(params, HEAD_PARAMS, "out_channels"))
    want_kernel = list(expected.get("kernel_size") or _get(params, HEAD_PARAMS, "kernel_size"))
    prefixes = expected.get("trainable_prefix") or [head + "."]
    in_head = _in_head(prefixes)
    phrase = _module_phrase(head)
    kernel_text = "×".join(str(k) for k in want_kernel)
    wanted = f"a {want_in}→{want_out} {kernel_text} convolution"
    messages: list[str] = []

    found = ft.get("head")
    if found is None:
        head_score = 0.0
        messages.append(f"the model given to train() has no {phrase}; keep the DeepLabV3 and "
                        f"replace only {phrase} with {wanted}")
    elif found.get("type") != "Conv2d":
        head_score = 0.0
        messages.append(f"{phrase} is a {found.get('type')}; replace it with {wanted}")
    elif found.get("out_channels") != want_out or found.get("in_channels") != want_in:
        head_score = 0.0
        if found.get("in_channels") != want_in:
            messages.append(f"{phrase} takes {found.get('in_channels')} input channels; the "
                            f"DeepLab head gives {want_in}: replace it with {wanted}")
        else:
            messages.append(f"{phrase} has {found.get('out_channels')} outputs; replace it with "
                            f"{wanted}")
    elif list(found.get("kernel_size") or []) != want_kernel:
        head_score = float(_get(params, HEAD_PARAMS, "kernel_credit"))
        got = "×".join(str(k) for k in found.get("kernel_size") or [])
        messages.append(f"{phrase} is a {got} convolution; the handout asks for {wanted}")
    else:
        head_score = 1.0

    trainable = ft.get("trainable") or []
    others = [n for n in trainable if not in_head(n)]
    mine = [n for n in trainable if in_head(n)]
    if others:
        freeze_score = 0.0
        messages.append(f"everything but {head} should be frozen, but {_names(others)} still "
                        f"require gradients: freeze the model (model.requires_grad_(False)) "
                        f"before replacing the head")
    elif not mine:
        freeze_score = 0.0
        messages.append(f"{head} is frozen too, so nothing can learn: replace the head after "
                        f"freezing (a new layer is trainable)")
    else:
        freeze_score = 1.0
    details = _details(ft, head_ok=head_score == 1.0, frozen_ok=freeze_score == 1.0,
                       expected_head={"type": "Conv2d", "in_channels": want_in,
                                      "out_channels": want_out, "kernel_size": want_kernel})
    fraction = 0.5 * head_score + 0.5 * freeze_score
    if fraction == 1.0:
        count = ft.get("trainable_count")
        counted = f" ({count:,} trainable parameters)" if isinstance(count, int) else ""
        return Verdict.passed(f"{phrase} is {wanted} and everything else is frozen{counted}",
                              **details)
    return Verdict.failed("; ".join(messages), fraction=fraction, **details)


@finetune_head.expect
def _expect_head(reference: dict, params: dict, compiling: Compiling | None = None) -> dict:
    head = _get(params, HEAD_PARAMS, "head")
    return {"head": head, "head_type": "Conv2d",
            "head_in_channels": _get(params, HEAD_PARAMS, "in_channels"),
            "head_out_channels": _get(params, HEAD_PARAMS, "out_channels"),
            "kernel_size": list(_get(params, HEAD_PARAMS, "kernel_size")),
            "trainable_prefix": [head + "."]}
