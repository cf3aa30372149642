"""Read answers from a YAML/JSON answers file, a notebook's marked cells, or a Markdown file.

Answers file (YAML or JSON; several YAML documents or a top-level list give several sets)::

    student: alice                # optional label
    question: 2023/4.3            # optional: sets the model and the fixed variables
    model: PoolUpsampleNet        # needed when there is no question
    given: {NIC: 1}               # optional: fix variables (null frees a default)
    accept: {outputs: [conv]}     # optional: restrict the accepted conventions
    answers:
      weights: 'k^2 (NIC NF + 4 NF^2 + NF NC + NC^2)'
      weights_doubled: unchanged
      padding: {k4: {conv_padding: 1, convt_padding: 1, output_padding: 0}}

Notebook / Markdown: a Markdown cell whose first line is ``<!-- answers: 2023/4.3 -->`` (or
``<!-- answers: model=CNN k=3 student=bob -->``), followed by one ``key: value`` line per answer
(``weights: $k^2(...)$``, ``**outputs (64×64):** ×4``, ``k=4: padding=1, output_padding=0``), or
by a fenced ```yaml block holding the answers-file mapping. Lines that do not start with a known
key continue the previous answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from .answerset import AnswerSet, normalise_key, padding_kernel
from .conventions import CONVENTIONS, QUESTIONS
from .counts import model_names
from .parse import canonical_variable

__all__ = ["AnswersFileError", "Defaults", "load_answer_sets", "answer_set_from_mapping",
           "answer_sets_from_markdown", "resolve_question", "resolve_model", "MARKER"]

MARKER = re.compile(r"^\s*<!--\s*answers\b\s*:?\s*(?P<args>.*?)\s*-->\s*$", re.IGNORECASE)
_FENCE = re.compile(r"```\s*(?:ya?ml|json)?\s*\n(?P<body>.*?)```", re.DOTALL | re.IGNORECASE)


class AnswersFileError(ValueError):
    """An answers source that cannot be used, with the reason."""


Defaults = dict[str, Any]  # model / question / given / student supplied on the command line


def resolve_question(raw: Any) -> str:
    """``2023/4.3``, ``2023-4.3``, ``4.3`` (when unique) -> a key of QUESTIONS."""
    text = re.sub(r"[\s_-]+", "/", str(raw).strip()).replace("§", "")
    if text in QUESTIONS:
        return text
    hits = [q for q in QUESTIONS if q.lower() == text.lower() or q.split("/", 1)[1].lower()
            == text.lower()]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(QUESTIONS)
    if hits:
        raise AnswersFileError(f"question {raw!r} is ambiguous ({', '.join(hits)}); "
                               "add the year")
    raise AnswersFileError(f"unknown question {raw!r}; known: {known}")


def resolve_model(raw: Any) -> str:
    names = model_names()
    for name in names:
        if str(raw).strip().lower() == name.lower():
            return name
    raise AnswersFileError(f"unknown model {raw!r}; choose one of {', '.join(names)}")


def _variable(raw: Any) -> str:
    name = canonical_variable(str(raw))
    if name is None:
        raise AnswersFileError(f"unknown variable {raw!r} in given (use NIC, NF, NC, k)")
    return name


def _given(raw: Any) -> dict[str, int | None]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise AnswersFileError(f"given must be a mapping like {{NIC: 1, k: 3}}, got {raw!r}")
    out: dict[str, int | None] = {}
    for name, value in raw.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise AnswersFileError(f"given {name}: expected a positive whole number or null")
        out[_variable(name)] = value
    return out


def _accept(raw: Any) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise AnswersFileError("accept must map a quantity to a list of convention ids")
    out = {}
    for quantity, ids in raw.items():
        if quantity not in CONVENTIONS:
            raise AnswersFileError(f"accept: unknown quantity {quantity!r}")
        ids = [ids] if isinstance(ids, str) else list(ids or [])
        known = [c.id for c in CONVENTIONS[quantity]]
        for conv_id in ids:
            if conv_id not in known:
                raise AnswersFileError(f"accept.{quantity}: unknown convention {conv_id!r}; "
                                       f"known: {', '.join(known)}")
        out[quantity] = ids
    return out


def _answers(raw: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise AnswersFileError("answers must be a mapping like {weights: '...', outputs: '...'}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        norm = normalise_key(str(key))
        if norm is None:
            problems.append(f"unknown answer {key!r} ignored")
            continue
        if norm in out:
            problems.append(f"answer {key!r} repeats {norm!r}; the first one is used")
            continue
        if norm == "padding":
            out[norm] = value
        else:
            out[norm] = None if value is None else str(value)
    return out


def answer_set_from_mapping(data: Any, source: str, defaults: Defaults | None = None
                            ) -> AnswerSet:
    """One answer set from a parsed YAML/JSON mapping (``answers`` may be the mapping itself)."""
    defaults = defaults or {}
    if not isinstance(data, dict):
        raise AnswersFileError(f"{source}: expected a mapping, got {type(data).__name__}")
    data = dict(data)
    problems: list[str] = []
    if "answers" not in data:  # a bare {weights: ..., outputs: ...} mapping
        meta = {k: data.pop(k) for k in ("model", "question", "given", "accept", "student")
                if k in data}
        data = {**meta, "answers": data}
    question = data.get("question", defaults.get("question"))
    question = resolve_question(question) if question else None
    model_raw = data.get("model") or (QUESTIONS[question].model if question else None) \
        or defaults.get("model")
    if not model_raw:
        raise AnswersFileError(f"{source}: say which model (model: PoolUpsampleNet) or which "
                               f"question (question: 2023/4.3)")
    model = resolve_model(model_raw)
    if question and QUESTIONS[question].model != model:
        raise AnswersFileError(f"{source}: question {question} is about "
                               f"{QUESTIONS[question].model}, not {model}")
    given = {**_given(defaults.get("given")), **_given(data.get("given"))}
    student = data.get("student", defaults.get("student"))
    return AnswerSet(
        source=source, model=model, question=question, given=given,
        accept=_accept(data.get("accept")), answers=_answers(data["answers"] or {}, problems),
        student=None if student is None else str(student), problems=problems,
    )


def _marker_meta(args: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    given: dict[str, int] = {}
    for token in re.split(r"[\s,;]+", args.strip()):
        if not token:
            continue
        if "=" in token:
            name, _, value = token.partition("=")
            low = name.strip().lower()
            if low in ("model", "question", "student"):
                meta[low] = value.strip()
                continue
            try:
                given[_variable(name)] = int(value)
            except ValueError:
                raise AnswersFileError(f"marker: {token!r} is not VAR=number") from None
            continue
        if token.lower() in {m.lower() for m in model_names()}:
            meta["model"] = token
        else:
            meta["question"] = token
    if given:
        meta["given"] = given
    return meta


_LINE_KEY = re.compile(r"^(?P<key>[A-Za-z][^:=]*?)\s*[:=]\s*(?P<value>.*)$")
_PAD_LINE = re.compile(
    r"^(?:for\s+)?(?:padding\s*(?:for|at|with)?\s*)?\(?\s*"
    r"(?P<k>k(?:ernel)?(?:[ _]?size)?\s*=?\s*\d+)\s*\)?\s*[:\-–]\s*(?P<value>.+)$",
    re.IGNORECASE,
)


def _strip_markdown(line: str) -> str:
    line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)  # list bullets
    line = re.sub(r"^(\*\*|__)(.+?)\1", r"\2", line)  # a bold label at the start
    return line.strip()


def _parse_lines(body: str, problems: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    padding: dict[str, str] = {}
    current: tuple[str, str] | None = None  # ("answer" | "padding", key)
    for number, raw_line in enumerate(body.splitlines(), start=2):
        line = _strip_markdown(raw_line)
        if not line:
            current = None
            continue
        pad = _PAD_LINE.match(line)
        if pad and padding_kernel(pad.group("k").replace(" ", "")) is not None:
            key = f"k{padding_kernel(pad.group('k').replace(' ', ''))}"
            padding[key] = pad.group("value").strip()
            current = ("padding", key)
            continue
        m = _LINE_KEY.match(line)
        norm = normalise_key(m.group("key")) if m else None
        if m and norm is not None and norm != "padding":
            if norm in answers:
                problems.append(f"line {number}: {norm!r} given twice; the first one is used")
                current = None
                continue
            answers[norm] = m.group("value").strip()
            current = ("answer", norm)
        elif current is not None:
            kind, key = current
            if kind == "answer":
                answers[key] = f"{answers[key]} {line}".strip()
            else:
                padding[key] = f"{padding[key]}, {line}"
        else:
            problems.append(f"line {number} ignored: {raw_line.strip()[:60]!r}")
    if padding:
        answers["padding"] = padding
    return answers


def answer_sets_from_markdown(text: str, source: str, defaults: Defaults | None = None
                              ) -> list[AnswerSet]:
    """Every marked section of Markdown text (a notebook cell, or a whole .md file)."""
    sets: list[AnswerSet] = []
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if MARKER.match(line)]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        meta = _marker_meta(MARKER.match(lines[start]).group("args"))  # type: ignore[union-attr]
        body = "\n".join(lines[start + 1 : end])
        label = source if len(starts) == 1 else f"{source} (section {n + 1})"
        fence = _FENCE.search(body)
        if fence:
            try:
                data = yaml.safe_load(fence.group("body"))
            except yaml.YAMLError as exc:
                raise AnswersFileError(f"{label}: the yaml block does not parse: {exc}") from None
            if not isinstance(data, dict):
                raise AnswersFileError(f"{label}: the yaml block must be a mapping")
            merged = {**meta, **data}
            sets.append(answer_set_from_mapping(merged, label, defaults))
            continue
        problems: list[str] = []
        answers = _parse_lines(body, problems)
        aset = answer_set_from_mapping({**meta, "answers": answers}, label, defaults)
        aset.problems = problems + aset.problems
        sets.append(aset)
    return sets


def _from_notebook(path: Path, defaults: Defaults) -> list[AnswerSet]:
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types on bad files
        raise AnswersFileError(f"{path}: not a readable notebook ({exc})") from None
    sets: list[AnswerSet] = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        first = next((line for line in source.splitlines() if line.strip()), "")
        if MARKER.match(first):
            sets.extend(answer_sets_from_markdown(source, f"{path} cell {index}", defaults))
    return sets


def load_answer_sets(path: str | Path, defaults: Defaults | None = None) -> list[AnswerSet]:
    """All answer sets in one file; raises AnswersFileError when there are none to judge."""
    path = Path(path)
    defaults = defaults or {}
    if not path.is_file():
        raise AnswersFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        sets = _from_notebook(path, defaults)
        if not sets:
            raise AnswersFileError(f"{path}: no Markdown cell starts with <!-- answers ... -->")
        return sets
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswersFileError(f"{path}: cannot read ({exc})") from None
    if suffix in (".md", ".markdown", ".txt"):
        sets = answer_sets_from_markdown(text, str(path), defaults)
        if not sets:
            raise AnswersFileError(f"{path}: no line <!-- answers ... --> found")
        return sets
    try:
        docs = [json.loads(text)] if suffix == ".json" else list(yaml.safe_load_all(text))
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise AnswersFileError(f"{path}: does not parse as {suffix.lstrip('.') or 'yaml'}: "
                               f"{exc}") from None
    items: list[Any] = []
    for doc in docs:
        if doc is None:
            continue
        items.extend(doc if isinstance(doc, list) else [doc])
    if not items:
        raise AnswersFileError(f"{path}: empty answers file")
    return [answer_set_from_mapping(item, str(path) if len(items) == 1 else f"{path} [{i + 1}]",
                                    defaults)
            for i, item in enumerate(items)]
