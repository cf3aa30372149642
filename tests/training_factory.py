"""Helpers for the training tests: tiny budgets, student programs as notebooks, data packs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np

from grader.ingest import Program, extract, load_submission

# A few seconds on one busy CPU core, yet enough steps to learn the synthetic colours.
TINY = {"epochs": 2, "batch_size": 20, "lr": 0.01, "train_images": 300, "val_images": 100}
SMALLEST = {"epochs": 1, "batch_size": 50, "lr": 0.01, "train_images": 100, "val_images": 50}

IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F"

# A plain student net (no batch norm, so even a few steps show in eval mode), written the way
# students write it: a helper in one cell, the class in another, a training call left at the end.
GOOD_NET = '''class TinyNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        padding = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(num_in_channels, num_filters, kernel, padding=padding), nn.ReLU(),
            nn.Conv2d(num_filters, num_filters, kernel, padding=padding), nn.ReLU(),
        )
        self.head = nn.Conv2d(num_filters, num_colours, 1)

    def forward(self, x):
        return self.head(self.body(x))'''

WRONG_SHAPE_NET = '''class TinyNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv = nn.Conv2d(num_in_channels, num_colours, kernel, padding=0)

    def forward(self, x):
        return self.conv(x)  # no padding: 30 x 30'''

NAN_NET = '''class TinyNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv = nn.Conv2d(num_in_channels, num_colours, kernel, padding=kernel // 2)

    def forward(self, x):
        out = self.conv(x)
        return out / torch.zeros_like(out)'''

RAISING_NET = '''class TinyNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv = nn.Conv2d(num_in_channels, num_colours, kernel, padding=kernel // 2)

    def forward(self, x):
        out = self.conv(x)
        return out.view(20, 24, 32, 32)  # hard-coded batch size'''

TRAINING_CELL = "model = TinyNet(3, 32, 24, 1)\ntrain(args, model)"


def notebook_program(tmp_path: Path, net_source: str, target: str = "TinyNet") -> Program:
    """Write a notebook (imports, markdown, the class, a training call) and extract `target`."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(IMPORTS),
                nbformat.v4.new_markdown_cell("## Part A: the model"),
                nbformat.v4.new_code_cell(net_source),
                nbformat.v4.new_code_cell(TRAINING_CELL)]
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, path)
    return extract(load_submission(path), [target])


def majority_accuracy(y: np.ndarray) -> float:
    """Percent of pixels a model that always says the most common colour gets right."""
    counts = np.bincount(np.asarray(y).ravel())
    return 100.0 * counts.max() / counts.sum()


def run_train_task(sandbox, request: dict, files: dict[str, bytes]):
    """Run the `train` task in the real sandbox.

    Until `train` is on the sandbox's task allowlist (grader/sandbox/tasks/__init__.py) the same
    module is run through the `echo` task, which imports it inside the sandbox just the same.
    """
    from grader.sandbox import Outcome
    from grader.sandbox.tasks import TASKS

    if "train" in TASKS:
        return sandbox.run(request, files=files)
    wrapped = {**request, "task": "echo", "result_expr": "result",
               "code": "from grader.sandbox.tasks.train import run\n"
                       "result = run(request, out_dir)\n"}
    outcome = sandbox.run(wrapped, files=files)
    if outcome.ok:
        outcome = Outcome(**{**outcome.__dict__, "result": outcome.result["value"]})
    return outcome


# A net whose forward uses an operation the grader's replay does not know (an FFT): it trains,
# but the grader cannot score the network it exports.
UNREPLAYABLE_NET = '''class TinyNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv = nn.Conv2d(num_in_channels, num_colours, kernel, padding=kernel // 2)

    def forward(self, x):
        out = self.conv(x)
        return out + torch.fft.fft2(out).real * 0.0'''

# A program that patches the grader's training task from inside (when its model is built): it
# skips the training, claims a perfect validation accuracy, and writes no network.
PATCHING_NET = GOOD_NET.replace(
    "        super().__init__()\n",
    """        super().__init__()
        import sys
        task = sys.modules.get("grader.sandbox.tasks.train")

        def lie(model, arrays, budget, seed, device="auto", *, filename=None, on_epoch=None):
            return ({"epochs": [{"epoch": 1, "train_loss": 0.0, "val_loss": 0.0,
                                 "val_acc": 100.0}], "val_acc": 100.0, "val_loss": 0.0,
                     "seconds": 0.0, "device": "cpu", "budget": budget, "n_train": 1,
                     "n_val": 1, "num_colours": 24}, None)

        if task is not None:
            task.train_budgeted = lie
""", 1)
