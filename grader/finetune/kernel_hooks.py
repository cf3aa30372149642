"""Runs inside the student's kernel, right after the grading prelude (`kernel_runtime`).

The prelude records every call of `train`; this file decides which of those calls to *run* and
how. Only a fine-tuning call (one whose model argument looks like a segmentation net, i.e. has a
`classifier` or `backbone`) is run, and only on tiny substituted data and for `max_steps`
optimizer steps, so that the trusted side can see which parameters really changed. It records:
- the parameters every optimizer was given (by name, mapped through the model argument),
- the number of optimizer steps taken, and the model after the run (`after`, as in the runtime).
Data: a tiny Oxford-17 look-alike (jpg/, trimaps/, datasplits.mat) is written where the notebook
is likely to look; DataLoaders are clamped to a batch of `batch` with no worker processes, and
their batches' images and masks resized down to `shrink` pixels (the student's 224 x 224 costs
~12x more on a CPU); a minimal `cv2` stand-in (built on PIL) is provided when OpenCV is absent.

Inlined as text like `kernel_runtime`: standard library at the top, the rest lazily, never
`grader`. `install(settings)` must run after the runtime's own `install`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import types
from typing import Any

RUNTIME = "_grader_runtime"
SETTINGS: dict[str, Any] = {
    "max_steps": 2,          # optimizer steps before the run is stopped
    "max_runs": 2,           # fine-tuning calls actually run (later ones are only recorded)
    "batch": 2,              # DataLoader batch size cap (>1: BatchNorm in train mode needs it)
    "budget_s": 30.0,        # wall-clock backstop per run
    "images": 8,             # synthetic images (ids 1..images)
    "side": 40,              # their side in pixels (the student's code resizes them)
    "shrink": 64,            # batches' images and masks are resized down to this side (0: off)
    "markers": ["classifier", "backbone"],
}
STATE: dict[str, Any] = {"runs": 0, "data_roots": []}


def _rt() -> Any:
    return sys.modules[RUNTIME]


# --- tiny data --------------------------------------------------------------------------------
def _string_values(value: Any, depth: int = 0) -> list[str]:
    if depth > 3:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        items = list(value.values())
    elif type(value).__name__ in ("SimpleNamespace", "Namespace"):
        items = list(vars(value).values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return []
    return [s for item in items[:100] for s in _string_values(item, depth + 1)]


def _candidate_roots(args: tuple, kwargs: dict) -> list[str]:
    """The working folder plus relative folders named in the arguments (e.g. args.data)."""
    roots = ["."]
    for text in _string_values(list(args) + list(kwargs.values())):
        text = text.strip()
        if (not text or len(text) > 200 or "://" in text or os.path.isabs(text)
                or ".." in text.split("/") or "\n" in text):
            continue
        stem, ext = os.path.splitext(text.rstrip("/"))
        if ext and ext.lower() not in (".jpg", ".png", ".mat"):
            continue        # a checkpoint or result name, not a data folder
        if ext:             # a file name: its folder is the root (jpg/..., trimaps/...)
            folder = os.path.dirname(stem)
            if os.path.basename(folder) in ("jpg", "trimaps"):
                folder = os.path.dirname(folder)
            text = folder or "."
        elif os.path.basename(text.rstrip("/")) in ("jpg", "trimaps"):
            text = os.path.dirname(text.rstrip("/")) or "."
        if "/" not in text and text != "." and not os.path.isdir(text) and not any(
                word in text.lower() for word in ("data", "flower", "17")):
            continue        # a bare name like an experiment name, not a data folder
        if text not in roots:
            roots.append(text)
    return roots[:6]


def write_flowers(root: str) -> bool:
    """A tiny Oxford-17 look-alike under `root`; existing files are never overwritten."""
    import numpy as np
    from PIL import Image

    n, side = int(SETTINGS["images"]), int(SETTINGS["side"])
    try:
        for sub in ("jpg", "trimaps"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        rng = np.random.default_rng(0)
        for i in range(1, n + 1):
            jpg = os.path.join(root, "jpg", f"image_{i:04d}.jpg")
            png = os.path.join(root, "trimaps", f"image_{i:04d}.png")
            if not os.path.exists(jpg):
                Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(jpg)
            if not os.path.exists(png):
                trimap = np.zeros((side, side, 3), np.uint8)
                trimap[:] = (0, 0, 128)
                lo, hi = side // 4, side // 4 + side // 2 + i % 3
                trimap[lo:hi, lo:hi] = (128, 0, 0)
                Image.fromarray(trimap).save(png)
        mat = os.path.join(root, "datasplits.mat")
        if not os.path.exists(mat):
            import scipy.io

            train = np.arange(1, n - 1, dtype=np.float64)[None, :]
            val = np.arange(n - 1, n + 1, dtype=np.float64)[None, :]
            splits = {f"trn{k}": train for k in (1, 2, 3)}
            splits.update({f"val{k}": val for k in (1, 2, 3)})
            splits.update({f"tst{k}": val for k in (1, 2, 3)})
            scipy.io.savemat(mat, splits)
    except (OSError, ImportError, ValueError):
        return False
    return True


def _install_cv2_stand_in() -> None:
    """`import cv2` works without OpenCV: the few calls the 2020 `CUB` dataset makes, via PIL."""
    import importlib.util

    if "cv2" in sys.modules or importlib.util.find_spec("cv2") is not None:
        return
    cv2 = types.ModuleType("cv2")
    cv2.__doc__ = "grader stand-in for OpenCV (imread, cvtColor, resize, imwrite) built on PIL"
    constants = {"IMREAD_COLOR": 1, "IMREAD_GRAYSCALE": 0, "IMREAD_UNCHANGED": -1,
                 "COLOR_BGR2RGB": 4, "COLOR_RGB2BGR": 4, "COLOR_BGR2GRAY": 6,
                 "COLOR_RGB2GRAY": 7, "COLOR_GRAY2RGB": 8, "COLOR_GRAY2BGR": 8,
                 "INTER_NEAREST": 0, "INTER_LINEAR": 1, "INTER_CUBIC": 2, "INTER_AREA": 3}
    for key, value in constants.items():
        setattr(cv2, key, value)

    def imread(path: Any, flags: int = 1) -> Any:
        import numpy as np
        from PIL import Image

        try:
            with Image.open(os.fspath(path)) as img:
                if flags == 0:
                    return np.asarray(img.convert("L"))
                return np.ascontiguousarray(np.asarray(img.convert("RGB"))[..., ::-1])
        except (OSError, ValueError):
            return None

    def cvtColor(img: Any, code: int, *args: Any) -> Any:  # noqa: N802 (OpenCV's name)
        import numpy as np

        if code in (6, 7):
            weights = [0.114, 0.587, 0.299] if code == 6 else [0.299, 0.587, 0.114]
            return (np.asarray(img, np.float32) @ np.asarray(weights, np.float32)).astype(
                np.asarray(img).dtype)
        if code == 8:
            return np.repeat(np.asarray(img)[..., None], 3, axis=-1)
        return np.ascontiguousarray(np.asarray(img)[..., ::-1])

    def resize(img: Any, dsize: Any, dst: Any = None, fx: float = 0, fy: float = 0,
               interpolation: int = 1) -> Any:
        import numpy as np
        from PIL import Image

        array = np.asarray(img)
        if not dsize:
            dsize = (round(array.shape[1] * fx), round(array.shape[0] * fy))
        modes = {0: Image.NEAREST, 1: Image.BILINEAR, 2: Image.BICUBIC, 3: Image.BOX}
        if array.ndim == 3:
            channels = [np.asarray(Image.fromarray(array[..., c]).resize(
                tuple(dsize), modes.get(interpolation, Image.BILINEAR)))
                for c in range(array.shape[2])]
            return np.stack(channels, axis=-1)
        return np.asarray(Image.fromarray(array).resize(
            tuple(dsize), modes.get(interpolation, Image.BILINEAR)))

    def imwrite(path: Any, img: Any, *args: Any) -> bool:
        import numpy as np
        from PIL import Image

        array = np.asarray(img)
        Image.fromarray(array[..., ::-1] if array.ndim == 3 else array).save(os.fspath(path))
        return True

    cv2.imread, cv2.cvtColor, cv2.resize, cv2.imwrite = imread, cvtColor, resize, imwrite
    sys.modules["cv2"] = cv2
    _rt().event("stand-in", "cv2 is not installed: a PIL-based stand-in provides imread, "
                            "cvtColor, resize and imwrite")


# --- running one fine-tuning call ------------------------------------------------------------
def is_finetune_model(module: Any) -> bool:
    names = {name.split(".")[0] for name, _ in module.named_children()}
    return any(marker in names for marker in SETTINGS.get("markers", []))


class _Patches:
    """Everything swapped for the duration of one run, restored in `undo`."""

    def __init__(self) -> None:
        self.undo_steps: list[Any] = []

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        old = getattr(obj, name)
        setattr(obj, name, value)
        self.undo_steps.append(lambda: setattr(obj, name, old))

    def setitem(self, mapping: dict, key: str, value: Any) -> None:
        old = mapping[key]
        mapping[key] = value
        self.undo_steps.append(lambda: mapping.__setitem__(key, old))

    def undo(self) -> None:
        for step in reversed(self.undo_steps):
            try:
                step()
            except Exception:  # noqa: BLE001 - restoring must go on
                pass
        self.undo_steps.clear()


def _tiny_loader_class(original: Any) -> Any:
    import inspect

    signature = inspect.signature(original.__init__)
    cap = int(SETTINGS["batch"])

    class TinyDataLoader(original):  # type: ignore[misc, valid-type]
        """The student's DataLoader with a small batch and no worker processes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                super().__init__(*args, **kwargs)
                return
            values = bound.arguments
            if values.get("batch_sampler") is None:
                size = values.get("batch_size", 1)
                if size is not None:
                    values["batch_size"] = max(1, min(int(size), cap))
                    try:
                        if len(values["dataset"]) >= cap:
                            values["drop_last"] = True   # no batch of 1 for BatchNorm
                    except TypeError:
                        pass
            values["num_workers"] = 0
            if int(SETTINGS.get("shrink") or 0) > 0:
                values["collate_fn"] = _shrinking(values.get("collate_fn"))
            for key in ("prefetch_factor", "persistent_workers", "multiprocessing_context"):
                values.pop(key, None)
            values.pop("self", None)
            super().__init__(**values)

    TinyDataLoader.__name__ = TinyDataLoader.__qualname__ = original.__name__
    return TinyDataLoader


