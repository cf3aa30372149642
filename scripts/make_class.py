"""Generate a synthetic class of PA2 (Winter 2023) notebooks for load tests and benchmarks.

    python scripts/make_class.py --n 300 --seed 0 --out out/class300

Every notebook looks like a real hand-in (the starter's helper and training cells, the args
cells, markdown answers, sometimes outputs), and its three model classes are generated here from
a small description of each network, rendered in one of several styles a student might use:
attribute `nn.Sequential` blocks, bare layers with functional ops in `forward`, one big
`nn.Sequential`, or module-level block helpers, with the UNet's concatenations in either order.

Kinds (`.manifest.json` in the output folder says which student got what; it is hidden, so
`discover()` ignores it):

* correct: equivalent to the reference in any style;
* buggy: one network has a classic mistake (missing BatchNorm, wrong padding, hard-coded
  num_colours or input channels, ReLU before BN, a channel mismatch, no / additive skip, NF
  instead of NC in the UNet's second transposed conv);
* slow: a sleep in a constructor, forward or a helper the model needs, or top-level training
  loops the grader must leave out;
* broken: a syntax error in a model cell, a truncated (corrupt) notebook file, a misnamed class,
  an infinite loop in `__init__`, a memory blow-up in `__init__`.

The output is a pure function of (n, seed, mix): same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The starter's scaffold cells (helpers, training loop, args cell) that every hand-in carries.
from build_submissions import (  # noqa: E402
    DOWNLOADS,
    HEADER,
    HELPERS,
    SETUP,
    TRAIN,
    args_cell,
    notebook,
)

TARGETS = ("PoolUpsampleNet", "ConvTransposeNet", "UNet")
PREFIX = {"ConvTransposeNet": "ct", "UNet": "unet"}
SECTIONS = {"PoolUpsampleNet": "4", "ConvTransposeNet": "5", "UNet": "6"}

BUGS = {
    "PoolUpsampleNet": ["missing_bn", "relu_before_bn", "wrong_padding", "hardcoded_colours",
                        "hardcoded_in_channels", "channel_mismatch"],
    "ConvTransposeNet": ["missing_bn", "relu_before_bn", "wrong_padding", "hardcoded_colours",
                         "hardcoded_in_channels"],
    "UNet": ["missing_bn", "wrong_padding", "hardcoded_colours", "no_skip", "add_skip",
             "nf_instead_of_nc"],
}
SLOW = ["sleep_init", "sleep_forward", "sleep_helper", "toplevel_training"]
BROKEN = ["syntax", "corrupt_json", "missing_class", "infinite_init", "memory_init"]
BROKEN_WEIGHTS = [0.3, 0.25, 0.2, 0.125, 0.125]
DEFAULT_MIX = {"correct": 0.5, "buggy": 0.3, "slow": 0.08, "broken": 0.12}

FIRST = ["Aiden", "Bea", "Chen", "Dana", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Jia",
         "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tomás",
         "Uma", "Viktor", "Wen", "Xavier", "Yuki", "Zoë"]
LAST = ["Abara", "Bergström", "Castillo", "Dubois", "Eze", "Fujita", "Gupta", "Haddad", "Ito",
        "Jovanović", "Kim", "Li", "Moreau", "Nguyen", "Okafor", "Patel", "Quispe", "Rossi",
        "Singh", "Tanaka", "Usman", "Varga", "Wang", "Xu", "Yilmaz", "Zhou"]


# --- a network as data ------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One block of a network: a conv, optional resampling, optional BN, optional ReLU."""

    name: str
    kind: str        # pool | upsample | down | up | final
    cin: str         # channel expressions over {nf} {nc} {nic}
    cout: str
    bn: bool = True
    relu_first: bool = False  # ReLU before BatchNorm (a bug)


@dataclass(frozen=True)
class Net:
    name: str
    blocks: tuple[Block, ...]
    skips: bool = False          # UNet: cat(x1, x3) into upconv2 and cat(x, x4) into final
    skip_op: str = "cat"         # cat | add (a bug)
    pad: str = "{k} // 2"        # stride-1 convs
    spad: str = "1"              # stride-2 convs
    opad: str = "1"              # output_padding of the transposed convs


