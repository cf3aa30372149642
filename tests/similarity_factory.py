"""Generated student code for the similarity report: independent solutions and disguised copies.

Independent solutions are correct implementations of the 2023 handout's PoolUpsampleNet,
ConvTransposeNet and UNet, each written in a style drawn from the choices students make:
how layers are grouped (`nn.Sequential` blocks, one attribute per layer, a module-level helper,
a helper method, an `nn.ModuleList`), the activation (`nn.ReLU()`, `F.relu`, `torch.relu`),
positional or keyword arguments, how channel counts and padding are written, how the upsampling
is done, how `forward` threads the tensor through, and the names. Nothing is copied from real
submissions: every template here is written for this generator.

Copies take one solution and disguise it: renaming every name the student chose, reordering
the independent lines of `__init__`, reformatting, adding comments. `restructured` goes further
(the same design re-rendered with another layer grouping and new names), the limit of what a
token-level comparison can be expected to see.
"""

from __future__ import annotations

import ast
import io
import json
import random
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

TARGETS = ("PoolUpsampleNet", "ConvTransposeNet", "UNet")
SIGNATURE = "kernel, num_filters, num_colours, num_in_channels"
LAYOUTS = ("sequential", "explicit", "helper", "method", "modulelist")
FORWARDS = ("chain", "named", "nested")
PREFIXES = ("conv", "block", "layer", "down", "stage", "enc", "l", "part", "step", "unit")
HELPERS = ("block", "make_block", "conv_block", "build", "cbr", "layer_group", "unit")
TEMPS = ("x", "out", "h", "y", "z", "feat", "t")
IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

# One block: the convolution, the channels in and out (symbolic), what follows it.
# conv: a 'same' convolution; down: stride-2 convolution; up: stride-2 transposed convolution.
ARCH = {
    "PoolUpsampleNet": [("conv", "NIC", "NF", "pool"), ("conv", "NF", "2NF", "pool"),
                        ("conv", "2NF", "NF", "upsample"), ("conv", "NF", "NC", "upsample"),
                        ("conv", "NC", "NC", "final")],
    "ConvTransposeNet": [("down", "NIC", "NF", ""), ("down", "NF", "2NF", ""),
                         ("up", "2NF", "NF", ""), ("up", "NF", "NC", ""),
                         ("conv", "NC", "NC", "final")],
    "UNet": [("down", "NIC", "NF", ""), ("down", "NF", "2NF", ""), ("up", "2NF", "NF", ""),
             ("up", "NF+NF", "NC", ""), ("conv", "NIC+NC", "NC", "final")],
}


@dataclass(frozen=True)
class Style:
    """The choices one student makes; every field changes the code they write."""

    layout: str
    activation: str      # module | functional | torch
    keywords: bool       # nn.Conv2d(in_channels=..., ...) rather than positional
    doubled: str         # how 2*NF is written: "2 * {nf}", "{nf} * 2", a local
    alias_nf: bool       # nf = num_filters first
    inline_padding: bool  # kernel // 2 inline rather than the starter's `padding`
    upsample: str        # module | functional | nearest2d
    forward: str
    prefix: str
    helper: str
    temp: str
    final_in_sequential: bool
    shared_pool: bool    # one pool/upsample attribute reused (explicit layout)
    cat_tuple: bool      # torch.cat((a, b), dim=1) rather than a list
    relu_inplace: bool   # nn.ReLU(inplace=True)
    store_hparams: bool  # self.kernel = kernel, ... kept on the module
    alias_nc: bool       # nc = num_colours first
    starter_locals: bool  # the starter's stride / output_padding locals used in the calls
    helper_body: str     # append | direct | unpack: how a helper builds its block
    stepwise: bool       # explicit layout: one line per layer in forward

    @classmethod
    def draw(cls, rng: random.Random) -> Style:
        layout = rng.choice(LAYOUTS)
        activation = rng.choice(("module", "functional", "torch") if layout == "explicit"
                                else ("module",))
        return cls(layout=layout, activation=activation, keywords=rng.random() < 0.4,
                   doubled=rng.choice(("2 * {nf}", "{nf} * 2", "local")),
                   alias_nf=rng.random() < 0.5, inline_padding=rng.random() < 0.4,
                   upsample=rng.choice(("module", "nearest2d") if layout != "explicit"
                                       else ("module", "functional", "nearest2d")),
                   forward=rng.choice(FORWARDS), prefix=rng.choice(PREFIXES),
                   helper=rng.choice(HELPERS), temp=rng.choice(TEMPS),
                   final_in_sequential=rng.random() < 0.5, shared_pool=rng.random() < 0.5,
                   cat_tuple=rng.random() < 0.5, relu_inplace=rng.random() < 0.3,
                   store_hparams=rng.random() < 0.25, alias_nc=rng.random() < 0.4,
                   starter_locals=rng.random() < 0.5,
                   helper_body=rng.choice(("append", "direct", "unpack")),
                   stepwise=rng.random() < 0.5)

    def shape(self) -> tuple:
        """The style without its names: two students with the same shape write the same
        program up to renaming, which no comparison of code can tell from a copy."""
        return (*(getattr(self, f) for f in self.__dataclass_fields__
                  if f not in ("prefix", "helper", "temp")),)


