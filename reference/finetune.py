"""Reference for W2020 Part C (W2021 D.1): fine-tune DeepLabV3 on Oxford-17 flowers.

Only the last 1x1 convolution of the DeepLab head, `classifier.4`, is replaced (256 -> 2 classes,
514 parameters) and trained with Adam; everything else stays frozen. As in the starter, the
model is in train mode while training, so the frozen backbone's BatchNorm layers normalise with
batch statistics and keep updating their running statistics (buffers change, parameters do not),
and the ASPP dropout is active. Validation runs in eval mode without gradients.

Weights are never downloaded: models are built with `weights=None, weights_backbone=None` and
a local file is loaded when given (for the real run, torchvision's COCO checkpoint
`deeplabv3_resnet101_coco-586e9e4e.pth`, the file the starter's `torch.hub.load` fetched).

CLI: ``python -m reference finetune --data FLOWERS_DIR [--weights FILE] --out DIR`` (see `main`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation import (
    DeepLabV3,
    deeplabv3_mobilenet_v3_large,
    deeplabv3_resnet101,
)

from reference.flowers import (
    TRIMAP_INTERPOLATIONS,
    FlowersDataError,
    FlowersSegmentation,
    make_loaders,
    normalize_image,
)
from reference.segmentation_metrics import IoUAccumulator, predicted_mask
from reference.train import resolve_device, seed_everything  # one seeding for both loops

ARCHITECTURES: dict[str, Callable[..., DeepLabV3]] = {
    "deeplabv3_resnet101": deeplabv3_resnet101,
    "deeplabv3_mobilenet_v3_large": deeplabv3_mobilenet_v3_large,
}
HEAD = "classifier.4"  # the layer students replace and train
HEAD_CHANNELS = 256
EXPERIMENT = "finetune-segmentation"


class WeightsError(ValueError):
    """A weights file is unreadable or does not fit the model it is loaded into."""


# ----------------------------------------------------------------------------- model


def build_model(
    arch: str = "deeplabv3_resnet101",
    weights_path: Path | str | None = None,
    num_classes: int = 21,
    aux_loss: bool = True,
) -> DeepLabV3:
    """A torchvision DeepLabV3 with random weights, or with the state dict of a local file.

    Both architectures end their head in `classifier[4] = Conv2d(256, num_classes, 1)` and name
    the auxiliary FCN head `aux_classifier`, so student code written for ResNet-101 runs
    unchanged on the much cheaper MobileNetV3 variant.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCHITECTURES)}")
    model = ARCHITECTURES[arch](
        weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=aux_loss
    )
    head = model.classifier[4]
    assert isinstance(head, nn.Conv2d) and head.in_channels == HEAD_CHANNELS
    if weights_path is not None:
        load_weights(model, weights_path, label=f"{arch} (num_classes={num_classes}, "
                     f"aux_loss={aux_loss})")
    return model


def _extract_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{path} holds no state dict (expected a mapping of tensors, "
                           "or a checkpoint with a 'model' or 'state_dict' entry)")
    state = {str(k): v for k, v in obj.items()}
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries are not tensors: {bad[:5]}")
    if all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: Path | str, label: str = "the model") -> None:
    """Load a local state dict strictly, with a readable account of any mismatch.

    Only tensors are unpickled (`weights_only=True`), so a weights file cannot run code.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc
    state = _extract_state_dict(obj, path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches ({'; '.join(shapes[:3])})")
        hint = ""
        if any(k.startswith("aux_classifier.") for k in missing + unexpected):
            hint = " (aux_classifier keys differ: check aux_loss)"
        raise WeightsError(f"weights file {path} does not fit {label}: {', '.join(parts)}{hint}")
    model.load_state_dict(state, strict=True)


def prepare_for_finetuning(model: DeepLabV3, num_classes: int = 2) -> DeepLabV3:
    """Freeze every parameter, then put a fresh, trainable Conv2d(256, num_classes, 1) at
    `classifier[4]` (514 parameters for two classes). `aux_classifier` is left as it is: frozen
    and unused by the loss."""
    model.requires_grad_(False)
    model.classifier[4] = nn.Conv2d(HEAD_CHANNELS, num_classes, kernel_size=1)
    return model


def load_finetuned(arch: str, checkpoint: Path | str) -> DeepLabV3:
    """A model as `prepare_for_finetuning` leaves it (21-class aux head, 2-class main head),
    with the weights of a fine-tuning checkpoint (e.g. `finetune-segmentation-best.ckpt`)."""
    model = prepare_for_finetuning(build_model(arch))
    load_weights(model, checkpoint, label=f"a fine-tuned {arch}")
    return model


def learned_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters named `classifier.4.*` (the students' `name.startswith('classifier.4')`);
    a bare substring test would also catch `aux_classifier.4.*`."""
    return [p for name, p in model.named_parameters() if name.startswith(HEAD + ".")]


