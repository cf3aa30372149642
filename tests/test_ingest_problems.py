"""Problems as data, and tracebacks from running a program mapped to the student's cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.ingest import KINDS, Problem, extract, load_submission, locate, student_traceback
from tests.ingest_factory import write_notebook

CELLS = [
    ("markdown", "# PA2"),
    ("code", "import torch\nimport torch.nn as nn\n\n\ndef helper(x):\n    return x.view(3, 7)"),
    ("code", "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
             "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
             "        try:\n            return helper(x)\n        except RuntimeError:\n"
             "            raise ValueError('bad shape')"),
]


@pytest.fixture()
def program(tmp_path: Path):
    return extract(load_submission(write_notebook(tmp_path / "p.ipynb", CELLS)), ["Net"])


def test_problem_round_trips_and_validates_its_kind() -> None:
    problem = Problem("syntax", "bad", cell=3, line=2, traceback=["cell 3, line 2: x = ("])
    data = problem.to_dict()
    assert data == {"kind": "syntax", "message": "bad", "cell": 3, "line": 2,
                    "traceback": ["cell 3, line 2: x = ("]}
    assert Problem.from_dict(data) == problem
    located = Problem("missing", "no UNet", hint=["Unet"], file="models.py").to_dict()
    assert located["hint"] == ["Unet"] and located["file"] == "models.py"
    assert set(KINDS) >= {"syntax", "missing", "exception", "timeout", "memory", "crashed",
                          "corrupt", "limit"}
    with pytest.raises(ValueError):
        Problem("oops", "unknown kind")


def test_locate_handles_generated_and_out_of_range_lines(program) -> None:
    assert locate(program, 1) == (None, None)                  # the "# --- cell 2 ---" header
    assert locate(program, 0) == (None, None) and locate(program, 10_000) == (None, None)
    assert locate(program, None) == (None, None)
    line = program.source.splitlines().index("class Net(nn.Module):") + 1
    assert locate(program, line) == (3, 1)


def test_chained_exception_keeps_only_student_frames(program) -> None:
    namespace: dict = {}
    exec(program.compile(), namespace)
    import torch

    with pytest.raises(ValueError) as info:
        namespace["Net"]()(torch.zeros(2, 4))
    lines = student_traceback(program, info.value)
    assert lines == ["cell 3, line 10: raise ValueError('bad shape')", "ValueError: bad shape"]
    import traceback

    text = "".join(traceback.format_exception(info.value))
    assert "During handling" in text
    mapped = student_traceback(program, text)
    assert mapped[-1] == "ValueError: bad shape"
    assert "cell 2, line 6: return x.view(3, 7)" in mapped
    assert "cell 3, line 8: return helper(x)" in mapped
    assert all(line.startswith("cell ") for line in mapped[:-1])