def reference_net(name: str) -> Net:
    """The handout's network as data (the same shapes as reference/models.py)."""
    if name == "PoolUpsampleNet":
        return Net(name, (
            Block("conv1", "pool", "{nic}", "{nf}"),
            Block("conv2", "pool", "{nf}", "2 * {nf}"),
            Block("conv3", "upsample", "2 * {nf}", "{nf}"),
            Block("conv4", "upsample", "{nf}", "{nc}"),
            Block("conv5", "final", "{nc}", "{nc}", bn=False)))
    down_up = (
        Block("conv1", "down", "{nic}", "{nf}"),
        Block("conv2", "down", "{nf}", "2 * {nf}"),
        Block("upconv1", "up", "2 * {nf}", "{nf}"))
    if name == "ConvTransposeNet":
        return Net(name, (*down_up, Block("upconv2", "up", "{nf}", "{nc}"),
                          Block("finalconv", "final", "{nc}", "{nc}", bn=False)))
    return Net(name, (*down_up, Block("upconv2", "up", "{nf} + {nf}", "{nc}"),
                      Block("finalconv", "final", "{nic} + {nc}", "{nc}", bn=False)), skips=True)


def _set_block(net: Net, index: int, **changes: object) -> Net:
    blocks = list(net.blocks)
    blocks[index] = replace(blocks[index], **changes)
    return replace(net, blocks=tuple(blocks))


def _subst(net: Net, old: str, new: str) -> Net:
    blocks = tuple(replace(b, cin=b.cin.replace(old, new), cout=b.cout.replace(old, new))
                   for b in net.blocks)
    return replace(net, blocks=blocks)


def apply_bug(net: Net, bug: str, rng: random.Random) -> Net:
    """The network with one classic mistake."""
    if bug == "missing_bn":
        return _set_block(net, rng.randrange(4), bn=False)
    if bug == "relu_before_bn":
        return _set_block(net, rng.randrange(4), relu_first=True)
    if bug == "wrong_padding":
        if net.name == "PoolUpsampleNet":
            return replace(net, pad=rng.choice(["1", "0", "{k}"]))
        return replace(net, **rng.choice([{"opad": "0"}, {"spad": "0"}, {"spad": "{k}"}]))
    if bug == "hardcoded_colours":
        return _subst(net, "{nc}", "24")
    if bug == "hardcoded_in_channels":
        return _subst(net, "{nic}", "1")
    if bug == "channel_mismatch":  # conv3 expects NF channels but conv2 gives 2 NF
        return _set_block(net, 2, cin="{nf}")
    if bug == "no_skip":
        net = _set_block(net, 3, cin="{nf}")
        return replace(_set_block(net, 4, cin="{nc}"), skips=False)
    if bug == "add_skip":
        return replace(_set_block(net, 3, cin="{nf}"), skip_op="add")
    if bug == "nf_instead_of_nc":
        net = _set_block(net, 3, cout="{nf}")
        return _set_block(net, 4, cin="{nic} + {nf}")
    raise ValueError(f"unknown bug {bug!r}")


# --- rendering a network as a student would write it ------------------------------------------

@dataclass(frozen=True)
class Style:
    layout: str          # sequential | functional | single | helpers
    names: dict          # {k, nf, nc, nic} -> variable names in the constructor
    positional: bool     # nn.Conv2d(a, b, k) instead of kernel_size=k
    relu: str            # "nn.ReLU()" | "nn.ReLU(inplace=True)"
    fn_relu: str         # "F.relu" | "torch.relu"
    pool: str
    upsample: str
    skip_first: bool     # torch.cat([skip, x]) rather than torch.cat([x, skip])
    pad_expr: str        # how "{k} // 2" is spelled
    comments: bool


def random_style(rng: random.Random, target: str) -> Style:
    layouts = ["sequential", "functional", "helpers"] + ([] if target == "UNet" else ["single"])
    names = rng.choice([
        {"k": "kernel", "nf": "num_filters", "nc": "num_colours", "nic": "num_in_channels"},
        {"k": "kernel", "nf": "nf", "nc": "nc", "nic": "nic"},
        {"k": "k", "nf": "NF", "nc": "NC", "nic": "NIC"},
    ])
    return Style(
        layout=rng.choice(layouts), names=names, positional=rng.random() < 0.3,
        relu=rng.choice(["nn.ReLU()", "nn.ReLU()", "nn.ReLU(inplace=True)"]),
        fn_relu=rng.choice(["F.relu", "torch.relu"]),
        pool=rng.choice(["nn.MaxPool2d(2)", "nn.MaxPool2d(kernel_size=2)",
                         "nn.MaxPool2d(kernel_size=2, stride=2)"]),
        upsample=rng.choice(["nn.Upsample(scale_factor=2)",
                             "nn.UpsamplingNearest2d(scale_factor=2)",
                             "nn.Upsample(scale_factor=2, mode='nearest')"]),
        skip_first=rng.random() < 0.6, pad_expr=rng.choice(["{k} // 2", "({k} - 1) // 2"]),
        comments=rng.random() < 0.5)


