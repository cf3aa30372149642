"""The `observe` task: a student's program in, observations and weight files out."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from grader.graph.measure import measure, read_artifacts
from grader.sandbox import Sandbox
from grader.sandbox.tasks.observe import observe_request, run
from tests.graph_factory import (
    HARD_CODED_32,
    IMPORTS,
    RAISING_INIT,
    SMALL_NET,
    student_program,
    target_spec,
)
from tests.sandbox_factory import FAST, needs_bwrap

torch.set_num_threads(1)


def _observe(tmp_path, cells, targets, seed=7):
    program = student_program(tmp_path, cells, list(targets))
    out = tmp_path / "out"
    out.mkdir()
    request = observe_request(program, targets, seed)
    result = run(request, out)
    json.dumps(result)  # what crosses the sandbox boundary is plain JSON
    return result, out, program


def test_small_net_observed_with_weights_runs_and_gradients(tmp_path):
    result, out, _ = _observe(tmp_path, [IMPORTS, SMALL_NET], {"SmallNet": target_spec()})
    assert result["problem"] is None
    target = result["targets"]["SmallNet"]
    assert target["found"] and target["class"] == "SmallNet"
    (config,) = target["configs"]
    assert config["status"] == "ok" and config["name"] == "k3"
    names = [p["name"] for p in config["parameters"]]
    assert names == ["conv1.0.weight", "conv1.0.bias", "conv1.1.weight", "conv1.1.bias",
                     "unused.weight", "unused.bias", "out.weight", "out.bias"]
    assert {b["name"] for b in config["buffers"]} == {
        "conv1.1.running_mean", "conv1.1.running_var", "conv1.1.num_batches_tracked"}
    modules = {m["name"]: m for m in config["modules"]}
    assert modules["conv1.0"]["type"] == "Conv2d"
    assert modules["conv1.0"]["attrs"]["kernel_size"] == [3, 3]
    assert modules["out"]["params"] == 6 * 8 * 9 + 6
    with np.load(out / config["weights"], allow_pickle=False) as npz:
        assert set(npz.files) == set(names) | {b["name"] for b in config["buffers"]}
        assert npz["conv1.0.weight"].shape == (8, 1, 3, 3)
    runs = config["runs"]
    assert [r["output_shape"] for r in runs] == [[2, 6, 32, 32], [2, 6, 64, 64]]
    assert [r["input"]["seed"] for r in runs] == [7, 8]
    assert all(r["without_grad"] == ["unused.weight", "unused.bias"] for r in runs)
    assert all(r["input_affects_output"] for r in runs)
    saved = np.load(out / runs[0]["output"], allow_pickle=False)
    assert saved.shape == (2, 6, 32, 32)
    assert runs[0]["graph"]["nodes"][-1]["op"] == "conv2d"


def test_raising_init_is_a_located_problem_of_that_config(tmp_path):
    result, _, program = _observe(tmp_path, [IMPORTS, RAISING_INIT], {"BrokenNet": target_spec()})
    (config,) = result["targets"]["BrokenNet"]["configs"]
    assert config["status"] == "error" and config["runs"] == []
    problem = config["problem"]
    assert problem["kind"] == "exception"
    assert "NameError" in problem["message"] and "undefined_factor" in problem["message"]
    assert "constructing BrokenNet(3, 8, 6, 1)" in problem["message"]
    # Cell 2 of the notebook's code (index 3 counting the markdown cell), line 5 of that cell.
    assert (problem["cell"], problem["line"]) == (3, 5)
    assert any("undefined_factor" in line for line in problem["traceback"])
    assert program.where(problem["cell"], problem["line"]) in problem["traceback"][0]


def test_forward_failing_only_at_the_second_size_keeps_the_config(tmp_path):
    result, _, _ = _observe(tmp_path, [IMPORTS, HARD_CODED_32], {"FlatNet": target_spec()})
    (config,) = result["targets"]["FlatNet"]["configs"]
    assert config["status"] == "ok"
    first, second = config["runs"]
    assert first["problem"] is None and first["output_shape"] == [2, 6, 32, 32]
    assert second["graph"] is None and second["problem"]["kind"] == "exception"
    assert "(2, 1, 64, 64)" in second["problem"]["message"]
    assert second["problem"]["cell"] == 3 and second["problem"]["line"] == 8


def test_missing_class_alias_and_case(tmp_path):
    targets = {"SmallNet": target_spec(), "Nope": target_spec(),
               "TinyNet": target_spec(aliases=["SmallNet"]), "smallnet": target_spec()}
    result, _, _ = _observe(tmp_path, [IMPORTS, SMALL_NET], targets)
    nope = result["targets"]["Nope"]
    assert not nope["found"] and nope["problem"]["kind"] == "missing"
    assert "Nope" in nope["problem"]["message"]
    assert result["targets"]["TinyNet"]["class"] == "SmallNet"
    assert result["targets"]["smallnet"]["class"] == "SmallNet"


def test_program_that_fails_at_top_level_still_offers_what_it_defined(tmp_path):
    cells = [IMPORTS, SMALL_NET + "\n\nraise RuntimeError('training crashed')"]
    program = student_program(tmp_path, cells, ["SmallNet"])
    source = program.source + "\nraise RuntimeError('late')\n"
    out = tmp_path / "o"
    out.mkdir()
    result = run({"program": source, "filename": program.filename, "seed": 1,
                  "targets": {"SmallNet": target_spec(), "Other": target_spec()}}, out)
    assert result["problem"]["kind"] == "exception" and "late" in result["problem"]["message"]
    assert result["targets"]["SmallNet"]["configs"][0]["status"] == "ok"
    assert result["targets"]["Other"]["problem"]["message"].endswith("RuntimeError: late")


@needs_bwrap
@pytest.mark.sandbox
def test_observe_through_the_real_sandbox_then_measure(tmp_path):
    program = student_program(tmp_path, [IMPORTS, SMALL_NET], ["SmallNet"])
    request = observe_request(program, {"SmallNet": target_spec(inputs=[[2, 1, 32, 32]])}, 3)
    with Sandbox(FAST.replace(timeout=60), workers=1, threads=1) as sandbox:
        outcome = sandbox.run(request)
    assert outcome.status == "ok", (outcome.status, outcome.stderr[-2000:])
    weights = outcome.result["targets"]["SmallNet"]["configs"][0]["weights"]
    assert weights in outcome.artifacts
    with np.load(io.BytesIO(outcome.artifacts[weights]), allow_pickle=False) as npz:
        assert npz["out.weight"].shape == (6, 8, 3, 3)
    measured = measure(outcome.result, outcome.artifacts)["SmallNet"]["configs"]["k3"]
    assert measured["replayed"] and measured["problem"] is None
    assert measured["parameters"]["without_grad"] == ["unused.weight", "unused.bias"]
    assert measured["outputs"] == [{"input": [2, 1, 32, 32], "shape": [2, 6, 32, 32],
                                    "error": None}]
    # The same program observed in-process measures identically (one code path).
    local = tmp_path / "local"
    local.mkdir()
    again = measure(run(request, local), read_artifacts(local))["SmallNet"]["configs"]["k3"]
    assert again["parameters"] == measured["parameters"]
