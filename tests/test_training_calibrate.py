"""Reference calibration: several seeds, cached on disk by everything that changes it."""

from __future__ import annotations

import json

import pytest

from grader.training import build_pack, calibrate, calibration_runs
from grader.training.calibrate import calibration_dir, reference_class
from tests.training_factory import SMALLEST

ARGS = [3, 8, 24, 1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build_pack(budget=SMALLEST, cache_dir=tmp_path_factory.mktemp("data"))


def test_second_call_is_served_from_the_cache(pack, tmp_path):
    before = calibration_runs()
    first = calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=2, config="narrow",
                      samples=3, cache_dir=tmp_path, device="cpu")
    assert calibration_runs() == before + 2 and first["cached"] is False
    assert len(first["val_acc"]) == 2 and first["seeds"] == [0, 1]
    assert first["val_acc"][0] != first["val_acc"][1]  # seeds really differ
    assert [e["epoch"] for e in first["curve"]] == [1]
    assert first["budget"] == SMALLEST and first["data"]["fingerprint"] == pack.fingerprint
    assert len(first["samples"]) == 3 and len(first["samples"][0]) == 32

    again = calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=2, config="narrow",
                      samples=3, cache_dir=tmp_path, device="cpu")
    assert calibration_runs() == before + 2, "a cached calibration must not retrain"
    assert again["cached"] is True
    assert {k: v for k, v in again.items() if k != "cached"} == \
        {k: v for k, v in first.items() if k != "cached"}
    stored = list(calibration_dir(tmp_path).glob("*.json"))
    assert [p.stem for p in stored] == [first["key"]]
    assert json.loads(stored[0].read_text())["val_acc"] == first["val_acc"]


def test_key_changes_with_budget_seeds_and_config(pack, tmp_path):
    one = calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=1, cache_dir=tmp_path,
                    device="cpu")
    more = calibrate("PoolUpsampleNet", ARGS, pack, {**SMALLEST, "lr": 0.02}, seeds=1,
                     cache_dir=tmp_path, device="cpu")
    named = calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=1, config="handout",
                      cache_dir=tmp_path, device="cpu")
    assert len({one["key"], more["key"], named["key"]}) == 3
    assert not more["cached"] and not named["cached"]
    # the same calibration as the first seed of a longer one: identical numbers
    assert named["val_acc"] == one["val_acc"]


def test_environment_variable_moves_the_cache(pack, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "elsewhere"))
    calibrate("PoolUpsampleNet", ARGS, pack, SMALLEST, seeds=1, device="cpu")
    assert len(list((tmp_path / "elsewhere" / "calibration").glob("*.json"))) == 1


def test_unknown_reference_names_the_known_ones():
    with pytest.raises(KeyError, match="ConvTransposeNet"):
        reference_class("ConvTransposeNett")