class Renderer:
    def __init__(self, net: Net, style: Style) -> None:
        self.net, self.style = net, style
        n = style.names
        self.fmt = {"k": n["k"], "nf": n["nf"], "nc": n["nc"], "nic": n["nic"]}

    def x(self, expr: str) -> str:
        return expr.format(**self.fmt)

    def conv(self, b: Block) -> str:
        k = self.fmt["k"]
        ks = k if self.style.positional else f"kernel_size={k}"
        pad = "padding" if self.net.pad == "{k} // 2" else self.x(self.net.pad)
        if b.kind in ("down", "up"):
            spad = "padding" if self.net.spad == "1" else self.x(self.net.spad)
            if b.kind == "down":
                return (f"nn.Conv2d({self.x(b.cin)}, {self.x(b.cout)}, {ks}, stride=stride, "
                        f"padding={spad})")
            opad = "output_padding" if self.net.opad == "1" else self.x(self.net.opad)
            return (f"nn.ConvTranspose2d({self.x(b.cin)}, {self.x(b.cout)}, {ks}, stride=stride, "
                    f"padding={spad}, output_padding={opad})")
        if b.kind == "final" and self.net.name != "PoolUpsampleNet":
            pad = "final_padding"
        return f"nn.Conv2d({self.x(b.cin)}, {self.x(b.cout)}, {ks}, padding={pad})"

    def layers(self, b: Block) -> list[str]:
        out = [self.conv(b)]
        if b.kind == "pool":
            out.append(self.style.pool)
        elif b.kind == "upsample":
            out.append(self.style.upsample)
        if b.kind == "final":
            return out
        tail = [f"nn.BatchNorm2d({self.x(b.cout)})"] if b.bn else []
        tail = ([self.style.relu, *tail] if b.relu_first else [*tail, self.style.relu])
        return out + tail

    def locals_(self) -> list[str]:
        """The starter's 'useful parameters' lines."""
        k = self.fmt["k"]
        lines = []
        if self.net.name == "PoolUpsampleNet":
            lines.append(f"padding = {self.style.pad_expr.format(k=k)}")
        else:
            lines += ["stride = 2", "padding = 1", "output_padding = 1",
                      f"final_padding = {self.style.pad_expr.format(k=k)}"]
        return lines

    def signature(self) -> str:
        n = self.fmt
        return f"def __init__(self, {n['k']}, {n['nf']}, {n['nc']}, {n['nic']}):"

    # -- layouts -------------------------------------------------------------------------------

    def render(self) -> tuple[str, str]:
        """(module-level helper source or "", class source)."""
        layout = self.style.layout
        helper = ""
        if layout == "helpers":
            helper, body, forward = self._helpers()
        elif layout == "functional":
            body, forward = self._functional()
        elif layout == "single":
            body, forward = self._single()
        else:
            body, forward = self._sequential()
        head = [f"class {self.net.name}(nn.Module):", f"    {self.signature()}",
                f"        super({self.net.name}, self).__init__()" if self.style.comments
                else "        super().__init__()"]
        if self.style.comments:
            head.append("        # Useful parameters")
        head += [f"        {line}" for line in self.locals_()]
        if self.style.comments:
            head.append("")
            head.append("        ############### YOUR CODE GOES HERE ###############")
        lines = head + [f"        {line}" if line else "" for line in body]
        if self.style.comments:
            lines.append("        ###################################################")
        lines += ["", "    def forward(self, x):"] + [f"        {line}" for line in forward]
        return helper, "\n".join(lines)

    def _skip_inputs(self, a: str, b: str) -> str:
        """The input of a skip-joined block: cat in the style's order, or a sum (a bug)."""
        if self.net.skip_op == "add":
            return f"{a} + {b}"
        first, second = (a, b) if self.style.skip_first else (b, a)
        return f"torch.cat([{first}, {second}], dim=1)"

    def _flow(self, call) -> list[str]:
        """forward() lines given call(block, input_expr) -> expr."""
        names = [b.name for b in self.net.blocks]
        if not self.net.skips and self.net.skip_op == "cat":
            lines = []
            for b in self.net.blocks[:-1]:
                lines.append(f"x = {call(b, 'x')}")
            lines.append(f"return {call(self.net.blocks[-1], 'x')}")
            return lines
        b1, b2, b3, b4, b5 = self.net.blocks
        lines = [f"x1 = {call(b1, 'x')}", f"x2 = {call(b2, 'x1')}", f"x3 = {call(b3, 'x2')}"]
        lines.append(f"x4 = {call(b4, self._skip_inputs('x1', 'x3'))}")
        first, second = ("x", "x4") if self.style.skip_first else ("x4", "x")
        lines.append(f"return {call(b5, f'torch.cat([{first}, {second}], dim=1)')}")
        assert len(names) == 5
        return lines

    def _sequential(self) -> tuple[list[str], list[str]]:
        body = []
        for b in self.net.blocks:
            layers = self.layers(b)
            if b.kind == "final" and len(layers) == 1 and self.style.positional:
                body.append(f"self.{b.name} = {layers[0]}")
                continue
            body.append(f"self.{b.name} = nn.Sequential(")
            body += [f"    {layer}," for layer in layers]
            body.append(")")
        return body, self._flow(lambda b, inp: f"self.{b.name}({inp})")

    def _single(self) -> tuple[list[str], list[str]]:
        body = ["layers = []"]
        for b in self.net.blocks:
            if self.style.comments:
                body.append(f"# {b.name}")
            body.append(f"layers += [{', '.join(self.layers(b))}]")
        body.append("self.net = nn.Sequential(*layers)")
        return body, ["return self.net(x)"]

    def _functional(self) -> tuple[list[str], list[str]]:
        body, bn_names = [], {}
        uses_upsample = any(b.kind == "upsample" for b in self.net.blocks)
        for i, b in enumerate(self.net.blocks, 1):
            body.append(f"self.{b.name} = {self.conv(b)}")
            if b.kind != "final" and b.bn:
                bn_names[b.name] = f"bn{i}"
                body.append(f"self.bn{i} = nn.BatchNorm2d({self.x(b.cout)})")
        upsample_attr = uses_upsample and "Upsample" in self.style.upsample \
            and self.style.positional
        if upsample_attr:
            body.append(f"self.upsample = {self.style.upsample}")
        relu = self.style.fn_relu

        def call(b: Block, inp: str) -> str:
            e = f"self.{b.name}({inp})"
            if b.kind == "final":
                return e
            if b.kind == "pool":
                e = f"F.max_pool2d({e}, 2)"
            elif b.kind == "upsample":
                e = (f"self.upsample({e})" if upsample_attr
                     else f"F.interpolate({e}, scale_factor=2)")
            bn = bn_names.get(b.name)
            if b.relu_first:
                e = f"{relu}({e})"
                return f"self.{bn}({e})" if bn else e
            if bn:
                e = f"self.{bn}({e})"
            return f"{relu}({e})"

        return body, self._flow(call)

    def _helpers(self) -> tuple[str, list[str], list[str]]:
        kinds = sorted({b.kind for b in self.net.blocks if b.kind != "final"})
        helper_lines: list[str] = []
        for kind in kinds:
            sample = next(b for b in self.net.blocks if b.kind == kind)
            fake = replace(sample, cin="__in__", cout="__out__", bn=True, relu_first=False)
            layers = [layer.replace("__in__", "in_channels").replace("__out__", "out_channels")
                      for layer in self.layers(fake)]
            helper_lines.append(f"def {self._helper_name(kind)}(in_channels, out_channels, "
                                f"{self.fmt['k']}):")
            if self.style.comments:
                helper_lines.append(f'    """conv, {kind}, BN and ReLU as in the diagram."""')
            helper_lines += [*self._helper_locals(kind), "    return nn.Sequential(",
                             *[f"        {layer}," for layer in layers], "    )", "", ""]
        body = []
        for b in self.net.blocks:
            if b.kind == "final":
                body.append(f"self.{b.name} = {self.conv(b)}")
            elif b.bn and not b.relu_first:
                body.append(f"self.{b.name} = {self._helper_name(b.kind)}({self.x(b.cin)}, "
                            f"{self.x(b.cout)}, {self.fmt['k']})")
            else:  # a block unlike its helper is written out in full
                body.append(f"self.{b.name} = nn.Sequential({', '.join(self.layers(b))})")
        helper = "\n".join(helper_lines).rstrip()
        return helper, body, self._flow(lambda b, inp: f"self.{b.name}({inp})")

    def _helper_name(self, kind: str) -> str:
        if kind in ("pool", "upsample"):
            return f"conv_{kind}_block"
        return f"{PREFIX[self.net.name]}_{kind}_block"

    def _helper_locals(self, kind: str) -> list[str]:
        k = self.fmt["k"]
        if kind in ("pool", "upsample"):
            return [f"    padding = {self.style.pad_expr.format(k=k)}"]
        return ["    stride, padding, output_padding = 2, 1, 1"]


