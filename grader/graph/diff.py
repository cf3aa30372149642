"""Compare a student's layer sequence with the reference's and say, in a TA's words, what differs.

The sequences are aligned with a small weighted edit distance (identical layers cost nothing, the
same op with other settings a little, a related op such as AvgPool for MaxPool more, anything
else is a deletion plus an insertion), so that one missing BatchNorm does not shift every later
comparison. The alignment then yields located differences ("block 2: expected BatchNorm2d(64)
after MaxPool2d, found none") and a side-by-side table for the report.

Skip connections are compared by where each input of a concatenation comes from, as block
numbers of the reference (the student's blocks are mapped through the aligned convolutions), and
as a multiset, so `cat([x1, x3])` and `cat([x3, x1])` are the same connection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from grader.graph.normalise import (
    ACTIVATIONS,
    CONV_OPS,
    DISPLAY,
    KEPT,
    MERGE_OPS,
    NORMS,
    RESAMPLE,
    Layer,
    Sequence,
    Source,
    normalise,
)

# Variations a rubric may accept with `allow: [...]`.
ALLOWABLE = {
    "resample_order": "pooling/upsampling placed elsewhere inside its block "
                      "(e.g. conv → BN → ReLU → MaxPool instead of conv → MaxPool → BN → ReLU)",
    "recomputed": "a block applied a second time to the same input (the output is right, the "
                  "work is doubled): named in a note instead of costing points (the "
                  "architecture check accepts it unless its `recomputed` is `deduct`)",
}
# Differences that are not a misplaced layer but still count against the share of layers matched.
COUNTED_EXTRA = {"unused", "unregistered", "repeated"}
# Ops that a student plausibly wrote in place of one another.
FAMILIES = [ACTIVATIONS, NORMS, RESAMPLE, CONV_OPS, MERGE_OPS]
FINAL_ACTIVATIONS = {"softmax", "log_softmax", "sigmoid"}
GAP = 1.0
CONV_GAP = 1.5


@dataclass
class Difference:
    """One located way in which the student's model departs from the reference."""

    # missing | extra | attribute | replaced | order | skip | source | module_type | unused |
    # unregistered | repeated
    kind: str
    location: str
    expected: str | None
    found: str | None
    message: str
    block: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location, "expected": self.expected,
                "found": self.found, "message": self.message}


@dataclass
class Pair:
    """An aligned row: a student layer, a reference layer, or both."""

    student: Layer | None
    reference: Layer | None
    block: int = 1
    status: str = "match"


@dataclass
class Comparison:
    """The outcome of comparing two sequences."""

    differences: list[Difference]
    pairs: list[Pair]
    student: Sequence
    reference: Sequence
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def reference_layers(self) -> int:
        return len(self.reference.layers)

    @property
    def matched(self) -> int:
        return sum(p.status == "match" and p.reference is not None for p in self.pairs)

    @property
    def extra(self) -> int:
        """Student layers with no counterpart, and unused layers or modules."""
        return (sum(p.reference is None for p in self.pairs)
                + sum(d.kind in COUNTED_EXTRA for d in self.differences))

    @property
    def fraction(self) -> float:
        """Reference layers reproduced exactly, over reference layers plus extra student ones."""
        if self.ok:
            return 1.0
        denominator = self.reference_layers + self.extra
        return self.matched / denominator if denominator else 0.0

    @property
    def table(self) -> list[dict[str, Any]]:
        return [{"block": str(p.block),
                 "student": p.student.describe(self.student) if p.student else None,
                 "reference": p.reference.describe(self.reference) if p.reference else None,
                 "status": p.status} for p in self.pairs]

    def details(self) -> dict[str, Any]:
        return {"differences": [d.to_dict() for d in self.differences], "table": self.table,
                "matched": self.matched, "reference_layers": self.reference_layers,
                "extra": self.extra, "notes": list(self.notes)}


# ------------------------------------------------------------------------------------ alignment
def _family(op: str) -> int | None:
    return next((i for i, fam in enumerate(FAMILIES) if op in fam), None)


