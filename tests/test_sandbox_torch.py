"""Warm, torch-preloaded workers: each forked task gets a working torch with its own thread
count, refused giant tensors are memory outcomes, and weights come back as plain .npz data."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from grader.sandbox import Sandbox
from tests.sandbox_factory import FAST, echo, needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.sandbox, pytest.mark.slow]

MODEL = """
    import torch, numpy as np
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    y = net(torch.randn(2, 1, 8, 8))
    np.savez(out_dir / "w.npz", **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    info = {"shape": list(y.shape), "threads": torch.get_num_threads(),
            "sum": float(y.sum())}
"""


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(FAST.replace(timeout=60), workers=1, threads=2) as sb:
        yield sb


def test_worker_preloads_torch_without_starting_threads(sandbox):
    assert set(sandbox.worker_info[0]["preloaded"]) == {
        "numpy", "torch", "torchvision", "torchvision.models.segmentation", "matplotlib.pyplot",
        "grader.sandbox.tasks.observe", "grader.sandbox.tasks.train",
        "grader.sandbox.tasks.cells"}
    assert not [w for w in sandbox.isolation["warnings"] if "threads at fork" in w]


def test_each_task_gets_a_working_torch(sandbox):
    results = []
    for _ in range(3):  # a forked child after a previous child's torch ops must not hang
        start = time.monotonic()
        outcome = sandbox.run(echo(MODEL, "info"))
        assert outcome.status == "ok", outcome.error
        assert time.monotonic() - start < 10
        results.append(outcome.result["value"])
    assert all(r == results[0] for r in results), "same seed, fresh process: same numbers"
    assert results[0]["shape"] == [2, 4, 8, 8] and results[0]["threads"] == 2
    weights = np.load(io.BytesIO(outcome.artifacts["w.npz"]), allow_pickle=False)
    assert weights["0.weight"].shape == (4, 1, 3, 3)


def test_giant_tensor_is_a_memory_outcome_and_the_worker_lives_on(sandbox):
    pids = sandbox.worker_pids()
    outcome = sandbox.run(echo("import torch\nx = torch.empty(5 * 1024**3)"))
    assert outcome.status == "memory", outcome.summary()
    assert sandbox.run(echo(MODEL, "info")).status == "ok"
    assert sandbox.worker_pids() == pids
