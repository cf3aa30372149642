"""Sandbox task `train`: build a student's class and train it under a small, fixed budget.

Request (JSON): ``{"program": source, "filename": str, "target": class name, "aliases": [...],
"args": [...], "kwargs": {}, "budget": {"epochs", "batch_size", "lr", "train_images",
"val_images"}, "seed": int, "data": "<name of an .npz input file>", "device": "auto"}``. The data
file holds ``x_train`` (N, C, 32, 32) float32 (or an integer dtype plus ``x_scale``),
``y_train`` (N, 1, 32, 32) uint8 colour categories and ``num_colours``: no validation split.

The loop follows the starter (Adam, mean per-pixel cross-entropy over the colours,
``train()``/``eval()`` modes), with one deliberate change: the training order is reshuffled
every epoch from ``seed`` so that a run is a function of the seed alone. `train_class` is the
whole recipe (seeding, construction, training); the trusted side calls it in-process on the
reference class, with a validation split, so the student and the reference are trained by the
same code.

The validation images and labels never enter the sandbox. After every epoch the network is
written as data: ``epoch<n>_graph.json`` (its eval-mode operator graph on one training batch)
and ``epoch<n>_weights.npz`` (its parameters and buffers); the trusted side replays each on the
validation images it holds, which gives the validation loss and accuracy of every epoch. What
the student's process reports about validation is nothing at all.

Whatever the student's code does wrong (syntax, missing class, constructor or forward
exceptions, wrong output shape, non-finite loss) comes back in ``result["problem"]`` as a
Problem dict whose ``line`` is a line of ``program`` (the trusted side maps it to a cell).
"""

from __future__ import annotations

import json
import os
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grader.sandbox.execute import run_statements

EPOCH_GRAPH = "epoch{}_graph.json"      # the network after epoch n, as data (eval mode)
EPOCH_WEIGHTS = "epoch{}_weights.npz"
BUDGET_KEYS = ("epochs", "batch_size", "lr", "train_images", "val_images")
STUDENT_MODULE = "__student__"


class TrainingProblem(Exception):
    """The student's model cannot be trained; carries a Problem dict for the report."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem["message"])
        self.problem = problem


@dataclass(frozen=True)
class Arrays:
    """Training data as tensors: x (N, C, H, W) float32, y (N, H, W) int64 category indices.

    A student's training task gets no validation split at all (`x_val`, `y_val` None): the
    trusted side scores the network it exports. The reference, trained in-process, has both.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    num_colours: int

    @classmethod
    def from_npz(cls, source: str | Path | Any) -> Arrays:
        """Read a data pack written by `grader.training.data` (never unpickles)."""
        with np.load(source, allow_pickle=False) as pack:
            scale = float(pack["x_scale"]) if "x_scale" in pack.files else 1.0
            has_val = "x_val" in pack.files and "y_val" in pack.files
            return cls(
                x_train=_as_input(pack["x_train"], scale),
                y_train=_as_labels(pack["y_train"]),
                x_val=_as_input(pack["x_val"], scale) if has_val else None,
                y_val=_as_labels(pack["y_val"]) if has_val else None,
                num_colours=int(pack["num_colours"]),
            )

    def limited(self, train_images: int | None, val_images: int | None) -> Arrays:
        """The first images of each split, as a budget asks (the pack is already shuffled)."""
        nt = self.x_train.shape[0] if not train_images else int(train_images)
        if self.x_val is None or self.y_val is None:
            return Arrays(self.x_train[:nt], self.y_train[:nt], None, None, self.num_colours)
        nv = self.x_val.shape[0] if not val_images else int(val_images)
        return Arrays(self.x_train[:nt], self.y_train[:nt], self.x_val[:nv], self.y_val[:nv],
                      self.num_colours)


