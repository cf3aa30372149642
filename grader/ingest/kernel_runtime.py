"""Runs inside the student's notebook kernel, installed by the grading prelude.

It makes the notebook gradable offline and cheaply, and records what matters as data:
- downloads become no-ops; pretrained models are built locally with random weights
  (`torch.hub.load`, torchvision builders), the expensive DeepLabV3-ResNet101 swapped for the
  cheap DeepLabV3-MobileNetV3 with the same `classifier[4]` / `aux_classifier` naming;
- matplotlib draws off-screen; `.cuda()` is a no-op on a machine without CUDA;
- calls of the user's functions named in `capture` (e.g. `train(args, model)`) are recorded (the
  model's parameters, shapes, requires_grad and checksums; the args as a dict) instead of run.

This file is inlined into the prelude as text, so it imports only the standard library at the
top and everything else lazily. It must not import `grader`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import math
import os
import signal
import sys
import time
import zlib
from collections.abc import Mapping
from typing import Any

CONFIG: dict[str, Any] = {
    "capture": ["train"],
    "mode": "skip",            # "skip": record and do not run; "run": run under `budget_s`
    "budget_s": None,
    "hub_models": {},
    "watch": ["classifier.4", "aux_classifier.4"],
    "max_calls": 20,
    "record": "grader_capture.json",
}
CALLS: list[dict[str, Any]] = []
EVENTS: list[dict[str, Any]] = []
_STATE: dict[str, Any] = {"ip": None, "seq": 0}


class BudgetExceeded(BaseException):
    """Stops a captured function run under a time budget (not an Exception: never swallowed)."""


# --- recording -----------------------------------------------------------------------------
def _record_path() -> str:
    return os.environ.get("GRADER_CAPTURE_PATH") or str(CONFIG.get("record"))


def save() -> None:
    path = _record_path()
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"calls": CALLS, "events": EVENTS}, handle)
    os.replace(tmp, path)


def event(kind: str, detail: str) -> None:
    if len(EVENTS) < 200:
        EVENTS.append({"kind": kind, "detail": detail, "seq": _STATE["seq"]})
        save()


def _before_cell(_info: Any = None) -> None:
    """Count the cells run after the prelude: `seq` n is the n-th (kernel counters vary)."""
    _STATE["seq"] += 1


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of an argument: data only, never the object itself."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.nn.Module):
            return describe_module(value)
        if isinstance(value, torch.Tensor):
            return {"type": "tensor", "shape": list(value.shape), "dtype": str(value.dtype),
                    "requires_grad": bool(value.requires_grad)}
        if isinstance(value, torch.optim.Optimizer):
            return {"type": "optimizer", "class": type(value).__name__,
                    "param_groups": [{"lr": g.get("lr"), "n_params": len(g["params"])}
                                     for g in value.param_groups]}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _number(value)
    if depth > 4:
        return {"type": type(value).__name__, "repr": repr(value)[:200]}
    if isinstance(value, Mapping) or type(value).__name__ in ("SimpleNamespace", "Namespace"):
        items = value if isinstance(value, Mapping) else vars(value)
        return {"type": "dict", "class": type(value).__name__,
                "value": {str(k): describe(v, depth + 1) for k, v in list(items.items())[:200]}}
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__,
                "items": [describe(v, depth + 1) for v in list(value)[:50]]}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


def _module_info(module: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"type": type(module).__name__,
                            "params": sum(p.numel() for p in module.parameters()),
                            "trainable": sum(p.numel() for p in module.parameters()
                                             if p.requires_grad)}
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "groups", "in_features", "out_features", "num_features"):
        if hasattr(module, attr):
            value = getattr(module, attr)
            info[attr] = list(value) if isinstance(value, tuple) else value
    if hasattr(module, "bias") and not callable(module.bias):
        info["bias"] = module.bias is not None
    return info


def describe_module(module: Any) -> dict[str, Any]:
    """Parameters (name, shape, requires_grad, checksum) and the watched sub-modules."""
    params = []
    total = trainable = 0
    for name, param in list(module.named_parameters())[:5000]:
        data = param.detach().cpu().float().contiguous()
        total += data.numel()
        trainable += data.numel() if param.requires_grad else 0
        params.append({"name": name, "shape": list(param.shape),
                       "requires_grad": bool(param.requires_grad),
                       "checksum": f"{zlib.crc32(data.numpy().tobytes()):08x}",
                       "sum": _number(float(data.double().sum()))})
    named = dict(module.named_modules())
    watched = {w: _module_info(named[w]) for w in CONFIG.get("watch", []) if w in named}
    return {"type": "module", "class": type(module).__name__, "training": bool(module.training),
            "total": total, "trainable": trainable, "parameters": params, "modules": watched}


# --- capturing calls -----------------------------------------------------------------------
def _first_module(args: tuple, kwargs: dict) -> Any:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, torch.nn.Module):
            return value
    return None


def wrap(fn: Any) -> Any:
    """Replace a user function by one that records its arguments (and runs it only if asked)."""
    if getattr(fn, "__grader_wrapped__", False) or not callable(fn):
        return fn
    name = getattr(fn, "__name__", "function")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        record: dict[str, Any] = {"function": name, "seq": _STATE["seq"],
                                  "line": caller.f_lineno if caller.f_code.co_name == "<module>"
                                  else None}
        try:
            bound = inspect.signature(fn).bind_partial(*args, **kwargs)
            named = dict(bound.arguments)
        except (TypeError, ValueError):
            named = {f"arg{i}": a for i, a in enumerate(args)} | kwargs
        record["arguments"] = {k: describe(v) for k, v in named.items()}
        if len(CALLS) < int(CONFIG.get("max_calls", 20)):
            CALLS.append(record)
        save()
        if CONFIG.get("mode") != "run":
            record["ran"] = "skipped"
            save()
            return _first_module(args, kwargs)
        return _run_budgeted(fn, args, kwargs, record)

    wrapper.__grader_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _run_budgeted(fn: Any, args: tuple, kwargs: dict, record: dict[str, Any]) -> Any:
    budget = CONFIG.get("budget_s")
    result = None

    def stop(_signum: int, _frame: Any) -> None:
        raise BudgetExceeded()

    previous = signal.signal(signal.SIGALRM, stop) if budget else None
    if budget:
        signal.setitimer(signal.ITIMER_REAL, float(budget))
    start = time.monotonic()
    try:
        result = fn(*args, **kwargs)
        record["ran"] = "completed"
    except BudgetExceeded:
        record["ran"] = "stopped"
        result = _first_module(args, kwargs)
    finally:
        if budget:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        record["run_s"] = round(time.monotonic() - start, 3)
        module = _first_module(args, kwargs)
        if module is not None:
            record["after"] = describe_module(module)
        save()
    return result


def is_user_function(fn: Any) -> bool:
    """Defined in the notebook, or in a module the student wrote into the working folder."""
    if not inspect.isfunction(fn) or getattr(fn, "__grader_wrapped__", False):
        return False
    workdir = os.path.realpath(os.getcwd())
    origin = os.path.realpath(fn.__code__.co_filename)
    return fn.__module__ == "__main__" or origin.startswith(workdir + os.sep)


def wrap_user(fn: Any) -> Any:
    return wrap(fn) if is_user_function(fn) else fn


def _binds(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    return set()


class WrapAfterBinding(ast.NodeTransformer):
    """After a top-level `def train`, `from mod import train` or `train = ...`, wrap `train`
    at once, so that a call later in the same cell is caught too."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        body: list[ast.stmt] = []
        for stmt in node.body:
            body.append(stmt)
            for name in sorted(_binds(stmt) & set(CONFIG.get("capture", []))):
                extra = ast.parse(f"{name} = __import__('_grader_runtime').wrap_user({name})"
                                  ).body[0]
                for child in ast.walk(extra):
                    if hasattr(child, "lineno"):
                        child.lineno = child.end_lineno = stmt.end_lineno or stmt.lineno
                        child.col_offset = child.end_col_offset = 0
                body.append(extra)
        node.body = body
        return node


