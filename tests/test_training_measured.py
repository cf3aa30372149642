"""Turning a `train` Outcome that did not finish into a located problem for the accuracy check."""

from __future__ import annotations

from grader.checks.accuracy import accuracy
from grader.sandbox import Outcome
from grader.training import train_request, training_measured
from tests.training_factory import GOOD_NET, TINY, notebook_program

STUDENT_TRACEBACK = '''Traceback (most recent call last):
  File "/usr/lib/python3/grader/sandbox/child.py", line 120, in _run_task
    result = load_task(task).run(request, out)
  File "{file}", line {line}, in __del__
    raise KeyboardInterrupt
KeyboardInterrupt'''


def test_limits_become_problems_of_the_matching_kind(tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    for status, kind, words in (("timeout", "timeout", "did not finish"),
                                ("memory", "memory", "out of memory"),
                                ("crashed", "crashed", "crashed"),
                                ("output_limit", "limit", "too much output")):
        outcome = Outcome(status=status, error=f"wall time limit of 60 s exceeded ({status})",
                          resources={"wall_s": 61.2})
        measured = training_measured(outcome, program, target="TinyNet")
        assert measured["problem"]["kind"] == kind and words in measured["problem"]["message"]
        assert measured["val_acc"] is None and measured["seconds"] == 61.2
        verdict = accuracy({"found": True, "training": measured},
                           {"calibration": {"val_acc": [40.0]}}, {})
        assert verdict.status == "error" and words in verdict.message


def test_task_errors_blame_the_student_only_when_their_code_is_in_the_traceback(tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    line = program.source.splitlines().index("    def forward(self, x):") + 1
    theirs = Outcome(status="error",
                     error=STUDENT_TRACEBACK.format(file=program.filename, line=line))
    problem = training_measured(theirs, program)["problem"]
    assert problem["kind"] == "exception" and "KeyboardInterrupt" in problem["message"]
    assert problem["traceback"][0].startswith("cell 3, line ")
    ours = Outcome(status="error", error="Traceback ...\nKeyError: 'x_train'")
    assert training_measured(ours, program)["problem"]["kind"] == "internal"


def test_request_carries_the_program_and_a_checked_budget(tmp_path):
    program = notebook_program(tmp_path, GOOD_NET)
    request = train_request(program, "TinyNet", [3, 8, 24, 1], {**TINY, "epochs": "2"},
                            aliases=["Tiny"], seed=4)
    assert request["task"] == "train" and request["filename"] == program.filename
    assert request["budget"]["epochs"] == 2 and request["data"] == "data.npz"
    assert "class TinyNet" in request["program"] and "train(args" not in request["program"]