# --- a whole notebook -------------------------------------------------------------------------

# The written answers students put under the question headings, drawn per student in the
# forms and with the mistakes real write-ups show: the formula with k, the formula with k = 3
# substituted, a forgotten layer's NF² term, prose no checker can count (a TA reads it); for the
# padding question the right values, output_padding 1 for every kernel, a formula in k.
COUNTING = {
    "formula": "**4.3** Ignoring biases and batch norm:\n\n"
               "- Weights: $k^2 (N_{IC} N_F + 4 N_F^2 + N_F N_C + N_C^2)$\n"
               "- Outputs: $1600 N_F + 1280 N_C$\n"
               "- Connections: $k^2 (1024 N_{IC} N_F + 640 N_F^2 + 256 N_F N_C + 1024 N_C^2)$\n\n"
               "With a 64x64 input the weights are unchanged; outputs and connections are "
               "multiplied by 4.",
    "k_substituted": "**4.3** With 3x3 kernels:\n\n"
                     "Weights: 9 NIC NF + 36 NF^2 + 9 NF NC + 9 NC^2\n\n"
                     "Outputs: 1600 NF + 1280 NC\n\n"
                     "Connections: 9216 NIC NF + 5760 NF^2 + 2304 NF NC + 9216 NC^2\n\n"
                     "When the input is doubled the weights stay the same, while the outputs and "
                     "connections quadruple.",
    "forgot_a_layer": "**4.3**\n\n- Weights: $k^2 (N_{IC} N_F + 2 N_F^2 + N_F N_C + N_C^2)$\n"
                      "- Outputs: $1600 N_F + 1280 N_C$\n"
                      "- Connections: $k^2 (1024 N_{IC} N_F + 512 N_F^2 + 256 N_F N_C + "
                      "1024 N_C^2)$\n\nDoubled input: weights unchanged, outputs and "
                      "connections x4.",
    "prose": "**4.3** The receptive field grows with each pooling layer; upsampling then restores "
             "the 32x32 resolution.",
}
PADDING = {
    "right": "**5.4** For k = 4: padding = 1, output_padding = 0. "
             "For k = 5: padding = 2, output_padding = 1.",
    "output_padding_1": "**5.4** For k = 4: padding = 1, output_padding = 1. "
                        "For k = 5: padding = 2, output_padding = 1.",
    "formula": "**5.4** padding = (k - 1) // 2, output_padding = 1.",
}
COUNTING_ODDS = (("formula", 0.35), ("k_substituted", 0.25), ("forgot_a_layer", 0.25),
                 ("prose", 0.15))