def trainable_parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model: nn.Module, lr: float = 0.05) -> torch.optim.Optimizer:
    """Adam (default betas, no weight decay) over the learned parameters only."""
    return torch.optim.Adam(learned_parameters(model), lr=lr)


# -------------------------------------------------------------------------- training


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    max_steps: int | None = None,
) -> float:
    """One pass in train mode (BN batch statistics, dropout on); returns the mean batch loss."""
    model.train()
    losses: list[float] = []
    for step, (images, masks) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        images, masks = images.to(device), masks.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images)["out"], masks)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    if not losses:
        raise ValueError("the training loader yielded no batches")
    return sum(losses) / len(losses)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> dict[str, float]:
    """Eval-mode validation: mean batch cross-entropy and both IoU metrics."""
    model.eval()
    acc = IoUAccumulator()
    losses: list[float] = []
    for images, masks in loader:
        images, masks = images.to(device), masks.to(device)
        logits = model(images)["out"]
        losses.append(float(F.cross_entropy(logits, masks)))
        acc.update(predicted_mask(logits).cpu(), masks.cpu())
    scores = acc.compute()
    return {
        "val_loss": sum(losses) / len(losses),
        "val_iou_thresholded": scores["iou_thresholded"],
        "val_iou": scores["iou"],
        "val_miou": scores["miou"],
    }


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    model.eval()
    return predicted_mask(model(images.to(device))["out"]).cpu()


# ------------------------------------------------------------------------- full run


@dataclass
class FinetuneConfig:
    data: Path
    out: Path
    weights: Path | None = None
    arch: str = "deeplabv3_resnet101"
    epochs: int = 10
    batch_size: int = 128
    val_batch_size: int = 256
    lr: float = 0.05
    image_size: int = 224
    seed: int = 0
    device: str = "auto"
    limit: int | None = None
    num_workers: int = 0
    trimap_interpolation: str = "bilinear"
    save_checkpoints: bool = False
    quiet: bool = False


