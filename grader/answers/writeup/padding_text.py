"""The padding question's answers (k = 4 and 5) as students write them.

Forms seen: ``k = 4: padding = 1, output_padding = 0``; sentences that name the layer, the kernel
and the values in any order ("For Conv2d layer, padding = 1 still works when kernel become 4x4,
but padding will need to be 2 for kernel = 5x5"); derivations ending in "therefore, padding =
2"; tables with a kernel column. The text is cut into clauses; a value belongs to the kernel
named in its clause (before it, else after it), else to the last kernel named; the layer
likewise (Conv2d or ConvTranspose2d; unnamed, the value is the padding of both). Two different
values for the same thing are a question for a TA, never a choice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .counting import answer_lines
from .headings import read_label
from .records import ExtractedAnswer, Line, Unreadable, Where
from .tables import Row, read_table

__all__ = ["extract_padding"]

# only the values that are spelled out ("output padding is zero"); "two" is usually "the first
# two layers"
_WORDS = {"zero": "0", "one": "1"}
_KERNEL = re.compile(
    r"\b(?:k|kernel|kernal|filter)(?:[ _]?size)?(?:\s+(?:is|was|of|size|becomes?|increased|"
    r"changed|set|equal|equals))*\s*(?:=|:|of|is|to|be)?\s*(?P<a>[2-9])(?:\s*[x×]\s*[2-9])?"
    r"(?![\d.]|\s*[-+−*/]\s*\w)"
    r"|\b(?P<b>[2-9])\s*[x×]\s*(?P=b)\s*(?:kernel|kernal|filter|conv)",
    re.IGNORECASE)
_LAYER = re.compile(
    r"(?P<convt>conv\w*?\s*transpose\w*|transpose\w*(?:\s+conv\w*)?|deconv\w*|\bconvt\w*)"
    r"|(?P<conv>\bconv(?:2d|olution(?:al)?|s)?\b|\bencoder\b|\bdownsampl\w*)",
    re.IGNORECASE)
_ROLE = re.compile(r"(?P<out>output[\s_-]*padding|out[\s_-]*pad(?:ding)?)|(?P<pad>padding)",
                   re.IGNORECASE)
# after "padding": a few words at most ("parameter ... should be set to"), then the number; an
# operator in between ("2 × padding − dilation") means a formula, not an answer
_VALUE = re.compile(
    r"^(?:\s+[A-Za-z_]\w*){0,14}?\s*[=:]?\s*\(?\s*(?P<v>\d+)\b(?!\.\d|\s*[x×*/+\-−]\s*[\w(])")
_BREAK = re.compile(r"[;,]|(?<=[.!?])\s|\bbut\b|\bwhile\b|\bwhereas\b|\balso\b|\bhowever\b",
                    re.IGNORECASE)
_NEW_ITEM = re.compile(r"^\s*(?:[•\-*▪◦]|\d+[.)]|for\b|if\b|when\b|with\b)", re.IGNORECASE)

EXCERPT = 300


@dataclass
class _Values:
    """What one kernel size's answer says, role by role, with every value stated."""

    roles: dict[str, list[int]] = field(default_factory=dict)
    raw: list[str] = field(default_factory=list)
    where: Where | None = None

    def add(self, role: str, value: int, clause: str, where: Where) -> None:
        self.roles.setdefault(role, [])
        if value not in self.roles[role]:
            self.roles[role].append(value)
        if clause not in self.raw:
            self.raw.append(clause)
        self.where = self.where or where


@dataclass
class _State:
    kernel: int | None = None
    layer: str | None = None
    found: dict[int, _Values] = field(default_factory=dict)
    mentioned: dict[int, tuple[str, Where]] = field(default_factory=dict)


def _clauses(paragraph: list[Line]) -> list[tuple[str, Where]]:
    """Clauses of a paragraph; a wrapped line continues its clause, a new item does not."""
    pieces: list[tuple[str, Where]] = []
    for line in paragraph:
        text = re.sub(r"\b(" + "|".join(_WORDS) + r")\b",
                      lambda m: _WORDS[m.group(1).lower()], line.text.replace("$", " "),
                      flags=re.IGNORECASE)
        starts = (_NEW_ITEM.match(text) or _KERNEL.match(text.strip()) or len(text.split()) <= 2
                  or (pieces and re.search(r"[.:;]\s*$", pieces[-1][0])))
        if pieces and not starts:
            last, where = pieces[-1]
            pieces[-1] = (f"{last} {text}", where)
        else:
            pieces.append((text, line.where))
    out = []
    for text, where in pieces:
        out.extend((c.strip(), where) for c in _BREAK.split(text) if c and c.strip())
    return out


