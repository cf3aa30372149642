"""The validation-horses picture: grey, true, reference and student rows as a PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from grader.training import build_pack
from grader.training.pictures import horse_grid
from tests.training_factory import SMALLEST


def test_grid_rows_show_the_palette_colours_of_each_prediction(tmp_path):
    pack = build_pack(budget=SMALLEST, cache_dir=tmp_path)
    grey, true = pack.samples(5)["grey"], pack.samples(5)["true"]
    reference = np.zeros_like(true)                 # all colour 0
    student = np.full_like(true, pack.num_colours - 1).tolist()  # as a JSON list
    png = horse_grid(grey, true, pack.palette, reference, student, n=5, scale=2, gap=4)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape[0] == 4 * (64 + 4) + 4
    right = image.shape[1] - 4 - 64  # left edge of the last column
    rows = [4 + r * 68 for r in range(4)]
    tile = lambda r: image[rows[r]:rows[r] + 64, right:right + 64]  # noqa: E731
    want = lambda k: np.clip(np.rint(pack.palette[k] * 256), 0, 255)  # noqa: E731
    assert np.all(tile(2) == want(0)) and np.all(tile(3) == want(pack.num_colours - 1))
    true_tile = tile(1)[::2, ::2]
    assert np.array_equal(true_tile, np.clip(np.rint(pack.palette[true[4]] * 256), 0, 255))
    grey_tile = tile(0)[::2, ::2, 0]
    assert np.array_equal(grey_tile, np.clip(np.rint(grey[4] * 256), 0, 255))


def test_missing_student_row_is_drawn_blank():
    palette = np.random.RandomState(0).rand(4, 3)
    grey = np.random.RandomState(1).rand(3, 1, 32, 32)
    true = np.random.RandomState(2).randint(0, 4, (3, 32, 32))
    png = horse_grid(grey, true, palette, true, None, n=3)
    assert png.startswith(b"\x89PNG")
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    last_row = image[-4 - 96:-4, -4 - 96:-4]
    assert np.all(last_row == (200, 200, 200))
