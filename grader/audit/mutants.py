"""Mutants of a rubric's reference notebook: the bugs students really make, and harmless rewrites.

A rubric is only as good as the wrong answers it catches. Each `Mutant` is one small, precise
source edit of the reference solution notebook (`submissions/reference/<rubric>/reference.ipynb`):
a missing BatchNorm, a hard-coded channel count, a dropped skip connection... Equivalent mutants
(`equivalent=True`) are rewrites a student may legitimately write (functional ops, separate
attributes, the other concatenation order) and must keep full marks.

Edits are located by Python structure, not by line numbers: a scope names a class, a method
(`UNet.forward`), a `self.<attr> = ...` statement of a class (`UNet.upconv2`), a top-level
function, or a whole cell by a text it contains (`cell:...`). Inside that scope the old text must
occur exactly as often as the edit says, so an edit that no longer applies to a changed reference
raises `MutantError` instead of silently producing a mutant that is not what it claims to be.
"""

from __future__ import annotations

import ast
import copy
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "submissions" / "reference"

Notebook = dict[str, Any]


class MutantError(ValueError):
    """A mutant's edit does not apply to the notebook it was given."""


@dataclass(frozen=True)
class Edit:
    """Replace `old` by `new` inside `scope`; `old=None` replaces the whole scope."""

    scope: str
    old: str | None
    new: str
    count: int = 1


@dataclass(frozen=True)
class Mutant:
    """One variant of the reference notebook, and what a correct rubric must do with it."""

    id: str
    target: str
    description: str
    category: str
    equivalent: bool
    edits: tuple[Edit, ...] = field(default=(), repr=False)

    def apply(self, notebook: Notebook) -> Notebook:
        """A mutated deep copy of `notebook`; raises MutantError when an edit does not apply."""
        return apply_edits(notebook, self.edits, label=self.id)

    def diff(self, notebook: Notebook) -> str:
        """A unified diff of the changed code cells, for the audit report."""
        import difflib

        mutated = self.apply(notebook)
        out: list[str] = []
        for i, (a, b) in enumerate(zip(notebook["cells"], mutated["cells"], strict=True), 1):
            sa, sb = cell_source(a), cell_source(b)
            if sa != sb:
                out.extend(difflib.unified_diff(sa.splitlines(), sb.splitlines(),
                                                f"cell {i}", f"cell {i} (mutant)", n=1,
                                                lineterm=""))
        return "\n".join(out)


# ---- notebook helpers ------------------------------------------------------------------------
def cell_source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _set_source(cell: dict[str, Any], text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


# Only at column 0: an indented `% (...)` line is the modulo operator continuing a statement.
_MAGIC = re.compile(r"^[!%].*$", re.MULTILINE)


def parse_cell(text: str) -> ast.Module:
    """Parse a code cell, with IPython `!shell` and `%magic` lines blanked (same line numbers)."""
    return ast.parse(_MAGIC.sub("pass", text))


def _code_cells(notebook: Notebook) -> list[tuple[int, dict[str, Any]]]:
    return [(i, c) for i, c in enumerate(notebook.get("cells", [])) if c.get("cell_type") == "code"]


def _self_attr(node: ast.AST) -> str | None:
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "self"):
        return node.attr
    return None


def _find_region(notebook: Notebook, scope: str, label: str) -> tuple[int, int, int]:
    """(cell index, first line, end line) of `scope`, lines 0-based and end exclusive."""
    if scope.startswith("cell:"):
        anchor = scope[len("cell:"):]
        hits = [i for i, c in _code_cells(notebook) if anchor in cell_source(c)]
        if len(hits) != 1:
            raise MutantError(f"{label}: {len(hits)} code cells contain {anchor!r}, expected 1")
        return hits[0], 0, len(cell_source(notebook["cells"][hits[0]]).splitlines())
    top, _, member = scope.partition(".")
    found: list[tuple[int, ast.AST]] = []
    for i, cell in _code_cells(notebook):
        try:
            tree = parse_cell(cell_source(cell))
        except SyntaxError:
            continue
        for node in tree.body:
            if (isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == top):
                found.append((i, node))
    if len(found) != 1:
        raise MutantError(f"{label}: {len(found)} cells define `{top}`, expected exactly 1")
    index, node = found[0]
    if member:
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == member]
        assigns = [n for n in ast.walk(node) if isinstance(n, ast.Assign)
                   and any(_self_attr(t) == member for t in n.targets)]
        hits = methods or assigns
        if len(hits) != 1:
            raise MutantError(f"{label}: `{scope}` matches {len(hits)} methods or "
                              f"`self.{member} = ...` statements, expected 1")
        node = hits[0]
    return index, node.lineno - 1, node.end_lineno or node.lineno


