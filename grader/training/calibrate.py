"""Reference calibration: what the reference model reaches on this data under this budget.

The reference class (from `reference.models`) is trained in this process by the sandbox task's
own `train_class`, once per seed, so that the accuracy check compares the student with the
reference's real spread under identical conditions. Results are cached on disk as JSON, keyed
by everything that changes them: the data pack's fingerprint, the budget, the reference class
and its arguments, the config name, the seeds, and a hash of the reference models' and the
training loop's source (editing either invalidates old calibrations).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import torch

from grader.files import atomic_write_json
from grader.sandbox.tasks import train as train_task
from grader.training.data import DataPack, cache_root

CACHE_VERSION = 1
_runs = 0  # reference trainings actually performed in this process (cache hits do not count)


def calibration_runs() -> int:
    """How many reference training runs this process has performed (for tests and logs)."""
    return _runs


def calibration_dir(cache_dir: str | Path | None = None) -> Path:
    """``<cache root>/calibration`` (see `grader.training.data.cache_root`)."""
    return cache_root(cache_dir) / "calibration"


def reference_class(name: str) -> type:
    """A class of `reference.models` by name, with the valid names in the error."""
    from reference import models

    found = getattr(models, "MODELS", {}).get(name) or getattr(models, name, None)
    if not isinstance(found, type):
        known = ", ".join(sorted(getattr(models, "MODELS", {})))
        raise KeyError(f"no reference model named {name!r}; known: {known}")
    return found


def source_hash(cls: type) -> str:
    """Hash of the reference class's module and of the training loop's module."""
    h = hashlib.sha256()
    for module in (inspect.getmodule(cls), train_task):
        path = inspect.getsourcefile(module) if module is not None else None
        h.update(Path(path).read_bytes() if path else repr(module).encode())
    return h.hexdigest()[:16]


def calibration_key(pack: DataPack, budget: dict[str, Any], reference: str, args: list[Any],
                    kwargs: dict[str, Any] | None, config: str, seeds: list[int],
                    code_hash: str) -> str:
    """The cache key: 24 hex digits over everything that changes a calibration."""
    material = {"version": CACHE_VERSION, "data": pack.fingerprint,
                "budget": train_task.normalise_budget(budget), "reference": reference,
                "args": list(args), "kwargs": dict(kwargs or {}), "config": config,
                "seeds": list(seeds), "code": code_hash}
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and value.get("val_acc") else None


def _write(path: Path, value: dict[str, Any]) -> None:
    atomic_write_json(path, value, indent=None)


def calibrate(reference: str, args: list[Any], pack: DataPack, budget: dict[str, Any], *,
              seeds: int = 3, seed: int = 0, config: str = "", kwargs: dict[str, Any] | None
              = None, samples: int = 10, cache_dir: str | Path | None = None,
              device: str = "auto", threads: int | None = None, refresh: bool = False
              ) -> dict[str, Any]:
    """Train ``reference(*args)`` with seeds ``seed .. seed+seeds-1`` (cached); the calibration.

    Returns ``{"val_acc": [per seed], "val_loss": [...], "curve": first seed's epochs,
    "budget", "data": the pack's description, "samples": first seed's predicted categories of
    the first ``samples`` validation images (nested lists), "seeds", "device", "seconds",
    "key", "cached"}``. The student is trained with ``seed``, i.e. like the first reference run.
    """
    global _runs
    if seeds < 1:
        raise ValueError("calibration needs at least one seed")
    cls = reference_class(reference)
    budget = train_task.normalise_budget(budget)
    seed_list = [seed + i for i in range(seeds)]
    key = calibration_key(pack, budget, reference, args, kwargs, config, seed_list,
                          source_hash(cls))
    path = calibration_dir(cache_dir) / f"{key}.json"
    cached = None if refresh else _read(path)
    if cached is not None and cached.get("key") == key:
        return {**cached, "cached": True}

    arrays = pack.arrays()
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    runs: list[dict[str, Any]] = []
    first_predictions = None
    try:
        for s in seed_list:
            result, predictions = train_task.train_class(cls, list(args), kwargs, arrays, budget,
                                                         s, device)
            _runs += 1
            if result["problem"]:
                raise RuntimeError(f"the reference {reference}{tuple(args)} could not be trained "
                                   f"(seed {s}): {result['problem']['message']}")
            runs.append(result)
            if first_predictions is None:
                first_predictions = predictions
    finally:
        torch.set_num_threads(previous_threads)
    value = {
        "key": key, "reference": reference, "args": list(args), "config": config,
        "val_acc": [r["val_acc"] for r in runs], "val_loss": [r["val_loss"] for r in runs],
        "curve": runs[0]["epochs"], "curves": [r["epochs"] for r in runs],
        "budget": budget, "data": pack.description, "seeds": seed_list,
        "device": runs[0]["device"], "seconds": [r["seconds"] for r in runs],
        "samples": first_predictions[:samples].tolist() if first_predictions is not None else [],
    }
    _write(path, value)
    return {**value, "cached": False}
