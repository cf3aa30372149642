"""Helpers for the fine-tuning reference tests: hand-built trimaps, snapshots, expectations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reference.flowers_synthetic import SyntheticFlowers


def save_trimap(path: Path, rgb: np.ndarray, palette: bool = False) -> Path:
    """Write an RGB array as a PNG, optionally as an exact palette image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        colours, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
        img = Image.fromarray(inverse.reshape(rgb.shape[:2]).astype(np.uint8), mode="P")
        img.putpalette(colours.astype(np.uint8).reshape(-1).tolist())
    else:
        img = Image.fromarray(rgb.astype(np.uint8))
    img.save(path)
    return path


def trimap_with_block(side: int, lo: int, hi: int, other=(0, 0, 0)) -> np.ndarray:
    """side x side trimap: (128, 0, 0) on rows and columns lo..hi-1, `other` elsewhere."""
    rgb = np.zeros((side, side, 3), np.uint8)
    rgb[:] = other
    rgb[lo:hi, lo:hi] = (128, 0, 0)
    return rgb


def expected_lists(made: SyntheticFlowers) -> tuple[list[int], list[int]]:
    """Train/val lists derived from what the generator wrote, without the loader's code."""
    both = made.with_jpg & made.with_trimap
    train = [i for key in ("trn1", "trn2", "trn3") for i in made.splits[key] if i in both]
    val = [i for i in made.splits["val1"] if i in both]
    return train, val


def parameters_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def buffers_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.detach().clone() for n, b in model.named_buffers()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    assert before.keys() == after.keys()
    return {n for n in before if not torch.equal(before[n], after[n])}