def apply_edits(notebook: Notebook, edits: Iterable[Edit], label: str = "mutant") -> Notebook:
    """Apply `edits` in order to a deep copy of `notebook`, checking each one applies exactly."""
    out = copy.deepcopy(notebook)
    touched: set[int] = set()
    for edit in edits:
        index, first, end = _find_region(out, edit.scope, label)
        lines = cell_source(out["cells"][index]).splitlines(keepends=True)
        region = "".join(lines[first:end])
        if edit.old is None:
            indent = re.match(r"\s*", region).group(0) if region.strip() else ""
            new = textwrap.indent(textwrap.dedent(edit.new).strip("\n") + "\n", indent)
        else:
            found = region.count(edit.old)
            if found != edit.count:
                raise MutantError(f"{label}: {edit.old!r} occurs {found} time(s) in "
                                  f"`{edit.scope}`, expected {edit.count}")
            new = region.replace(edit.old, edit.new)
            if region.endswith("\n") and not new.endswith("\n"):
                new += "\n"
        _set_source(out["cells"][index], "".join(lines[:first]) + new + "".join(lines[end:]))
        touched.add(index)
    for index in sorted(touched):
        text = cell_source(out["cells"][index])
        try:
            parse_cell(text)
        except SyntaxError as exc:
            raise MutantError(f"{label}: cell {index + 1} no longer parses: {exc}") from None
    if all(cell_source(a) == cell_source(b) for a, b in zip(notebook["cells"], out["cells"],
                                                             strict=True)):
        raise MutantError(f"{label}: the edits leave the notebook's code unchanged")
    return out


# ---- the mutant catalogue --------------------------------------------------------------------
# Short aliases keep the tables below readable: M(...) is a non-equivalent mutant, EQ(...) an
# equivalent rewrite; E(...) one edit. Indentation inside `old`/`new` is the reference's.
def E(scope: str, old: str | None, new: str, count: int = 1) -> Edit:
    return Edit(scope, old, new, count)


Spec = tuple[str, str, str, bool, tuple[Edit, ...]]


def M(mid: str, category: str, description: str, *edits: Edit) -> Spec:
    return (mid, category, description, False, edits)


def EQ(mid: str, description: str, *edits: Edit) -> Spec:
    return (mid, "equivalent", description, True, edits)


RELU = "            nn.ReLU(),\n"