def _shrink_batch(batch: Any, side: int) -> Any:
    """Images and masks of one batch, spatially down to `side` (float: bilinear, else nearest).

    Only tensors whose last two dims are the first image's (H, W) are resized, so images and
    their masks stay aligned; everything else is passed through untouched.
    """
    import torch
    import torch.nn.functional as F

    items = list(batch) if isinstance(batch, (list, tuple)) else None
    if not items:
        return batch
    first = next((t for t in items if isinstance(t, torch.Tensor) and t.dim() == 4
                  and t.is_floating_point()), None)
    if first is None or max(first.shape[-2:]) <= side:
        return batch
    size = tuple(first.shape[-2:])
    scale = side / max(size)
    new = (max(2, round(size[0] * scale)), max(2, round(size[1] * scale)))
    out = []
    for item in items:
        if isinstance(item, torch.Tensor) and item.dim() >= 3 and tuple(item.shape[-2:]) == size:
            lead = item.shape[:-2]
            flat = item.reshape(-1, 1, *size)
            if item.is_floating_point():
                flat = F.interpolate(flat, size=new, mode="bilinear", align_corners=False)
            else:
                flat = F.interpolate(flat.float(), size=new, mode="nearest").to(item.dtype)
            item = flat.reshape(*lead, *new)
        out.append(item)
    return type(batch)(out) if isinstance(batch, tuple) else out


