"""A tiny, deterministic stand-in for the Oxford-17 flowers folder, in the exact VGG layout.

It exists so that tests and the grader can exercise the flowers pipeline without the real
data set: `jpg/image_NNNN.jpg`, `trimaps/image_NNNN.png`, and `datasplits.mat` written with
`scipy.io.savemat` (trn1..3, val1..3, tst1..3 as 1 x N double row vectors of 1-based indices,
as MATLAB stores them).

The messy parts of the real folder are reproduced on purpose: most images have no trimap, one
trimap has no image, one listed index has neither file, the three train lists overlap (so the
concatenation holds duplicates), images have different non-square sizes, one JPEG is greyscale,
trimaps alternate between RGB and palette PNGs, and the trimaps hold colours other than the
(128, 0, 0) foreground: black background, a white boundary band, and a few near-miss pixels
such as (128, 0, 1) that must not count as foreground.

Run `python -m reference.flowers_synthetic OUT_DIR [--images N] [--seed S]` to write one.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from reference.flowers import FOREGROUND_RGB, image_path, trimap_path

BACKGROUND_RGB = (0, 0, 0)
BOUNDARY_RGB = (255, 255, 255)
NEAR_MISS_RGB = ((128, 0, 1), (127, 0, 0), (128, 1, 0))
SPLIT_KEYS = ("trn1", "trn2", "trn3", "val1", "val2", "val3", "tst1", "tst2", "tst3")


@dataclass(frozen=True)
class SyntheticFlowers:
    """What was written, so tests can derive expectations independently of the loader."""

    root: Path
    splits: dict[str, list[int]]
    with_jpg: frozenset[int]
    with_trimap: frozenset[int]
    greyscale_jpg: int
    palette_trimaps: frozenset[int]


def _trimap(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RGB trimap and the normalised elliptic distance used to paint the matching image."""
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
    ry, rx = rng.uniform(0.2, 0.33) * h, rng.uniform(0.2, 0.33) * w
    yy, xx = np.mgrid[0:h, 0:w]
    dist = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    trimap = np.zeros((h, w, 3), np.uint8)
    trimap[:] = BACKGROUND_RGB
    trimap[dist <= 1.5] = BOUNDARY_RGB
    trimap[dist <= 1.0] = FOREGROUND_RGB
    outside = np.argwhere(dist > 2.0)
    for colour in NEAR_MISS_RGB:
        y, x = outside[rng.integers(len(outside))]
        trimap[y, x] = colour
    return trimap, dist


def _image(dist: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = dist.shape
    leaves = np.array([rng.uniform(20, 60), rng.uniform(90, 160), rng.uniform(20, 60)])
    petals = rng.uniform(150, 255, size=3)
    petals[rng.integers(3)] = rng.uniform(0, 60)  # saturated, unlike the leaves
    shade = np.linspace(0.8, 1.2, w)[None, :, None]
    img = leaves * shade + rng.normal(0, 12, size=(h, w, 3))
    inside = dist <= 1.2
    img[inside] = petals + rng.normal(0, 12, size=(int(inside.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _save_palette_png(rgb: np.ndarray, path: Path) -> None:
    """Exact palette PNG: one palette entry per distinct colour (no quantisation)."""
    colours, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    img = Image.fromarray(inverse.reshape(rgb.shape[:2]).astype(np.uint8), mode="P")
    img.putpalette(colours.astype(np.uint8).reshape(-1).tolist())
    img.save(path)


def write_synthetic_flowers(
    root: Path | str,
    *,
    n_images: int = 24,
    seed: int = 0,
    min_side: int = 40,
    max_side: int = 72,
    trimap_fraction: float = 0.7,
) -> SyntheticFlowers:
    """Write a synthetic flowers folder under `root` (created if needed); deterministic in seed.

    About `trimap_fraction` of the images get a trimap (the real set has 848 of 1360).
    """
    if n_images < 8:
        raise ValueError("n_images must be at least 8")
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "jpg").mkdir(parents=True, exist_ok=True)
    (root / "trimaps").mkdir(parents=True, exist_ok=True)

    indices = np.arange(1, n_images + 1)
    no_jpg = int(rng.choice(indices))  # a trimap without its image
    candidates = [int(i) for i in indices if i != no_jpg]
    n_trimaps = max(4, round(trimap_fraction * n_images)) - 1
    with_trimap = {no_jpg, *(int(i) for i in rng.choice(candidates, n_trimaps, replace=False))}
    with_jpg = set(candidates)
    usable = sorted(with_jpg & with_trimap)
    greyscale = int(rng.choice(usable))
    palette = frozenset(i for i in with_trimap if i % 2)

    for index in range(1, n_images + 1):
        h, w = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        trimap, dist = _trimap(h, w, rng)
        image = _image(dist, rng)
        if index in with_jpg:
            pil = Image.fromarray(image)
            if index == greyscale:
                pil = pil.convert("L")
            pil.save(image_path(root, index), quality=90)
        if index in with_trimap:
            if index in palette:
                _save_palette_png(trimap, trimap_path(root, index))
            else:
                Image.fromarray(trimap).save(trimap_path(root, index))

    # Lists draw from 1..n+1: index n+1 has no file at all. Each train list holds about half
    # of the indices, so the three overlap; val1 is forced to hold some usable indices.
    pool = np.arange(1, n_images + 2)
    splits: dict[str, list[int]] = {}
    for key in SPLIT_KEYS:
        size = n_images // 2 if key.startswith("trn") else max(3, n_images // 4)
        splits[key] = [int(i) for i in rng.choice(pool, size, replace=False)]
    spare = [i for i in usable if i not in splits["val1"]]
    splits["val1"] += [int(i) for i in rng.choice(spare, 2, replace=False)]
    splits["val1"].append(n_images + 1)
    scipy.io.savemat(
        str(root / "datasplits.mat"),
        {k: np.asarray(v, dtype=np.float64).reshape(1, -1) for k, v in splits.items()},
    )
    return SyntheticFlowers(
        root=root,
        splits=splits,
        with_jpg=frozenset(with_jpg),
        with_trimap=frozenset(with_trimap),
        greyscale_jpg=greyscale,
        palette_trimaps=palette,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reference.flowers_synthetic")
    p.add_argument("out", type=Path)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    made = write_synthetic_flowers(args.out, n_images=args.images, seed=args.seed)
    print(f"wrote {len(made.with_jpg)} images and {len(made.with_trimap)} trimaps to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
