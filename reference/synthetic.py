"""Small, learnable stand-ins for CIFAR-10 horses, written in the real on-disk formats.

Each 32x32 image is a background plus a few ellipses and rectangles, each filled with one of a
fixed set of *materials*: an RGB colour plus a brightness texture (flat, stripes, checks,
speckle). Some materials share a grey level and differ only in texture, so the colour of a pixel
is predictable from its grey neighbourhood but not from its own grey value alone: a convolutional
net learns it within a few epochs, a per-pixel lookup cannot fully.

Writers produce exactly what the real loaders read: CIFAR-10 python batches (Python-pickled
dicts with bytes keys, all ten classes, horses as label 7, partial batches), optionally as the
``cifar-10-python.tar.gz`` archive, image folders (JPEG or PNG), and the course's palette file
format (a pickled object array ``(codebook, distortion)``). Everything is deterministic by seed.

``python -m reference.synthetic OUT [--format cifar|jpg|png|tarball] [--train N] [--val N]``
"""

from __future__ import annotations

import argparse
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

__all__ = [
    "MATERIALS",
    "horse_arrays",
    "render_images",
    "write_cifar_pickles",
    "write_course_palette",
    "write_image_folder",
]

SIZE = 32
HORSE_LABEL = 7
CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

# (name, RGB in 0..1, texture). Pairs with (nearly) the same grey level differ in texture.
MATERIALS: tuple[tuple[str, tuple[float, float, float], str], ...] = (
    ("sky", (0.42, 0.62, 0.92), "flat"),  # grey 0.653
    ("sand", (0.86, 0.70, 0.40), "checks"),  # grey 0.653
    ("grass", (0.28, 0.58, 0.20), "vstripes"),  # grey 0.353
    ("coat", (0.58, 0.32, 0.16), "flat"),  # grey 0.353
    ("brick", (0.74, 0.20, 0.12), "hstripes"),  # grey 0.353
    ("snow", (0.93, 0.93, 0.91), "flat"),  # grey 0.923
    ("night", (0.08, 0.08, 0.16), "flat"),  # grey 0.107
    ("stone", (0.52, 0.52, 0.50), "speckle"),  # grey 0.513
    ("leaf", (0.36, 0.72, 0.46), "flat"),  # grey 0.513
)
TEXTURE_AMPLITUDE = 0.18
NOISE_SIGMA = 0.015


