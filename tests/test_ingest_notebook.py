"""Running a notebook for its effects under the grading prelude (two real kernel runs)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from grader.ingest import kernel_runtime, load_submission
from grader.ingest.prelude import (
    notebook_request,
    prelude_config,
    prelude_source,
    prepare_notebook,
)
from grader.sandbox.tasks import notebook as task
from tests.ingest_factory import finetune_cells, write_notebook

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def finetune(tmp_path_factory: pytest.TempPathFactory):
    path = write_notebook(tmp_path_factory.mktemp("class") / "zoe.ipynb", finetune_cells())
    return load_submission(path)


def test_prepared_notebook_is_clean_and_mapped(finetune) -> None:
    nb = prepare_notebook(finetune)
    assert nb.cells[0].metadata["grader"] == {"role": "prelude"}
    assert len(nb.cells) == len(finetune.cells) + 1
    for cell, original in zip(nb.cells[1:], finetune.cells, strict=True):
        assert cell.metadata["grader"]["cell"] == original.index
        assert cell.get("outputs", []) == []                  # stale outputs dropped
    code = "\n".join(c.source for c in nb.cells[1:] if c.cell_type == "code")
    for gone in ("drive.mount", "google.colab", "!wget", "get_ipython", "%matplotlib"):
        assert gone not in code
    assert "torch.hub.load" in code                           # substituted at run time instead
    syntax = nb.cells[8]
    assert syntax.metadata["grader"]["syntax"]["line"] == 1
    assert syntax.source.startswith("raise SyntaxError(")
    assert nb.cells[2].source.count("\n") == finetune.cell(2).source.count("\n")


def test_prelude_source_is_valid_python_with_futures_first() -> None:
    text = prelude_source(futures=["annotations"])
    assert text.startswith("from __future__ import annotations\n")
    tree = ast.parse(text)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "_grader_prelude" for n in tree.body)
    assert "import grader" not in text and "from grader" not in text
    (config,) = [json.loads(node.args[0].value) for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "loads"
                 and node.args and isinstance(node.args[0], ast.Constant)]
    assert config["capture"] == ["train"] and config["mode"] == "skip"
    assert config["hub_models"]["deeplabv3_resnet101"] == "deeplabv3_mobilenet_v3_large"
    with pytest.raises(ValueError):
        prelude_config(mode="train")


def test_cheap_stand_in_for_the_pretrained_deeplab(tmp_path: Path, monkeypatch) -> None:
    record = tmp_path / "capture.json"
    monkeypatch.setenv("GRADER_CAPTURE_PATH", str(record))
    kernel_runtime.CONFIG["hub_models"] = {"deeplabv3_resnet101": "deeplabv3_mobilenet_v3_large"}
    model = kernel_runtime.build_model("deeplabv3_resnet101", {"pretrained": True})
    assert type(model).__name__ == "DeepLabV3"
    head = model.classifier[4]
    assert isinstance(head, torch.nn.Conv2d)
    assert (head.in_channels, head.out_channels, head.kernel_size) == (256, 21, (1, 1))
    assert isinstance(model.aux_classifier[4], torch.nn.Conv2d)
    model.requires_grad_(False)
    model.classifier[4] = torch.nn.Conv2d(256, 2, kernel_size=1)
    info = kernel_runtime.describe_module(model)
    assert info["trainable"] == 514
    assert info["modules"]["classifier.4"]["out_channels"] == 2
    assert [p["name"] for p in info["parameters"] if p["requires_grad"]] == [
        "classifier.4.weight", "classifier.4.bias"]
    json.dumps(info)
    # The substitution is recorded as data where the runtime was told to, never in the cwd.
    assert "deeplabv3_mobilenet_v3_large" in record.read_text()


def test_task_maps_ipython_tracebacks_to_student_cells() -> None:
    raw = ["\x1b[0;31m---------------------------------------------------------------\x1b[0m",
           "\x1b[0;31mZeroDivisionError\x1b[0m   Traceback (most recent call last)",
           "Cell \x1b[0;32mIn[7], line 3\x1b[0m\n\x1b[1;32m      1\x1b[0m x = 1\n"
           "\x1b[0;32m----> 3\x1b[0m \x1b[43mf\x1b[49m(x)",
           "File \x1b[0;32m/usr/lib/python3/site-packages/torch/nn/module.py:12\x1b[0m, "
           "in \x1b[0;36mcall\x1b[0m\n\x1b[0;32m---> 12\x1b[0m return g()",
           "Cell \x1b[0;32mIn[4], line 2\x1b[0m, in \x1b[0;36mf\x1b[0;34m(v)\x1b[0m\n"
           "\x1b[0;32m----> 2\x1b[0m     \x1b[38;5;28;01mreturn\x1b[39;00m v \x1b[38;5;241m/\x1b"
           "[39m \x1b[38;5;241m0\x1b[39m",
           "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]
    lines = task.map_traceback(raw, {7: "cell 12", 4: "cell 9"}, "/tmp/work")
    assert lines == ["cell 12, line 3: f(x)", "cell 9, line 2: return v / 0",
                     "ZeroDivisionError: division by zero"]


@pytest.mark.slow
def test_finetune_notebook_effects_are_captured_not_run(finetune, tmp_path: Path) -> None:
    request = notebook_request(finetune, cell_timeout=2)
    json.dumps(request)                                   # crosses the sandbox as JSON
    result = task.run(request, tmp_path / "out")
    assert result["prelude"]["status"] == "ok"
    status = {c["cell"]: c for c in result["cells"]}
    assert [status[i]["status"] for i in (2, 3, 4, 5, 6)] == ["ok"] * 5
    assert status[7]["status"] == "error" and status[7]["ename"] == "ZeroDivisionError"
    assert status[7]["traceback"] == ["cell 7, line 12: broken(3)",
                                      "cell 7, line 8: return w / 0",
                                      "ZeroDivisionError: division by zero"]
    assert status[8]["ename"] == "SyntaxError"
    assert status[8]["traceback"][0] == "cell 8, line 1: print('unterminated'"
    assert status[9]["status"] == "timeout"               # the endless loop, interrupted
    assert status[10]["status"] == "ok"                   # ... and the notebook went on
    calls = result["captured"]
    assert [(c["function"], c["cell"], c["line"], c["ran"]) for c in calls] == [
        ("train", "cell 6", 8, "skipped"), ("train", "cell 10", 5, "skipped")]
    args = calls[0]["arguments"]["args"]
    assert args["class"] == "AttrDict" and args["value"]["learn_rate"] == 0.05
    model = calls[0]["arguments"]["model"]
    assert model["class"] == "DeepLabV3" and model["trainable"] == 514
    head = model["modules"]["classifier.4"]
    assert (head["type"], head["in_channels"], head["out_channels"], head["kernel_size"]) == (
        "Conv2d", 256, 2, [1, 1])
    trainable = [p["name"] for p in model["parameters"] if p["requires_grad"]]
    assert trainable == ["classifier.4.weight", "classifier.4.bias"]
    assert all(len(p["checksum"]) == 8 for p in model["parameters"])
    assert any("deeplabv3_mobilenet_v3_large" in e["detail"] and e["cell"] == "cell 6"
               for e in result["events"])
    assert (tmp_path / "out" / task.CAPTURE_FILE).exists()


@pytest.mark.slow
def test_writefile_module_budgeted_run_and_kernel_crash(tmp_path: Path) -> None:
    cells = [
        ("code", "%%writefile loop.py\nimport torch\n\n\ndef train(args, model):\n"
                 "    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n    while True:\n"
                 "        opt.zero_grad()\n        model(torch.ones(1, 4)).sum().backward()\n"
                 "        opt.step()\n"),
        ("code", "!pip install -q nothing\nimport torch\nfrom loop import train\n"
                 "model = torch.nn.Linear(4, 2)\nmodel = train({'lr': 0.1}, model)\n"
                 "assert isinstance(model, torch.nn.Linear)"),
        ("code", "import os\nos._exit(3)"),
        ("code", "print('never')"),
    ]
    sub = load_submission(write_notebook(tmp_path / "yan.ipynb", cells))
    request = notebook_request(sub, cell_timeout=30, mode="run", budget_s=0.5)
    result = task.run(request, tmp_path / "out")
    assert [c["status"] for c in result["cells"]] == ["ok", "ok", "crashed", "not_run"]
    (call,) = result["captured"]
    assert call["ran"] == "stopped" and call["cell"] == "cell 2"
    assert 0.4 < call["run_s"] < 5
    before = {p["name"]: p["checksum"] for p in call["arguments"]["model"]["parameters"]}
    after = {p["name"]: p["checksum"] for p in call["after"]["parameters"]}
    assert before.keys() == after.keys() == {"weight", "bias"}
    assert all(before[k] != after[k] for k in before)      # it really trained for a while


def test_missing_kernel_is_reported_not_raised(tmp_path: Path, finetune) -> None:
    request = notebook_request(finetune, kernel="no-such-kernel")
    result = task.run(request, tmp_path / "out")
    assert result["kernel_error"].startswith("NoSuchKernel")
    assert {c["status"] for c in result["cells"]} == {"not_run"}
    assert result["captured"] == []
