"""The in-process `cells` task gives the same result as a real kernel (`notebook` task).

The fine-tuning observation runs a student's notebook in the warm task process instead of a
fresh Jupyter kernel (about three seconds saved a notebook); what it reports must not change:
each cell's status, the located traceback, the captured calls and their arguments.
"""

from __future__ import annotations

import json

import pytest

from grader.ingest import load_submission
from grader.ingest.prelude import notebook_request
from grader.sandbox import Limits, Sandbox
from tests.ingest_factory import finetune_cells, write_notebook
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Limits(timeout=120, cpu=240, memory=3 << 30), workers=1) as sb:
        yield sb


def _run(sandbox: Sandbox, request: dict, task: str) -> dict:
    outcome = sandbox.run({**request, "task": task})
    assert outcome.status == "ok", outcome.summary()
    return outcome.result


def _without(value, keys: set[str]):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def _comparable(result: dict) -> dict:
    """What the fine-tuning checks read, without timings or the values of randomly initialised
    weights (they differ between any two processes)."""
    noise = {"elapsed_s", "run_s", "checksum", "sum"}
    return _without({"cells": result["cells"], "prelude": result["prelude"]["status"],
                     "captured": result["captured"]}, noise)


def test_cells_match_a_kernel_run(sandbox, tmp_path):
    submission = load_submission(write_notebook(tmp_path / "zoe.ipynb", finetune_cells()))
    request = notebook_request(submission, cell_timeout=2)
    json.dumps(request)
    kernel = _run(sandbox, request, "notebook")
    cells = _run(sandbox, request, "cells")
    assert _comparable(cells) == _comparable(kernel)
    status = {c["cell"]: c for c in cells["cells"]}
    assert status[7]["traceback"] == ["cell 7, line 12: broken(3)",
                                      "cell 7, line 8: return w / 0",
                                      "ZeroDivisionError: division by zero"]
    assert status[9]["status"] == "timeout" and status[10]["status"] == "ok"
    assert cells["elapsed_s"] < kernel["elapsed_s"]


def test_a_module_cell_a_budgeted_run_and_a_chatty_cell(sandbox, tmp_path):
    cells = [
        ("code", "%%writefile loop.py\nimport torch\n\n\ndef train(args, model):\n"
                 "    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n    while True:\n"
                 "        opt.zero_grad()\n        model(torch.ones(1, 4)).sum().backward()\n"
                 "        opt.step()\n"),
        ("code", "import torch\nfrom loop import train\nmodel = torch.nn.Linear(4, 2)\n"
                 "model = train({'lr': 0.1}, model)\nassert isinstance(model, torch.nn.Linear)"),
        ("code", "for i in range(200000):\n    print('chatty', i)"),
        ("code", "raise SystemExit(3)"),
        ("code", "x = 1"),
    ]
    sub = load_submission(write_notebook(tmp_path / "yan.ipynb", cells))
    request = notebook_request(sub, cell_timeout=30, mode="run", budget_s=0.5)
    result = _run(sandbox, request, "cells")
    assert [c["status"] for c in result["cells"]] == ["ok", "ok", "ok", "error", "ok"]
    assert result["cells"][3]["ename"] == "SystemExit"
    (call,) = result["captured"]
    assert call["ran"] == "stopped" and call["cell"] == "cell 2"
    assert 0.4 < call["run_s"] < 5
