"""The data pack an accuracy check trains on: greyscale horses and their colour categories.

Built from the configured data (CIFAR-10 python batches, their archive, or an image folder, read
by `reference.data.load_dataset`) with the course palette or a seeded k-means one, or, when no
data is configured, from `reference.synthetic` horses written once in the real CIFAR-pickle
format into the cache, so the same reader is exercised either way. The pack is shuffled the
starter's way, cut to the budget's image counts, and travels to the sandbox as one ``.npz`` blob;
its fingerprint (a hash of exactly those arrays) keys the reference calibration.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grader.sandbox.tasks.train import Arrays

BLOB_NAME = "data.npz"
PACK_VERSION = b"pa2-grader-pack-v1"
SYNTHETIC_VERSION = "v1"
DEFAULT_ROOT = Path("~/.cache/pa2-grader")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where the grader keeps generated data and calibrations.

    ``cache_dir`` wins, then the ``GRADER_CACHE_DIR`` environment variable, then
    ``~/.cache/pa2-grader``; calibrations live in its ``calibration/`` sub-folder.
    """
    chosen = cache_dir or os.environ.get("GRADER_CACHE_DIR") or DEFAULT_ROOT
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class DataPack:
    """Prepared arrays: x (N, 1, 32, 32) float32 grey, y (N, 1, 32, 32) uint8 categories."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    palette: np.ndarray
    fingerprint: str
    description: dict[str, Any]
    _blob: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @property
    def num_colours(self) -> int:
        return int(self.palette.shape[0])

    @property
    def num_in_channels(self) -> int:
        return int(self.x_train.shape[1])

    def training_blob(self) -> bytes:
        """What the sandbox's training task reads: the training split alone (built once).

        The validation images and labels stay here: the trusted side scores the networks the
        task exports, so a student's process never sees what it is graded on."""
        if not self._blob:
            buf = io.BytesIO()
            np.savez(buf, x_train=self.x_train, y_train=self.y_train,
                     num_colours=np.int64(self.num_colours), palette=self.palette)
            self._blob.append(buf.getvalue())
        return self._blob[0]

    def training_files(self) -> dict[str, bytes]:
        """Input files for `Sandbox.run(request, files=...)` of a training task."""
        return {BLOB_NAME: self.training_blob()}

    def arrays(self) -> Arrays:
        """Both splits as tensors, for training in this process (the reference's calibration)."""
        return Arrays(x_train=torch.from_numpy(self.x_train), y_train=_labels(self.y_train),
                      x_val=torch.from_numpy(self.x_val), y_val=_labels(self.y_val),
                      num_colours=self.num_colours)

    def samples(self, n: int) -> dict[str, np.ndarray]:
        """The first ``n`` validation images: grey input and true categories, for pictures."""
        return {"grey": self.x_val[:n, 0], "true": self.y_val[:n, 0]}


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(y[:, 0].astype(np.int64))


def pack_fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """16 hex digits over the arrays' names, shapes, dtypes and bytes, in a fixed order."""
    h = hashlib.sha256(PACK_VERSION)
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def synthetic_source(n_train: int, n_val: int, cache_dir: str | Path | None = None,
                     seed: int = 0) -> Path:
    """Synthetic horses as CIFAR python batches in the cache (written once, atomically)."""
    from reference.synthetic import write_cifar_pickles

    root = cache_root(cache_dir) / "synthetic"
    final = root / f"{SYNTHETIC_VERSION}-{n_train}x{n_val}-seed{seed}"
    if (final / "cifar-10-batches-py" / "test_batch").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        write_cifar_pickles(staging, n_train, n_val, seed=seed)
        try:
            os.replace(staging, final)
        except OSError:  # another process won the race; its copy is identical
            if not (final / "cifar-10-batches-py" / "test_batch").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def build_pack(data: str | Path | None = None, colours: str | Path | None = None,
               budget: dict[str, Any] | None = None, *, num_colours: int = 24, seed: int = 0,
               cache_dir: str | Path | None = None) -> DataPack:
    """The pack for one budget: real data when ``data`` is given, else cached synthetic horses.

    ``colours`` is the course palette file (or a plain (K, 3) ``.npy``); without it a k-means
    palette of ``num_colours`` colours is fitted on the training horses. ``seed`` is the
    starter's shuffling seed. Raises ``reference.data.DataLayoutError`` (a ValueError) with a
    readable message for data or palettes it cannot use.
    """
    from reference.data import load_dataset

    budget = budget or {}
    n_train = int(budget.get("train_images") or 1500)
    n_val = int(budget.get("val_images") or 500)
    source = Path(data) if data is not None else synthetic_source(n_train, n_val, cache_dir)
    loaded = load_dataset(source, colours, seed=seed, limit_train=n_train, limit_val=n_val,
                          num_colours=num_colours)
    if colours is not None and loaded.num_colours != num_colours:
        from reference.data import DataLayoutError

        raise DataLayoutError(f"palette {colours} has {loaded.num_colours} colours but the "
                              f"configuration needs {num_colours}")
    if loaded.num_colours > 256:
        raise ValueError(f"at most 256 colours fit the pack's uint8 labels, "
                         f"not {loaded.num_colours}")
    arrays = {
        "x_train": loaded.x_train.numpy().astype(np.float32),
        "y_train": loaded.y_train.numpy().astype(np.uint8)[:, None],
        "x_val": loaded.x_val.numpy().astype(np.float32),
        "y_val": loaded.y_val.numpy().astype(np.uint8)[:, None],
        "palette": np.asarray(loaded.palette, dtype=np.float64),
    }
    description = {**loaded.describe(), "synthetic": data is None,
                   "requested": {"train_images": n_train, "val_images": n_val}}
    fingerprint = pack_fingerprint(arrays)
    description["fingerprint"] = fingerprint
    description["source_fingerprint"] = loaded.fingerprint
    return DataPack(fingerprint=fingerprint, description=description, **arrays)
