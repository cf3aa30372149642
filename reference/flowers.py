"""Oxford-17 flowers segmentation data, read the way the W2020 Part C starter read it.

Layout of a flowers folder (as unpacked from the VGG downloads)::

    jpg/image_0001.jpg ... jpg/image_1360.jpg      17flowers.tgz
    trimaps/image_0001.png ...                      trimaps.tgz (848 of the 1360 images)
    datasplits.mat                                  trn1..3, val1..3, tst1..3 (1-based indices)

Train is ``trn1 + trn2 + trn3`` concatenated (duplicates kept, order kept), validation is
``val1``; an index is kept only when both its jpg and its trimap exist. On the real data that
gives 1280 train and 212 validation items (ASSIGNMENTS.md section 5.1).

Resizing reproduces OpenCV's default ``cv2.resize`` (``INTER_LINEAR``: half-pixel centres,
two taps per axis, no anti-aliasing, round half up) with torch, so no cv2 dependency is needed.
PIL's own bilinear resize anti-aliases when shrinking and would give different pixels.

Trimap interpolation. The starter resized the RGB trimap with that same bilinear filter and
then tested pixels for *exact* equality with (128, 0, 0). Bilinear blending keeps the exact
colour wherever all contributing source pixels are foreground, and destroys it wherever a
foreground/other boundary is crossed, so the starter's labels are the foreground minus a thin
boundary band (a slight erosion). Nearest-neighbour would keep every colour exact and give
crisp, un-eroded labels. The default here is ``"bilinear"`` because the reference must label
pixels exactly as the students' notebooks did, or its IoU numbers would not be comparable with
the published 0.33-0.36; ``"nearest"`` is available for anyone who wants the cleaner labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

FOREGROUND_RGB = (128, 0, 0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRAIN_KEYS = ("trn1", "trn2", "trn3")
VAL_KEYS = ("val1",)
TRIMAP_INTERPOLATIONS = ("bilinear", "nearest")

_NAME = re.compile(r"^image_(\d+)\.(jpg|png)$")


class FlowersDataError(ValueError):
    """The flowers folder is missing something or holds something unreadable."""


def image_path(root: Path | str, index: int) -> Path:
    return Path(root) / "jpg" / f"image_{index:04d}.jpg"


def trimap_path(root: Path | str, index: int) -> Path:
    return Path(root) / "trimaps" / f"image_{index:04d}.png"


def _present(folder: Path, suffix: str) -> set[int]:
    """1-based indices of `image_NNNN.<suffix>` files in `folder` (empty when it is absent)."""
    if not folder.is_dir():
        return set()
    found = set()
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match and match.group(2) == suffix and entry.is_file():
            found.add(int(match.group(1)))
    return found


def read_datasplits(path: Path | str) -> dict[str, list[int]]:
    """All index lists of a `datasplits.mat`, flattened to Python ints (1-based, as stored)."""
    path = Path(path)
    if not path.is_file():
        raise FlowersDataError(f"{path} not found (expected the VGG datasplits.mat)")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several unrelated types for corrupt files
        raise FlowersDataError(f"{path} is not a readable MATLAB file: {exc}") from exc
    splits: dict[str, list[int]] = {}
    for key, value in mat.items():
        if key.startswith("__"):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf":
            continue
        flat = arr.reshape(-1)
        if flat.size and (not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat))):
            raise FlowersDataError(f"{path}: split {key!r} holds non-integer indices")
        ints = [int(v) for v in flat]
        if any(v < 1 for v in ints):
            raise FlowersDataError(f"{path}: split {key!r} has indices below 1 (they are 1-based)")
        splits[key] = ints
    return splits


@dataclass(frozen=True)
class FlowersSplits:
    """Index lists after filtering; `listed_*` are the lengths before filtering."""

    root: Path
    train: tuple[int, ...]
    val: tuple[int, ...]
    listed_train: int
    listed_val: int


def load_splits(
    root: Path | str,
    train_keys: Sequence[str] = TRAIN_KEYS,
    val_keys: Sequence[str] = VAL_KEYS,
) -> FlowersSplits:
    """Train/val index lists of the starter: concatenated keys, kept when jpg and trimap exist."""
    root = Path(root)
    if not root.is_dir():
        raise FlowersDataError(f"flowers folder {root} does not exist")
    splits = read_datasplits(root / "datasplits.mat")
    missing = [k for k in (*train_keys, *val_keys) if k not in splits]
    if missing:
        raise FlowersDataError(
            f"{root / 'datasplits.mat'} lacks {missing}; it has {sorted(splits)}"
        )
    jpgs = _present(root / "jpg", "jpg")
    trimaps = _present(root / "trimaps", "png")
    if not jpgs:
        raise FlowersDataError(f"no jpg/image_NNNN.jpg files under {root}")
    if not trimaps:
        raise FlowersDataError(f"no trimaps/image_NNNN.png files under {root}")
    usable = jpgs & trimaps
    listed_train = [i for k in train_keys for i in splits[k]]
    listed_val = [i for k in val_keys for i in splits[k]]
    return FlowersSplits(
        root=root,
        train=tuple(i for i in listed_train if i in usable),
        val=tuple(i for i in listed_val if i in usable),
        listed_train=len(listed_train),
        listed_val=len(listed_val),
    )


def resize_like_cv2(
    array: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear"
) -> np.ndarray:
    """Resize an HxWxC uint8 array to `size` = (height, width) as `cv2.resize` would.

    "bilinear" is INTER_LINEAR (half-pixel centres, no anti-aliasing, round half up);
    "nearest" is INTER_NEAREST (source index floor(dst * scale)).
    """
    if array.dtype != np.uint8 or array.ndim != 3:
        raise ValueError(f"expected an HxWxC uint8 array, got {array.dtype} {array.shape}")
    if tuple(array.shape[:2]) == tuple(size):
        return array.copy()
    chw = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float()
    if interpolation == "bilinear":
        out = F.interpolate(chw, size=size, mode="bilinear", align_corners=False, antialias=False)
        out = torch.floor(out + 0.5).clamp_(0, 255)
    elif interpolation == "nearest":
        out = F.interpolate(chw, size=size, mode="nearest")
    else:
        raise ValueError(f"interpolation must be one of {TRIMAP_INTERPOLATIONS}")
    return out[0].permute(1, 2, 0).to(torch.uint8).numpy()


def _read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"))  # a writable copy
    except (OSError, ValueError) as exc:
        raise FlowersDataError(f"cannot read image {path}: {exc}") from exc


def foreground_mask(trimap_rgb: np.ndarray) -> np.ndarray:
    """1 where a pixel is exactly FOREGROUND_RGB, else 0 (uint8 HxW), like `convert_to_binary`."""
    return np.all(trimap_rgb == np.asarray(FOREGROUND_RGB, dtype=trimap_rgb.dtype), axis=-1).astype(
        np.uint8
    )


def load_image(path: Path | str, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3), resized with cv2-style bilinear interpolation."""
    return resize_like_cv2(_read_rgb(Path(path)), (size, size), "bilinear")