def _after_cell(_result: Any = None) -> None:
    ip = _STATE.get("ip")
    if ip is None:
        return
    for name in CONFIG.get("capture", []):
        fn = ip.user_ns.get(name)
        if is_user_function(fn):
            ip.user_ns[name] = wrap(fn)


# --- offline patches -----------------------------------------------------------------------
def _patch_downloads() -> None:
    import urllib.error
    import urllib.request

    def urlretrieve(url: Any, filename: Any = None, *args: Any, **kwargs: Any) -> tuple:
        event("download", f"urlretrieve({str(url)[:120]!r}) skipped")
        return (filename or os.path.basename(str(url)), {})

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("downloads are disabled while grading")

    urllib.request.urlretrieve = urlretrieve
    urllib.request.urlopen = urlopen


def _patch_matplotlib() -> None:
    os.environ["MPLBACKEND"] = "Agg"
    try:
        import matplotlib
        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return
    plt.show = lambda *args, **kwargs: None


def build_model(requested: str, kwargs: dict[str, Any]) -> Any:
    """The torchvision model `requested` (or its configured stand-in) with random weights."""
    import torchvision.models as tvm

    arch = (CONFIG.get("hub_models") or {}).get(requested) or requested
    pretrained = bool(kwargs.pop("pretrained", False))
    weights = kwargs.pop("weights", None)
    for key in ("weights_backbone", "progress", "pretrained_backbone"):
        kwargs.pop(key, None)
    builder = tvm.get_model_builder(arch)
    accepted = inspect.signature(builder).parameters
    if (pretrained or weights is not None) and arch.startswith(("deeplabv3", "fcn", "lraspp")):
        kwargs.setdefault("num_classes", 21)       # the COCO-with-VOC-labels checkpoints
        if "aux_loss" in accepted and not arch.startswith("lraspp"):
            kwargs.setdefault("aux_loss", True)
    if "weights_backbone" in accepted:
        kwargs["weights_backbone"] = None
    model = builder(weights=None, **kwargs)
    event("model", f"{requested} built locally as {arch} with random weights")
    return model