def _texture(kind: str, yy: np.ndarray, xx: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Brightness modulation in [-1, 1] for every image; ``phase`` is (n, 1, 1)."""
    if kind == "flat":
        return np.zeros(np.broadcast_shapes(yy.shape, phase.shape))
    if kind == "vstripes":
        return np.where(((xx + phase) // 2) % 2 == 0, 1.0, -1.0)
    if kind == "hstripes":
        return np.where(((yy + phase) // 2) % 2 == 0, 1.0, -1.0)
    if kind == "checks":
        return np.where(((yy // 2) + (xx + phase) // 2) % 2 == 0, 1.0, -1.0)
    if kind == "speckle":
        # a fixed pseudo-random dot pattern (hash of coordinates), shifted per image
        h = ((yy * 73 + (xx + phase) * 151) * 2654435761) % 2**32
        return np.where((h >> 13) % 3 == 0, 1.0, -0.5)
    raise ValueError(f"unknown texture {kind!r}")


def render_images(n: int, seed: int = 0, materials=MATERIALS) -> np.ndarray:
    """``n`` synthetic images as uint8 (n, 3, 32, 32), deterministic in ``seed``."""
    rng = np.random.RandomState(seed)
    n_mat = len(materials)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    yy, xx = yy[None], xx[None]

    material = np.repeat(rng.randint(n_mat, size=n)[:, None, None], SIZE, 1).repeat(SIZE, 2)
    for _ in range(4):
        active = rng.rand(n) < 0.8
        cy, cx = rng.uniform(0, SIZE, (2, n))
        ry, rx = rng.uniform(4, 13, (2, n))
        is_ellipse = rng.rand(n) < 0.5
        mat = rng.randint(n_mat, size=n)
        dy = (yy - cy[:, None, None]) / ry[:, None, None]
        dx = (xx - cx[:, None, None]) / rx[:, None, None]
        ellipse = dy**2 + dx**2 <= 1.0
        rect = (np.abs(dy) <= 1.0) & (np.abs(dx) <= 1.0)
        inside = np.where(is_ellipse[:, None, None], ellipse, rect) & active[:, None, None]
        material = np.where(inside, mat[:, None, None], material)

    phase = rng.randint(0, 4, size=(n, 1, 1))
    colour = np.zeros((n, 3, SIZE, SIZE))
    for index, (_, rgb, kind) in enumerate(materials):
        mask = material == index
        if not mask.any():
            continue
        shade = 1.0 + TEXTURE_AMPLITUDE * _texture(kind, yy, xx, phase)
        for c in range(3):
            colour[:, c] = np.where(mask, rgb[c] * shade, colour[:, c])
    colour *= rng.uniform(0.96, 1.04, size=(n, 1, 1, 1))  # mild per-image exposure change
    colour += rng.normal(0.0, NOISE_SIGMA, size=colour.shape)
    return np.clip(np.rint(colour * 255.0), 0, 255).astype(np.uint8)


def horse_arrays(n_train: int = 1000, n_val: int = 200, seed: int = 0) -> tuple[np.ndarray, ...]:
    """In-memory synthetic horses: (train, val) uint8 (N, 3, 32, 32); splits never overlap."""
    return render_images(n_train, seed=2 * seed + 1), render_images(n_val, seed=2 * seed + 2)


def _batch_dict(images: np.ndarray, labels: list[int], name: str, offset: int) -> dict:
    """One CIFAR batch as the official files hold it: bytes keys, flat uint8 rows, int labels."""
    return {
        b"batch_label": name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8),
        b"filenames": [
            f"{CLASS_NAMES[label]}_s_{offset + i:06d}.png".encode()
            for i, label in enumerate(labels)
        ],
    }


def _split_batches(horses: np.ndarray, n_batches: int, others_per_class: int, rng, seed: int):
    """Distribute horses over ``n_batches`` batches and mix in every other class."""
    chunks = np.array_split(np.arange(len(horses)), n_batches)
    for b, idx in enumerate(chunks):
        other_labels = [c for c in range(10) if c != HORSE_LABEL for _ in range(others_per_class)]
        others = render_images(len(other_labels), seed=10_000 + 97 * seed + b)
        # Interleave classes as the real batches do, keeping the horses in generation order so
        # that a loader reading file order gets exactly horse_arrays()'s sequence.
        total = len(idx) + len(other_labels)
        horse_slots = np.zeros(total, dtype=bool)
        horse_slots[rng.choice(total, len(idx), replace=False)] = True
        images = np.empty((total, 3, SIZE, SIZE), dtype=np.uint8)
        labels = np.empty(total, dtype=np.int64)
        images[horse_slots], labels[horse_slots] = horses[idx], HORSE_LABEL
        other_order = rng.permutation(len(other_labels))
        images[~horse_slots] = others[other_order]
        labels[~horse_slots] = np.asarray(other_labels)[other_order]
        yield images, labels.tolist()


def write_cifar_pickles(
    root: str | Path,
    n_train: int = 300,
    n_val: int = 100,
    *,
    others_per_class: int = 2,
    seed: int = 0,
    tarball: bool = False,
) -> Path:
    """Write ``root/cifar-10-batches-py/`` (or ``root/cifar-10-python.tar.gz``); return it.

    Batches are Python-pickled dictionaries with bytes keys (what Python 3 sees when it reads
    the official Python-2 files with ``encoding="bytes"``), protocol 2, each much smaller than
    the official 10,000 images.
    """
    root = Path(root)
    rng = np.random.RandomState(seed)
    train_h, val_h = horse_arrays(n_train, n_val, seed)
    files: dict[str, bytes] = {}
    offset = 0
    for b, (images, labels) in enumerate(_split_batches(train_h, 5, others_per_class, rng, seed)):
        name = f"data_batch_{b + 1}"
        files[name] = pickle.dumps(_batch_dict(images, labels, name, offset), protocol=2)
        offset += len(labels)
    ((images, labels),) = _split_batches(val_h, 1, others_per_class, rng, seed + 1)
    files["test_batch"] = pickle.dumps(
        _batch_dict(images, labels, "testing batch 1 of 1", offset), protocol=2
    )
    files["batches.meta"] = pickle.dumps(
        {
            b"label_names": [c.encode() for c in CLASS_NAMES],
            b"num_cases_per_batch": 10000,
            b"num_vis": SIZE * SIZE * 3,
        },
        protocol=2,
    )

    root.mkdir(parents=True, exist_ok=True)
    if tarball:
        target = root / "cifar-10-python.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
        return target
    folder = root / "cifar-10-batches-py"
    folder.mkdir(exist_ok=True)
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return folder


def write_image_folder(
    root: str | Path,
    n_train: int = 300,
    n_val: int = 100,
    *,
    fmt: str = "jpg",
    seed: int = 0,
    quality: int = 95,
) -> Path:
    """Write ``root/train/NNNN.<fmt>`` and ``root/test/NNNN.<fmt>`` (horses only); return root."""
    from PIL import Image

    fmt = fmt.lower().lstrip(".")
    if fmt not in ("jpg", "jpeg", "png"):
        raise ValueError(f"image format must be jpg or png, got {fmt!r}")
    root = Path(root)
    for split, images in zip(("train", "test"), horse_arrays(n_train, n_val, seed), strict=True):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            picture = Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)))
            if fmt == "png":
                picture.save(folder / f"{i:04d}.png")
            else:
                picture.save(folder / f"{i:04d}.{fmt}", quality=quality)
    return root


def write_course_palette(path: str | Path, codebook: np.ndarray, distortion: float = 0.0) -> Path:
    """Save a palette the way the course file is stored: an ``.npy`` of a pickled object array
    ``(codebook, distortion)`` (what ``scipy.cluster.vq.kmeans`` returns), pickle protocol 2."""
    path = Path(path)
    obj = np.empty(2, dtype=object)
    obj[0] = np.asarray(codebook, dtype=np.float64)
    obj[1] = np.float64(distortion)
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|O", "fortran_order": False, "shape": (2,)}
        )
        pickle.dump(obj, f, protocol=2)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference.synthetic", description="Write a small synthetic CIFAR horse set."
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--format", choices=["cifar", "tarball", "jpg", "png"], default="cifar")
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.format in ("cifar", "tarball"):
        where = write_cifar_pickles(
            args.out, args.train, args.val, seed=args.seed, tarball=args.format == "tarball"
        )
    else:
        where = write_image_folder(args.out, args.train, args.val, fmt=args.format, seed=args.seed)
    print(where)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
