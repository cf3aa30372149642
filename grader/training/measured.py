"""Between the pipeline and the `train` task: the request, and its Outcome as measurements.

`train_request` builds the sandbox request for one target and config; `training_measured` turns
the Outcome into ``measured["training"]`` for the `accuracy` check: metrics when training
finished, otherwise a Problem located in the student's cells. When the data pack is at hand the
accuracy is recomputed here from the returned predictions rather than taken on trust.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from grader.ingest.problems import Problem, locate, student_traceback
from grader.ingest.slicing import Program
from grader.sandbox.outcome import Outcome
from grader.sandbox.tasks.train import PREDICTIONS_FILE, SAMPLES_FILE, normalise_budget
from grader.training.data import BLOB_NAME, DataPack

OUTCOME_KINDS = {"timeout": "timeout", "memory": "memory", "crashed": "crashed",
                 "output_limit": "limit"}
OUTCOME_WORDS = {"timeout": "did not finish within the time limit",
                 "memory": "ran out of memory", "crashed": "crashed",
                 "output_limit": "produced too much output"}
ACCURACY_TOLERANCE = 1e-6  # percent


def train_request(program: Program | str, target: str, args: list[Any], budget: dict[str, Any],
                  *, aliases: list[str] | None = None, kwargs: dict[str, Any] | None = None,
                  seed: int = 0, samples: int = 10, device: str = "auto",
                  filename: str | None = None) -> dict[str, Any]:
    """The `train` task request; send it with ``files=pack.files()``."""
    source = program.source if isinstance(program, Program) else program
    name = filename or (program.filename if isinstance(program, Program) else "<submission>")
    return {"task": "train", "program": source, "filename": name, "target": target,
            "aliases": list(aliases or []), "args": list(args), "kwargs": dict(kwargs or {}),
            "budget": normalise_budget(budget), "seed": int(seed), "data": BLOB_NAME,
            "samples": int(samples), "device": device}


def locate_problem(problem: dict[str, Any], program: Program | None,
                   target: str | None = None) -> dict[str, Any]:
    """Map a task Problem (program line numbers) to the student's cell and line."""
    out = {k: v for k, v in problem.items() if k != "frames"}
    if program is None:
        return out
    line = problem.get("line")
    cell, in_cell = locate(program, line) if isinstance(line, int) else (None, None)
    if cell is None and target is not None and target in program.defines:
        cell = program.defines[target]  # e.g. a wrong output shape: point at the class
    out["cell"], out["line"] = cell, in_cell
    frames = problem.get("frames") or []
    if frames:
        tail = [t for t in problem.get("traceback", [])[-1:] if not t.startswith("line ")]
        out["traceback"] = student_traceback(program, [tuple(f) for f in frames]) + tail
    return out


def _outcome_problem(outcome: Outcome, program: Program | None) -> dict[str, Any]:
    error = (outcome.error or "").strip()
    last = error.splitlines()[-1] if error else ""
    if outcome.status in OUTCOME_KINDS:
        message = f"training {OUTCOME_WORDS[outcome.status]}" + (f" ({last})" if last else "")
        return Problem(OUTCOME_KINDS[outcome.status], message).to_dict()
    # status "error": the task itself raised. Blame the student only if their code is in it.
    filename = program.filename if program is not None else "<submission>"
    if f'File "{filename}"' in error:
        problem = Problem("exception", f"training failed: {last}").to_dict()
        if program is not None:
            problem["traceback"] = student_traceback(program, error)
        return problem
    return Problem("internal", f"the training task failed: {last or 'no details'}").to_dict()


def _artifact(outcome: Outcome, name: str) -> np.ndarray | None:
    blob = outcome.artifacts.get(name)
    if blob is None:
        return None
    try:
        return np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError):
        return None


def _verify(result: dict[str, Any], outcome: Outcome, pack: DataPack
            ) -> tuple[float | None, dict[str, Any] | None]:
    """Accuracy recomputed from the predictions, or a Problem when they do not add up."""
    truth = pack.y_val[:, 0][: int(result.get("n_val") or pack.y_val.shape[0])]
    predictions = _artifact(outcome, PREDICTIONS_FILE)
    if predictions is None or predictions.shape != truth.shape:
        got = None if predictions is None else list(predictions.shape)
        return None, Problem("corrupt", f"the training task returned no usable predictions "
                                        f"(expected {list(truth.shape)}, got {got})").to_dict()
    accuracy = 100.0 * float((predictions == truth).sum()) / truth.size
    reported = result.get("val_acc")
    if not isinstance(reported, int | float) or abs(accuracy - reported) > ACCURACY_TOLERANCE:
        return accuracy, Problem("corrupt", f"the reported validation accuracy ({reported}) "
                                            "does not match the returned predictions "
                                            f"({accuracy:.4f} %)").to_dict()
    return accuracy, None


def training_measured(outcome: Outcome, program: Program | None = None, *,
                      target: str | None = None, pack: DataPack | None = None
                      ) -> dict[str, Any]:
    """``measured["training"]``: {val_acc, val_loss, epochs, seconds, device, problem, ...}."""
    empty: dict[str, Any] = {"val_acc": None, "val_loss": None, "epochs": [], "seconds": None,
                             "device": None, "seeds": {}, "samples": None, "verified": False,
                             "resources": dict(outcome.resources)}
    if outcome.status != "ok" or not isinstance(outcome.result, dict):
        return {**empty, "problem": _outcome_problem(outcome, program),
                "seconds": outcome.resources.get("wall_s")}
    result = outcome.result
    measured = {**empty, **{k: result.get(k) for k in ("val_acc", "val_loss", "seconds",
                                                       "device", "budget", "n_train",
                                                       "n_val")},
                "epochs": list(result.get("epochs") or []), "seeds": result.get("seeds") or {},
                "problem": None}
    if result.get("problem"):
        measured["problem"] = locate_problem(result["problem"], program, target)
        return measured
    samples = _artifact(outcome, SAMPLES_FILE)
    measured["samples"] = samples.astype(int).tolist() if samples is not None else None
    if pack is not None:
        accuracy, problem = _verify(result, outcome, pack)
        measured["verified"] = problem is None
        if problem is not None:
            measured["problem"] = problem
        if accuracy is not None:
            measured["val_acc"] = accuracy
    return measured
