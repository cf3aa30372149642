"""Student-style models and submissions for the graph capture / replay / observe / measure tests.

The models are written the ways PA2 students write them: `nn.Sequential` blocks, functional
calls, in-place activations, `torch.cat` in either order, layers left unused, an input that is
ignored. Programs are notebooks run through the real ingest, so problems carry cell locations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grader.graph.capture import capture_graph
from grader.ingest import extract, load_submission
from tests.ingest_factory import write_notebook

REF_CONFIGS = {"k3": [3, 32, 24, 1], "small": [3, 16, 10, 3]}
# Handout counts at k=3, NF=32, NC=24, NIC=1 (ASSIGNMENTS.md section 2).
HANDOUT_TOTALS = {"CNN": 86_784, "UNet2020": 112_344, "PoolUpsampleNet": 49_728,
                  "ConvTransposeNet": 49_728, "UNet": 56_856}


def tensors_of(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameters and buffers as arrays, as an exported weights file holds them."""
    named = [*model.named_parameters(), *model.named_buffers()]
    return {name: t.detach().numpy().copy() for name, t in named}


def ops_of(graph: dict) -> list[str]:
    return [n["op"] for n in graph["nodes"]]


def structure(graph: dict) -> list[tuple]:
    """What must agree between two spellings of one model: op, attributes and wiring."""
    return [(n["op"], repr(n["attrs"]), repr(n["inputs"]), n["shape"]) for n in graph["nodes"]]


def capture(model: nn.Module, shape: tuple[int, ...] = (2, 1, 32, 32), *, seed: int = 0,
            train: bool = True) -> tuple[dict, torch.Tensor, torch.Tensor]:
    model.train(train)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    graph, out = capture_graph(model, x.clone())
    return graph, out, x


class ActBlock(nn.Module):
    """conv -> BN -> ReLU, the ReLU spelled one of five ways."""

    def __init__(self, spelling: str) -> None:
        super().__init__()
        self.spelling = spelling
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        if self.spelling == "module":
            return self.act(y)
        if self.spelling == "functional":
            return F.relu(y)
        if self.spelling == "torch":
            return torch.relu(y)
        if self.spelling == "method":
            return y.relu()
        if self.spelling == "inplace":
            return y.relu_()
        if self.spelling == "functional_inplace":
            return F.relu(y, inplace=True)
        raise ValueError(self.spelling)


class SequentialPoolNet(nn.Module):
    """A PoolUpsampleNet-like block written with nn.Sequential."""

    def __init__(self, k: int = 3, nf: int = 4, nic: int = 1) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(nic, nf, k, padding=k // 2), nn.MaxPool2d(2),
                                   nn.BatchNorm2d(nf), nn.ReLU(), nn.Upsample(scale_factor=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class FunctionalPoolNet(nn.Module):
    """The same network with functional calls and `padding='same'`."""

    def __init__(self, k: int = 3, nf: int = 4, nic: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(nic, nf, k, padding="same")
        self.bn = nn.BatchNorm2d(nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.conv(x), kernel_size=2)
        x = torch.relu(self.bn(x))
        return F.interpolate(x, scale_factor=2)


class SkipNet(nn.Module):
    """A two-level UNet whose concatenation order is a switch."""

    def __init__(self, skip_first: bool = True) -> None:
        super().__init__()
        self.skip_first = skip_first
        self.down = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
        self.final = nn.Conv2d(5, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.up(F.relu(self.down(x))))
        both = (x, y) if self.skip_first else (y, x)
        return self.final(torch.cat(both, dim=1))


class UnusedLayerNet(nn.Module):
    """Defines `extra` in __init__ but never uses it (a common leftover)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.extra = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class IgnoresInputNet(nn.Module):
    """Returns a learned constant image: shapes fine, input never used."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bias_image = nn.Parameter(torch.zeros(1, 1, 32, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.bias_image.expand(x.shape[0], 1, 32, 32))


class DetachedNet(nn.Module):
    """Cuts the gradient after the first conv, so `first` never learns."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(1, 3, 3, padding=1)
        self.second = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x).detach())


class CumprodNet(nn.Module):
    """Uses an op replay does not know (`cumprod`)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumprod(torch.sigmoid(self.conv(x)), dim=1)


class DropoutNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.drop = nn.Dropout2d(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.conv(x))


# ---- student programs ------------------------------------------------------------------------
IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F"

SMALL_NET = '''class SmallNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(num_in_channels, num_filters, kernel, padding=kernel // 2),
            nn.BatchNorm2d(num_filters), nn.ReLU())
        self.unused = nn.Linear(3, 3)
        self.out = nn.Conv2d(num_filters, num_colours, kernel, padding=kernel // 2)

    def forward(self, x):
        return self.out(torch.cat([self.conv1(x)], dim=1))'''

RAISING_INIT = '''class BrokenNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv = nn.Conv2d(num_in_channels, num_filters, kernel)
        self.bn = nn.BatchNorm2d(num_filters * undefined_factor)

    def forward(self, x):
        return self.bn(self.conv(x))'''

HARD_CODED_32 = '''class FlatNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv = nn.Conv2d(num_in_channels, num_colours, kernel, padding=kernel // 2)

    def forward(self, x):
        y = self.conv(x)
        return y.view(x.shape[0], self.conv.out_channels, 32, 32)'''


def student_program(tmp_path: Path, cells: list[str], targets: list[str]) -> Any:
    """A notebook of these code cells, read and sliced by the real ingest: its Program."""
    path = write_notebook(tmp_path / "student.ipynb", [("markdown", "# PA2"),
                                                        *(("code", c) for c in cells)])
    return extract(load_submission(path), targets)


def target_spec(inputs: list[list[int]] | None = None, args: list | None = None,
                aliases: list[str] | None = None) -> dict:
    return {"aliases": aliases or [], "configs": {"k3": {
        "args": args or [3, 8, 6, 1], "kwargs": {},
        "inputs": inputs or [[2, 1, 32, 32], [2, 1, 64, 64]]}}}