def load_label(path: Path | str, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """Binary uint8 (size, size) flower mask of a trimap (see module docstring on interpolation)."""
    if interpolation not in TRIMAP_INTERPOLATIONS:
        raise ValueError(f"trimap interpolation must be one of {TRIMAP_INTERPOLATIONS}")
    return foreground_mask(resize_like_cv2(_read_rgb(Path(path)), (size, size), interpolation))


def normalize_image(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 3xHxW: /255, then ImageNet mean/std (what the COCO weights expect)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN)
    std = torch.tensor(IMAGENET_STD)
    return ((x - mean) / std).permute(2, 0, 1).contiguous()


class FlowersSegmentation(Dataset):
    """(image float32 3xSxS, mask int64 SxS) pairs for a list of 1-based image indices.

    Decoded, resized pixels are cached per distinct index (uint8, about 200 kB each at 224 px),
    so duplicated train indices and later epochs cost no decoding. The cache lives in this
    process; with DataLoader workers each worker fills its own.
    """

    def __init__(
        self,
        root: Path | str,
        indices: Sequence[int],
        image_size: int = 224,
        trimap_interpolation: str = "bilinear",
        cache: bool = True,
    ) -> None:
        if image_size < 1:
            raise ValueError("image_size must be positive")
        if trimap_interpolation not in TRIMAP_INTERPOLATIONS:
            raise ValueError(f"trimap interpolation must be one of {TRIMAP_INTERPOLATIONS}")
        self.root = Path(root)
        self.indices = tuple(int(i) for i in indices)
        self.image_size = image_size
        self.trimap_interpolation = trimap_interpolation
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def raw(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Resized RGB uint8 image and uint8 {0,1} mask of item `position` (for pictures)."""
        index = self.indices[position]
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        pair = (
            load_image(image_path(self.root, index), self.image_size),
            load_label(trimap_path(self.root, index), self.image_size, self.trimap_interpolation),
        )
        if self._cache is not None:
            self._cache[index] = pair
        return pair

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, mask = self.raw(position)
        return normalize_image(rgb), torch.from_numpy(mask.astype(np.int64))


@dataclass
class FlowersLoaders:
    train: DataLoader
    val: DataLoader
    splits: FlowersSplits


def make_loaders(
    root: Path | str,
    *,
    image_size: int = 224,
    train_batch_size: int = 128,
    val_batch_size: int = 256,
    seed: int = 0,
    limit: int | None = None,
    num_workers: int = 0,
    trimap_interpolation: str = "bilinear",
) -> FlowersLoaders:
    """The starter's loaders: train shuffled with drop_last (10 batches of 128 on the real data).

    `limit` keeps the first N items of each list (after filtering), for quick runs. The train
    shuffle order comes from a generator seeded with `seed`, so runs are repeatable.
    """
    splits = load_splits(root)
    train_idx, val_idx = splits.train, splits.val
    if limit is not None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        train_idx, val_idx = train_idx[:limit], val_idx[:limit]
    if not val_idx:
        raise FlowersDataError(f"no validation images with both jpg and trimap under {root}")
    if len(train_idx) < train_batch_size:
        raise FlowersDataError(
            f"{len(train_idx)} training images are fewer than one batch of {train_batch_size}; "
            "with drop_last=True no step would run (lower --batch-size)"
        )
    train_ds = FlowersSegmentation(root, train_idx, image_size, trimap_interpolation)
    val_ds = FlowersSegmentation(root, val_idx, image_size, trimap_interpolation)
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(
        train_ds,
        batch_size=train_batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        generator=generator,
    )
    val = DataLoader(val_ds, batch_size=val_batch_size, shuffle=False, num_workers=num_workers)
    return FlowersLoaders(train=train, val=val, splits=splits)
