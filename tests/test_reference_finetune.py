"""Fine-tuning reference (W2020 Part C): flowers layout, labels, metrics, frozen training, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from reference.finetune import (
    WeightsError,
    build_model,
    learned_parameters,
    load_finetuned,
    main,
    make_optimizer,
    prepare_for_finetuning,
    train_one_epoch,
    trainable_parameter_count,
)
from reference.flowers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FlowersDataError,
    FlowersSegmentation,
    load_image,
    load_label,
    load_splits,
    make_loaders,
    resize_like_cv2,
    trimap_path,
)
from reference.flowers_synthetic import write_synthetic_flowers
from reference.segmentation_metrics import (
    IoUAccumulator,
    predicted_mask,
    thresholded_iou_scores,
)
from tests.reference_finetune_factory import (
    buffers_snapshot,
    changed,
    expected_lists,
    parameters_snapshot,
    save_trimap,
    trimap_with_block,
)

MOBILENET = "deeplabv3_mobilenet_v3_large"
RESNET = "deeplabv3_resnet101"


@pytest.fixture(autouse=True)
def _few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def flowers(tmp_path_factory):
    root = tmp_path_factory.mktemp("flowers17")
    return write_synthetic_flowers(root, n_images=24, seed=3)


# ------------------------------------------------------------------------- layout


def test_splits_concatenate_train_lists_keep_duplicates_and_drop_missing_files(flowers):
    splits = load_splits(flowers.root)
    train, val = expected_lists(flowers)
    assert list(splits.train) == train
    assert list(splits.val) == val
    assert splits.listed_train == sum(len(flowers.splits[k]) for k in ("trn1", "trn2", "trn3"))
    # the generated data really exercises each rule
    assert len(set(splits.train)) < len(splits.train), "train lists should overlap"
    listed = {i for k in ("trn1", "trn2", "trn3", "val1") for i in flowers.splits[k]}
    no_trimap = {i for i in listed if i in flowers.with_jpg and i not in flowers.with_trimap}
    assert no_trimap and not no_trimap & set(splits.train + splits.val)
    no_files = max(flowers.splits["val1"])
    assert no_files not in flowers.with_jpg | flowers.with_trimap
    assert no_files not in splits.val
    trimap_only = flowers.with_trimap - flowers.with_jpg
    assert trimap_only and not trimap_only & set(splits.train + splits.val)


def test_generator_is_deterministic(tmp_path):
    a = write_synthetic_flowers(tmp_path / "a", n_images=10, seed=7)
    b = write_synthetic_flowers(tmp_path / "b", n_images=10, seed=7)
    c = write_synthetic_flowers(tmp_path / "c", n_images=10, seed=8)
    assert a.splits == b.splits and a.with_trimap == b.with_trimap
    assert a.splits != c.splits
    for i in sorted(a.with_trimap):
        assert trimap_path(a.root, i).read_bytes() == trimap_path(b.root, i).read_bytes()


def test_datasplits_errors_are_explicit(tmp_path, flowers):
    with pytest.raises(FlowersDataError, match="datasplits.mat"):
        load_splits(tmp_path)
    import scipy.io

    (tmp_path / "jpg").mkdir()
    scipy.io.savemat(str(tmp_path / "datasplits.mat"), {"trn1": np.array([[1.0, 2.0]])})
    with pytest.raises(FlowersDataError, match="trn2"):
        load_splits(tmp_path)
    scipy.io.savemat(
        str(tmp_path / "datasplits.mat"),
        {k: np.array([[1.5]]) for k in ("trn1", "trn2", "trn3", "val1")},
    )
    with pytest.raises(FlowersDataError, match="non-integer"):
        load_splits(tmp_path)


def test_dataset_items_are_normalised_images_and_binary_masks(flowers):
    splits = load_splits(flowers.root)
    ds = FlowersSegmentation(flowers.root, splits.train, image_size=40)
    assert len(ds) == len(splits.train)
    image, mask = ds[0]
    assert image.shape == (3, 40, 40) and image.dtype == torch.float32
    assert mask.shape == (40, 40) and mask.dtype == torch.int64
    rgb, _ = ds.raw(0)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    restored = (image * std + mean) * 255
    assert torch.allclose(restored, torch.from_numpy(rgb).permute(2, 0, 1).float(), atol=1e-3)
    masks = torch.stack([ds[i][1] for i in range(len(ds))])
    assert set(masks.unique().tolist()) == {0, 1}
    assert 0.05 < masks.float().mean() < 0.6  # flowers cover part of each picture
    # a greyscale JPEG comes back as three equal channels
    grey = load_image(flowers.root / "jpg" / f"image_{flowers.greyscale_jpg:04d}.jpg", 40)
    assert grey.shape == (40, 40, 3)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_palette_and_rgb_trimaps_give_the_same_labels(tmp_path):
    rgb = trimap_with_block(6, 1, 4, other=(255, 255, 255))
    rgb[5, 5] = (128, 0, 1)
    a = load_label(save_trimap(tmp_path / "rgb.png", rgb), 6)
    b = load_label(save_trimap(tmp_path / "pal.png", rgb, palette=True), 6)
    assert np.array_equal(a, b)
    assert a.sum() == 9 and a[1:4, 1:4].all()


def test_only_exact_foreground_colour_is_foreground(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (128, 0, 0)
    rgb[0, 1] = (128, 0, 1)
    rgb[0, 2] = (127, 0, 0)
    rgb[0, 3] = (128, 1, 0)
    rgb[1, 0] = (255, 255, 255)
    rgb[2:4, 2:4] = (128, 0, 0)
    mask = load_label(save_trimap(tmp_path / "t.png", rgb), 4)
    expected = np.zeros((4, 4), np.uint8)
    expected[0, 0] = 1
    expected[2:4, 2:4] = 1
    assert np.array_equal(mask, expected)


def test_bilinear_trimap_resize_drops_blended_boundary_pixels_nearest_keeps_them(tmp_path):
    # 8 -> 4 px: destination pixel d blends source pixels 2d and 2d+1 equally (half-pixel
    # centres). A foreground block on rows/cols 3..6 is pure only in destination 2.
    path = save_trimap(tmp_path / "t.png", trimap_with_block(8, 3, 7))
    bilinear = load_label(path, 4, "bilinear")
    nearest = load_label(path, 4, "nearest")  # picks source pixel 2d: 0, 2, 4, 6
    exp_bilinear = np.zeros((4, 4), np.uint8)
    exp_bilinear[2, 2] = 1
    exp_nearest = np.zeros((4, 4), np.uint8)
    exp_nearest[2:4, 2:4] = 1
    assert np.array_equal(bilinear, exp_bilinear)
    assert np.array_equal(nearest, exp_nearest)
    # a block aligned with the 2x2 cells (rows/cols 2..5) survives bilinear intact
    aligned = load_label(save_trimap(tmp_path / "a.png", trimap_with_block(8, 2, 6)), 4)
    exp_aligned = np.zeros((4, 4), np.uint8)
    exp_aligned[1:3, 1:3] = 1
    assert np.array_equal(aligned, exp_aligned)


def test_resize_like_cv2_matches_hand_computed_values():
    row = np.array([[0, 100]], np.uint8)[..., None]  # 1x2x1
    up = resize_like_cv2(np.repeat(row, 2, axis=0), (2, 4))[0, :, 0]
    # destination x maps to source (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped)
    assert up.tolist() == [0, 25, 75, 100]
    row = np.array([[0, 10, 20, 31]], np.uint8)[..., None]
    down = resize_like_cv2(np.repeat(row, 2, axis=0), (2, 2))[0, :, 0]
    # sources 0.5 and 2.5: 5.0 and 25.5 (round half up, as cv2's fixed point does)
    assert down.tolist() == [5, 26]


def test_loaders_drop_last_shuffle_reproducibly_and_refuse_too_few_images(flowers):
    train, _ = expected_lists(flowers)
    a = make_loaders(flowers.root, image_size=32, train_batch_size=4, val_batch_size=3, seed=5)
    b = make_loaders(flowers.root, image_size=32, train_batch_size=4, val_batch_size=3, seed=5)
    assert len(a.train) == len(train) // 4
    first_a = [m for _, m in a.train]
    first_b = [m for _, m in b.train]
    assert all(x.shape == (4, 32, 32) for x in first_a)
    assert all(torch.equal(x, y) for x, y in zip(first_a, first_b, strict=True))
    # shuffled: the batches are not the dataset order
    shuffled = torch.cat(first_a)
    in_order = torch.stack([a.train.dataset[i][1] for i in range(len(shuffled))])
    assert not torch.equal(shuffled, in_order)
    limited = make_loaders(flowers.root, image_size=32, train_batch_size=2, limit=5)
    assert len(limited.train.dataset) == 5 and len(limited.val.dataset) <= 5
    with pytest.raises(FlowersDataError, match="fewer than one batch"):
        make_loaders(flowers.root, image_size=32, train_batch_size=len(train) + 1)


# -------------------------------------------------------------------------- metrics


def _masks(*pixel_lists):
    out = torch.zeros(len(pixel_lists), 4, 4, dtype=torch.int64)
    for k, pixels in enumerate(pixel_lists):
        for flat in pixels:
            out[k].view(-1)[flat] = 1
    return out


# Six 4x4 cases, pixels as flat indices: (prediction, truth) -> I, U, score
CASES = {
    "perfect": ([0, 1, 4, 5], [0, 1, 4, 5]),  # I4 U4 iou 1 -> 1.0
    "three_of_four": ([0, 1, 4], [0, 1, 4, 5]),  # I3 U4 iou .75(+eps) -> 0.6, not 0.5
    "poor": ([12, 8, 1, 2, 3], [12, 13, 14, 15, 8]),  # I2 U8 iou .25 -> 0.0
    "both_empty": ([], []),  # (0+eps)/(0+eps) = 1 -> 1.0
    "false_alarm": ([5], []),  # I0 U1 -> 0.0
    "nine_of_13": (list(range(2, 13)), list(range(0, 11))),  # I9 U13 .692 -> 0.4
}


def test_thresholded_iou_per_image_scores_hand_computed():
    pred = _masks(*(p for p, _ in CASES.values()))
    truth = _masks(*(t for _, t in CASES.values()))
    scores = thresholded_iou_scores(pred, truth)
    assert scores.tolist() == pytest.approx([1.0, 0.6, 0.0, 1.0, 0.0, 0.4])


def test_iou_accumulator_averages_batches_like_the_course_and_pools_standard_iou():
    names = list(CASES)
    acc = IoUAccumulator()
    for group in (names[:2], names[2:]):  # batch of 2, then batch of 4
        acc.update(_masks(*(CASES[n][0] for n in group)), _masks(*(CASES[n][1] for n in group)))
    result = acc.compute()
    # batch means 0.8 and (0 + 1 + 0 + 0.4) / 4 = 0.35; their mean 0.575 (per-image mean: 0.5)
    assert result["iou_thresholded"] == pytest.approx(0.575)
    # foreground pooled: I = 4+3+2+0+0+9 = 18, U = 4+4+8+0+1+13 = 30
    assert result["iou"] == pytest.approx(18 / 30)
    # background per image: I = 16 - U_fg, U = 16 - I_fg -> I 66, U 78
    assert result["iou_background"] == pytest.approx(66 / 78)
    assert result["miou"] == pytest.approx((18 / 30 + 66 / 78) / 2)


def test_absent_class_gives_nan_iou_and_is_left_out_of_miou():
    acc = IoUAccumulator()
    acc.update(_masks([]), _masks([]))
    result = acc.compute()
    assert math.isnan(result["iou"]) and result["iou_background"] == 1.0
    assert result["miou"] == 1.0 and result["iou_thresholded"] == 1.0
    with pytest.raises(ValueError):
        IoUAccumulator().compute()


def test_predicted_mask_is_argmax_over_classes():
    logits = torch.tensor([[[[0.2, 1.0]], [[0.1, 3.0]]]])  # 1x2x1x2
    logits[0, 1, 0, 0] = 0.2  # tie goes to class 0
    assert predicted_mask(logits).tolist() == [[[0, 1]]]


# ---------------------------------------------------------------------------- model


@pytest.fixture
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.parametrize("arch", [MOBILENET, RESNET])
def test_both_architectures_share_the_head_layout(arch, no_downloads):
    model = build_model(arch)
    head = model.classifier[4]
    assert isinstance(head, torch.nn.Conv2d)
    assert (head.in_channels, head.out_channels, head.kernel_size) == (256, 21, (1, 1))
    assert model.aux_classifier is not None and model.aux_classifier[4].out_channels == 21
    prepare_for_finetuning(model)
    assert trainable_parameter_count(model) == 514
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "classifier.4.weight",
        "classifier.4.bias",
    ]
    learned = learned_parameters(model)
    assert len(learned) == 2 and learned[0] is model.classifier[4].weight
    assert not any(p.requires_grad for p in model.aux_classifier.parameters())


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="deeplabv3_resnet101"):
        build_model("deeplabv3_resnet50")


def test_training_resnet101_changes_only_the_new_head_parameters(flowers):
    """The key property: two Adam steps in train mode move `classifier.4.*` and nothing else
    among the parameters, while the frozen backbone's BatchNorm running statistics (buffers)
    do move, because train mode normalises with batch statistics."""
    torch.manual_seed(0)
    model = prepare_for_finetuning(build_model(RESNET))
    assert trainable_parameter_count(model) == 514
    splits = load_splits(flowers.root)
    loader = DataLoader(FlowersSegmentation(flowers.root, splits.train[:4], 32), batch_size=2)
    params, buffers = parameters_snapshot(model), buffers_snapshot(model)
    optimizer = make_optimizer(model, lr=0.05)
    assert [p for g in optimizer.param_groups for p in g["params"]] == learned_parameters(model)

    loss = train_one_epoch(model, loader, optimizer, torch.device("cpu"), max_steps=2)

    assert math.isfinite(loss) and loss > 0
    assert changed(params, parameters_snapshot(model)) == {
        "classifier.4.weight",
        "classifier.4.bias",
    }
    aux = {n for n in params if n.startswith("aux_classifier.")}
    assert aux and not aux & changed(params, parameters_snapshot(model))
    moved = changed(buffers, buffers_snapshot(model))
    assert "backbone.bn1.running_mean" in moved and "backbone.layer4.2.bn3.running_var" in moved
    assert all(n.rsplit(".", 1)[1] in {"running_mean", "running_var", "num_batches_tracked"}
               for n in moved)
    frozen = [p for n, p in model.named_parameters() if not n.startswith("classifier.4.")]
    assert all(p.grad is None for p in frozen)


# -------------------------------------------------------------------------- weights


def test_weights_load_from_a_local_file_in_every_accepted_form(tmp_path, no_downloads):
    torch.manual_seed(1)
    source = build_model(MOBILENET)
    state = source.state_dict()
    forms = {
        "raw.pt": state,
        "model.pt": {"model": state, "epoch": 3},
        "state.pt": {"state_dict": state},
        "parallel.pt": {f"module.{k}": v for k, v in state.items()},
    }
    for name, obj in forms.items():
        torch.save(obj, tmp_path / name)
        torch.manual_seed(2)
        loaded = build_model(MOBILENET, weights_path=tmp_path / name)
        assert changed(state, loaded.state_dict()) == set(), name


def test_weights_mismatch_and_bad_files_raise_clear_errors(tmp_path):
    torch.save(build_model(MOBILENET, num_classes=2).state_dict(), tmp_path / "two.pt")
    with pytest.raises(WeightsError, match=r"classifier\.4\.weight: file \(2, 256, 1, 1\)"):
        build_model(MOBILENET, weights_path=tmp_path / "two.pt")
    with pytest.raises(WeightsError, match="aux_loss"):
        build_model(MOBILENET, weights_path=tmp_path / "two.pt", num_classes=2, aux_loss=False)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        build_model(MOBILENET, weights_path=tmp_path / "junk.pt")
    with pytest.raises(WeightsError, match="not found"):
        build_model(MOBILENET, weights_path=tmp_path / "absent.pt")


# ------------------------------------------------------------------------------ CLI


def _cli(flowers, out: Path, *extra: str) -> int:
    return main([
        "--data", str(flowers.root), "--arch", MOBILENET, "--epochs", "1",
        "--batch-size", "2", "--val-batch-size", "4", "--image-size", "32",
        "--device", "cpu", "--quiet", "--out", str(out), *extra,
    ])


def test_cli_end_to_end_writes_metrics_pictures_and_checkpoints(flowers, tmp_path):
    assert _cli(flowers, tmp_path / "run", "--save-checkpoints") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    train, val = expected_lists(flowers)
    assert metrics["trainable_parameters"] == 514
    assert metrics["learned_parameter_names"] == ["classifier.4.weight", "classifier.4.bias"]
    assert metrics["train_size"] == len(train) and metrics["val_size"] == len(val)
    assert metrics["train_batches_per_epoch"] == len(train) // 2
    assert metrics["device"] == "cpu" and metrics["seed"] == 0
    assert metrics["pretrained"] is False
    [epoch] = metrics["epochs"]
    assert set(epoch) >= {"epoch", "train_loss", "val_loss", "val_iou_thresholded", "val_iou"}
    assert epoch["train_loss"] > 0 and epoch["val_loss"] > 0
    assert 0 <= epoch["val_iou_thresholded"] <= 1
    assert epoch["val_iou"] is None or 0 <= epoch["val_iou"] <= 1
    assert metrics["best"] == epoch and metrics["seconds"] > 0
    for name in ("training_curve.png", "val_iou_curve.png", "val_predictions.png"):
        with Image.open(tmp_path / "run" / name) as img:
            assert img.format == "PNG" and img.size[0] > 100
    best = tmp_path / "run" / "finetune-segmentation-best.ckpt"
    assert (tmp_path / "run" / "finetune-segmentation-last.ckpt").is_file()
    reloaded = load_finetuned(MOBILENET, best)
    assert reloaded.classifier[4].out_channels == 2
    assert trainable_parameter_count(reloaded) == 514

    # same seed, same numbers
    assert _cli(flowers, tmp_path / "again") == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["epochs"] == metrics["epochs"]


def test_cli_reports_bad_input_with_exit_code_2(tmp_path, capsys):
    code = main(["--data", str(tmp_path / "nowhere"), "--arch", MOBILENET, "--out",
                 str(tmp_path / "out")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert _cli_device(tmp_path, "cuda") == 2
        assert "CUDA is not available" in capsys.readouterr().err


def _cli_device(tmp_path: Path, device: str) -> int:
    made = write_synthetic_flowers(tmp_path / "few", n_images=8, seed=0)
    return main(["--data", str(made.root), "--arch", MOBILENET, "--batch-size", "2",
                 "--device", device, "--out", str(tmp_path / "out")])


def test_reference_does_not_import_grader():
    code = (
        "import sys, reference.finetune, reference.flowers_synthetic;"
        "bad = [m for m in sys.modules if m == 'grader' or m.startswith('grader.')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------------ real data


def _real_flowers() -> Path | None:
    candidates = [os.environ.get("PA2_FLOWERS_DIR")]
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    candidates += [str(shared / name) for name in ("flowers17", "17flowers", "oxford17")]
    for c in candidates:
        if c and (Path(c) / "datasplits.mat").is_file():
            return Path(c)
    return None


@pytest.mark.skipif(_real_flowers() is None, reason="Oxford-17 flowers data not present")
def test_real_flowers_have_the_starters_sizes():
    splits = load_splits(_real_flowers())
    assert (len(splits.train), len(splits.val)) == (1280, 212)