def _pool_upsample(c: str) -> list[Spec]:
    """PoolUpsampleNet (2021-2025 section 4); `c` is the class name."""
    return [
        M("pool-no-bn", "normalisation", "BatchNorm2d missing from block 1",
          E(f"{c}.conv1", "            nn.BatchNorm2d(nf),\n", "")),
        M("pool-no-relu", "activation", "ReLU missing from block 2",
          E(f"{c}.conv2", RELU, "")),
        M("pool-extra-relu-final", "activation", "ReLU after the final conv (logits clipped)",
          E(f"{c}.conv5", "padding=padding),\n", "padding=padding),\n" + RELU)),
        M("pool-extra-bn-final", "normalisation", "BatchNorm2d after the final conv",
          E(f"{c}.conv5", "padding=padding),\n",
            "padding=padding),\n            nn.BatchNorm2d(nc),\n")),
        M("pool-relu-before-bn", "order", "block 3 applies ReLU before BatchNorm",
          E(f"{c}.conv3", "            nn.BatchNorm2d(nf),\n" + RELU,
            RELU + "            nn.BatchNorm2d(nf),\n")),
        M("pool-pool-after-bn-relu", "order",
          "block 1 is conv -> BN -> ReLU -> pool (handout: conv -> pool -> BN -> ReLU)",
          E(f"{c}.conv1", "            nn.MaxPool2d(2),\n            nn.BatchNorm2d(nf),\n" + RELU,
            "            nn.BatchNorm2d(nf),\n" + RELU + "            nn.MaxPool2d(2),\n")),
        M("pool-padding-zero", "padding/stride", "padding = 0 instead of kernel // 2",
          E(f"{c}.__init__", "padding = kernel // 2", "padding = 0")),
        M("pool-padding-hardcoded", "hard-coded size", "padding = 1 (right only for kernel 3)",
          E(f"{c}.__init__", "padding = kernel // 2", "padding = 1")),
        M("pool-stride-2", "padding/stride", "block 2's conv has stride 2 as well as the pool",
          E(f"{c}.conv2", "padding=padding)", "padding=padding, stride=2)")),
        M("pool-avgpool", "pool/upsample", "AvgPool2d instead of MaxPool2d in block 2",
          E(f"{c}.conv2", "nn.MaxPool2d(2)", "nn.AvgPool2d(2)")),
        M("pool-no-pool", "pool/upsample", "pooling missing from block 2",
          E(f"{c}.conv2", "            nn.MaxPool2d(2),\n", "")),
        M("pool-bilinear", "pool/upsample", "bilinear instead of nearest upsampling in block 4",
          E(f"{c}.conv4", "nn.Upsample(scale_factor=2)",
            "nn.Upsample(scale_factor=2, mode=\"bilinear\")")),
        M("pool-upsample-convtranspose", "pool/upsample",
          "a stride-2 ConvTranspose2d instead of Upsample in block 3",
          E(f"{c}.conv3", "nn.Upsample(scale_factor=2)",
            "nn.ConvTranspose2d(nf, nf, 2, stride=2)")),
        M("pool-no-upsample", "pool/upsample", "Upsample missing from block 4",
          E(f"{c}.conv4", "            nn.Upsample(scale_factor=2),\n", "")),
        M("pool-hardcoded-nf", "hard-coded size", "num_filters hard-coded to 32",
          E(f"{c}.__init__", "nf, nc = num_filters, num_colours", "nf, nc = 32, num_colours")),
        M("pool-hardcoded-nc", "hard-coded size", "num_colours hard-coded to 24",
          E(f"{c}.__init__", "nf, nc = num_filters, num_colours", "nf, nc = num_filters, 24")),
        M("pool-hardcoded-nic", "hard-coded size", "num_in_channels hard-coded to 1",
          E(f"{c}.conv1", "nn.Conv2d(num_in_channels,", "nn.Conv2d(1,")),
        M("pool-hardcoded-kernel", "hard-coded size", "kernel_size=3 instead of kernel",
          E(f"{c}.__init__", "kernel_size=kernel", "kernel_size=3", count=5)),
        M("pool-bias-false", "other", "convolutions without bias",
          E(f"{c}.__init__", "padding=padding)", "padding=padding, bias=False)", count=5)),
        M("pool-final-unused", "unused layer", "final conv defined but forward skips it",
          E(f"{c}.forward", "return self.conv5(x)", "return x")),
        M("pool-softmax", "softmax", "softmax at the end of forward (before the loss)",
          E(f"{c}.forward", "return self.conv5(x)", "return torch.softmax(self.conv5(x), dim=1)")),
        M("pool-frozen", "frozen layer", "block 1's conv frozen (requires_grad False)",
          E(f"{c}.__init__", "        self.conv5 = nn.Sequential(",
            "        self.conv1[0].weight.requires_grad = False\n"
            "        self.conv5 = nn.Sequential(")),
        EQ("pool-eq-inplace-relu", "ReLU(inplace=True)",
           E(c, "nn.ReLU()", "nn.ReLU(inplace=True)", count=4)),
        EQ("pool-eq-padding-same", "padding='same' (equal for odd kernels)",
           E(c, "padding=padding)", "padding=\"same\")", count=5)),
        EQ("pool-eq-separate-attrs",
           "separate attributes, one shared pool/upsample/ReLU module, no nn.Sequential",
           E(c, None, f'''
class {c}(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        padding = kernel // 2
        self.conv1 = nn.Conv2d(num_in_channels, num_filters, kernel, padding=padding)
        self.bn1 = nn.BatchNorm2d(num_filters)
        self.conv2 = nn.Conv2d(num_filters, 2 * num_filters, kernel, padding=padding)
        self.bn2 = nn.BatchNorm2d(2 * num_filters)
        self.conv3 = nn.Conv2d(2 * num_filters, num_filters, kernel, padding=padding)
        self.bn3 = nn.BatchNorm2d(num_filters)
        self.conv4 = nn.Conv2d(num_filters, num_colours, kernel, padding=padding)
        self.bn4 = nn.BatchNorm2d(num_colours)
        self.conv5 = nn.Conv2d(num_colours, num_colours, kernel, padding=padding)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.bn1(self.pool(self.conv1(x))))
        x = self.relu(self.bn2(self.pool(self.conv2(x))))
        x = self.relu(self.bn3(self.up(self.conv3(x))))
        x = self.relu(self.bn4(self.up(self.conv4(x))))
        return self.conv5(x)
''')),
        EQ("pool-eq-functional", "F.max_pool2d, F.interpolate and F.relu in forward",
           E(c, None, f'''
class {c}(nn.Module):
    def __init__(self, kernel=3, num_filters=32, num_colours=24, num_in_channels=1):
        super().__init__()
        padding = kernel // 2
        nf = num_filters
        self.c1 = nn.Conv2d(num_in_channels, nf, kernel_size=kernel, padding=padding)
        self.n1 = nn.BatchNorm2d(nf)
        self.c2 = nn.Conv2d(nf, 2 * nf, kernel_size=kernel, padding=padding)
        self.n2 = nn.BatchNorm2d(2 * nf)
        self.c3 = nn.Conv2d(2 * nf, nf, kernel_size=kernel, padding=padding)
        self.n3 = nn.BatchNorm2d(nf)
        self.c4 = nn.Conv2d(nf, num_colours, kernel_size=kernel, padding=padding)
        self.n4 = nn.BatchNorm2d(num_colours)
        self.c5 = nn.Conv2d(num_colours, num_colours, kernel_size=kernel, padding=padding)

    def forward(self, x):
        x = F.relu(self.n1(F.max_pool2d(self.c1(x), 2)))
        x = F.relu(self.n2(F.max_pool2d(self.c2(x), kernel_size=2)))
        x = torch.relu(self.n3(F.interpolate(self.c3(x), scale_factor=2)))
        x = self.n4(F.interpolate(self.c4(x), scale_factor=2)).relu()
        return self.c5(x)
''')),
        EQ("pool-eq-one-sequential", "the whole net as one nn.Sequential",
           E(c, None, f'''
class {c}(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        p = kernel // 2
        nf, nc = num_filters, num_colours
        self.net = nn.Sequential(
            nn.Conv2d(num_in_channels, nf, kernel, padding=p), nn.MaxPool2d(2),
            nn.BatchNorm2d(nf), nn.ReLU(),
            nn.Conv2d(nf, 2 * nf, kernel, padding=p), nn.MaxPool2d(2),
            nn.BatchNorm2d(2 * nf), nn.ReLU(),
            nn.Conv2d(2 * nf, nf, kernel, padding=p), nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nf), nn.ReLU(),
            nn.Conv2d(nf, nc, kernel, padding=p), nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nc), nn.ReLU(),
            nn.Conv2d(nc, nc, kernel, padding=p),
        )

    def forward(self, x):
        return self.net(x)
''')),
    ]


def _strided_down(in_ch: str, out_ch: str, *, stride: str = "2", padding: str = "1",
                  bn: bool = True, relu: bool = True, relu_first: bool = False) -> str:
    conv = (f"nn.Conv2d({in_ch}, {out_ch}, kernel_size=kernel, stride={stride}, "
            f"padding={padding})")
    return _block(conv, out_ch, bn=bn, relu=relu, relu_first=relu_first)