def _finite_or_none(value: float) -> float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def run_finetune(config: FinetuneConfig) -> dict:
    """Train the head as the starter did and write metrics.json and pictures to `config.out`.

    Returns the metrics dictionary that was written.
    """
    if config.epochs < 1:
        raise ValueError("epochs must be at least 1")
    if config.batch_size < 2:
        raise ValueError("batch size must be at least 2: train-mode BatchNorm in the ASPP "
                         "pooling branch cannot normalise a single 1x1 feature")
    started = time.perf_counter()
    device = resolve_device(config.device)
    seed_everything(config.seed)

    loaders = make_loaders(
        config.data,
        image_size=config.image_size,
        train_batch_size=config.batch_size,
        val_batch_size=config.val_batch_size,
        seed=config.seed,
        limit=config.limit,
        num_workers=config.num_workers,
        trimap_interpolation=config.trimap_interpolation,
    )
    model = build_model(config.arch, config.weights)
    prepare_for_finetuning(model, num_classes=2)
    model.to(device)
    optimizer = make_optimizer(model, config.lr)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    log = (lambda *_: None) if config.quiet else print
    log(f"Train set: {len(loaders.train.dataset)}, Test set: {len(loaders.val.dataset)}, "
        f"device {device}, weights {config.weights or 'random (no --weights given)'}")
    history: list[dict] = []
    best: dict | None = None
    for epoch in range(1, config.epochs + 1):
        train_loss = train_one_epoch(model, loaders.train, optimizer, device)
        scores = evaluate(model, loaders.val, device)
        entry = {"epoch": epoch, "train_loss": train_loss, **scores}
        history.append(entry)
        log(f"Epoch [{epoch}/{config.epochs}], Loss: {train_loss:.4f}, "
            f"Val Loss: {scores['val_loss']:.4f}, mIOU: {scores['val_iou_thresholded']:.4f}, "
            f"IoU: {scores['val_iou']:.4f}")
        if best is None or entry["val_iou_thresholded"] > best["val_iou_thresholded"]:
            best = entry
            if config.save_checkpoints:
                torch.save(model.state_dict(), out / f"{EXPERIMENT}-best.ckpt")
    if config.save_checkpoints:
        torch.save(model.state_dict(), out / f"{EXPERIMENT}-last.ckpt")

    _plot_curves(history, out)
    _plot_predictions(model, loaders.val.dataset, device, out / "val_predictions.png")

    metrics = {
        "epochs": [{k: _finite_or_none(v) for k, v in e.items()} for e in history],
        "best": {k: _finite_or_none(v) for k, v in best.items()} if best else None,
        "trainable_parameters": trainable_parameter_count(model),
        "learned_parameter_names": [n for n, p in model.named_parameters() if p.requires_grad],
        "seed": config.seed,
        "seconds": time.perf_counter() - started,
        "device": str(device),
        "train_size": len(loaders.train.dataset),
        "val_size": len(loaders.val.dataset),
        "train_batches_per_epoch": len(loaders.train),
        "pretrained": config.weights is not None,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "versions": {"torch": torch.__version__, "torchvision": _torchvision_version()},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    return metrics


def _torchvision_version() -> str:
    import torchvision

    return torchvision.__version__


def _plot_curves(history: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [e["epoch"] for e in history]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(epochs, [e["train_loss"] for e in history], "ro-", label="Train")
    ax.plot(epochs, [e["val_loss"] for e in history], "go-", label="Validation")
    ax.set(xlabel="Epochs", ylabel="Loss", title="Fine-tuning loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "training_curve.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(epochs, [e["val_iou_thresholded"] for e in history], "bo-",
            label="thresholded IoU (course mIOU)")
    ax.plot(epochs, [e["val_iou"] for e in history], "mo-",
            label="foreground IoU")
    ax.set(xlabel="Epochs", ylabel="IoU", ylim=(0, 1), title="Validation IoU")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "val_iou_curve.png")
    plt.close(fig)


def _plot_predictions(
    model: nn.Module, dataset: FlowersSegmentation, device: torch.device, path: Path, count: int = 4
) -> None:
    """Rows of (image, true mask, predicted mask) for the first validation images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(count, len(dataset))
    raws = [dataset.raw(i) for i in range(count)]
    images = torch.stack([normalize_image(rgb) for rgb, _ in raws])
    preds = predict_masks(model, images, device)
    fig, axes = plt.subplots(count, 3, figsize=(7.5, 2.5 * count), squeeze=False)
    for row, ((rgb, mask), pred) in enumerate(zip(raws, preds, strict=True)):
        panels = ((rgb, "image"), (mask, "true mask"), (pred.numpy(), "predicted mask"))
        for ax, (img, title) in zip(axes[row], panels, strict=True):
            if img.ndim == 3:
                ax.imshow(img)
            else:
                ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reference finetune",
        description="Fine-tune DeepLabV3's last head layer on Oxford-17 flowers (W2020 Part C).",
    )
    p.add_argument("--data", type=Path, required=True,
                   help="flowers folder with jpg/, trimaps/ and datasplits.mat")
    p.add_argument("--weights", type=Path, default=None,
                   help="local state dict, e.g. deeplabv3_resnet101_coco-586e9e4e.pth "
                        "(default: random weights; nothing is downloaded)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="deeplabv3_resnet101")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--val-batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1")
    p.add_argument("--limit", type=int, default=None,
                   help="keep only the first N train and N validation items")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--trimap-interpolation", choices=TRIMAP_INTERPOLATIONS, default="bilinear",
                   help="bilinear reproduces the starter's labels (see reference/flowers.py)")
    p.add_argument("--save-checkpoints", action="store_true",
                   help=f"write {EXPERIMENT}-best.ckpt and {EXPERIMENT}-last.ckpt")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = FinetuneConfig(**vars(args))
    try:
        metrics = run_finetune(config)
    except (FlowersDataError, WeightsError, ValueError) as exc:
        print(f"finetune: error: {exc}", file=sys.stderr)
        return 2
    best = metrics["best"]
    if not config.quiet:
        print(f"best epoch {best['epoch']}: mIOU {best['val_iou_thresholded']:.4f}; "
              f"wrote {config.out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