def _patch_torch() -> None:
    try:
        import torch
        import torch.hub
    except ImportError:
        return

    def download_url_to_file(url: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        event("download", f"download_url_to_file({str(url)[:120]!r}) skipped")

    def load_state_dict_from_url(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("downloading weights is disabled while grading")

    def hub_load(repo_or_dir: Any, model: str, *args: Any, **kwargs: Any) -> Any:
        for key in ("source", "trust_repo", "force_reload", "verbose", "skip_validation"):
            kwargs.pop(key, None)
        try:
            return build_model(model, kwargs)
        except (ValueError, KeyError, ImportError):
            raise RuntimeError(f"torch.hub.load({repo_or_dir!r}, {model!r}) needs the internet, "
                               "which is not available while grading") from None

    torch.hub.download_url_to_file = download_url_to_file
    torch.hub.load_state_dict_from_url = load_state_dict_from_url
    torch.hub.load = hub_load
    if not torch.cuda.is_available():
        torch.nn.Module.cuda = lambda self, *args, **kwargs: self
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
        EVENTS.append({"kind": "device", "detail": ".cuda() is a no-op: no GPU while grading",
                       "seq": 0})
    _patch_torchvision()


def _patch_torchvision() -> None:
    try:
        import torchvision.models as tvm
        import torchvision.models.detection as detection
        import torchvision.models.segmentation as segmentation
    except ImportError:
        return
    names = set(tvm.list_models())
    for namespace in (tvm, segmentation, detection):
        for name in names:
            if callable(getattr(namespace, name, None)):
                setattr(namespace, name, _builder(name))
    # `from torchvision.models.segmentation.deeplabv3 import deeplabv3_resnet101`; only the
    # segmentation builders there, since these modules build their backbones by name
    for submodule in ("deeplabv3", "fcn", "lraspp"):
        module = getattr(segmentation, submodule, None)
        for name in names:
            if name.startswith(submodule + "_") and callable(getattr(module, name, None)):
                setattr(module, name, _builder(name))


def _builder(name: str) -> Any:
    def build(*args: Any, **kwargs: Any) -> Any:
        if args:
            kwargs.setdefault("pretrained", bool(args[0]))
        return build_model(name, kwargs)

    build.__name__ = name
    return build


def install(config: Mapping[str, Any] | None = None, ip: Any = None) -> None:
    """Apply the offline patches and, with an IPython shell, the capture hooks."""
    CONFIG.update(dict(config or {}))
    _STATE["ip"] = ip
    _patch_matplotlib()
    _patch_downloads()
    _patch_torch()
    if ip is not None:
        ip.ast_transformers.append(WrapAfterBinding())
        ip.events.register("pre_run_cell", _before_cell)
        ip.events.register("post_run_cell", _after_cell)
    save()
