"""Between the pipeline and the `train` task: the request, and its Outcome as measurements.

`train_request` builds the sandbox request for one target and config; `training_measured` turns
the Outcome into ``measured["training"]`` for the `accuracy` check: metrics when training
finished, otherwise a Problem located in the student's cells. When the data pack is at hand the
accuracy is recomputed here rather than taken on trust: the trained network comes back as data
(graph and arrays) and is replayed on the validation images by the trusted side; the
predictions the sandbox wrote must agree with it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import torch

from grader.graph.measure import load_npz
from grader.graph.replay import ReplayError, replay
from grader.ingest.problems import Problem, locate, student_traceback
from grader.ingest.slicing import Program
from grader.sandbox.outcome import Outcome
from grader.sandbox.tasks.train import (
    PREDICTIONS_FILE,
    SAMPLES_FILE,
    TRAINED_GRAPH,
    TRAINED_WEIGHTS,
    normalise_budget,
)
from grader.training.data import BLOB_NAME, DataPack

OUTCOME_KINDS = {"timeout": "timeout", "memory": "memory", "crashed": "crashed",
                 "output_limit": "limit"}
OUTCOME_WORDS = {"timeout": "did not finish within the time limit",
                 "memory": "ran out of memory", "crashed": "crashed",
                 "output_limit": "produced too much output"}
ACCURACY_TOLERANCE = 1e-6  # percent

MAX_FLIPPED = 0.001  # share of pixels whose argmax may differ between the two forward passes


def replayed_predictions(outcome: Outcome, x_val: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The trained network's predictions, recomputed here from its exported graph and weights.

    The sandbox's own predictions came from the student's process, which could have written
    anything; replaying the captured eval-mode graph with the trained arrays on the trusted
    side makes the accuracy a function of the network alone. (None, why) when the task
    exported no network or replay cannot run it (an op it does not know).
    """
    graph_blob, weights_blob = (outcome.artifacts.get(TRAINED_GRAPH),
                                outcome.artifacts.get(TRAINED_WEIGHTS))
    if graph_blob is None or weights_blob is None:
        return None, "the training task exported no trained network"
    try:
        graph = json.loads(graph_blob)
        tensors = load_npz(weights_blob)
        batch = int(graph["input"]["shape"][0])
        x = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
        parts = []
        with torch.no_grad():
            for start in range(0, x.shape[0], batch):
                chunk = x[start:start + batch]
                short = batch - chunk.shape[0]
                if short:  # pad the last chunk to the captured batch size, then drop the pad
                    chunk = torch.cat([chunk, chunk.new_zeros((short, *chunk.shape[1:]))])
                out = replay(graph, tensors, chunk)
                parts.append(out[: batch - short].argmax(dim=1).to(torch.uint8))
    except ReplayError as exc:
        return None, f"the trained network could not be replayed ({exc})"
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        return None, f"the exported network is unusable ({type(exc).__name__}: {exc})"
    return torch.cat(parts).numpy(), ""


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
            ) -> tuple[float | None, dict[str, Any] | None, str]:
    """(accuracy recomputed here, a Problem when the returned data do not add up, its source).

    The source is "replayed" (the trained network run by the grader) or, when the network could
    not be replayed, "predictions" (the sandbox's predictions scored against the labels here)
    with the reason appended.
    """
    n = int(result.get("n_val") or pack.y_val.shape[0])
    truth = pack.y_val[:, 0][:n]
    predictions = _artifact(outcome, PREDICTIONS_FILE)
    if predictions is None or predictions.shape != truth.shape:
        got = None if predictions is None else list(predictions.shape)
        return None, Problem("corrupt", f"the training task returned no usable predictions "
                                        f"(expected {list(truth.shape)}, got {got})").to_dict(), ""
    reported = result.get("val_acc")
    accuracy = 100.0 * float((predictions == truth).sum()) / truth.size
    if not isinstance(reported, int | float) or abs(accuracy - reported) > ACCURACY_TOLERANCE:
        return accuracy, Problem("corrupt", f"the reported validation accuracy ({reported}) "
                                            "does not match the returned predictions "
                                            f"({accuracy:.4f} %)").to_dict(), ""
    replayed, why = replayed_predictions(outcome, pack.x_val[:n])
    if replayed is None:
        return accuracy, None, f"predictions ({why})"
    if replayed.shape != truth.shape:
        return accuracy, Problem("corrupt", f"the trained network's output has shape "
                                            f"{list(replayed.shape)}, expected "
                                            f"{list(truth.shape)}").to_dict(), ""
    flipped = float((replayed != predictions).mean())
    source = "replayed"
    if flipped > MAX_FLIPPED:  # e.g. TF32 on a GPU, or a forward that is not what it exported
        source += (f" (the run's own predictions differ on {100 * flipped:.2f} % of the pixels; "
                   "the grader's replay of the exported network is what counts)")
    return 100.0 * float((replayed == truth).sum()) / truth.size, None, source


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
        accuracy, problem, source = _verify(result, outcome, pack)
        measured["verified"] = problem is None
        measured["accuracy_source"] = source
        if problem is not None:
            measured["problem"] = problem
        if accuracy is not None:
            measured["val_acc"] = accuracy
    return measured