class _Writer:
    """Renders one target in one style."""

    def __init__(self, style: Style, target: str) -> None:
        self.s, self.target = style, target
        self.nf = "nf" if style.alias_nf else "num_filters"

    def channels(self, symbol: str) -> str:
        nf = self.nf
        doubled = ("nf2" if self.s.doubled == "local" else self.s.doubled.format(nf=nf))
        nc = "nc" if self.s.alias_nc else "num_colours"
        table = {"NIC": "num_in_channels", "NF": nf, "NC": nc, "2NF": doubled,
                 "NF+NF": f"{nf} + {nf}", "NIC+NC": f"num_in_channels + {nc}"}
        return table[symbol]

    def call(self, name: str, positional: list[tuple[str, str]], named: list[tuple[str, str]]
             ) -> str:
        if self.s.keywords:
            parts = [f"{k}={v}" for k, v in positional + named]
        else:
            parts = [v for _, v in positional] + [f"{k}={v}" for k, v in named]
        return f"{name}({', '.join(parts)})"

    def conv(self, kind: str, cin: str, cout: str, pad: str | None = None,
             helper: bool = False) -> str:
        """The block's convolution from `cin` to `cout` channels (expressions)."""
        io_ = [("in_channels", cin), ("out_channels", cout)]
        pad = pad or ("kernel // 2" if self.s.inline_padding else "padding")
        if kind == "conv":
            return self.call("nn.Conv2d", io_, [("kernel_size", "kernel"), ("padding", pad)])
        stride, extra = (("stride", "output_padding") if self.s.starter_locals and not helper
                         else ("2", "1"))
        if kind == "down":
            return self.call("nn.Conv2d", io_, [("kernel_size", "kernel"), ("stride", stride),
                                                ("padding", "1")])
        return self.call("nn.ConvTranspose2d", io_, [("kernel_size", "kernel"),
                                                     ("stride", stride), ("padding", "1"),
                                                     ("output_padding", extra)])

    def resample(self, post: str) -> str:
        if post == "pool":
            return "nn.MaxPool2d(2)" if not self.s.keywords else "nn.MaxPool2d(kernel_size=2)"
        if self.s.upsample == "nearest2d":
            return "nn.UpsamplingNearest2d(scale_factor=2)"
        return "nn.Upsample(scale_factor=2)"

    def block_layers(self, block: tuple[str, str, str, str]) -> list[str]:
        kind, cin, cout, post = block
        layers = [self.conv(kind, self.channels(cin), self.channels(cout))]
        if post == "final":
            return layers
        if post:
            layers.append(self.resample(post))
        layers.append(self.call("nn.BatchNorm2d", [("num_features", self.channels(cout))], []))
        layers.append(self.relu())
        return layers

    def relu(self) -> str:
        return "nn.ReLU(inplace=True)" if self.s.relu_inplace else "nn.ReLU()"

    def preamble(self) -> list[str]:
        lines = ["super().__init__()"]
        if self.target == "PoolUpsampleNet" and not self.s.inline_padding:
            lines.append("padding = kernel // 2")
        if self.target != "PoolUpsampleNet":
            lines += ["stride = 2", "padding = kernel // 2", "output_padding = 1"]
        if self.s.store_hparams:
            lines += [f"self.{n} = {n}" for n in SIGNATURE.split(", ")]
        if self.s.alias_nf:
            lines.append("nf = num_filters")
        if self.s.alias_nc:
            lines.append("nc = num_colours")
        if self.s.doubled == "local":
            lines.append(f"nf2 = 2 * {self.nf}")
        return lines

    # ---- layouts -------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [f"{self.s.prefix}{i}" for i in range(1, 6)]

    def sequential(self, layers: list[str], indent: str) -> str:
        inner = (",\n" + indent + "    ").join(layers)
        return f"nn.Sequential(\n{indent}    {inner},\n{indent})"

    def init_body(self) -> tuple[list[str], list[str]]:
        """(__init__ lines after the preamble, module-level helper lines)."""
        blocks, names, s = ARCH[self.target], self.names(), self.s
        body: list[str] = []
        helpers: list[str] = []
        if s.layout == "sequential":
            for name, block in zip(names, blocks, strict=True):
                layers = self.block_layers(block)
                value = (layers[0] if len(layers) == 1 and not s.final_in_sequential
                         else self.sequential(layers, "        "))
                body.append(f"self.{name} = {value}")
        elif s.layout in ("helper", "method"):
            qualifier = "self._" if s.layout == "method" else ""
            for name, block in zip(names, blocks, strict=True):
                kind, cin, cout, post = block
                if post == "final":
                    body.append(f"self.{name} = "
                                f"{self.conv(kind, self.channels(cin), self.channels(cout))}")
                    continue
                extra = f", {post!r}" if post else ""
                body.append(f"self.{name} = {qualifier}{s.helper}_{kind}("
                            f"{self.channels(cin)}, {self.channels(cout)}, kernel{extra})")
            helpers = self.helper_defs()
        elif s.layout == "modulelist":
            items = []
            for block in blocks:
                layers = self.block_layers(block)
                items.append(self.sequential(layers, "            "))
            body.append(f"self.{s.prefix}s = nn.ModuleList([\n            "
                        + ",\n            ".join(items) + ",\n        ])")
        else:   # explicit: one attribute per layer
            for i, block in enumerate(blocks, start=1):
                kind, cin, cout, post = block
                body.append(f"self.{s.prefix}{i} = "
                            f"{self.conv(kind, self.channels(cin), self.channels(cout))}")
                if post in ("pool", "upsample") and not s.shared_pool and (
                        post == "pool" or s.upsample != "functional"):
                    body.append(f"self.{post}{i} = {self.resample(post)}")
                if post != "final":
                    body.append(f"self.bn{i} = nn.BatchNorm2d({self.channels(cout)})")
            if s.shared_pool and self.target == "PoolUpsampleNet":
                body.append(f"self.pool = {self.resample('pool')}")
                if s.upsample != "functional":
                    body.append(f"self.upsample = {self.resample('upsample')}")
            if s.activation == "module":
                body.append(f"self.relu = {self.relu()}")
        return body, helpers

    def helper_defs(self) -> list[str]:
        s = self.s
        kinds = sorted({b[0] for b in ARCH[self.target] if b[3] != "final"})
        out: list[str] = []
        for kind in kinds:
            posts = {b[3] for b in ARCH[self.target] if b[0] == kind and b[3] != "final"}
            params = "cin, cout, kernel" + (", post" if posts - {""} else "")
            conv = self.conv(kind, "cin", "cout", pad="kernel // 2", helper=True)
            pool, up = self.resample("pool"), self.resample("upsample")
            has_post = bool(posts - {""})
            if s.helper_body == "direct" and not has_post:
                lines = [f"return nn.Sequential({conv}, nn.BatchNorm2d(cout), {self.relu()})"]
            elif s.helper_body == "direct":
                lines = [f"middle = {pool} if post == 'pool' else {up}",
                         f"return nn.Sequential({conv}, middle, nn.BatchNorm2d(cout), "
                         f"{self.relu()})"]
            else:
                lines = [f"layers = [{conv}]"]
                if has_post:
                    lines += ["if post == 'pool':", f"    layers.append({pool})",
                              "else:", f"    layers.append({up})"]
                lines += ["layers.append(nn.BatchNorm2d(cout))",
                          f"layers.append({self.relu()})"]
                lines.append("return nn.Sequential(*layers)" if s.helper_body == "unpack"
                             else "block = nn.Sequential()\n"
                                  "for i, layer in enumerate(layers):\n"
                                  "    block.add_module(str(i), layer)\nreturn block")
                lines = [x for line in lines for x in line.split("\n")]
            self_arg = "self, " if s.layout == "method" else ""
            prefix = "_" if s.layout == "method" else ""
            out.append(f"def {prefix}{s.helper}_{kind}({self_arg}{params}):\n"
                       + "".join(f"    {line}\n" for line in lines))
        return out

    # ---- forward -------------------------------------------------------------------------
    def step(self, i: int, value: str) -> str:
        """Block i (1-based) applied to `value`."""
        s, post = self.s, ARCH[self.target][i - 1][3]
        if s.layout == "modulelist":
            return f"self.{s.prefix}s[{i - 1}]({value})"
        if s.layout != "explicit":
            return f"self.{s.prefix}{i}({value})"
        out = f"self.{s.prefix}{i}({value})"
        if post == "final":
            return out
        if post == "pool":
            out = f"self.pool({out})" if s.shared_pool else f"self.pool{i}({out})"
        elif post == "upsample":
            if s.upsample == "functional":
                out = f"F.interpolate({out}, scale_factor=2)"
            else:
                out = f"self.upsample({out})" if s.shared_pool else f"self.upsample{i}({out})"
        out = f"self.bn{i}({out})"
        return {"module": f"self.relu({out})", "functional": f"F.relu({out})",
                "torch": f"torch.relu({out})"}[s.activation]

    def steps(self, i: int, value: str, temp: str) -> list[str]:
        """Block i of the explicit layout one layer per line, into `temp`."""
        nested = self.step(i, value)
        calls = []
        while "(" in nested and not nested.startswith((f"self.{self.s.prefix}",
                                                       "F.interpolate")):
            head, inner = nested.split("(", 1)
            calls.append(head)
            nested = inner[:-1]
        lines = [f"{temp} = {nested}"]
        for head in reversed(calls):
            lines.append(f"{temp} = {head}({temp})")
        return lines

    def cat(self, a: str, b: str) -> str:
        return f"torch.cat(({a}, {b}), dim=1)" if self.s.cat_tuple else f"torch.cat([{a}, {b}], 1)"

    def forward_body(self) -> list[str]:
        s, t = self.s, self.s.temp
        inp = "x" if t != "x" else "inp"
        if self.target == "UNet":
            names = [f"{t}{i}" for i in range(1, 5)]
            return [f"{names[0]} = {self.step(1, inp)}",
                    f"{names[1]} = {self.step(2, names[0])}",
                    f"{names[2]} = {self.step(3, names[1])}",
                    f"{names[3]} = {self.step(4, self.cat(names[2], names[0]))}",
                    f"return {self.step(5, self.cat(names[3], inp))}"]
        if s.layout == "explicit" and s.stepwise:
            lines, previous = [], inp
            for i in range(1, 6):
                lines += self.steps(i, previous, t)
                previous = t
            return [*lines, f"return {t}"]
        if s.layout == "modulelist" and s.forward == "chain":
            return [f"{t} = {inp}", f"for layer in self.{s.prefix}s:", f"    {t} = layer({t})",
                    f"return {t}"]
        if s.forward == "nested":
            value = inp
            for i in range(1, 6):
                value = self.step(i, value)
            return [f"return {value}"]
        if s.forward == "named":
            lines, previous = [], inp
            for i in range(1, 6):
                lines.append(f"{t}{i} = {self.step(i, previous)}")
                previous = f"{t}{i}"
            return [*lines, f"return {previous}"]
        lines = [f"{t} = {self.step(1, inp)}"]
        lines += [f"{t} = {self.step(i, t)}" for i in range(2, 6)]
        return [*lines, f"return {t}"]

    def source(self) -> str:
        body, helpers = self.init_body()
        methods = []
        if self.s.layout == "method":
            methods = ["    " + h.replace("\n", "\n    ").rstrip() + "\n" for h in helpers]
            helpers = []
        init = "".join(f"        {line}\n" for line in
                       "\n".join(self.preamble() + body).split("\n"))
        forward = "".join(f"        {line}\n" for line in self.forward_body())
        inp = "x" if self.s.temp != "x" else "inp"
        text = "".join(h + "\n\n" for h in helpers)
        text += (f"class {self.target}(nn.Module):\n"
                 f"    def __init__(self, {SIGNATURE}):\n{init}\n"
                 f"    def forward(self, {inp}):\n{forward}")
        text += "".join("\n" + m for m in methods)
        return text