def _transposed_up(in_ch: str, out_ch: str, *, output_padding: str = "1", bn: bool = True,
                   relu: bool = True) -> str:
    conv = (f"nn.ConvTranspose2d({in_ch}, {out_ch}, kernel_size=kernel, stride=2, padding=1, "
            f"output_padding={output_padding})")
    return _block(conv, out_ch, bn=bn, relu=relu)


def _block(first: str, channels: str, *, bn: bool = True, relu: bool = True,
           relu_first: bool = False, extra: Iterable[str] = ()) -> str:
    layers = [first, *extra]
    tail = [f"nn.BatchNorm2d({channels})"] * bn + ["nn.ReLU()"] * relu
    layers += tail[::-1] if relu_first else tail
    return "nn.Sequential(" + ", ".join(layers) + ")"


def _conv_transpose(c: str) -> list[Spec]:
    """ConvTransposeNet (2021-2025 section 5)."""
    init = f"{c}.__init__"
    return [
        M("ct-no-bn", "normalisation", "BatchNorm2d missing after the first transposed conv",
          E(init, "self.upconv1 = _up(2 * nf, nf, kernel)",
            "self.upconv1 = " + _transposed_up("2 * nf", "nf", bn=False))),
        M("ct-no-relu", "activation", "ReLU missing from the second strided conv block",
          E(init, "self.conv2 = _down(nf, 2 * nf, kernel)",
            "self.conv2 = " + _strided_down("nf", "2 * nf", relu=False))),
        M("ct-relu-before-bn", "order", "block 1 applies ReLU before BatchNorm",
          E(init, "self.conv1 = _down(num_in_channels, nf, kernel)",
            "self.conv1 = " + _strided_down("num_in_channels", "nf", relu_first=True))),
        M("ct-extra-bn-final", "normalisation", "BatchNorm2d after the final conv",
          E(f"{c}.finalconv", "padding=kernel // 2),\n",
            "padding=kernel // 2),\n            nn.BatchNorm2d(nc),\n")),
        M("ct-output-padding-0", "padding/stride", "output_padding 0 in the last transposed conv",
          E(init, "self.upconv2 = _up(nf, nc, kernel)",
            "self.upconv2 = " + _transposed_up("nf", "nc", output_padding="0"))),
        M("ct-padding-0", "padding/stride", "padding 0 in the first strided conv",
          E(init, "self.conv1 = _down(num_in_channels, nf, kernel)",
            "self.conv1 = " + _strided_down("num_in_channels", "nf", padding="0"))),
        M("ct-stride-1", "padding/stride", "stride 1 in the second strided conv",
          E(init, "self.conv2 = _down(nf, 2 * nf, kernel)",
            "self.conv2 = " + _strided_down("nf", "2 * nf", stride="1"))),
        M("ct-maxpool-not-stride", "pool/upsample",
          "block 1 downsamples with MaxPool2d after a stride-1 conv instead of a strided conv",
          E(init, "self.conv1 = _down(num_in_channels, nf, kernel)",
            "self.conv1 = " + _block("nn.Conv2d(num_in_channels, nf, kernel_size=kernel, "
                                     "padding=1)", "nf", extra=["nn.MaxPool2d(2)"]))),
        M("ct-upsample-conv", "transposed conv",
          "Upsample + Conv2d instead of the first ConvTranspose2d (same shapes and params)",
          E(init, "self.upconv1 = _up(2 * nf, nf, kernel)",
            "self.upconv1 = nn.Sequential(nn.Upsample(scale_factor=2), "
            "nn.Conv2d(2 * nf, nf, kernel_size=kernel, padding=1), nn.BatchNorm2d(nf), "
            "nn.ReLU())")),
        M("ct-hardcoded-nic", "hard-coded size", "num_in_channels hard-coded to 1",
          E(init, "_down(num_in_channels, nf, kernel)", "_down(1, nf, kernel)")),
        M("ct-hardcoded-nf", "hard-coded size", "num_filters hard-coded to 32",
          E(init, "nf, nc = num_filters, num_colours", "nf, nc = 32, num_colours")),
        M("ct-hardcoded-nc", "hard-coded size", "num_colours hard-coded to 24",
          E(init, "nf, nc = num_filters, num_colours", "nf, nc = num_filters, 24")),
        M("ct-final-kernel-1", "hard-coded size", "final conv with kernel 1",
          E(f"{c}.finalconv", "kernel_size=kernel, padding=kernel // 2",
            "kernel_size=1")),
        M("ct-final-unused", "unused layer", "finalconv defined but forward skips it",
          E(f"{c}.forward", "        x = self.upconv2(x)\n        return self.finalconv(x)",
            "        return self.upconv2(x)")),
        M("ct-softmax", "softmax", "softmax at the end of forward (before the loss)",
          E(f"{c}.forward", "return self.finalconv(x)",
            "return F.softmax(self.finalconv(x), dim=1)")),
        M("ct-frozen", "frozen layer", "the final conv frozen (requires_grad False)",
          E(init, "            nn.Conv2d(nc, nc, kernel_size=kernel, padding=kernel // 2),\n"
                  "        )\n",
            "            nn.Conv2d(nc, nc, kernel_size=kernel, padding=kernel // 2),\n"
            "        )\n        self.finalconv.requires_grad_(False)\n")),
        EQ("ct-eq-padding-same", "padding='same' in the final conv",
           E(f"{c}.finalconv", "padding=kernel // 2", "padding=\"same\"")),
        EQ("ct-eq-starter-locals",
           "separate attributes with the starter's stride/padding/output_padding locals, "
           "F.relu in forward",
           E(c, None, f'''
class {c}(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        stride = 2
        padding = kernel // 2
        output_padding = 1
        nf, nc = num_filters, num_colours
        self.conv1 = nn.Conv2d(num_in_channels, nf, kernel, stride=stride, padding=padding)
        self.bn1 = nn.BatchNorm2d(nf)
        self.conv2 = nn.Conv2d(nf, 2 * nf, kernel, stride=stride, padding=padding)
        self.bn2 = nn.BatchNorm2d(2 * nf)
        self.up1 = nn.ConvTranspose2d(2 * nf, nf, kernel, stride=stride, padding=padding,
                                      output_padding=output_padding)
        self.bn3 = nn.BatchNorm2d(nf)
        self.up2 = nn.ConvTranspose2d(nf, nc, kernel, stride=stride, padding=padding,
                                      output_padding=output_padding)
        self.bn4 = nn.BatchNorm2d(nc)
        self.final = nn.Conv2d(nc, nc, kernel, padding=padding)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.up1(x)))
        x = F.relu(self.bn4(self.up2(x)))
        return self.final(x)
''')),
        EQ("ct-eq-inplace-relu", "x.relu_() in forward instead of ReLU modules",
           E(init, "self.conv1 = _down(num_in_channels, nf, kernel)",
             "self.conv1 = " + _strided_down("num_in_channels", "nf", relu=False)),
           E(f"{c}.forward", "        x = self.conv1(x)\n", "        x = self.conv1(x).relu_()\n")),
    ]


