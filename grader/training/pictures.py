"""A picture for the report: validation horses as the student's model and the reference see them.

Rows: the grey input, the true quantised colours, the reference's prediction and the student's
prediction (palette colours), one column per image, each pixel enlarged. Rendered with Pillow
(no matplotlib figure state, no fonts on disk) and returned as PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
TEXT = (40, 40, 40)
MISSING = (200, 200, 200)


def _colours(categories: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(N, H, W) category indices -> (N, H, W, 3) uint8 palette colours (/256 scale in)."""
    cats = np.clip(np.asarray(categories, dtype=np.int64), 0, len(palette) - 1)
    rgb = np.asarray(palette, dtype=np.float64)[cats]
    return np.clip(np.rint(rgb * 256.0), 0, 255).astype(np.uint8)


def _grey(grey: np.ndarray) -> np.ndarray:
    g = np.asarray(grey, dtype=np.float64)
    if g.ndim == 4:  # (N, 1, H, W)
        g = g[:, 0]
    g = np.clip(np.rint(g * 256.0), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def horse_grid(grey: np.ndarray, true: np.ndarray, palette: np.ndarray,
               reference: np.ndarray | Sequence | None = None,
               student: np.ndarray | Sequence | None = None, *, n: int = 8, scale: int = 3,
               gap: int = 4) -> bytes:
    """PNG bytes of the grid; a missing prediction row is drawn grey and labelled "(none)".

    ``grey``: (N, [1,] H, W) floats in the /256 scale; ``true``, ``reference``, ``student``:
    (N, H, W) category indices (lists of lists are accepted, e.g. from a JSON calibration).
    """
    grey_rgb = _grey(grey)[:n]
    count = grey_rgb.shape[0]
    if count == 0:
        raise ValueError("no images to draw")
    h, w = grey_rgb.shape[1:3]
    rows: list[tuple[str, np.ndarray | None]] = [("grey input", grey_rgb),
                                                 ("true colours", _colours(true, palette)[:n])]
    for label, cats in (("reference", reference), ("student", student)):
        arr = None if cats is None else np.asarray(cats)
        usable = arr is not None and arr.ndim == 3 and arr.shape[0] >= count
        rows.append((label if usable else f"{label} (none)",
                     _colours(arr, palette)[:count] if usable else None))

    font = ImageFont.load_default()
    label_w = 8 + max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(r[0], font=font))
                      for r in rows)
    cell_h, cell_w = h * scale, w * scale
    width = label_w + count * (cell_w + gap) + gap
    height = len(rows) * (cell_h + gap) + gap
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        top = gap + r * (cell_h + gap)
        draw.text((4, top + cell_h // 2 - 5), label, fill=TEXT, font=font)
        for i in range(count):
            left = label_w + gap + i * (cell_w + gap)
            if images is None:
                draw.rectangle([left, top, left + cell_w - 1, top + cell_h - 1], fill=MISSING)
                continue
            tile = Image.fromarray(np.ascontiguousarray(images[i]), "RGB")
            canvas.paste(tile.resize((cell_w, cell_h), Image.NEAREST), (left, top))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