def solution(style: Style, target: str) -> str:
    """One target's code in one style (no imports)."""
    return _Writer(style, target).source()


def independent(rng: random.Random) -> dict[str, str]:
    """A student: one style (their habits) for all three targets."""
    style = Style.draw(rng)
    return {t: solution(style, t) for t in TARGETS}


# ---- disguises --------------------------------------------------------------------------

def chosen_names(source: str) -> set[str]:
    """The names a student chose: assigned, parameters, `self.` attributes, helpers."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg) and node.arg != "self":
            names.add(node.arg)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
                node.value.id == "self"):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef) and node.name not in ("__init__", "forward"):
            names.add(node.name)
    return names - set(TARGETS)


def rename(source: str, rng: random.Random) -> str:
    """Every chosen name replaced, consistently; keyword names of library calls kept."""
    mapping = {n: f"{rng.choice(('v', 'm', 'q', 'w'))}{rng.randrange(10**4)}_{n[::-1]}"
               for n in sorted(chosen_names(source))}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    out, depth = [], 0
    for i, tok in enumerate(tokens):
        text = tok.string
        if tok.type == tokenize.OP and text in "([{":
            depth += 1
        elif tok.type == tokenize.OP and text in ")]}":
            depth -= 1
        nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
        prev = tokens[i - 1].string if i else ""
        before_prev = tokens[i - 2].string if i > 1 else ""
        is_keyword_arg = depth > 0 and nxt == "="
        is_foreign_attr = prev == "." and before_prev != "self"
        if tok.type == tokenize.NAME and text in mapping and not (is_keyword_arg
                                                                   or is_foreign_attr):
            text = mapping[text]
        out.append(tok._replace(string=text))
    return tokenize.untokenize(out)


def reorder(source: str, rng: random.Random) -> str:
    """The `self.x = ...` statements that end the first `__init__`, shuffled (they read only
    the parameters and the locals defined before them: the class is the same)."""
    lines = source.split("\n")
    init = next((n for n in ast.walk(ast.parse(source))
                 if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return source
    chunks = [lines[s.lineno - 1:s.end_lineno] for s in init.body]
    is_layer = [isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Attribute)
                for s in init.body]
    last_local = max((i for i, layer in enumerate(is_layer) if not layer), default=-1)
    movable = [i for i in range(last_local + 1, len(is_layer))]
    shuffled = list(movable)
    while len(shuffled) > 1 and shuffled == movable:
        rng.shuffle(shuffled)
    order = list(range(len(chunks)))
    for slot, chosen in zip(movable, shuffled, strict=True):
        order[slot] = chosen
    new = [line for i in order for line in chunks[i]]
    lines[init.body[0].lineno - 1:init.body[-1].end_lineno] = new
    return "\n".join(lines)


def reformat(source: str, rng: random.Random) -> str:
    """Laid out again: one statement per line as `ast.unparse` writes it, blank lines added."""
    out = []
    for line in ast.unparse(ast.parse(source)).split("\n"):
        out.append(line.replace("'", '"') if rng.random() < 0.5 else line)
        if rng.random() < 0.2:
            out.append("")
    return "\n".join(out) + "\n"


COMMENTS = ("# apply the layer", "# TODO check shapes", "# [BS, NF, 16, 16]",
            "# see handout figure", "# batch norm then relu", "# <script>alert(1)</script>")


def comment(source: str, rng: random.Random) -> str:
    """Comments sprinkled over the code (indented like the line after them)."""
    out = []
    for line in source.split("\n"):
        if line.strip() and rng.random() < 0.3:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + rng.choice(COMMENTS))
        out.append(line)
    return "\n".join(out)


def disguise(source: str, rng: random.Random, *, level: str = "full") -> str:
    """A copy of `source`: `rename` only, or `full` (rename, reorder, reformat, comment)."""
    copied = rename(source, rng)
    if level == "rename":
        return copied
    return comment(reformat(reorder(copied, rng), rng), rng)


def restructured(style: Style, rng: random.Random) -> Style:
    """The same design with another grouping of layers and other names."""
    layout = rng.choice([x for x in LAYOUTS if x != style.layout])
    return replace(style, layout=layout,
                   activation=style.activation if layout == "explicit" else "module",
                   upsample="module" if style.upsample == "functional" else style.upsample,
                   prefix=rng.choice([p for p in PREFIXES if p != style.prefix]),
                   temp=rng.choice([t for t in TEMPS if t != style.temp]))


# ---- files ------------------------------------------------------------------------------

def notebook(code: dict[str, str], *, extra: str = "") -> str:
    """A minimal notebook: imports, each target in its own cell, then `extra`."""
    cells = [IMPORTS, *code.values()] + ([extra] if extra else [])
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": text} for i, text in enumerate(cells)]})


def write_class(folder: Path, students: dict[str, dict[str, str]]) -> Path:
    """One notebook per student in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for student, code in students.items():
        (folder / f"{student}.ipynb").write_text(notebook(code), encoding="utf-8")
    return folder


def skeleton() -> dict[str, str]:
    """The handout's starter classes: the signature, the useful parameters, nothing else."""
    code = {}
    for target in TARGETS:
        extra = ("        stride = 2\n        padding = kernel // 2\n        output_padding = 1\n"
                 if target != "PoolUpsampleNet" else "        padding = kernel // 2\n")
        code[target] = (f"class {target}(nn.Module):\n"
                        f"    def __init__(self, {SIGNATURE}):\n"
                        f"        super().__init__()\n{extra}"
                        "        # YOUR CODE GOES HERE\n\n"
                        "    def forward(self, x):\n        # YOUR CODE GOES HERE\n        pass\n")
    return code
