"""Training loop semantics, the CLI end to end, determinism and learning on synthetic data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from reference.__main__ import main as reference_main
from reference.data import ColourData, load_dataset
from reference.models import PoolUpsampleNet, UNet
from reference.synthetic import write_cifar_pickles, write_course_palette
from reference.train import evaluate, predict_colours, train_model

torch.set_num_threads(2)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small() -> ColourData:
    return load_dataset(None, None, synthetic_train=400, synthetic_val=100, num_colours=24)


class FixedLogits(nn.Module):
    """Logits that are a fixed function of the input, so expected metrics can be computed."""

    def __init__(self, num_colours: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(-1, 1, num_colours).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x * 7.0).sin()


def test_evaluate_is_mean_of_batch_means_and_pixel_accuracy(small: ColourData) -> None:
    model = FixedLogits(small.num_colours)
    x, y = small.x_val[:7], small.y_val[:7]
    loss, acc = evaluate(model, x, y, batch_size=3)  # batches of 3, 3, 1
    with torch.no_grad():
        logits = model(x)
    batch_means = [F.cross_entropy(logits[i : i + 3], y[i : i + 3]).item() for i in (0, 3, 6)]
    assert loss == pytest.approx(np.mean(batch_means), rel=1e-6)
    assert loss != pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-4)  # weighting differs
    correct = (logits.argmax(1) == y).sum().item()
    assert acc == pytest.approx(100.0 * correct / (7 * 32 * 32))
    assert model.training  # mode restored


def test_train_loss_is_mean_of_batch_losses_with_partial_batch(small: ColourData) -> None:
    """One epoch with lr tiny: the train loss equals the mean over the fixed sequential batches."""
    torch.manual_seed(0)
    model = FixedLogits(small.num_colours)
    data = _subset(small, 130, 20)
    result = train_model(model, data, epochs=1, batch_size=50, lr=1e-12, seed=0)
    fresh = FixedLogits(small.num_colours)
    with torch.no_grad():
        logits = fresh(data.x_train)
    expected = np.mean(
        [F.cross_entropy(logits[s : s + 50], data.y_train[s : s + 50]).item() for s in (0, 50, 100)]
    )
    assert result.epochs[0].train_loss == pytest.approx(expected, rel=1e-5)


def _subset(data: ColourData, n_train: int, n_val: int) -> ColourData:
    return ColourData(
        data.x_train[:n_train], data.y_train[:n_train], data.x_val[:n_val], data.y_val[:n_val],
        data.palette, data.fingerprint, data.source, data.palette_source, data.seed,
    )  # fmt: skip


def test_learns_synthetic_colours_well_above_chance(small: ColourData) -> None:
    majority = np.bincount(small.y_val.numpy().ravel()).max() / small.y_val.numel() * 100
    torch.manual_seed(0)
    model = UNet(3, 16, small.num_colours, 1)
    result = train_model(model, small, epochs=4, batch_size=20, lr=0.003, seed=0)
    accs = [e.val_acc for e in result.epochs]
    assert accs[-1] > majority + 25, (majority, accs)
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    assert result.memory_format == "channels_last"  # the CPU fast path is in use


def test_same_seed_same_metrics_different_seed_differs(small: ColourData) -> None:
    data = _subset(small, 120, 40)

    def run(seed: int) -> list[tuple[float, float, float]]:
        torch.manual_seed(seed)
        r = train_model(PoolUpsampleNet(3, 8, 24, 1), data, epochs=2, batch_size=32, seed=seed)
        return [(e.train_loss, e.val_loss, e.val_acc) for e in r.epochs]

    assert run(3) == run(3)
    assert run(3) != run(4)


class ViewFlattening(nn.Module):
    """A student-style model that flattens with .view (breaks on channels-last tensors)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1))
        self.head = nn.Conv2d(6, 24, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        flat = h.view(h.shape[0], -1)
        return self.head(flat.view(h.shape))


def test_any_module_trains_and_bad_outputs_are_explained(small: ColourData) -> None:
    data = _subset(small, 30, 10)
    result = train_model(ViewFlattening(), data, epochs=1, batch_size=7)
    assert result.memory_format == "contiguous" and np.isfinite(result.final["val_loss"])

    class WrongSize(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 24, 4, padding=2)  # even kernel: 33x33 output

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    with pytest.raises(ValueError, match="does not match targets"):
        train_model(WrongSize(), data, epochs=1)


def test_on_epoch_can_stop_training(small: ColourData) -> None:
    seen = []
    result = train_model(
        PoolUpsampleNet(3, 4, 24, 1), _subset(small, 20, 10), epochs=5, batch_size=10,
        on_epoch=lambda rec: seen.append(rec.epoch) or rec.epoch < 2,
    )  # fmt: skip
    assert seen == [1, 2] and len(result.epochs) == 2 and result.stopped_early


def test_predict_colours_uses_palette(small: ColourData) -> None:
    model = FixedLogits(small.num_colours)
    colours = predict_colours(model, small.x_val[:3], small.palette, batch_size=2)
    assert colours.shape == (3, 32, 32, 3)
    palette_rows = {tuple(c) for c in small.palette}
    assert {tuple(c) for c in colours.reshape(-1, 3)} <= palette_rows


def _check_outputs(out: Path, model: str, epochs: int) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("model", "device", "seconds", "epochs", "final"):
        assert key in metrics
    assert metrics["model"] == model and metrics["device"] == "cpu"
    assert len(metrics["epochs"]) == epochs
    for i, entry in enumerate(metrics["epochs"], start=1):
        assert set(entry) == {"epoch", "train_loss", "val_loss", "val_acc"} and entry["epoch"] == i
        assert 0 <= entry["val_acc"] <= 100 and entry["train_loss"] > 0
    assert set(metrics["final"]) == {"val_loss", "val_acc"}
    assert metrics["final"]["val_acc"] == metrics["epochs"][-1]["val_acc"]
    assert metrics["seconds"] > 0 and len(metrics["data_fingerprint"]) == 16
    for name in ("training_curve.png", "samples.png"):
        with Image.open(out / name) as im:
            pixels = np.asarray(im.convert("RGB"), dtype=float)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 300
        assert pixels.std() > 10  # not a blank canvas
    return metrics


def test_cli_end_to_end_on_synthetic_data(tmp_path: Path) -> None:
    argv = [
        "train", "--model", "PoolUpsampleNet", "--epochs", "2", "--limit-train", "200",
        "--limit-val", "50", "--num-filters", "8", "--no-progress", "--save-weights",
    ]  # fmt: skip
    assert reference_main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert reference_main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert reference_main([*argv, "--torch-seed", "5", "--out", str(tmp_path / "c")]) == 0
    a = _check_outputs(tmp_path / "a", "PoolUpsampleNet", 2)
    b = _check_outputs(tmp_path / "b", "PoolUpsampleNet", 2)
    c = _check_outputs(tmp_path / "c", "PoolUpsampleNet", 2)
    assert a["epochs"] == b["epochs"] and a["data_fingerprint"] == b["data_fingerprint"]
    # --torch-seed changes the initialisation only, not the data order
    assert c["epochs"] != a["epochs"] and c["data_fingerprint"] == a["data_fingerprint"]
    assert (a["seeds"]["data"], a["seeds"]["torch"], c["seeds"]["torch"]) == (0, 0, 5)
    assert a["num_parameters"] == 8 * 9 + 8 + 16 + 8 * 16 * 9 + 16 + 32 + 16 * 8 * 9 + 8 + 16 + (
        8 * 24 * 9 + 24 + 48 + 24 * 24 * 9 + 24
    )
    state = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    assert state["conv1.0.weight"].shape == (8, 1, 3, 3)


def test_cli_as_a_module_on_cifar_pickles_with_course_palette(tmp_path: Path) -> None:
    write_cifar_pickles(tmp_path / "data", 60, 20, seed=1)
    small = load_dataset(None, None, synthetic_train=60, synthetic_val=5)
    palette = write_course_palette(tmp_path / "colours.npy", small.palette)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable, "-m", "reference", "train", "--model", "UNet", "--data",
            str(tmp_path / "data"), "--colours", str(palette), "--epochs", "1",
            "--batch-size", "16", "--threads", "1", "--out", str(tmp_path / "run"),
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Epoch [1/1]" in proc.stdout and "val acc" in proc.stdout
    metrics = _check_outputs(tmp_path / "run", "UNet", 1)
    assert metrics["data"]["n_train"] == 60 and metrics["data"]["source"].startswith("cifar")


def test_cli_reports_bad_data_path_and_dispatcher_errors(tmp_path: Path, capsys) -> None:
    code = reference_main(["train", "--model", "UNet", "--data", str(tmp_path / "x"),
                           "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert reference_main([]) == 2
    assert reference_main(["bogus"]) == 2
    with pytest.raises(SystemExit):
        reference_main(["train", "--model", "NoSuchNet", "--out", str(tmp_path)])


def test_reference_never_imports_grader() -> None:
    code = (
        "import sys, reference, reference.models, reference.data, reference.synthetic, "
        "reference.train, reference.__main__\n"
        "bad = [m for m in sys.modules if m == 'grader' or m.startswith('grader.')]\n"
        "assert not bad, bad\n"
        "assert 'reference.finetune' not in sys.modules  # loaded lazily by the dispatcher\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