PADDING_ODDS = (("right", 0.6), ("output_padding_1", 0.25), ("formula", 0.15))


def _draw(rng: random.Random, odds: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for name, p in odds:
        total += p
        if roll < total:
            return name
    return odds[-1][0]


def written(section: str, rng: random.Random) -> tuple[str, dict[str, str]]:
    """The Markdown a student writes after a section's code (its written questions), and which
    form each counted answer took, for the manifest."""
    if section == "4":
        form = _draw(rng, COUNTING_ODDS)
        return COUNTING[form], {"4.3": form}
    if section == "5":
        form = _draw(rng, PADDING_ODDS)
        return ("**5.3** Strided convolutions learn their own downsampling, so the model "
                "converges faster than with max-pooling.\n\n" + PADDING[form]), {"5.4": form}
    return ("**6.3** The skip connections pass fine spatial detail to the decoder, so colours "
            "stay inside object boundaries."), {}


def _fake_training_output(rng: random.Random, epochs: int) -> str:
    loss, acc, lines = 2.4 + rng.random() * 0.3, 30 + rng.random() * 8, []
    for epoch in range(epochs):
        loss *= 0.9 + rng.random() * 0.05
        acc += rng.random() * 2.5
        lines.append(f"Epoch [{epoch + 1}/25], Loss: {loss:.4f}, Val Loss: {loss * 1.05:.4f}, "
                     f"Val Acc: {acc:.1f}%")
    return "\n".join(lines) + "\n"


def _with_outputs(nb: nbformat.NotebookNode, rng: random.Random) -> None:
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        if "train(args)" in cell.source:
            cell.outputs = [nbformat.v4.new_output(
                "stream", name="stdout", text=_fake_training_output(rng, rng.randint(3, 25)))]


SLEEPS = {"sleep_init": "time.sleep({s})  # wait for the Colab GPU to warm up",
          "sleep_forward": "time.sleep({s})  # slow down so the progress bar is readable"}


def _slow_source(kind: str, cls: str, nf: str, rng: random.Random) -> tuple[str, str]:
    """(extra helper source, class source) with the slow part injected."""
    seconds = rng.choice([0.5, 1, 1.5])
    lines = cls.split("\n")
    if kind == "sleep_init":
        at = next(i for i, line in enumerate(lines) if "super(" in line) + 1
        lines.insert(at, "        " + SLEEPS[kind].format(s=seconds))
        return "import time", "\n".join(lines)
    if kind == "sleep_forward":
        at = next(i for i, line in enumerate(lines) if "def forward" in line) + 1
        lines.insert(at, "        " + SLEEPS[kind].format(s=seconds / 5))
        return "import time", "\n".join(lines)
    # sleep_helper: a helper the constructor reaches, so the grader must run it.
    helper = ("import time\n\n\ndef checked_filters(n):\n"
              '    """Double-check the filter count (and be slow about it)."""\n'
              f"    time.sleep({seconds})\n    return int(n)")
    at = next(i for i, line in enumerate(lines) if "super(" in line) + 1
    lines.insert(at, f"        {nf} = checked_filters({nf})")
    return helper, "\n".join(lines)


TOPLEVEL_TRAINING = """# Hyper-parameter sweep (takes about 6 hours on Colab)
import time
results = {}
for lr in [0.0001, 0.0003, 0.001, 0.003, 0.01]:
    for nf in [16, 32, 64]:
        args.learn_rate = lr
        args.num_filters = nf
        args.epochs = 50
        start = time.time()
        cnn = train(args)
        results[(lr, nf)] = time.time() - start
time.sleep(3600)  # keep the runtime alive
print(results)"""

INFINITE = """        # find the padding that keeps 32x32 (loops until it does)
        size, pad = 32, 0
        while size + 2 * pad - {k} + 1 != size + 1:
            pad = max(pad, 0)  # TODO: grow pad"""

MEMORY = """        # precompute a colour lookup table for every possible patch
        self.table = [torch.ones(1024, 1024, 64) for _ in range(64)]"""


def _break_syntax(source: str, rng: random.Random) -> str:
    lines = source.split("\n")
    options = [i for i, line in enumerate(lines) if line.rstrip().endswith(":")
               or line.rstrip().endswith(")")]
    i = rng.choice(options)
    line = lines[i].rstrip()
    lines[i] = line[:-1] if line.endswith(":") else line[:-1] + " ,,"
    return "\n".join(lines)


def _inject_init(cls: str, snippet: str, k: str) -> str:
    lines = cls.split("\n")
    at = next(i for i, line in enumerate(lines) if "super(" in line) + 1
    lines[at:at] = snippet.format(k=k).split("\n")
    return "\n".join(lines)


@dataclass
class Student:
    name: str
    kind: str
    variant: str
    target: str | None


def build_notebook(student: Student, rng: random.Random) -> tuple[str, dict]:
    """(file text, manifest entry) for one student."""
    cells: list[tuple[str, str]] = [("md", HEADER + f"\n\nSubmitted by {student.name}."),
                                    ("code", SETUP), ("code", HELPERS)]
    if rng.random() < 0.8:
        cells.append(("code", DOWNLOADS))
    cells.append(("code", TRAIN))
    styles = {}
    answers: dict[str, str] = {}   # written question -> the form of the answer given
    for target in TARGETS:
        net = reference_net(target)
        if student.kind == "buggy" and target == student.target:
            net = apply_bug(net, student.variant, rng)
        style = random_style(rng, target)
        styles[target] = style.layout
        helper, cls = Renderer(net, style).render()
        if target == student.target and student.kind == "slow" \
                and student.variant != "toplevel_training":
            extra, cls = _slow_source(student.variant, cls, style.names["nf"], rng)
            helper = (extra + "\n\n\n" + helper).strip() if helper else extra
        if target == student.target and student.kind == "broken":
            if student.variant == "infinite_init":
                cls = _inject_init(cls, INFINITE, style.names["k"])
            elif student.variant == "memory_init":
                cls = _inject_init(cls, MEMORY, style.names["k"])
            elif student.variant == "missing_class":
                cls = cls.replace(f"class {target}(", f"class {target.lower().capitalize()}(", 1)
            elif student.variant == "syntax":
                cls = _break_syntax(cls, rng)
        section = SECTIONS[target]
        cells.append(("md", f"## Section {section}: {target}"))
        code = (helper + "\n\n\n" + cls) if helper and rng.random() < 0.5 else cls
        if helper and code == cls:
            cells.append(("code", helper))
        cells.append(("code", code))
        if rng.random() < 0.3:
            cells.append(("code", f"print({target}(3, 32, 24, 1))"))
        cells.append(("code", args_cell(target)))
        if rng.random() < 0.7:
            text, forms = written(section, rng)
            cells.append(("md", text))
            answers.update(forms)
    if student.kind == "slow" and student.variant == "toplevel_training":
        cells.append(("code", TOPLEVEL_TRAINING))
    nb = notebook(cells)
    if rng.random() < 0.4:
        _with_outputs(nb, rng)
    text = nbformat.writes(nb) + "\n"
    if student.kind == "broken" and student.variant == "corrupt_json":
        text = text[: rng.randrange(len(text) // 4, 3 * len(text) // 4)]
    entry = {"student": student.name, "kind": student.kind, "variant": student.variant,
             "target": student.target, "styles": styles, "written": answers}
    return text, entry


def plan_class(n: int, seed: int, mix: dict[str, float]) -> list[Student]:
    """Who gets what: exact proportions (rounded), shuffled, every kind present when n allows."""
    rng = random.Random(seed)
    kinds = list(mix)
    counts = {k: int(n * mix[k] / sum(mix.values())) for k in kinds}
    for k in sorted(kinds, key=lambda k: -mix[k]):
        if sum(counts.values()) >= n:
            break
        counts[k] += 1
    order = [k for k in kinds for _ in range(counts[k])]
    rng.shuffle(order)
    names: set[str] = set()
    students = []
    for i, kind in enumerate(order):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{i + 1:04d}_{last.lower()}_{first.lower()}"
        names.add(name)
        target = rng.choice(TARGETS)
        if kind == "correct":
            variant, target = "reference-equivalent", None
        elif kind == "buggy":
            variant = rng.choice(BUGS[target])
        elif kind == "slow":
            variant = rng.choice(SLOW)
        else:
            variant = rng.choices(BROKEN, BROKEN_WEIGHTS)[0]
        students.append(Student(name, kind, variant, target))
    return students


def make_class(out: Path, n: int, seed: int = 0, mix: dict[str, float] | None = None) -> list[dict]:
    """Write `n` notebooks (and `.manifest.json`) into `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for student in plan_class(n, seed, mix or DEFAULT_MIX):
        rng = random.Random(f"{seed}:{student.name}")
        text, entry = build_notebook(student, rng)
        path = out / f"{student.name}.ipynb"
        path.write_text(text, encoding="utf-8")
        entry["file"] = path.name
        manifest.append(entry)
    (out / ".manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def _parse_mix(text: str) -> dict[str, float]:
    mix = dict(DEFAULT_MIX)
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        if key not in mix:
            raise argparse.ArgumentTypeError(f"unknown kind {key!r}; use {sorted(mix)}")
        mix[key] = float(value)
    return mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="number of notebooks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--mix", type=_parse_mix, default=dict(DEFAULT_MIX),
                        help="kind weights, e.g. correct=0.6,broken=0 (default %(default)s)")
    args = parser.parse_args(argv)
    manifest = make_class(args.out, args.n, args.seed, args.mix)
    counts: dict[str, int] = {}
    for entry in manifest:
        counts[entry["kind"]] = counts.get(entry["kind"], 0) + 1
    print(f"wrote {len(manifest)} notebooks to {args.out}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