def _unet_2023(c: str) -> list[Spec]:
    """UNet (2021-2023 section 6): skips block 1 -> upconv2 and image -> final conv."""
    init, fwd = f"{c}.__init__", f"{c}.forward"
    return [
        M("unet-no-skip", "skip connection", "block-1 skip dropped (upconv2 takes only x3)",
          E(init, "_up(nf + nf, nc, kernel)", "_up(nf, nc, kernel)"),
          E(fwd, "self.upconv2(torch.cat([x1, x3], dim=1))", "self.upconv2(x3)")),
        M("unet-no-image-skip", "skip connection", "image skip into the final conv dropped",
          E(init, "nn.Conv2d(num_in_channels + nc, nc,", "nn.Conv2d(nc, nc,"),
          E(fwd, "self.finalconv(torch.cat([x, x4], dim=1))", "self.finalconv(x4)")),
        M("unet-add-skip", "skip connection", "block-1 skip added instead of concatenated",
          E(init, "_up(nf + nf, nc, kernel)", "_up(nf, nc, kernel)"),
          E(fwd, "torch.cat([x1, x3], dim=1)", "x1 + x3")),
        M("unet-skip-wrong-layer", "skip connection",
          "the skip concatenates x3 with itself instead of with block 1's output",
          E(fwd, "torch.cat([x1, x3], dim=1)", "torch.cat([x3, x3], dim=1)")),
        M("unet-extra-bottleneck-skip", "skip connection",
          "an extra skip at the 8x8 bottleneck (x2 concatenated into upconv1)",
          E(init, "_up(2 * nf, nf, kernel)", "_up(4 * nf, nf, kernel)"),
          E(fwd, "self.upconv1(x2)", "self.upconv1(torch.cat([x2, x2], dim=1))")),
        M("unet-cat-dim0", "skip connection", "concatenation along the batch dimension",
          E(fwd, "torch.cat([x1, x3], dim=1)", "torch.cat([x1, x3], dim=0)")),
        M("unet-no-bn", "normalisation", "BatchNorm2d missing after the second transposed conv",
          E(init, "self.upconv2 = _up(nf + nf, nc, kernel)",
            "self.upconv2 = " + _transposed_up("nf + nf", "nc", bn=False))),
        M("unet-no-relu", "activation", "ReLU missing from block 1",
          E(init, "self.conv1 = _down(num_in_channels, nf, kernel)",
            "self.conv1 = " + _strided_down("num_in_channels", "nf", relu=False))),
        M("unet-relu-before-bn", "order", "block 2 applies ReLU before BatchNorm",
          E(init, "self.conv2 = _down(nf, 2 * nf, kernel)",
            "self.conv2 = " + _strided_down("nf", "2 * nf", relu_first=True))),
        M("unet-output-padding-0", "padding/stride",
          "output_padding 0 in the first transposed conv",
          E(init, "self.upconv1 = _up(2 * nf, nf, kernel)",
            "self.upconv1 = " + _transposed_up("2 * nf", "nf", output_padding="0"))),
        M("unet-upsample-conv", "transposed conv",
          "Upsample + Conv2d instead of the second ConvTranspose2d",
          E(init, "self.upconv2 = _up(nf + nf, nc, kernel)",
            "self.upconv2 = nn.Sequential(nn.Upsample(scale_factor=2), "
            "nn.Conv2d(nf + nf, nc, kernel_size=kernel, padding=1), nn.BatchNorm2d(nc), "
            "nn.ReLU())")),
        M("unet-hardcoded-nic", "hard-coded size",
          "num_in_channels hard-coded to 1 in the final conv",
          E(init, "nn.Conv2d(num_in_channels + nc,", "nn.Conv2d(1 + nc,")),
        M("unet-hardcoded-nf", "hard-coded size", "num_filters hard-coded to 32",
          E(init, "nf, nc = num_filters, num_colours", "nf, nc = 32, num_colours")),
        M("unet-final-unused", "unused layer", "finalconv defined but forward returns x4",
          E(fwd, "return self.finalconv(torch.cat([x, x4], dim=1))", "return x4")),
        M("unet-softmax", "softmax", "softmax at the end of forward (before the loss)",
          E(fwd, "return self.finalconv(torch.cat([x, x4], dim=1))",
            "return torch.softmax(self.finalconv(torch.cat([x, x4], dim=1)), 1)")),
        M("unet-frozen", "frozen layer", "block 1 frozen (requires_grad False)",
          E(init, "        self.conv2 = _down(",
            "        self.conv1.requires_grad_(False)\n        self.conv2 = _down(")),
        EQ("unet-eq-cat-order", "decoder tensor first in both concatenations",
           E(fwd, "torch.cat([x1, x3], dim=1)", "torch.cat([x3, x1], dim=1)"),
           E(fwd, "torch.cat([x, x4], dim=1)", "torch.cat([x4, x], dim=1)")),
        EQ("unet-eq-rewrite",
           "separate attributes, F.relu, torch.concat with a positional dim",
           E(c, None, f'''
class {c}(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        stride, padding, output_padding = 2, kernel // 2, 1
        nf, nc = num_filters, num_colours
        self.down1 = nn.Conv2d(num_in_channels, nf, kernel, stride, padding)
        self.bn1 = nn.BatchNorm2d(nf)
        self.down2 = nn.Conv2d(nf, 2 * nf, kernel, stride, padding)
        self.bn2 = nn.BatchNorm2d(2 * nf)
        self.up1 = nn.ConvTranspose2d(2 * nf, nf, kernel, stride, padding, output_padding)
        self.bn3 = nn.BatchNorm2d(nf)
        self.up2 = nn.ConvTranspose2d(2 * nf, nc, kernel, stride, padding, output_padding)
        self.bn4 = nn.BatchNorm2d(nc)
        self.final = nn.Conv2d(num_in_channels + nc, nc, kernel, padding=padding)

    def forward(self, x):
        x1 = F.relu(self.bn1(self.down1(x)))
        x2 = F.relu(self.bn2(self.down2(x1)))
        x3 = F.relu(self.bn3(self.up1(x2)))
        x4 = F.relu(self.bn4(self.up2(torch.concat((x1, x3), 1))))
        return self.final(torch.concat((x, x4), 1))
''')),
        EQ("unet-eq-inplace-relu", "ReLU(inplace=True) in the shared block helpers",
           E("_down", "nn.ReLU()", "nn.ReLU(inplace=True)"),
           E("_up", "nn.ReLU()", "nn.ReLU(inplace=True)")),
    ]