def _cost(s: Layer, r: Layer) -> float:
    if s.signature() == r.signature():
        return 0.0
    if s.op == r.op:
        differing = sum(s.attrs.get(k) != r.attrs.get(k) for k in set(s.attrs) | set(r.attrs))
        return min(0.2 + 0.1 * differing, 0.9)
    fam = _family(s.op)
    if fam is not None and fam == _family(r.op):
        return 1.2
    return 2 * CONV_GAP + 1  # never cheaper than a deletion plus an insertion


def _gap(layer: Layer) -> float:
    """Convolutions anchor the blocks: leaving one unpaired costs more than any other layer,
    so that a moved pooling layer is not "explained" by shifting a convolution."""
    return CONV_GAP if layer.op in CONV_OPS else GAP


def _opens_block(layers: list[Layer], i: int) -> bool:
    return i == 0 or layers[i].block != layers[i - 1].block


def align(student: list[Layer], reference: list[Layer]) -> list[Pair]:
    """Minimum-cost alignment of two layer lists (Gotoh's affine gaps; sequences are short).

    Opening a run of missing or extra layers costs a little, and a little less at a block's
    start, so that among equally good alignments a missing block is reported as that block.
    """
    n, m = len(student), len(reference)
    inf = float("inf")

    def opening(layers: list[Layer], i: int) -> float:
        return 0.01 if _opens_block(layers, i) else 0.02

    # best[state][i][j]; state 0: pair, 1: extra student layer, 2: missing reference layer.
    best = [[[inf] * (m + 1) for _ in range(n + 1)] for _ in range(3)]
    back: list[list[list[int]]] = [[[0] * (m + 1) for _ in range(n + 1)] for _ in range(3)]
    best[0][0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if i and j:
                prev = [best[st][i - 1][j - 1] for st in range(3)]
                st = min(range(3), key=prev.__getitem__)
                best[0][i][j] = prev[st] + _cost(student[i - 1], reference[j - 1])
                back[0][i][j] = st
            if i:
                o, gap = opening(student, i - 1), _gap(student[i - 1])
                prev = [best[0][i - 1][j] + gap + o, best[1][i - 1][j] + gap,
                        best[2][i - 1][j] + gap + o]
                st = min(range(3), key=prev.__getitem__)
                best[1][i][j], back[1][i][j] = prev[st], st
            if j:
                o, gap = opening(reference, j - 1), _gap(reference[j - 1])
                prev = [best[0][i][j - 1] + gap + o, best[1][i][j - 1] + gap + o,
                        best[2][i][j - 1] + gap]
                st = min(range(3), key=prev.__getitem__)
                best[2][i][j], back[2][i][j] = prev[st], st
    pairs: list[Pair] = []
    i, j = n, m
    state = min(range(3), key=lambda st: best[st][n][m])
    while i or j:
        previous = back[state][i][j]
        if state == 0:
            pairs.append(Pair(student[i - 1], reference[j - 1]))
            i, j = i - 1, j - 1
        elif state == 1:
            pairs.append(Pair(student[i - 1], None))
            i -= 1
        else:
            pairs.append(Pair(None, reference[j - 1]))
            j -= 1
        state = previous
    pairs.reverse()
    return pairs


def _block_map(pairs: list[Pair]) -> dict[int, int]:
    """Student block -> reference block, through aligned convolutions (then any aligned layer)."""
    out: dict[int, int] = {}
    for want_conv in (True, False):
        for p in pairs:
            if p.student and p.reference and p.student.block not in out and \
                    (not want_conv or (p.student.op in CONV_OPS and p.reference.op in CONV_OPS)):
                out[p.student.block] = p.reference.block
    return out


def _assign_pair_blocks(pairs: list[Pair], block_map: dict[int, int]) -> None:
    last = 1
    for p in pairs:
        if p.reference is not None:
            p.block = p.reference.block
        elif p.student is not None and p.student.block in block_map:
            p.block = max(block_map[p.student.block], last)
        else:
            p.block = last
        last = p.block


# -------------------------------------------------------------------------------------- sources
Descriptor = tuple


def _describe_source(seq: Sequence, src: Source, mapper: Mapping[int, int] | None) -> Descriptor:
    if src.is_const:
        return ("const", repr(src.const))
    if src.layer is None:
        return ("x",)
    layer = seq.layers[src.layer]
    block: Any = layer.block if mapper is None else mapper.get(layer.block, f"s{layer.block}")
    if seq.is_block_output(layer):
        return ("out", block)
    nth = sum(x.op == layer.op for x in seq.layers[:layer.index] if x.block == layer.block)
    return ("in", block, layer.op, nth)


def _input_descriptor(seq: Sequence, layer: Layer, mapper: Mapping[int, int] | None,
                      ) -> Descriptor | None:
    """Where a single-input layer's input comes from; ("prev",) for the layer just before."""
    if not layer.sources:
        return None
    src = layer.sources[0]
    if src.is_const:
        return ("const", repr(src.const))
    if (src.layer is None and layer.index == 0) or (src.layer == layer.index - 1
                                                   and src.layer is not None):
        return ("prev",)
    return _describe_source(seq, src, mapper)


def _merge_descriptors(seq: Sequence, layer: Layer, mapper: Mapping[int, int] | None,
                       ) -> list[Descriptor]:
    return [_describe_source(seq, s, mapper) for s in layer.sources]


def source_text(d: Descriptor, output: bool = False) -> str:
    """A descriptor in words ("block 1", or "block 1's output" with `output`)."""
    if d[0] == "x":
        return "the input image"
    if d[0] == "prev":
        return "the previous layer"
    if d[0] == "const":
        return f"the constant {d[1]}"
    if d[0] == "out":
        return f"block {d[1]}'s output" if output else f"block {d[1]}"
    return f"block {d[1]}'s {DISPLAY.get(d[2], d[2])} (inside the block, not its output)"


def _skips(seq: Sequence, layer: Layer, descriptors: list[Descriptor]) -> list[Descriptor]:
    """The inputs of a merge other than the tensor computed just before it."""
    prev = _describe_source(seq, Source(layer.index - 1), None) if layer.index else ("x",)
    skips = [d for d in descriptors if d != prev]
    return skips or descriptors


def _texts(ds: Iterable[Descriptor], output: bool = False) -> str:
    items = [source_text(d, output) for d in ds]
    return " and ".join(items) if items else "nothing"


# ---------------------------------------------------------------------------------- comparison
def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


def _where(p: Pair, pairs: list[Pair], k: int) -> str:
    same = [q for q in pairs[:k] if q.block == p.block and q.reference is not None]
    return f"block {p.block}, layer {len(same) + 1}"


class _Differ:
    def __init__(self, student: Sequence, reference: Sequence,
                 module_types: Mapping[str, str] | None, allow: Iterable[str]) -> None:
        self.s, self.r = student, reference
        self.module_types = {str(k).lower(): v for k, v in (module_types or {}).items()}
        self.allow = set(allow)
        unknown = self.allow - set(ALLOWABLE)
        if unknown:
            raise ValueError(f"unknown variation(s) {sorted(unknown)}; known: {sorted(ALLOWABLE)}")
        self.diffs: list[Difference] = []
        self.notes: list[str] = []

    def add(self, kind: str, p: Pair, location: str, expected: str | None, found: str | None,
            message: str) -> None:
        self.diffs.append(Difference(kind, location, expected, found, message, p.block))
        if p.status == "match":
            p.status = "missing" if p.student is None else "extra" if p.reference is None \
                else "mismatch"

    def run(self) -> Comparison:
        pairs = align(self.s.layers, self.r.layers)
        self.block_map = _block_map(pairs)
        _assign_pair_blocks(pairs, self.block_map)
        pairs, reordered = self._orders(pairs)
        self._missing_blocks(pairs)
        last_ref = max((k for k, p in enumerate(pairs) if p.reference is not None), default=-1)
        for k, p in enumerate(pairs):
            if id(p) in reordered or p.status != "match":
                continue
            if p.student is not None and p.reference is not None:
                self._paired(p, pairs, k)
            elif p.reference is not None:
                self._missing(p, pairs, k)
            else:
                self._extra(p, pairs, k, after_end=k > last_ref)
        self._dead()
        self._repeated()
        self._merge_module_types()
        return Comparison(self.diffs, pairs, self.s, self.r, self.notes)

    def _merge_module_types(self) -> None:
        """One difference per wrong module type, not one per layer: it is one decision."""
        groups: dict[tuple, list[Difference]] = {}
        for d in self.diffs:
            if d.kind == "module_type":
                groups.setdefault((d.expected, d.found), []).append(d)
        for (expected, found), items in groups.items():
            if len(items) < 2:
                continue
            blocks = ", ".join(str(d.block) for d in items)
            first = self.diffs.index(items[0])
            how = items[0].message.split(" is computed by ", 1)[1].split(" (`")[0].split(";")[0]
            merged = Difference(
                "module_type", f"blocks {blocks}", expected, found,
                f"blocks {blocks}: {len(items)} layers are computed by {how}; the handout "
                f"requires the provided {expected}", items[0].block)
            self.diffs = [d for d in self.diffs if d not in items]
            self.diffs.insert(first, merged)

    # -- whole-block observations
    def _orders(self, pairs: list[Pair]) -> tuple[list[Pair], set[int]]:
        """Blocks whose layers are all there but in another order: one `order` difference each.

        Returns the re-paired rows and the ids of rows already accounted for.
        """
        out: list[Pair] = []
        handled: set[int] = set()
        for block, group in groupby(pairs, key=lambda p: p.block):
            rows = list(group)
            mine = [p.student for p in rows if p.student is not None]
            theirs = [p.reference for p in rows if p.reference is not None]
            exact = all(p.student and p.reference and
                        p.student.signature() == p.reference.signature() for p in rows)
            if exact or Counter(x.signature() for x in mine) != Counter(
                    x.signature() for x in theirs):
                out.extend(rows)
                continue
            found = " → ".join(x.name for x in mine)
            expected = " → ".join(x.name for x in theirs)
            core = [x.signature() for x in mine if x.op not in RESAMPLE]
            if "resample_order" in self.allow and mine[0].op in CONV_OPS and core == [
                    x.signature() for x in theirs if x.op not in RESAMPLE]:
                # Accepted: pair each reference layer with the student's identical one.
                pool = list(mine)
                for ref in theirs:
                    twin = next(x for x in pool if x.signature() == ref.signature())
                    pool.remove(twin)
                    out.append(Pair(twin, ref, block))
                self.notes.append(f"block {block}: {found} instead of {expected} "
                                  "(accepted by the rubric)")
                continue
            new = [Pair(a, b, block) for a, b in zip(mine, theirs, strict=True)]
            first = next(k for k, p in enumerate(new)
                         if p.student.signature() != p.reference.signature())
            for p in new:
                if p.student.signature() != p.reference.signature():
                    p.status = "mismatch"
                    handled.add(id(p))
            out.extend(new)
            self.diffs.append(Difference(
                "order", f"block {block}", expected, found,
                f"block {block}: {mine[first].name} comes before {theirs[first].name}; "
                f"expected {expected}, found {found}", block))
        return out, handled

    def _missing_blocks(self, pairs: list[Pair]) -> None:
        """A reference block with no student layer at all is one difference, not four."""
        for block in sorted({p.block for p in pairs}):
            rows = [p for p in pairs if p.block == block]
            if any(p.student is not None for p in rows) or not any(
                    p.reference.op in CONV_OPS for p in rows):
                continue
            expected = " → ".join(p.reference.describe(self.r) for p in rows)
            message = f"block {block} is missing: expected {expected}"
            if block == max(x.block for x in self.r.layers):
                message = f"the final block {block} is missing: expected {expected}"
            for p in rows:
                p.status = "missing"
            self.diffs.append(Difference("missing", f"block {block}", expected, None, message,
                                         block))

    # -- one row
    def _paired(self, p: Pair, pairs: list[Pair], k: int) -> None:
        s, r = p.student, p.reference
        assert s is not None and r is not None
        where = _where(p, pairs, k)
        if s.op != r.op:
            if s.op in MERGE_OPS and r.op in MERGE_OPS:
                skips = _skips(self.r, r, _merge_descriptors(self.r, r, None))
                verb = {"add": "added", "cat": "concatenated", "mul": "multiplied",
                        "sub": "subtracted", "stack": "stacked"}
                self.add("skip", p, where, r.describe(self.r), s.describe(self.s),
                         f"block {p.block}: the skip connection from {_texts(skips)} is "
                         f"{verb.get(s.op, s.op)} ({s.op}) instead of {verb.get(r.op, r.op)} "
                         f"({r.op})")
            else:
                self.add("replaced", p, where, r.describe(self.r), s.describe(self.s),
                         f"block {p.block}: found {s.describe(self.s)}, "
                         f"expected {r.describe(self.r)}")
            return
        self._attributes(p, where)
        self._sources(p, where)
        self._module_type(p, where)

    def _attributes(self, p: Pair, where: str) -> None:
        s, r = p.student, p.reference
        assert s is not None and r is not None
        order = list(KEPT.get(r.op, ())) + sorted((set(s.attrs) | set(r.attrs))
                                                  - set(KEPT.get(r.op, ())))
        both = [k for k in order if k in s.attrs and k in r.attrs and s.attrs[k] != r.attrs[k]]
        one = [k for k in order if (k in s.attrs) != (k in r.attrs)]
        keys = both or one
        if not keys:
            return
        context = ""
        if r.op in CONV_OPS and set(keys) <= {"stride", "padding", "dilation", "output_padding"}:
            context = f" kernel {_fmt(r.attrs.get('kernel_size'))}"
        found = ", ".join(f"{k} {_fmt(s.attrs.get(k))}" for k in keys)
        expected = ", ".join(f"{k} {_fmt(r.attrs.get(k))}" for k in keys)
        hint = ""
        if r.op == "conv_transpose2d" and "output_padding" in keys:
            hint = " (the output is one pixel off)" if keys == ["output_padding"] else ""
        self.add("attribute", p, where,
                 ", ".join(f"{k}={_fmt(r.attrs.get(k))}" for k in keys),
                 ", ".join(f"{k}={_fmt(s.attrs.get(k))}" for k in keys),
                 f"block {p.block}: {r.name}{context} {found}, expected {expected}{hint}")

    def _sources(self, p: Pair, where: str) -> None:
        s, r = p.student, p.reference
        assert s is not None and r is not None
        if r.op in MERGE_OPS:
            mine = _merge_descriptors(self.s, s, self.block_map)
            theirs = _merge_descriptors(self.r, r, None)
            if Counter(mine) == Counter(theirs):
                if mine != theirs:
                    self.notes.append(f"block {p.block}: {s.describe(self.s)} concatenates in "
                                      f"the other order than {r.describe(self.r)} (accepted)")
                return
            missing = list((Counter(theirs) - Counter(mine)).elements())
            unexpected = list((Counter(mine) - Counter(theirs)).elements())
            self.add("skip", p, where, r.describe(self.r), s.describe(self.s),
                     f"block {p.block}: the skip connection comes from "
                     f"{_texts(unexpected, True)}, expected {_texts(missing, True)}")
            return
        mine_in = _input_descriptor(self.s, s, self.block_map)
        theirs_in = _input_descriptor(self.r, r, None)
        if mine_in == theirs_in or mine_in is None or theirs_in is None:
            return
        # A shifted neighbour (an extra or missing layer just before) is not a wiring problem.
        if mine_in == ("prev",) or theirs_in == ("prev",):
            if self._prev_equivalent(s, r, mine_in, theirs_in):
                return
        found, expected = source_text(mine_in, True), source_text(theirs_in, True)
        self.add("source", p, where, expected, found,
                 f"block {p.block}: {r.name} takes its input from {found}, expected {expected}")

    def _prev_equivalent(self, s: Layer, r: Layer, mine: Descriptor, theirs: Descriptor) -> bool:
        """True when "the previous layer" on one side names the same tensor as the other side."""
        if mine == ("prev",):
            mine = _describe_source(self.s, s.sources[0], self.block_map) if s.index else ("x",)
        if theirs == ("prev",):
            theirs = _describe_source(self.r, r.sources[0], None) if r.index else ("x",)
        return mine == theirs

    def _module_type(self, p: Pair, where: str) -> None:
        s = p.student
        assert s is not None
        required = self.module_types.get(s.op)
        if not required:
            return
        actual = (s.module_type or "").split(".")[-1]
        if actual == str(required).split(".")[-1]:
            return
        if not actual:
            how = "a functional call outside any module"
        else:
            how = f"nn.{actual}" if actual in DISPLAY.values() else actual
            how += f" (`{s.module}`)" if s.module else ""
        self.add("module_type", p, where, required, actual or None,
                 f"block {p.block}: {s.name} is computed by {how}; the handout requires the "
                 f"provided {required}")

    def _missing(self, p: Pair, pairs: list[Pair], k: int) -> None:
        r = p.reference
        assert r is not None
        before = next((q.reference for q in reversed(pairs[:k])
                       if q.reference is not None and q.block == p.block), None)
        after = next((q.reference for q in pairs[k + 1:] if q.reference is not None), None)
        where = f"block {p.block}, " + (f"after {before.name}" if before else "at its start")
        if r.op in MERGE_OPS:
            skips = _skips(self.r, r, _merge_descriptors(self.r, r, None))
            before_text = f" before {after.name}" if after else ""
            self.add("skip", p, where, r.describe(self.r), None,
                     f"block {p.block}: the skip connection from {_texts(skips)} is missing "
                     f"(expected {r.describe(self.r)}{before_text})")
            return
        place = f"after {before.name}" if before else "at the start of the block"
        self.add("missing", p, where, r.describe(self.r), None,
                 f"block {p.block}: expected {r.describe(self.r)} {place}, found none")

    def _extra(self, p: Pair, pairs: list[Pair], k: int, after_end: bool) -> None:
        s = p.student
        assert s is not None
        before = next((q.student for q in reversed(pairs[:k]) if q.student is not None), None)
        desc = s.describe(self.s)
        if after_end:
            last = self.r.layers[-1] if self.r.layers else None
            final = "convolution" if last and last.op in CONV_OPS else (last.name if last
                                                                       else "layer")
            message = f"extra {desc} after the final {final}"
            if s.op in FINAL_ACTIVATIONS:
                message += (": the model must return raw scores (logits); CrossEntropyLoss "
                            "applies the softmax itself")
            self.add("extra", p, f"after the final {final}", None, desc, message)
            return
        where = f"block {p.block}, " + (f"after {before.name}" if before else "at its start")
        if s.op in MERGE_OPS:
            merges = _texts(_skips(self.s, s, _merge_descriptors(self.s, s, self.block_map)))
            message = (f"block {p.block}: a skip connection from {merges} ({desc}) is not in "
                       "the handout's model")
        else:
            message = f"block {p.block}: {desc} is not in the handout's model"
        self.add("extra", p, where, None, desc, message)

    def _repeated(self) -> None:
        """A block applied twice to the same input, said in those words (rubric policy:
        a difference by default, a note with `allow: [recomputed]`)."""
        for repeat in self.s.repeated:
            block = self.block_map.get(repeat.block, repeat.block)
            names = " → ".join(self.s.layers[i].name for i in repeat.layers)
            modules = " and ".join(f"`{m}`" for m in repeat.modules)
            who = f"block {block}" + (f" ({modules})" if modules else "")
            message = (f"{who} is applied twice to the same input: {names} "
                       f"{'is' if len(repeat.layers) == 1 else 'are'} computed a second time "
                       "and give the same result (the output is right, the work is doubled); "
                       "reuse the first result instead")
            if "recomputed" in self.allow:
                self.notes.append(message + " (no points taken off for this)")
                continue
            self.diffs.append(Difference("repeated", f"block {block}", "computed once",
                                         "computed twice", message, block))

    def _dead(self) -> None:
        for layer in self.s.dead:
            if layer.op not in CONV_OPS | NORMS | {"linear"}:
                continue
            module = f" (`{layer.module}`)" if layer.module else ""
            block = (self.block_map.get(layer.block, layer.block))
            self.diffs.append(Difference(
                "unused", f"after block {block}", None, layer.describe(self.s),
                f"{layer.describe(self.s)}{module} is computed in forward but its result is "
                "never used", block))


def compare(student: Sequence, reference: Sequence, *,
            module_types: Mapping[str, str] | None = None,
            allow: Iterable[str] = ()) -> Comparison:
    """Differences between two normalised models, with the side-by-side table.

    module_types: op -> required module type (e.g. {"conv2d": "MyConv2d"} for 2020).
    allow: accepted variations, keys of ALLOWABLE.
    """
    return _Differ(student, reference, module_types, allow).run()


def compare_graphs(student: Mapping, reference: Mapping, **options: Any) -> Comparison:
    """`compare` on two raw Graphs."""
    return compare(normalise(student), normalise(reference), **options)
