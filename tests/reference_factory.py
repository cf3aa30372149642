"""Shared helpers for the reference tests: independent re-derivations and real-data locations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_IMAGES = SHARED / "cifar10-horse"
REAL_PALETTE = SHARED / "colours" / "colour_kmeans24_cat7.npy"

needs_real_images = pytest.mark.skipif(
    not (REAL_IMAGES / "train").is_dir(), reason="real CIFAR horse images not present"
)
needs_real_palette = pytest.mark.skipif(
    not REAL_PALETTE.is_file(), reason="course palette file not present"
)


def starter_style_categories(rgb_unit: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Nearest colour as the starter states it: L2 norm over RGB of a (N,1,3,H,W) - (K,1,3,1,1)
    broadcast, argmin over the palette axis. Returns (N, H, W). Written independently of
    reference.data so that tests compare two formulations."""
    diff = rgb_unit[None, :, :, :, :] - palette[:, None, :, None, None]
    return np.argmin(np.linalg.norm(diff, axis=2), axis=0)


def conv(i: int, o: int, k: int) -> int:
    """Weights + biases of a (transposed) convolution."""
    return o * i * k * k + o


def bn(c: int) -> int:
    """Affine parameters of BatchNorm2d (running stats are buffers)."""
    return 2 * c


def expected_parameters(name: str, k: int, nf: int, nc: int, nic: int) -> int:
    """Trainable-parameter count from the handout's layer lists (ASSIGNMENTS.md section 2)."""
    if name == "CNN":
        return (
            conv(nic, nf, k) + bn(nf) + conv(nf, 2 * nf, k) + bn(2 * nf)
            + conv(2 * nf, 2 * nf, k) + bn(2 * nf) + conv(2 * nf, nf, k) + bn(nf)
            + conv(nf, nc, k) + bn(nc) + conv(nc, nc, k)
        )  # fmt: skip
    if name == "UNet2020":
        return (
            conv(nic, nf, k) + bn(nf) + conv(nf, 2 * nf, k) + bn(2 * nf)
            + conv(2 * nf, 2 * nf, k) + bn(2 * nf) + conv(4 * nf, nf, k) + bn(nf)
            + conv(2 * nf, nc, k) + bn(nc) + conv(nc + nic, nc, k)
        )  # fmt: skip
    if name in ("PoolUpsampleNet", "ConvTransposeNet"):
        return (
            conv(nic, nf, k) + bn(nf) + conv(nf, 2 * nf, k) + bn(2 * nf)
            + conv(2 * nf, nf, k) + bn(nf) + conv(nf, nc, k) + bn(nc) + conv(nc, nc, k)
        )  # fmt: skip
    if name == "UNet":
        return (
            conv(nic, nf, k) + bn(nf) + conv(nf, 2 * nf, k) + bn(2 * nf)
            + conv(2 * nf, nf, k) + bn(nf) + conv(2 * nf, nc, k) + bn(nc)
            + conv(nic + nc, nc, k)
        )  # fmt: skip
    raise KeyError(name)