def _cnn_2020(c: str) -> list[Spec]:
    """CNN (2020 Part A), built from the provided MyConv2d."""
    init, fwd = f"{c}.__init__", f"{c}.forward"
    return [
        M("cnn-no-bn", "normalisation", "BatchNorm2d missing from rfconv",
          E(f"{c}.rfconv", "            nn.BatchNorm2d(2 * nf),\n", "")),
        M("cnn-no-relu", "activation", "ReLU missing from upconv1",
          E(f"{c}.upconv1", RELU, "")),
        M("cnn-extra-relu-final", "activation", "ReLU after the final conv",
          E(init, "self.finalconv = MyConv2d(nc, nc, kernel)",
            "self.finalconv = nn.Sequential(MyConv2d(nc, nc, kernel), nn.ReLU())")),
        M("cnn-relu-before-bn", "order", "downconv2 applies ReLU before BatchNorm",
          E(f"{c}.downconv2", "            nn.BatchNorm2d(2 * nf),\n" + RELU,
            RELU + "            nn.BatchNorm2d(2 * nf),\n")),
        M("cnn-pool-after-bn-relu", "order",
          "downconv1 is conv -> BN -> ReLU -> pool (handout: conv -> pool -> BN -> ReLU)",
          E(f"{c}.downconv1", "            nn.MaxPool2d(2),\n            nn.BatchNorm2d(nf),\n"
            + RELU, "            nn.BatchNorm2d(nf),\n" + RELU + "            nn.MaxPool2d(2),\n")),
        M("cnn-nn-conv2d", "provided layer", "nn.Conv2d instead of the provided MyConv2d in rfconv",
          E(f"{c}.rfconv", "MyConv2d(2 * nf, 2 * nf, kernel, padding=padding)",
            "nn.Conv2d(2 * nf, 2 * nf, kernel, padding=padding)")),
        M("cnn-no-rfconv", "missing block", "rfconv block left out of the net",
          E(fwd, "self.out3 = self.rfconv(self.out2)", "self.out3 = self.out2")),
        M("cnn-final-padding-0", "padding/stride", "final conv with padding 0",
          E(init, "MyConv2d(nc, nc, kernel)", "MyConv2d(nc, nc, kernel, padding=0)")),
        M("cnn-padding-hardcoded", "hard-coded size", "padding = 1 (right only for kernel 3)",
          E(init, "padding = kernel // 2", "padding = 1")),
        M("cnn-avgpool", "pool/upsample", "AvgPool2d instead of MaxPool2d in downconv1",
          E(f"{c}.downconv1", "nn.MaxPool2d(2)", "nn.AvgPool2d(2)")),
        M("cnn-bilinear", "pool/upsample", "bilinear upsampling in upconv2",
          E(f"{c}.upconv2", "nn.Upsample(scale_factor=2)",
            "nn.Upsample(scale_factor=2, mode=\"bilinear\")")),
        M("cnn-hardcoded-nf", "hard-coded size", "num_filters hard-coded to 32",
          E(init, "nf, nc = num_filters, num_colours", "nf, nc = 32, num_colours")),
        M("cnn-hardcoded-nc", "hard-coded size", "num_colours hard-coded to 24",
          E(init, "nf, nc = num_filters, num_colours", "nf, nc = num_filters, 24")),
        M("cnn-hardcoded-nic", "hard-coded size", "num_in_channels hard-coded to 1",
          E(f"{c}.downconv1", "MyConv2d(num_in_channels,", "MyConv2d(1,")),
        M("cnn-hardcoded-kernel", "hard-coded size", "kernel 3 hard-coded in rfconv",
          E(f"{c}.rfconv", "MyConv2d(2 * nf, 2 * nf, kernel,", "MyConv2d(2 * nf, 2 * nf, 3,")),
        M("cnn-final-unused", "unused layer", "finalconv defined but forward returns out5",
          E(fwd, "return self.out_final", "return self.out5")),
        M("cnn-softmax", "softmax", "softmax at the end of forward (before the loss)",
          E(fwd, "return self.out_final", "return F.softmax(self.out_final, dim=1)")),
        M("cnn-frozen", "frozen layer", "upconv2 frozen (requires_grad False)",
          E(init, "self.finalconv = MyConv2d(nc, nc, kernel)",
            "self.finalconv = MyConv2d(nc, nc, kernel)\n"
            "        for p in self.upconv2.parameters():\n            p.requires_grad = False")),
        EQ("cnn-eq-default-padding", "MyConv2d's default padding instead of padding=padding",
           E(init, ", padding=padding)", ")", count=5)),
        EQ("cnn-eq-inplace-relu", "ReLU(inplace=True)",
           E(init, "nn.ReLU()", "nn.ReLU(inplace=True)", count=5)),
        EQ("cnn-eq-functional",
           "separate MyConv2d/BatchNorm2d attributes, F.max_pool2d, F.interpolate, F.relu",
           E(c, None, f'''
class {c}(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        nf, nc = num_filters, num_colours
        self.conv1 = MyConv2d(num_in_channels, nf, kernel)
        self.bn1 = nn.BatchNorm2d(nf)
        self.conv2 = MyConv2d(nf, 2 * nf, kernel)
        self.bn2 = nn.BatchNorm2d(2 * nf)
        self.conv3 = MyConv2d(2 * nf, 2 * nf, kernel)
        self.bn3 = nn.BatchNorm2d(2 * nf)
        self.conv4 = MyConv2d(2 * nf, nf, kernel)
        self.bn4 = nn.BatchNorm2d(nf)
        self.conv5 = MyConv2d(nf, nc, kernel)
        self.bn5 = nn.BatchNorm2d(nc)
        self.conv6 = MyConv2d(nc, nc, kernel)

    def forward(self, x):
        self.out1 = F.relu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        self.out2 = F.relu(self.bn2(F.max_pool2d(self.conv2(self.out1), 2)))
        self.out3 = F.relu(self.bn3(self.conv3(self.out2)))
        self.out4 = F.relu(self.bn4(F.interpolate(self.conv4(self.out3), scale_factor=2)))
        self.out5 = F.relu(self.bn5(F.interpolate(self.conv5(self.out4), scale_factor=2)))
        return self.conv6(self.out5)
''')),
    ]