def _read_clause(clause: str, where: Where, state: _State) -> None:
    kernels = [(m.start(), int(m.group("a") or m.group("b"))) for m in _KERNEL.finditer(clause)]
    named = _LAYER.search(clause)
    layer = ("convt" if named.group("convt") else "conv") if named else state.layer
    for _, k in kernels:
        state.mentioned.setdefault(k, (clause, where))
    roles = list(_ROLE.finditer(clause))
    for n, role in enumerate(roles):
        window_end = roles[n + 1].start() if n + 1 < len(roles) else len(clause)
        window = clause[role.end():window_end]
        value = _VALUE.match(window)
        if value is None:
            continue
        before = [k for pos, k in kernels if pos < role.start()]
        after = [k for pos, k in kernels if pos > role.start()]
        kernel = before[-1] if before else after[0] if after else state.kernel
        if kernel is None:
            continue
        name = "output_padding" if role.group("out") else \
            {"conv": "conv_padding", "convt": "convt_padding"}.get(layer or "", "padding")
        state.found.setdefault(kernel, _Values()).add(name, int(value.group("v")), clause, where)
    if kernels:
        state.kernel = kernels[-1][1]
    state.layer = layer


def _table_lines(rows: Sequence[Row], header: tuple[str, ...]) -> list[Line]:
    """A padding table's rows as the sentences the clause reader understands."""
    out = []
    for row in rows:
        parts = [f"kernel = {row.label}:"] + [f"{header[c]} = {v}" for c, v in
                                               sorted(row.values.items()) if 0 <= c < len(header)]
        out.append(Line(", ".join(parts), row.where))
    return out


def _padding_columns(header: tuple[str, ...]) -> set[int]:
    if not header or not re.search(r"\bk\b|kernel", header[0], re.IGNORECASE):
        return set()
    return {i for i, h in enumerate(header) if i and re.search(r"pad", h, re.IGNORECASE)}


def _stops(line: Line) -> bool:
    label = read_label(line)
    return label is not None and label.style in ("full", "part", "question")


def _paragraphs(body: Sequence[Line]) -> list[list[Line]]:
    out: list[list[Line]] = [[]]
    i = 0
    while i < len(body):
        table = read_table(body, i, _padding_columns, _stops)
        if table is not None:
            out.append(_table_lines(table.rows, table.header))
            out.append([])
            i = table.end
            continue
        if body[i].text.strip():
            out[-1].append(body[i])
        elif out[-1]:
            out.append([])
        i += 1
    return [p for p in out if p]


def _answer(values: _Values) -> str | None:
    """``conv_padding=1, convt_padding=1, output_padding=0``; None when a role has two values."""
    generic = values.roles.get("padding", [])
    parts = []
    for role in ("conv_padding", "convt_padding"):
        given = values.roles.get(role) or generic
        if len(set(given) | (set(generic) if values.roles.get(role) and generic else set())) > 1:
            return None
        if given:
            parts.append(f"{role}={given[0]}")
    output = values.roles.get("output_padding", [])
    if len(output) > 1:
        return None
    if output:
        parts.append(f"output_padding={output[0]}")
    return ", ".join(parts)


def _excerpt(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def extract_padding(question: str, kernels: Sequence[int], lines: Sequence[Line]
                    ) -> tuple[list[ExtractedAnswer], list[Unreadable]]:
    """Each asked kernel size's padding answer under the question's heading."""
    state = _State()
    body = answer_lines(lines)
    for paragraph in _paragraphs(body):
        for clause, where in _clauses(paragraph):
            _read_clause(clause, where, state)
    answers: list[ExtractedAnswer] = []
    unreadable: list[Unreadable] = []
    for k in kernels:
        key = f"padding.k{k}"
        values = state.found.get(k)
        if values is None or not values.roles:
            if k in state.mentioned:
                clause, where = state.mentioned[k]
                unreadable.append(Unreadable(question, key, f"kernel size {k} is discussed, but "
                                             "no padding values could be read", _excerpt(clause),
                                             where))
            continue
        assert values.where is not None
        text = _answer(values)
        raw = _excerpt(" / ".join(values.raw))
        if text is None:
            stated = "; ".join(f"{r} = {' or '.join(map(str, v))}" for r, v in values.roles.items())
            unreadable.append(Unreadable(question, key, f"more than one answer for k = {k} "
                                         f"({stated})", raw, values.where))
            continue
        answers.append(ExtractedAnswer(question, key, text, raw, values.where, "text"))
    if not answers and not unreadable and any(line.text.strip() for line in body):
        first = next(line for line in body if line.text.strip())
        text = " ".join(line.text for line in body if line.text.strip())
        unreadable.append(Unreadable(question, None, "no padding values for the asked kernel "
                                     "sizes could be read", _excerpt(text), first.where))
    return answers, unreadable