def _as_input(x: np.ndarray, scale: float) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(f"data pack inputs must be (N, C, H, W), got {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        return torch.from_numpy(x.astype(np.float32) * np.float32(scale))
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _as_labels(y: np.ndarray) -> torch.Tensor:
    if y.ndim == 4:
        if y.shape[1] != 1:
            raise ValueError(f"data pack labels must be (N, 1, H, W), got {y.shape}")
        y = y[:, 0]
    if y.ndim != 3:
        raise ValueError(f"data pack labels must be (N, 1, H, W) or (N, H, W), got {y.shape}")
    return torch.from_numpy(y.astype(np.int64))


def normalise_budget(budget: dict[str, Any]) -> dict[str, Any]:
    """Validated budget with every key present and the right types."""
    missing = [k for k in BUDGET_KEYS if k not in budget]
    if missing:
        raise ValueError(f"training budget lacks {', '.join(missing)}")
    out = {"epochs": int(budget["epochs"]), "batch_size": int(budget["batch_size"]),
           "lr": float(budget["lr"]), "train_images": int(budget["train_images"]),
           "val_images": int(budget["val_images"])}
    if out["epochs"] < 1 or out["batch_size"] < 1 or out["lr"] <= 0:
        raise ValueError(f"training budget needs epochs >= 1, batch_size >= 1, lr > 0: {out}")
    if out["train_images"] < 1 or out["val_images"] < 1:
        raise ValueError(f"training budget needs at least one train and val image: {out}")
    return out


# --------------------------------------------------------------------------------------------
# Seeding and devices
# --------------------------------------------------------------------------------------------


# Kept apart from reference.train's: the sandbox holds no reference source (and the reference
# never imports the grader), so the training task seeds and picks devices itself.
def seed_everything(seed: int) -> dict[str, int]:
    """Seed python, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return {"python": seed, "numpy": seed % 2**32, "torch": seed, "shuffle": seed}


def resolve_device(name: str | None = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; an explicit name is taken as is."""
    if not name or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class _Deterministic:
    """Deterministic kernels and full-precision float32 matmuls and convolutions (no TF32 on a
    GPU) for the duration of a run, so that a run repeats and the network the trusted side
    replays on the CPU computes what was trained; the previous settings come back after."""

    def __enter__(self) -> _Deterministic:
        self.saved = (torch.are_deterministic_algorithms_enabled(),
                      torch.is_deterministic_algorithms_warn_only_enabled(),
                      torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
                      torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        # cuBLAS reads this when it first starts; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return self

    def __exit__(self, *exc: object) -> None:
        enabled, warn_only, cudnn_det, cudnn_bench, matmul_tf32, cudnn_tf32 = self.saved
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_det
        torch.backends.cudnn.benchmark = cudnn_bench
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


def make_problem(kind: str, message: str, exc: BaseException | None = None,
                 filename: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Problem dict (grader.ingest.problems.Problem.to_dict layout) for a student failure.

    ``line`` is the innermost line of ``filename`` (the student's program) in the traceback and
    ``frames`` lists all its frames as ``[filename, line, function]`` so that the trusted side
    can map them to cells; ``traceback`` holds those frames' source text and the error line.
    """
    problem: dict[str, Any] = {"kind": kind, "message": message, "cell": None, "line": None,
                               "traceback": [], **extra}
    if exc is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if filename is not None and f.filename == filename]
        if isinstance(exc, SyntaxError) and exc.filename == filename and exc.lineno:
            problem["line"] = exc.lineno
        elif frames:
            problem["line"] = frames[-1].lineno
        problem["frames"] = [[f.filename, f.lineno, f.name] for f in frames]
        problem["traceback"] = ([f"line {f.lineno}: {(f.line or '').strip()}" for f in frames]
                                + [_exception_line(exc)])
    return problem


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _student_error(where: str, exc: BaseException, filename: str | None) -> TrainingProblem:
    return TrainingProblem(make_problem("exception", f"{where} raised {_exception_line(exc)}",
                                        exc, filename, phase=where))


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def _check_output(out: Any, batch: torch.Tensor, num_colours: int, phase: str) -> None:
    expected = (batch.shape[0], num_colours, *batch.shape[2:])
    if not isinstance(out, torch.Tensor):
        raise TrainingProblem(make_problem(
            "exception", f"forward() returned {type(out).__name__}, not a tensor of shape "
            f"{list(expected)} (batch x num_colours x height x width)", phase=phase,
            reason="output_type"))
    if tuple(out.shape) != expected:
        raise TrainingProblem(make_problem(
            "exception", f"forward() returned shape {list(out.shape)} for an input of shape "
            f"{list(batch.shape)}; training needs {list(expected)} (batch x num_colours x "
            "height x width)", phase=phase, reason="output_shape"))
    if not out.is_floating_point():
        raise TrainingProblem(make_problem(
            "exception", f"forward() returned {out.dtype} values; logits must be floating point",
            phase=phase, reason="output_type"))


def _pixel_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel cross-entropy of (B, C, H, W) logits: the starter's compute_loss."""
    return F.cross_entropy(logits.float(), targets)


def _non_finite(what: str, epoch: int, value: float) -> TrainingProblem:
    return TrainingProblem(make_problem(
        "exception", f"the {what} became {value} in epoch {epoch}: the model's outputs or "
        "gradients are not finite (check the forward pass, e.g. a log of zero or a division)",
        phase="train", reason="non_finite"))


def _forward(model: nn.Module, x: torch.Tensor, phase: str, filename: str | None) -> Any:
    try:
        return model(x)
    except TrainingProblem:
        raise
    except (Exception, SystemExit) as exc:
        raise _student_error(phase, exc, filename) from None


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
             num_colours: int, device: torch.device, filename: str | None = None,
             keep_predictions: bool = False
             ) -> tuple[float, float, np.ndarray | None]:
    """Validation the starter's way: (mean per-batch loss, % correct pixels, predictions)."""
    model.eval()
    losses, parts = [], []
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            yb = y[start:start + batch_size]
            out = _forward(model, xb, "forward (validation)", filename)
            _check_output(out, xb, num_colours, "forward (validation)")
            losses.append(_pixel_loss(out, yb))
            guess = out.argmax(dim=1)
            correct += (guess == yb).sum()
            if keep_predictions:
                parts.append(guess.to(torch.uint8).cpu())
    loss = torch.stack(losses).mean().item()
    accuracy = 100.0 * correct.item() / y.numel()
    predictions = torch.cat(parts).numpy() if keep_predictions else None
    return loss, accuracy, predictions


def train_budgeted(model: nn.Module, arrays: Arrays, budget: dict[str, Any], seed: int,
                   device: str | torch.device | None = "auto", *,
                   filename: str | None = None,
                   on_epoch: Callable[[nn.Module, int], None] | None = None
                   ) -> tuple[dict[str, Any], np.ndarray | None]:
    """Train ``model`` under ``budget``; (metrics, uint8 predictions for every val image, or
    None without a validation split).

    ``on_epoch(model, epoch)`` runs after each epoch (the sandbox exports the network there).
    With a validation split each epoch is also evaluated (the reference's calibration);
    without one the metrics hold the training loss alone. Raises `TrainingProblem` for a model
    that cannot be trained (its forward raises, returns the wrong shape, or its loss is not
    finite). ``filename`` names the student's program, for locating their frames.
    """
    budget = normalise_budget(budget)
    device = device if isinstance(device, torch.device) else resolve_device(device)
    data = arrays.limited(budget["train_images"], budget["val_images"])
    nc, bs = data.num_colours, budget["batch_size"]
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    validate = data.x_val is not None and data.y_val is not None
    x_val = data.x_val.to(device) if validate else None
    y_val = data.y_val.to(device) if validate else None
    model.to(device)
    try:
        optimizer = torch.optim.Adam(model.parameters(), lr=budget["lr"])
    except (Exception, SystemExit) as exc:  # e.g. a model without parameters
        raise _student_error("creating the optimiser", exc, filename) from None
    shuffler = np.random.RandomState(seed % 2**32)
    n = x_train.shape[0]
    epochs: list[dict[str, Any]] = []
    predictions: np.ndarray | None = None
    started = time.perf_counter()
    for epoch in range(1, budget["epochs"] + 1):
        t_epoch = time.perf_counter()
        model.train()
        order = torch.from_numpy(shuffler.permutation(n)).to(device)
        loss_sum = torch.zeros((), device=device)
        batches = 0
        for start in range(0, n, bs):
            index = order[start:start + bs]
            xb, yb = x_train[index], y_train[index]
            optimizer.zero_grad(set_to_none=True)
            out = _forward(model, xb, "forward (training)", filename)
            _check_output(out, xb, nc, "forward (training)")
            loss = _pixel_loss(out, yb)
            try:
                loss.backward()
            except (Exception, SystemExit) as exc:
                raise _student_error("backward", exc, filename) from None
            optimizer.step()
            loss_sum += loss.detach()
            batches += 1
        train_loss = loss_sum.item() / batches
        if not np.isfinite(train_loss):
            raise _non_finite("training loss", epoch, train_loss)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
        if on_epoch is not None:
            on_epoch(model, epoch)
        if validate:
            last = epoch == budget["epochs"]
            val_loss, val_acc, preds = evaluate(model, x_val, y_val, bs, nc, device, filename,
                                                keep_predictions=last)
            if not np.isfinite(val_loss):
                raise _non_finite("validation loss", epoch, val_loss)
            if preds is not None:
                predictions = preds
            record.update(val_loss=val_loss, val_acc=val_acc)
        record["seconds"] = round(time.perf_counter() - t_epoch, 4)
        epochs.append(record)
    metrics = {"epochs": epochs, "val_acc": epochs[-1].get("val_acc"),
               "val_loss": epochs[-1].get("val_loss"),
               "seconds": round(time.perf_counter() - started, 4), "device": str(device),
               "budget": budget, "n_train": int(n),
               "n_val": int(x_val.shape[0]) if validate else 0, "num_colours": nc}
    return metrics, predictions


def train_class(cls: type, args: list[Any], kwargs: dict[str, Any] | None, arrays: Arrays,
                budget: dict[str, Any], seed: int, device: str | torch.device | None = "auto",
                *, filename: str | None = None,
                on_epoch: Callable[[nn.Module, int], None] | None = None
                ) -> tuple[dict[str, Any], np.ndarray | None]:
    """The whole recipe: seed everything, build ``cls(*args, **kwargs)``, train, predict.

    Returns (result, val predictions); ``result["problem"]`` is None or a Problem dict, in
    which case the predictions are None and the metrics cover the epochs that finished.
    ``on_epoch(model, epoch)`` runs after each epoch, still under the seeds.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    with _Deterministic():
        seeds = seed_everything(seed)
        base = {"seeds": seeds, "epochs": [], "val_acc": None, "val_loss": None,
                "seconds": 0.0, "device": str(device), "problem": None}
        try:
            try:
                model = cls(*args, **(kwargs or {}))
            except (Exception, SystemExit) as exc:
                raise _student_error(f"{getattr(cls, '__name__', 'the class')}(...)", exc,
                                     filename) from None
            if not isinstance(model, nn.Module):
                raise TrainingProblem(make_problem(
                    "exception", f"{getattr(cls, '__name__', cls)!s}(...) built a "
                    f"{type(model).__name__}, not a torch.nn.Module", phase="construct"))
            metrics, predictions = train_budgeted(model, arrays, budget, seed, device,
                                                  filename=filename, on_epoch=on_epoch)
        except TrainingProblem as problem:
            return {**base, "problem": problem.problem}, None
        return {**base, **metrics}, predictions


# --------------------------------------------------------------------------------------------
# The sandbox entry point
# --------------------------------------------------------------------------------------------


def load_program(source: str, filename: str, target: str, aliases: list[str]
                 ) -> tuple[type | None, dict[str, Any] | None]:
    """Execute the student's program and find the target class; (class, None) or (None, problem)."""
    namespace: dict[str, Any] = {"__name__": STUDENT_MODULE, "__file__": filename}
    try:
        failures = run_statements(source, filename, namespace)
    except SyntaxError as exc:
        return None, make_problem("syntax", f"SyntaxError: {exc.msg}", exc, filename)
    for name in [target, *aliases]:
        found = namespace.get(name)
        if isinstance(found, type):
            return found, None   # a failed statement the class does not need costs nothing
    if failures:
        return None, make_problem("exception", f"running the program raised "
                                  f"{_exception_line(failures[0])}", failures[0], filename,
                                  phase="program")
    names = " or ".join(repr(n) for n in [target, *aliases])
    return None, make_problem("missing", f"no class named {names} is defined")


def export_network(model: nn.Module, x: torch.Tensor, graph_path: Path, weights_path: Path
                   ) -> str | None:
    """Write the network as data (its eval-mode graph on `x`, its arrays); None, or why not.

    Never raises: a network that cannot be captured only means the trusted side cannot score
    it (a TA reviews that check), not that training failed. The model is left in eval mode.
    """
    from grader.graph.capture import capture_graph
    from grader.graph.observe import export_weights

    model.eval()
    try:
        with torch.no_grad():
            graph, _ = capture_graph(model, x)
        graph_path.write_text(json.dumps(graph))
        export_weights(model, weights_path)
    except (Exception, SystemExit) as exc:
        for path in (graph_path, weights_path):
            path.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}"
    return None


def run(request: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Train the student's target class on the data blob and report metrics and problems."""
    out_dir = Path(out_dir)
    filename = str(request.get("filename") or "<submission>")
    arrays = Arrays.from_npz(Path(request["data"]))
    budget = normalise_budget(request["budget"])
    seed = int(request.get("seed", 0))
    cls, problem = load_program(request["program"], filename, request["target"],
                                list(request.get("aliases") or []))
    if problem is not None:
        return {"problem": problem, "epochs": [], "val_acc": None, "val_loss": None,
                "seconds": 0.0, "device": str(resolve_device(request.get("device"))),
                "seeds": {}}
    fraction = request.get("gpu_memory_fraction")
    if fraction and resolve_device(request.get("device")).type == "cuda":
        # Several workers share one GPU: each task may hold only its share of the memory.
        torch.cuda.set_per_process_memory_fraction(float(fraction))
    device = resolve_device(request.get("device") or "auto")
    # The network is captured on a training batch: the validation images stay outside.
    x_export = arrays.x_train[: budget["batch_size"]].to(device)
    export_problems: dict[int, str] = {}

    def on_epoch(model: nn.Module, epoch: int) -> None:
        why = export_network(model, x_export, out_dir / EPOCH_GRAPH.format(epoch),
                             out_dir / EPOCH_WEIGHTS.format(epoch))
        if why:
            export_problems[epoch] = why

    result, _ = train_class(cls, list(request.get("args") or []),
                            dict(request.get("kwargs") or {}), arrays, budget, seed, device,
                            filename=filename, on_epoch=on_epoch)
    if export_problems:
        result["export_problems"] = {str(k): v for k, v in export_problems.items()}
    return result