def _unet_2020(c: str) -> list[Spec]:
    """UNet (2020 Part B): skips 3+2 -> 4, 4+1 -> 5, image -> final conv, from MyConv2d."""
    init, fwd = f"{c}.__init__", f"{c}.forward"
    return [
        M("unet20-no-skip", "skip connection", "the 3+2 skip dropped (upconv1 takes out3 only)",
          E(init, "MyConv2d(2 * nf + 2 * nf, nf, kernel)", "MyConv2d(2 * nf, nf, kernel)"),
          E(fwd, "self.upconv1(torch.cat((self.out3, self.out2), dim=1))",
            "self.upconv1(self.out3)")),
        M("unet20-no-image-skip", "skip connection", "image skip into the final conv dropped",
          E(init, "MyConv2d(nc + num_in_channels, nc, kernel)", "MyConv2d(nc, nc, kernel)"),
          E(fwd, "self.finalconv(torch.cat((self.out5, x), dim=1))",
            "self.finalconv(self.out5)")),
        M("unet20-add-skip", "skip connection", "the 4+1 skip added instead of concatenated",
          E(init, "MyConv2d(nf + nf, nc, kernel)", "MyConv2d(nf, nc, kernel)"),
          E(fwd, "torch.cat((self.out4, self.out1), dim=1)", "self.out4 + self.out1")),
        M("unet20-skip-wrong-layer", "skip connection",
          "the second skip concatenates out4 with itself instead of out1",
          E(fwd, "torch.cat((self.out4, self.out1), dim=1)",
            "torch.cat((self.out4, self.out4), dim=1)")),
        M("unet20-nn-conv2d", "provided layer", "nn.Conv2d instead of MyConv2d in the final conv",
          E(init, "MyConv2d(nc + num_in_channels, nc, kernel)",
            "nn.Conv2d(nc + num_in_channels, nc, kernel, padding=kernel // 2)")),
        M("unet20-no-bn", "normalisation", "BatchNorm2d missing from upconv2",
          E(f"{c}.upconv2", "            nn.BatchNorm2d(nc),\n", "")),
        M("unet20-relu-before-bn", "order", "downconv1 applies ReLU before BatchNorm",
          E(f"{c}.downconv1", "            nn.BatchNorm2d(nf),\n" + RELU,
            RELU + "            nn.BatchNorm2d(nf),\n")),
        M("unet20-hardcoded-nic", "hard-coded size", "num_in_channels hard-coded to 1 in the "
          "final conv", E(init, "MyConv2d(nc + num_in_channels,", "MyConv2d(nc + 1,")),
        M("unet20-hardcoded-nf", "hard-coded size", "num_filters hard-coded to 32",
          E(init, "nf, nc = num_filters, num_colours", "nf, nc = 32, num_colours")),
        M("unet20-final-unused", "unused layer", "finalconv defined but forward returns out5",
          E(fwd, "return self.out_final", "return self.out5")),
        M("unet20-softmax", "softmax", "softmax at the end of forward (before the loss)",
          E(fwd, "return self.out_final", "return self.out_final.softmax(dim=1)")),
        M("unet20-frozen", "frozen layer", "rfconv frozen (requires_grad False)",
          E(init, "        self.upconv1 = nn.Sequential(",
            "        self.rfconv.requires_grad_(False)\n        self.upconv1 = nn.Sequential(")),
        EQ("unet20-eq-cat-order", "skip tensor first in the two decoder concatenations",
           E(fwd, "torch.cat((self.out3, self.out2), dim=1)",
             "torch.cat((self.out2, self.out3), dim=1)"),
           E(fwd, "torch.cat((self.out4, self.out1), dim=1)",
             "torch.cat((self.out1, self.out4), dim=1)")),
        EQ("unet20-eq-inplace-relu", "ReLU(inplace=True)",
           E(init, "nn.ReLU()", "nn.ReLU(inplace=True)", count=5)),
    ]


