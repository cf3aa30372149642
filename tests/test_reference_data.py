"""Data pipeline on files in the real on-disk formats (generated) and, when present, real data."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from reference import data as rd
from reference.data import (
    DataLayoutError,
    categories_to_rgb,
    dataset_fingerprint,
    detect_layout,
    kmeans_palette,
    load_dataset,
    load_horses,
    load_palette,
    rgb_to_categories,
    starter_permutation,
)
from reference.synthetic import (
    horse_arrays,
    render_images,
    write_cifar_pickles,
    write_course_palette,
    write_image_folder,
)
from tests.reference_factory import (
    REAL_IMAGES,
    REAL_PALETTE,
    needs_real_images,
    needs_real_palette,
    starter_style_categories,
)

N_TRAIN, N_VAL = 37, 11  # partial batches (8,8,7,7,7 horses) and far fewer than 100 images


@pytest.fixture(scope="module")
def palette() -> np.ndarray:
    return kmeans_palette(horse_arrays(200, 10)[0], k=24, seed=0)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar_pickles(root, N_TRAIN, N_VAL, others_per_class=3, seed=4)
    return root


# ------------------------------------------------------------------------------- palette


@needs_real_palette
def test_course_palette_file_reads_like_numpy() -> None:
    pal = load_palette(REAL_PALETTE)
    expected = np.load(REAL_PALETTE, allow_pickle=True, encoding="bytes")[0]
    assert pal.shape == (24, 3) and pal.dtype == np.float64
    np.testing.assert_array_equal(pal, expected)
    np.testing.assert_allclose(pal[0], [0.86930311, 0.81305234, 0.71108155], atol=1e-8)
    np.testing.assert_allclose(pal[23], [0.44792875, 0.46377391, 0.45603445], atol=1e-8)


def test_course_format_palette_roundtrip(tmp_path: Path, palette: np.ndarray) -> None:
    path = write_course_palette(tmp_path / "colours.npy", palette, distortion=0.0728)
    via_numpy = np.load(path, allow_pickle=True, encoding="bytes")
    assert via_numpy.dtype == object and via_numpy.shape == (2,)
    np.testing.assert_array_equal(via_numpy[0], palette)
    np.testing.assert_array_equal(np.load(path, allow_pickle=True, encoding="latin1")[0], palette)
    np.testing.assert_array_equal(load_palette(path), palette)


def test_plain_palette_arrays(tmp_path: Path, palette: np.ndarray) -> None:
    np.save(tmp_path / "plain.npy", palette[:5].astype(np.float32))
    assert load_palette(tmp_path / "plain.npy").shape == (5, 3)
    np.save(tmp_path / "bad.npy", np.zeros((4, 4)))
    with pytest.raises(DataLayoutError, match=r"\(4, 4\)"):
        load_palette(tmp_path / "bad.npy")
    np.save(tmp_path / "255.npy", palette * 255)
    with pytest.raises(DataLayoutError, match="0-255"):
        load_palette(tmp_path / "255.npy")
    with pytest.raises(DataLayoutError, match="does not exist"):
        load_palette(tmp_path / "missing.npy")


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch exploited",))


def test_palette_and_batches_refuse_code_in_pickles(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.npy").write_bytes(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(DataLayoutError, match="refusing"):
        load_palette(tmp_path / "evil.npy")
    root = write_cifar_pickles(tmp_path / "c", 10, 5, others_per_class=0)
    (root / "data_batch_2").write_bytes(pickle.dumps({b"data": _Exploit()}, protocol=2))
    with pytest.raises(DataLayoutError, match="data_batch_2"):
        load_horses(root)
    assert not (tmp_path / "exploited").exists()


# ------------------------------------------------------------------------------- colours


@pytest.mark.parametrize("n", [1, 7, 150])
def test_rgb_to_categories_matches_starter_formula(n: int, palette: np.ndarray) -> None:
    rng = np.random.RandomState(n)
    rgb = rng.randint(0, 256, size=(n, 3, 8, 9)).astype(np.uint8)
    expected = starter_style_categories(rgb / 256.0, palette)
    got = rgb_to_categories(rgb, palette, chunk_pixels=97)
    assert got.shape == (n, 8, 9) and got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(rgb_to_categories(rgb / 256.0, palette), expected)


def test_rgb_to_categories_edge_cases(palette: np.ndarray) -> None:
    assert rgb_to_categories(np.zeros((0, 3, 32, 32), np.uint8), palette).shape == (0, 32, 32)
    # images painted in palette colours map back to themselves
    cats = np.random.RandomState(0).randint(0, 24, size=(3, 5, 5))
    painted = categories_to_rgb(cats, palette).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(rgb_to_categories(painted, palette), cats)
    assert categories_to_rgb(torch.from_numpy(cats), palette).shape == (3, 5, 5, 3)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        rgb_to_categories(np.zeros((2, 32, 32, 3), np.uint8), palette)


def test_kmeans_palette_is_seeded_and_sorted() -> None:
    images = render_images(80, seed=3)
    a, b = kmeans_palette(images, k=12, seed=1), kmeans_palette(images, k=12, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (12, 3) and (a >= 0).all() and (a < 1).all()
    assert np.all(np.diff(a.sum(axis=1)) >= 0)
    with pytest.raises(ValueError, match="distinct"):
        kmeans_palette(np.zeros((2, 3, 4, 4), np.uint8), k=3)


# ------------------------------------------------------------------------------- shuffling


def test_starter_permutation_reproduces_global_npr_shuffle() -> None:
    train = np.random.RandomState(1).rand(53, 3, 2, 2)
    test = np.random.RandomState(2).rand(17, 3, 2, 2)
    order_train, order_test = starter_permutation([53, 17], seed=5)
    np.random.seed(5)  # what the starter does, then shuffles in place: train first, then test
    a, b = train.copy(), test.copy()
    np.random.shuffle(a)
    np.random.shuffle(b)
    np.testing.assert_array_equal(train[order_train], a)
    np.testing.assert_array_equal(test[order_test], b)


# ------------------------------------------------------------------------------- layouts


def test_cifar_batches_look_like_the_official_files(cifar_root: Path) -> None:
    folder = cifar_root / "cifar-10-batches-py"
    with (folder / "data_batch_1").open("rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape[1] == 3072
    all_labels = set()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with (folder / name).open("rb") as f:
            all_labels |= set(pickle.load(f, encoding="bytes")[b"labels"])
    assert all_labels == set(range(10))


def test_cifar_pickles_load_horses_in_file_order(cifar_root: Path) -> None:
    raw = load_horses(cifar_root)
    train, val = horse_arrays(N_TRAIN, N_VAL, seed=4)
    assert raw.layout == "cifar-pickle"
    np.testing.assert_array_equal(raw.train_rgb, train)
    np.testing.assert_array_equal(raw.val_rgb, val)


def test_layout_detection_accepts_folder_parent_and_archive(
    tmp_path: Path, cifar_root: Path
) -> None:
    assert detect_layout(cifar_root) == ("cifar-pickle", cifar_root / "cifar-10-batches-py")
    assert detect_layout(cifar_root / "cifar-10-batches-py")[0] == "cifar-pickle"
    archive = write_cifar_pickles(tmp_path / "dl", N_TRAIN, N_VAL, seed=4, tarball=True)
    assert detect_layout(tmp_path / "dl") == ("cifar-tarball", archive)
    assert detect_layout(archive)[0] == "cifar-tarball"
    np.testing.assert_array_equal(load_horses(archive).train_rgb, load_horses(cifar_root).train_rgb)
    write_image_folder(tmp_path / "data" / "horses", 3, 2, fmt="png")
    assert detect_layout(tmp_path / "data") == ("image-folder", tmp_path / "data" / "horses")


def test_png_folder_equals_generated_pixels_and_pickles(tmp_path: Path, palette) -> None:
    write_image_folder(tmp_path, N_TRAIN, N_VAL, fmt="png", seed=4)
    raw = load_horses(tmp_path)
    np.testing.assert_array_equal(raw.train_rgb, horse_arrays(N_TRAIN, N_VAL, seed=4)[0])
    # same pixels -> same fingerprint, whatever the file format or path
    pickles = write_cifar_pickles(tmp_path / "p", N_TRAIN, N_VAL, seed=4)
    a = load_dataset(tmp_path, palette, seed=3)
    b = load_dataset(pickles, palette, seed=3)
    assert a.fingerprint == b.fingerprint
    assert torch.equal(a.y_train, b.y_train)


def test_jpeg_folder_with_class_subfolders(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "raw", 12, 4, fmt="jpg", seed=2)
    for split in ("train", "test"):
        (tmp_path / "ds" / split).mkdir(parents=True)
        (tmp_path / "raw" / split).rename(tmp_path / "ds" / split / "horse")
    raw = load_horses(tmp_path / "ds")
    reference = horse_arrays(12, 4, seed=2)[0].astype(float)
    assert raw.train_rgb.shape == (12, 3, 32, 32) and raw.val_rgb.shape == (4, 3, 32, 32)
    assert np.abs(raw.train_rgb - reference).mean() < 6  # lossy, but close


def test_clear_errors_for_wrong_paths(tmp_path: Path, cifar_root: Path) -> None:
    with pytest.raises(DataLayoutError, match="does not exist"):
        load_horses(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataLayoutError, match="no CIFAR-10 data found"):
        load_horses(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataLayoutError, match="not a CIFAR-10 python archive"):
        load_horses(tmp_path / "notes.txt")

    partial = tmp_path / "partial"
    write_cifar_pickles(partial, 10, 5)
    (partial / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataLayoutError, match="data_batch_3"):
        load_horses(partial)
    (partial / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataLayoutError, match="data_batch_3"):
        load_horses(partial)

    images = tmp_path / "imgs"
    write_image_folder(images, 3, 2, fmt="png")
    from PIL import Image

    Image.new("RGB", (64, 64)).save(images / "train" / "9999.png")
    with pytest.raises(DataLayoutError, match="64x64"):
        load_horses(images)
    (images / "test" / "0000.png").write_bytes(b"not a png")
    (images / "train" / "9999.png").unlink()
    with pytest.raises(DataLayoutError, match="cannot read image"):
        load_horses(images)


def test_tarball_missing_batches(tmp_path: Path) -> None:
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        blob = b"x"
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(DataLayoutError, match="data_batch_1"):
        load_horses(path)


# ------------------------------------------------------------------------------- dataset


def test_load_dataset_tensors_follow_the_starter(cifar_root: Path, tmp_path: Path, palette):
    pal_file = write_course_palette(tmp_path / "c.npy", palette)
    d = load_dataset(cifar_root, pal_file, seed=0)
    train, val = horse_arrays(N_TRAIN, N_VAL, seed=4)
    order_train, order_val = starter_permutation([N_TRAIN, N_VAL], 0)
    assert d.x_train.shape == (N_TRAIN, 1, 32, 32) and d.x_train.dtype == torch.float32
    assert d.y_val.shape == (N_VAL, 32, 32) and d.y_val.dtype == torch.int64
    grey = (train[order_train] / 256.0).mean(axis=1, keepdims=True).astype(np.float32)
    np.testing.assert_array_equal(d.x_train.numpy(), grey)
    np.testing.assert_array_equal(
        d.y_val.numpy(), starter_style_categories(val[order_val] / 256.0, palette)
    )
    assert float(d.x_train.max()) <= 255 / 256 and d.num_colours == 24
    assert d.describe()["n_train"] == N_TRAIN and d.palette_source == str(pal_file)


def test_limits_take_the_first_shuffled_images(cifar_root: Path, palette) -> None:
    full = load_dataset(cifar_root, palette, seed=2)
    part = load_dataset(cifar_root, palette, seed=2, limit_train=5, limit_val=3)
    assert torch.equal(part.x_train, full.x_train[:5]) and torch.equal(part.y_val, full.y_val[:3])
    with pytest.raises(ValueError, match="positive"):
        load_dataset(cifar_root, palette, limit_train=0)


def test_fingerprint_tracks_data_order_and_palette(palette) -> None:
    a = load_dataset(None, palette, seed=0, synthetic_train=60, synthetic_val=20)
    again = load_dataset(None, palette, seed=0, synthetic_train=60, synthetic_val=20)
    assert a.fingerprint == again.fingerprint and len(a.fingerprint) == 16
    assert torch.equal(a.x_train, again.x_train) and torch.equal(a.y_train, again.y_train)
    size = {"synthetic_train": 60, "synthetic_val": 20}
    others = {
        load_dataset(None, palette, seed=1, **size).fingerprint,
        load_dataset(None, palette[::-1].copy(), **size).fingerprint,
        load_dataset(None, palette, limit_train=59, **size).fingerprint,
    }
    assert a.fingerprint not in others and len(others) == 3
    t, v = horse_arrays(4, 2)
    assert dataset_fingerprint(t, v, palette) != dataset_fingerprint(t, v[::-1], palette)


def test_synthetic_default_builds_its_own_palette() -> None:
    d = load_dataset(None, None, synthetic_train=120, synthetic_val=30, num_colours=16)
    assert d.num_colours == 16 and d.palette_source.startswith("kmeans")
    counts = np.bincount(d.y_train.numpy().ravel(), minlength=16)
    assert (counts > 0).sum() >= 12  # the palette is actually used, not degenerate


@needs_real_images
@needs_real_palette
def test_real_horses_jpeg_folder() -> None:
    raw = load_horses(REAL_IMAGES.parent)  # parent folder is accepted too
    assert raw.train_rgb.shape == (5000, 3, 32, 32) and raw.val_rgb.shape == (1000, 3, 32, 32)
    d = rd.prepare(raw.train_rgb, raw.val_rgb, load_palette(REAL_PALETTE), limit_train=300)
    # horses are mostly browns/greys: several colours in use, none covering almost everything
    counts = np.bincount(d.y_val.numpy().ravel(), minlength=24) / d.y_val.numel()
    assert (counts > 0.01).sum() >= 10 and counts.max() < 0.4
