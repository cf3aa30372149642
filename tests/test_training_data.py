"""Data packs from real on-disk formats (generated CIFAR pickles), palettes and fingerprints."""

from __future__ import annotations

import io

import numpy as np
import pytest

from grader.sandbox.tasks.train import Arrays
from grader.training import build_pack
from grader.training.data import BLOB_NAME
from reference.data import DataLayoutError, load_palette
from reference.synthetic import write_cifar_pickles, write_course_palette
from tests.training_factory import SMALLEST


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar_pickles(root, n_train=120, n_val=60, seed=3)
    return root


def test_pack_from_cifar_pickles_with_course_palette(cifar, tmp_path):
    palette = np.linspace(0.05, 0.95, 24 * 3).reshape(24, 3)
    course = write_course_palette(tmp_path / "colour_kmeans24_cat7.npy", palette)
    pack = build_pack(cifar, course, {"train_images": 100, "val_images": 40})
    assert pack.x_train.shape == (100, 1, 32, 32) and pack.x_train.dtype == np.float32
    assert pack.y_val.shape == (40, 1, 32, 32) and pack.y_val.dtype == np.uint8
    assert np.array_equal(pack.palette, load_palette(course))
    assert pack.description["source"].startswith("cifar-pickle:")
    assert 0 <= pack.x_train.min() and pack.x_train.max() < 1
    # the blob the sandbox gets reads back to the same training tensors, and nothing else
    arrays = Arrays.from_npz(io.BytesIO(pack.training_files()[BLOB_NAME]))
    assert arrays.num_colours == 24 and tuple(arrays.y_train.shape) == (100, 32, 32)
    assert np.array_equal(arrays.y_train.numpy(), pack.y_train[:, 0].astype(np.int64))
    assert arrays.x_val is None and arrays.y_val is None
    # the trusted side's arrays hold the validation split too
    assert np.array_equal(pack.arrays().y_val.numpy(), pack.y_val[:, 0].astype(np.int64))


def test_fingerprint_is_stable_and_tracks_what_is_trained_on(cifar):
    budget = {"train_images": 100, "val_images": 40}
    a = build_pack(cifar, None, budget)
    b = build_pack(cifar, None, budget)
    fewer = build_pack(cifar, None, {"train_images": 90, "val_images": 40})
    reshuffled = build_pack(cifar, None, budget, seed=1)
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, fewer.fingerprint, reshuffled.fingerprint}) == 3
    assert a.description["palette"].startswith("kmeans(k=24")


def test_budget_larger_than_the_data_takes_what_there_is(cifar):
    pack = build_pack(cifar, None, {"train_images": 5000, "val_images": 1000}, num_colours=10)
    assert pack.x_train.shape[0] == 120 and pack.x_val.shape[0] == 60
    assert pack.num_colours == 10 and pack.y_train.max() < 10


def test_synthetic_default_is_written_once_into_the_cache(tmp_path):
    first = build_pack(budget=SMALLEST, cache_dir=tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("test_batch"))
    assert len(written) == 1 and first.description["synthetic"] is True
    again = build_pack(budget=SMALLEST, cache_dir=tmp_path)
    assert again.fingerprint == first.fingerprint
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("test_batch")) == written


def test_unusable_palette_and_data_are_readable_errors(cifar, tmp_path):
    small = write_course_palette(tmp_path / "p.npy", np.random.RandomState(0).rand(12, 3))
    with pytest.raises(DataLayoutError, match="12 colours but the configuration needs 24"):
        build_pack(cifar, small, {"train_images": 10, "val_images": 10})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataLayoutError, match="no CIFAR-10 data found"):
        build_pack(tmp_path / "empty", None, {"train_images": 10, "val_images": 10})


def test_integer_inputs_with_a_scale_are_read_as_floats():
    buf = io.BytesIO()
    sums = np.random.RandomState(0).randint(0, 766, (3, 1, 32, 32)).astype(np.uint16)
    labels = np.random.RandomState(1).randint(0, 24, (3, 1, 32, 32)).astype(np.uint8)
    np.savez(buf, x_train=sums, y_train=labels, x_val=sums[:2], y_val=labels[:2],
             x_scale=np.float64(1 / 768), num_colours=np.int64(24))
    buf.seek(0)
    arrays = Arrays.from_npz(buf)
    assert arrays.x_train.dtype.is_floating_point and float(arrays.x_train.max()) < 1.0
    assert np.allclose(arrays.x_val.numpy(), sums[:2] / 768, atol=1e-6)