FT_TRAIN = "cell:def train(args, model):"
FT_SETUP = "cell:model.requires_grad_(False)"


def _finetune_2020(c: str) -> list[Spec]:
    """2020 Part C: fine-tune DeepLabV3 with a new 2-class head, backbone frozen."""
    return [
        M("ft-optimise-all", "fine-tuning", "the optimiser gets every parameter, not classifier.4",
          E(FT_TRAIN, "torch.optim.Adam(learned_parameters, lr=args.learn_rate)",
            "torch.optim.Adam(model.parameters(), lr=args.learn_rate)")),
        M("ft-wrong-layer", "fine-tuning", "classifier.1 trained instead of the new head",
          E(FT_TRAIN, 'name.startswith("classifier.4")', 'name.startswith("classifier.1")')),
        M("ft-backbone-not-frozen", "fine-tuning", "backbone not frozen (no requires_grad_(False))",
          E(FT_SETUP, "model.requires_grad_(False)\n", "")),
        M("ft-head-not-replaced", "fine-tuning", "head not replaced (21-class head kept)",
          E(FT_SETUP, "model.classifier[4] = nn.Conv2d(256, 2, kernel_size=1)\n", "")),
        M("ft-head-wrong-kernel", "fine-tuning", "new head is a 3x3 convolution",
          E(FT_SETUP, "nn.Conv2d(256, 2, kernel_size=1)", "nn.Conv2d(256, 2, kernel_size=3, "
            "padding=1)")),
        EQ("ft-eq-freeze-loop", "freezing with a loop over parameters; head built positionally",
           E(FT_SETUP, "nn.Conv2d(256, 2, kernel_size=1)", "nn.Conv2d(256, 2, 1)"),
           E(FT_SETUP, "model.requires_grad_(False)\n",
             "for p in model.parameters():\n    p.requires_grad = False\n")),
        EQ("ft-eq-filter-trainable", "optimiser over the parameters that require grad",
           E(FT_TRAIN, "torch.optim.Adam(learned_parameters, lr=args.learn_rate)",
             "torch.optim.Adam([p for p in model.parameters() if p.requires_grad], "
             "lr=args.learn_rate)")),
    ]


# reference name of a rubric target -> the mutants for it
FAMILIES: dict[str, Callable[[str], list[Spec]]] = {
    "PoolUpsampleNet": _pool_upsample,
    "ConvTransposeNet": _conv_transpose,
    "UNet": _unet_2023,
    "CNN": _cnn_2020,
    "UNet2020": _unet_2020,
    # the 2020 fine-tuning target, under the names the rubric has used for its reference
    "run_finetune": _finetune_2020,
    "finetune_train": _finetune_2020,
}


def mutants_for_targets(targets: Mapping[str, str]) -> list[Mutant]:
    """Mutants for {rubric target name: reference name}; targets with no family get none."""
    out: list[Mutant] = []
    for name, reference in targets.items():
        family = FAMILIES.get(reference)
        if family is None:
            continue
        # The class name in the notebook is the target's: the reference notebook names its
        # 2020 UNet `UNet` as students did, whatever the reference package calls it.
        for mid, category, description, equivalent, edits in family(name):
            out.append(Mutant(mid, name, description, category, equivalent, tuple(edits)))
    ids = [m.id for m in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise MutantError(f"duplicate mutant ids: {', '.join(dupes)}")
    return out


def mutants_for(rubric: Any) -> list[Mutant]:
    """Mutants for a loaded `grader.rubric.schema.Rubric`."""
    return mutants_for_targets({name: t.reference for name, t in rubric.targets.items()})


def reference_notebook_path(rubric_id: str, root: Path | None = None) -> Path:
    path = (root or REFERENCE_DIR) / rubric_id / "reference.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no reference notebook for rubric '{rubric_id}' at {path}")
    return path