def _shapes(batch: Any) -> list[Any]:
    items = batch if isinstance(batch, (list, tuple)) else [batch]
    return [list(t.shape) if hasattr(t, "shape") else type(t).__name__ for t in items[:4]]


def _shrinking(collate: Any) -> Any:
    import torch.utils.data as data_module

    inner = collate or data_module.default_collate
    side = int(SETTINGS.get("shrink") or 0)

    def collate_fn(samples: Any) -> Any:
        batch = inner(samples)
        try:
            small = _shrink_batch(batch, side)
        except Exception:  # noqa: BLE001 - an unusual batch is passed through as it was
            small = batch
        if STATE.get("batch") is None:
            STATE["batch"] = {"given": _shapes(batch), "used": _shapes(small)}
        return small

    return collate_fn


def _describe_optimizer(optimizer: Any, names: dict[int, str]) -> dict[str, Any]:
    groups = []
    for group in optimizer.param_groups:
        params = list(group.get("params", []))
        groups.append({"lr": _rt().describe(group.get("lr")),
                       "names": [names.get(id(p)) for p in params if id(p) in names],
                       "foreign": sum(1 for p in params if id(p) not in names)})
    return {"class": type(optimizer).__name__, "groups": groups}


def run_call(fn: Any, args: tuple, kwargs: dict, record: dict[str, Any]) -> Any:
    """Replaces the runtime's `_run_budgeted`: run a fine-tuning call briefly, skip the rest."""
    rt = _rt()
    module = rt._first_module(args, kwargs)
    if module is None or not is_finetune_model(module):
        record["ran"] = "skipped"
        rt.save()
        return module
    if STATE["runs"] >= int(SETTINGS["max_runs"]):
        record["ran"] = "skipped"
        record["skip_reason"] = "only the first fine-tuning calls are run"
        rt.save()
        return module
    STATE["runs"] += 1
    import torch
    import torch.optim.optimizer as optim_module
    import torch.utils.data as data_module

    names = {id(p): n for n, p in module.named_parameters()}
    optimizers: dict[int, dict[str, Any]] = {}
    record.update(optimizers=[], steps=0, data_roots=[])
    for root in _candidate_roots(args, kwargs):
        if write_flowers(root):
            record["data_roots"].append(root)
    STATE["batch"] = None
    patches = _Patches()
    loader = _tiny_loader_class(data_module.DataLoader)
    original_loader = data_module.DataLoader
    patches.setattr(data_module, "DataLoader", loader)
    patches.setattr(data_module.dataloader, "DataLoader", loader)
    namespaces = [getattr(fn, "__globals__", None)]
    ip = rt._STATE.get("ip")
    if ip is not None:
        namespaces.append(ip.user_ns)
    seen: set[int] = set()
    for namespace in namespaces:
        if isinstance(namespace, dict) and id(namespace) not in seen:
            seen.add(id(namespace))
            for key, value in list(namespace.items()):
                if value is original_loader:
                    patches.setitem(namespace, key, loader)

    original_init = torch.optim.Optimizer.__init__

    def init(self: Any, *a: Any, **k: Any) -> None:
        original_init(self, *a, **k)
        try:
            optimizers[id(self)] = _describe_optimizer(self, names)
            record["optimizers"] = list(optimizers.values())
            rt.save()
        except Exception:  # noqa: BLE001 - recording must never break the student's code
            pass

    patches.setattr(torch.optim.Optimizer, "__init__", init)

    def after_step(optimizer: Any, *_: Any) -> None:
        optimizers[id(optimizer)] = dict(_describe_optimizer(optimizer, names), stepped=True)
        record["optimizers"] = list(optimizers.values())
        record["steps"] += 1
        if record["steps"] >= int(SETTINGS["max_steps"]):
            raise rt.BudgetExceeded()

    handle = optim_module.register_optimizer_step_post_hook(after_step)
    patches.undo_steps.append(handle.remove)
    budget = float(SETTINGS.get("budget_s") or 0)

    def stop(_signum: int, _frame: Any) -> None:
        raise rt.BudgetExceeded()

    if budget > 0:
        previous = signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, budget)
        patches.undo_steps.append(lambda: signal.signal(signal.SIGALRM, previous))
        patches.undo_steps.append(lambda: signal.setitimer(signal.ITIMER_REAL, 0))
    start = time.monotonic()
    result = module
    try:
        result = fn(*args, **kwargs)
        record["ran"] = "completed"
    except rt.BudgetExceeded:
        record["ran"] = "stopped"
        record["stopped_by"] = ("steps" if record["steps"] >= int(SETTINGS["max_steps"])
                                else "time")
    except BaseException as exc:
        record["ran"] = "raised"
        record["error"] = {"ename": type(exc).__name__, "evalue": str(exc)[:500]}
        raise
    finally:
        patches.undo()
        record["run_s"] = round(time.monotonic() - start, 3)
        record["batch"] = STATE.get("batch")
        try:
            record["after"] = rt.describe_module(module)
        except Exception as exc:  # noqa: BLE001
            record["after_error"] = f"{type(exc).__name__}: {exc}"[:300]
        rt.save()
    return result


def install(settings: dict[str, Any] | None = None) -> None:
    SETTINGS.update(dict(settings or {}))
    rt = _rt()
    rt.CONFIG["mode"] = "run"
    rt._run_budgeted = run_call
    _install_cv2_stand_in()
