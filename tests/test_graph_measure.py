"""measure: counts from the exported arrays, shapes and gradients from the trusted replay."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from grader.checks.gradient_flow import gradient_flow
from grader.checks.output_shape import output_shape
from grader.checks.param_count import param_count
from grader.graph.measure import measure, measure_class, read_artifacts
from grader.graph.observe import observe_class
from reference.models import MODELS
from tests.graph_factory import (
    HANDOUT_TOTALS,
    CumprodNet,
    DetachedNet,
    DropoutNet,
    IgnoresInputNet,
    UnusedLayerNet,
)

torch.set_num_threads(1)
SIZES = [[2, 1, 32, 32], [2, 1, 64, 64]]


def _configs(args=(3, 32, 24, 1), inputs=None):
    return {"k3": {"args": list(args), "kwargs": {}, "inputs": inputs or SIZES}}


def _observed(tmp_path, cls, **kw):
    obs = observe_class(cls, _configs(**kw), 11, tmp_path, target="T")
    return {"targets": {"T": obs}}, read_artifacts(tmp_path)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_models_measure_the_handout_counts_and_shapes(name):
    measured = measure_class(MODELS[name], _configs())
    config = measured["configs"]["k3"]
    assert measured["found"] and config["status"] == "ok" and config["problem"] is None
    assert config["parameters"] == {"total": HANDOUT_TOTALS[name],
                                    "trainable": HANDOUT_TOTALS[name], "without_grad": [],
                                    "frozen": []}
    assert config["outputs"] == [{"input": s, "shape": [2, 24, s[2], s[3]], "error": None}
                                 for s in SIZES]
    assert config["replayed"] and config["input_affects_output"]
    assert config["graph"]["input"]["shape"] == SIZES[0]
    assert config["param_shapes"][next(iter(config["param_shapes"]))][0] == 32


def test_counts_come_from_the_arrays_not_the_report(tmp_path):
    obs, artifacts = _observed(tmp_path, MODELS["PoolUpsampleNet"])
    lied = copy.deepcopy(obs)
    lied["targets"]["T"]["configs"][0]["param_count"] = {"total": 10, "trainable": 10}
    config = measure(lied, artifacts)["T"]["configs"]["k3"]
    assert config["parameters"]["total"] == HANDOUT_TOTALS["PoolUpsampleNet"]
    assert config["problem"]["kind"] == "corrupt" and "parameter count" in config["problem"][
        "message"]
    # Frozen parameters count in the total only.
    frozen = copy.deepcopy(obs)
    for p in frozen["targets"]["T"]["configs"][0]["parameters"]:
        if p["name"].startswith("conv1."):
            p["requires_grad"] = False
    frozen["targets"]["T"]["configs"][0].pop("param_count")
    counts = measure(frozen, artifacts)["T"]["configs"]["k3"]["parameters"]
    assert counts["total"] == HANDOUT_TOTALS["PoolUpsampleNet"]
    assert counts["total"] - counts["trainable"] == 32 * 9 + 32 + 32 + 32


def test_unused_layer_and_detached_layer_get_no_gradient(tmp_path):
    obs, artifacts = _observed(tmp_path / "u", UnusedLayerNet, args=[])
    unused = measure(obs, artifacts)["T"]["configs"]["k3"]
    assert unused["parameters"]["without_grad"] == ["extra.weight", "extra.bias"]
    assert unused["problem"] is None and unused["replayed"]
    obs, artifacts = _observed(tmp_path / "d", DetachedNet, args=[])
    detached = measure(obs, artifacts)["T"]["configs"]["k3"]
    assert detached["parameters"]["without_grad"] == ["first.weight", "first.bias"]
    assert not detached["input_affects_output"]
    verdict = gradient_flow(measure(obs, artifacts)["T"],
                            {"k3": {"without_grad": []}}, {})
    assert verdict.status == "failed" and "first.weight" in verdict.message


def test_model_ignoring_its_input(tmp_path):
    obs, artifacts = _observed(tmp_path, IgnoresInputNet, args=[], inputs=[[2, 1, 32, 32]])
    config = measure(obs, artifacts)["T"]["configs"]["k3"]
    assert config["input_affects_output"] is False
    assert config["parameters"]["without_grad"] == []


def test_replayed_output_disagreeing_with_the_report_is_a_problem(tmp_path):
    obs, artifacts = _observed(tmp_path, MODELS["UNet"])
    run = obs["targets"]["T"]["configs"][0]["runs"][0]
    forged = np.load(io.BytesIO(artifacts[run["output"]]), allow_pickle=False) + 0.5
    buf = io.BytesIO()
    np.save(buf, forged, allow_pickle=False)
    tampered = {**artifacts, run["output"]: buf.getvalue()}
    config = measure(obs, tampered)["T"]["configs"]["k3"]
    assert config["problem"]["kind"] == "corrupt"
    assert "replayed output differs" in config["problem"]["message"]
    assert config["status"] == "ok" and config["replayed"]

    wrong_shape = copy.deepcopy(obs)
    wrong_shape["targets"]["T"]["configs"][0]["runs"][1]["output_shape"] = [2, 24, 32, 32]
    config = measure(wrong_shape, artifacts)["T"]["configs"]["k3"]
    assert config["outputs"][1]["shape"] == [2, 24, 64, 64]  # the replay's, not the report's
    assert "replay gives output [2, 24, 64, 64]" in config["problem"]["message"]


def test_unknown_op_falls_back_to_the_sandbox_figures(tmp_path):
    obs, artifacts = _observed(tmp_path, CumprodNet, args=[])
    config = measure(obs, artifacts)["T"]["configs"]["k3"]
    assert config["replayed"] is False and config["problem"] is None
    assert [o["shape"] for o in config["outputs"]] == [[2, 2, 32, 32], [2, 2, 64, 64]]
    assert config["input_affects_output"] is True
    assert any("not replayed" in note for note in config["notes"])


def test_dropout_values_are_not_compared(tmp_path):
    obs, artifacts = _observed(tmp_path, DropoutNet, args=[], inputs=[[2, 1, 32, 32]])
    config = measure(obs, artifacts)["T"]["configs"]["k3"]
    assert config["problem"] is None and config["replayed"]
    assert any("not compared" in note for note in config["notes"])


def test_measured_feeds_the_existing_checks():
    reference = measure_class(MODELS["UNet"], _configs())
    student = measure_class(MODELS["ConvTransposeNet"], _configs(), target="UNet")
    assert output_shape(student, output_shape.expect_fn(reference, {}), {}).status == "passed"
    verdict = param_count(student, param_count.expect_fn(reference, {}), {})
    assert verdict.status == "failed" and "49,728" in verdict.message
    assert param_count(reference, param_count.expect_fn(reference, {}), {}).status == "passed"


def test_missing_weights_file_and_missing_target():
    obs = {"targets": {"A": {"found": True, "class": "A", "problem": None, "configs": [
        {"name": "k3", "status": "ok", "problem": None, "weights": "w_A_k3.npz",
         "parameters": [], "runs": []}]},
        "B": {"found": False, "problem": {"kind": "missing", "message": "no class `B`",
                                          "cell": None, "line": None, "traceback": []}}}}
    measured = measure(obs, {})
    assert measured["A"]["configs"]["k3"]["status"] == "error"
    assert measured["A"]["configs"]["k3"]["problem"]["kind"] == "corrupt"
    assert measured["B"]["found"] is False and measured["B"]["problem"]["kind"] == "missing"
