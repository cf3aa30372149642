"""Between the pipeline and the `train` task: the request, and its Outcome as measurements.

`train_request` builds the sandbox request for one target and config; `training_measured` turns
the Outcome into ``measured["training"]`` for the `accuracy` check. The validation numbers are
made here, never taken from the run: the task exports the network after every epoch (graph and
arrays, as data) and this side replays each one on the validation images and labels it holds,
the starter's way (mean of per-batch mean cross-entropy, percent of correct pixels). A network
the replay cannot run leaves the accuracy unmeasured and says why (`review`): a TA looks at it,
it earns nothing automatically.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.graph.measure import load_npz
from grader.graph.replay import ReplayError, replay
from grader.ingest.problems import Problem, locate, student_traceback
from grader.ingest.slicing import Program
from grader.sandbox.outcome import Outcome
from grader.sandbox.tasks.train import EPOCH_GRAPH, EPOCH_WEIGHTS, normalise_budget
from grader.training.data import BLOB_NAME, DataPack

OUTCOME_KINDS = {"timeout": "timeout", "memory": "memory", "crashed": "crashed",
                 "output_limit": "limit"}
OUTCOME_WORDS = {"timeout": "did not finish within the time limit",
                 "memory": "ran out of memory", "crashed": "crashed",
                 "output_limit": "produced too much output"}


class Unscorable(ValueError):
    """The exported network cannot be replayed or does not give colour scores per pixel."""


def score_network(graph: dict[str, Any], tensors: dict[str, np.ndarray], x_val: np.ndarray,
                  y_val: np.ndarray, batch_size: int, num_colours: int
                  ) -> tuple[float, float, np.ndarray]:
    """(validation loss, accuracy in %, uint8 predictions) of an exported network, replayed
    here on the validation split in batches of `batch_size`, as the starter evaluates."""
    x = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(y_val).astype(np.int64))
    captured = int((graph.get("input") or {}).get("shape", [batch_size])[0])
    losses, parts = [], []
    correct = 0
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                xb = x[start:start + batch_size]
                yb = y[start:start + batch_size]
                out = _replay_rows(graph, tensors, xb, captured)
                if tuple(out.shape) != (yb.shape[0], num_colours, *yb.shape[1:]):
                    raise Unscorable(f"the network gives shape {list(out.shape)} for "
                                     f"{yb.shape[0]} images, not one score per colour and "
                                     "pixel")
                losses.append(float(F.cross_entropy(out.float(), yb)))
                guess = out.argmax(dim=1)
                correct += int((guess == yb).sum())
                parts.append(guess.to(torch.uint8))
    except ReplayError as exc:
        raise Unscorable(f"the trained network could not be replayed ({exc})") from None
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise Unscorable(f"the exported network is unusable ({type(exc).__name__}: "
                         f"{exc})") from None
    return (float(np.mean(losses)), 100.0 * correct / y.numel(),
            torch.cat(parts).numpy())


def _replay_rows(graph: dict[str, Any], tensors: dict[str, np.ndarray], x: torch.Tensor,
                 captured: int) -> torch.Tensor:
    """The network's output for the rows of `x`, replayed in chunks of the captured batch size
    (replay checks every shape against the capture; a short chunk is padded, the pad dropped)."""
    outs = []
    for start in range(0, x.shape[0], captured):
        chunk = x[start:start + captured]
        short = captured - chunk.shape[0]
        if short:
            chunk = torch.cat([chunk, chunk.new_zeros((short, *chunk.shape[1:]))])
        outs.append(replay(graph, tensors, chunk)[: captured - short])
    return torch.cat(outs)


def _exported(outcome: Outcome, epoch: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    graph_blob = outcome.artifacts.get(EPOCH_GRAPH.format(epoch))
    weights_blob = outcome.artifacts.get(EPOCH_WEIGHTS.format(epoch))
    if graph_blob is None or weights_blob is None:
        why = ((outcome.result or {}).get("export_problems") or {}).get(str(epoch))
        raise Unscorable(f"the network after epoch {epoch} was not exported"
                         + (f" ({why})" if why else ""))
    try:
        return json.loads(graph_blob), load_npz(weights_blob)
    except ValueError as exc:
        raise Unscorable(f"the network after epoch {epoch} is unreadable ({exc})") from None


def train_request(program: Program | str, target: str, args: list[Any], budget: dict[str, Any],
                  *, aliases: list[str] | None = None, kwargs: dict[str, Any] | None = None,
                  seed: int = 0, device: str = "auto",
                  filename: str | None = None) -> dict[str, Any]:
    """The `train` task request; send it with ``files=pack.training_files()``."""
    source = program.source if isinstance(program, Program) else program
    name = filename or (program.filename if isinstance(program, Program) else "<submission>")
    return {"task": "train", "program": source, "filename": name, "target": target,
            "aliases": list(aliases or []), "args": list(args), "kwargs": dict(kwargs or {}),
            "budget": normalise_budget(budget), "seed": int(seed), "data": BLOB_NAME,
            "device": device}


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


def training_measured(outcome: Outcome, program: Program | None = None, *,
                      target: str | None = None, pack: DataPack | None = None,
                      samples: int = 10) -> dict[str, Any]:
    """``measured["training"]``: {val_acc, val_loss, epochs, seconds, device, problem, review,
    samples, ...}; the validation numbers replayed here from the exported networks."""
    empty: dict[str, Any] = {"val_acc": None, "val_loss": None, "epochs": [], "seconds": None,
                             "device": None, "seeds": {}, "samples": None, "review": None,
                             "resources": dict(outcome.resources)}
    if outcome.status != "ok" or not isinstance(outcome.result, dict):
        return {**empty, "problem": _outcome_problem(outcome, program),
                "seconds": outcome.resources.get("wall_s")}
    result = outcome.result
    measured = {**empty, **{k: result.get(k) for k in ("seconds", "device", "budget",
                                                       "n_train")},
                "epochs": [{"epoch": e.get("epoch"), "train_loss": e.get("train_loss"),
                            "seconds": e.get("seconds")} for e in result.get("epochs") or []],
                "seeds": result.get("seeds") or {}, "problem": None}
    if result.get("problem"):
        measured["problem"] = locate_problem(result["problem"], program, target)
        return measured
    if pack is None:
        return measured
    budget = normalise_budget(result.get("budget") or {})
    n = min(int(budget["val_images"]), pack.x_val.shape[0])
    x_val, y_val = pack.x_val[:n], pack.y_val[:n, 0]
    measured["n_val"] = n
    predictions = None
    try:
        for row in measured["epochs"]:
            graph, tensors = _exported(outcome, int(row["epoch"]))
            loss, accuracy, predictions = score_network(graph, tensors, x_val, y_val,
                                                        budget["batch_size"], pack.num_colours)
            if not np.isfinite(loss):
                measured["problem"] = Problem(
                    "exception", f"the validation loss became {loss} in epoch {row['epoch']}: "
                    "the model's outputs are not finite").to_dict()
                return measured
            row.update(val_loss=loss, val_acc=accuracy)
    except Unscorable as exc:
        measured["review"] = str(exc)
        return measured
    if measured["epochs"]:
        measured["val_loss"] = measured["epochs"][-1]["val_loss"]
        measured["val_acc"] = measured["epochs"][-1]["val_acc"]
        measured["accuracy_source"] = "replayed"
    if predictions is not None and samples:
        measured["samples"] = predictions[:samples].astype(int).tolist()
    return measured
