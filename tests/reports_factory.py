"""Realistic result.json records (schema 1) for the reports tests and the screenshot script.

Each builder returns a fresh dict shaped exactly as docs/results.md describes: a passing student,
one with a wrong architecture (with the differ's table), one whose code raised / timed out / ran
out of memory, one whose notebook is corrupt, one with a grader-internal check, one the grader
itself crashed on, a fine-tuning (2020 rubric) result, and a seeded cohort for the dashboard.
Scores are always derived from verdict fractions and rubric weights, never typed in, so the
records are internally consistent the way the pipeline's are.
"""

from __future__ import annotations

import copy
import json
import random
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

RUBRIC_2023 = {"id": "csc413-2023-a2",
               "title": "CSC413/2516 Winter 2023 — Programming Assignment 2: Convolutional "
                        "Neural Networks",
               "sha256": "5d1c0e6f9a4b2c7d8e3f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
               "path": "rubrics/csc413-2023-a2.yaml"}
RUBRIC_2020 = {"id": "csc413-2020-pa2",
               "title": "CSC413/2516 Winter 2020 — Programming Assignment 2: Convolutional "
                        "Neural Networks",
               "sha256": "0f9e8d7c6b5a49382716a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
               "path": "rubrics/csc413-2020-pa2.yaml"}

ISOLATION = {"method": "bubblewrap", "network": "none", "filesystem": "read-only, private /tmp",
             "user": "nobody (uid 65534)", "seccomp": True, "timeout_s": 120,
             "memory_limit": "6 GiB", "cpu_limit": 2, "pids_limit": 64}

# (kernel, filters, colours, in_channels) per rubric config, as in rubrics/csc413-2023-a2.yaml.
CONFIGS = {
    "PoolUpsampleNet": {"handout": (3, 32, 24, 1), "narrow": (3, 8, 10, 1),
                        "k5_rgb": (5, 16, 12, 3)},
    "ConvTransposeNet": {"handout": (3, 32, 24, 1), "narrow": (3, 8, 10, 1),
                         "rgb": (3, 16, 12, 3)},
    "UNet": {"handout": (3, 32, 24, 1), "narrow": (3, 8, 10, 1), "rgb": (3, 16, 12, 3)},
}
HIDDEN_CONFIGS = {"PoolUpsampleNet": ["narrow", "k5_rgb"], "ConvTransposeNet": ["narrow", "rgb"],
                  "UNet": ["narrow", "rgb"]}
INPUT_SIZES = (32, 64)


# --------------------------------------------------------------------------- model facts
def _conv(cin: int, cout: int, k: int) -> int:
    return cout * cin * k * k + cout


def param_total(target: str, config: str, *, drop_bn2: bool = False) -> int:
    """Parameter count of the handout's layer list (optionally without block 2's BatchNorm)."""
    k, nf, nc, nic = CONFIGS[target][config]
    bn = 2  # BatchNorm2d: weight + bias per channel
    if target == "PoolUpsampleNet":
        total = (_conv(nic, nf, k) + bn * nf + _conv(nf, 2 * nf, k) + bn * 2 * nf
                 + _conv(2 * nf, nf, k) + bn * nf + _conv(nf, nc, k) + bn * nc + _conv(nc, nc, k))
    elif target == "ConvTransposeNet":  # ConvTranspose2d has the same count as Conv2d
        total = (_conv(nic, nf, k) + bn * nf + _conv(nf, 2 * nf, k) + bn * 2 * nf
                 + _conv(2 * nf, nf, k) + bn * nf + _conv(nf, nc, k) + bn * nc + _conv(nc, nc, k))
    else:  # UNet with skip connections widening blocks 3, 4 and 5
        total = (_conv(nic, nf, k) + bn * nf + _conv(nf, 2 * nf, k) + bn * 2 * nf
                 + _conv(2 * nf, nf, k) + bn * nf + _conv(2 * nf, nc, k) + bn * nc
                 + _conv(nc + nic, nc, k))
    return total - (bn * 2 * nf if drop_bn2 else 0)


def out_shape(target: str, config: str, size: int, *, convt_bug: bool = False) -> list[int]:
    _, _, nc, _ = CONFIGS[target][config]
    if convt_bug:  # ConvTranspose2d without output_padding: 2s-1 instead of 2s, twice
        s = size // 4
        s = (s - 1) * 2 - 2 + 3
        s = (s - 1) * 2 - 2 + 3
        return [2, nc, s, s]
    return [2, nc, size, size]


def in_shape(target: str, config: str, size: int) -> list[int]:
    return [2, CONFIGS[target][config][3], size, size]


# --------------------------------------------------------------------------- architecture tables
def _layers(target: str) -> list[tuple[str, str]]:
    """(block, layer) rows of the handout model at the handout config."""
    if target == "PoolUpsampleNet":
        return [("1", "Conv2d(1, 32, kernel_size=3, padding=1)"), ("1", "MaxPool2d(kernel_size=2)"),
                ("1", "BatchNorm2d(32)"), ("1", "ReLU()"),
                ("2", "Conv2d(32, 64, kernel_size=3, padding=1)"),
                ("2", "MaxPool2d(kernel_size=2)"), ("2", "BatchNorm2d(64)"), ("2", "ReLU()"),
                ("3", "Conv2d(64, 32, kernel_size=3, padding=1)"),
                ("3", "Upsample(scale_factor=2, mode='nearest')"), ("3", "BatchNorm2d(32)"),
                ("3", "ReLU()"),
                ("4", "Conv2d(32, 24, kernel_size=3, padding=1)"),
                ("4", "Upsample(scale_factor=2, mode='nearest')"), ("4", "BatchNorm2d(24)"),
                ("4", "ReLU()"), ("5", "Conv2d(24, 24, kernel_size=3, padding=1)")]
    if target == "ConvTransposeNet":
        ct = "kernel_size=3, stride=2, padding=1, output_padding=1"
        return [("1", "Conv2d(1, 32, kernel_size=3, stride=2, padding=1)"),
                ("1", "BatchNorm2d(32)"), ("1", "ReLU()"),
                ("2", "Conv2d(32, 64, kernel_size=3, stride=2, padding=1)"),
                ("2", "BatchNorm2d(64)"), ("2", "ReLU()"),
                ("3", f"ConvTranspose2d(64, 32, {ct})"), ("3", "BatchNorm2d(32)"), ("3", "ReLU()"),
                ("4", f"ConvTranspose2d(32, 24, {ct})"), ("4", "BatchNorm2d(24)"), ("4", "ReLU()"),
                ("5", "Conv2d(24, 24, kernel_size=3, padding=1)")]
    return [("1", "Conv2d(1, 32, kernel_size=3, padding=1)"), ("1", "MaxPool2d(kernel_size=2)"),
            ("1", "BatchNorm2d(32)"), ("1", "ReLU()"),
            ("2", "Conv2d(32, 64, kernel_size=3, padding=1)"), ("2", "MaxPool2d(kernel_size=2)"),
            ("2", "BatchNorm2d(64)"), ("2", "ReLU()"),
            ("3", "Conv2d(64, 32, kernel_size=3, padding=1)"),
            ("3", "Upsample(scale_factor=2, mode='nearest')"), ("3", "BatchNorm2d(32)"),
            ("3", "ReLU()"), ("4", "cat(out3, out1, dim=1)"),
            ("4", "Conv2d(64, 24, kernel_size=3, padding=1)"),
            ("4", "Upsample(scale_factor=2, mode='nearest')"), ("4", "BatchNorm2d(24)"),
            ("4", "ReLU()"), ("5", "cat(out4, x, dim=1)"),
            ("5", "Conv2d(25, 24, kernel_size=3, padding=1)")]


def architecture_details(target: str, bug: str | None = None) -> dict:
    """The differ's `table` and `differences` for the handout model, with one planted bug.

    bug: None, "missing_bn2" (block 2 has no BatchNorm2d), "no_output_padding" (both
    ConvTranspose2d lack output_padding) or "extra_dropout" (a Dropout in block 3).
    """
    table: list[dict] = []
    differences: list[dict] = []
    for block, layer in _layers(target):
        row = {"block": block, "student": layer, "reference": layer, "status": "match"}
        if bug == "missing_bn2" and block == "2" and layer.startswith("BatchNorm2d"):
            row.update(student=None, status="missing")
            differences.append({"kind": "missing", "location": "block 2, after MaxPool2d",
                                "expected": layer, "found": None,
                                "message": "block 2: expected BatchNorm2d(64) after MaxPool2d, "
                                           "found none"})
        if bug == "no_output_padding" and layer.startswith("ConvTranspose2d"):
            found = layer.replace(", output_padding=1", "")
            row.update(student=found, status="mismatch")
            differences.append({"kind": "attribute", "location": f"block {block}, {found[:15]}",
                                "expected": "output_padding=1", "found": "output_padding=0",
                                "message": f"block {block}: ConvTranspose2d output_padding is 0, "
                                           "expected 1 (the output is one pixel short)"})
        table.append(row)
        if bug == "extra_dropout" and block == "3" and layer == "ReLU()":
            table.append({"block": "3", "student": "Dropout(p=0.2)", "reference": None,
                          "status": "extra"})
            differences.append({"kind": "extra", "location": "block 3, after ReLU",
                                "expected": None, "found": "Dropout(p=0.2)",
                                "message": "block 3: Dropout(p=0.2) is not in the handout's "
                                           "model"})
    return {"differences": differences, "table": table}


# --------------------------------------------------------------------------- verdict details
def shape_details(target: str, configs: list[str], *, convt_bug: bool = False,
                  error: str | None = None) -> dict:
    out: dict[str, Any] = {}
    for name in configs:
        if error:
            out[name] = {"ok": False, "error": error}
            continue
        runs = []
        for size in INPUT_SIZES:
            expected = out_shape(target, name, size)
            found = out_shape(target, name, size, convt_bug=convt_bug)
            runs.append({"input": in_shape(target, name, size), "expected": expected,
                         "found": found, "ok": expected == found, "error": None})
        ok = all(r["ok"] for r in runs)
        out[name] = {"ok": ok, "message": "all shapes match" if ok else "wrong output shape",
                     "runs": runs}
    return {"configs": out}


def param_details(target: str, configs: list[str], *, drop_bn2: bool = False) -> dict:
    out = {}
    for name in configs:
        want = param_total(target, name)
        got = param_total(target, name, drop_bn2=drop_bn2)
        out[name] = {"ok": want == got, "expected": {"total": want, "trainable": want},
                     "found": {"total": got, "trainable": got}}
    return {"configs": out}


def grad_details(target: str, configs: list[str], *, dead: list[str] | None = None) -> dict:
    return {"configs": {name: {"ok": not dead, "without_grad": list(dead or []),
                               "input_affects_output": True} for name in configs}}


def _curve(final_acc: float, epochs: int, seed: int, *, start_loss: float = 2.9) -> list[dict]:
    rng = random.Random(seed)
    points = []
    for e in range(1, epochs + 1):
        t = e / epochs
        train = start_loss - (start_loss - 1.55) * (1 - (1 - t) ** 2) + rng.uniform(-0.03, 0.03)
        val = train + 0.06 + rng.uniform(-0.03, 0.04)
        acc = final_acc * (0.62 + 0.38 * (1 - (1 - t) ** 2)) + rng.uniform(-0.4, 0.4)
        points.append({"epoch": e, "train_loss": round(train, 4), "val_loss": round(val, 4),
                       "val_acc": round(acc, 2)})
    points[-1]["val_acc"] = final_acc
    return points


def accuracy_details(target: str, val_acc: float, *, seed: int = 0) -> tuple[float, dict, str]:
    """(fraction, details, message) of an accuracy verdict computed like the real check."""
    base = {"PoolUpsampleNet": 44.6, "ConvTransposeNet": 47.9, "UNet": 52.3}[target]
    ref = [round(base + d, 1) for d in (-0.5, 0.4, 0.9)]
    mean = sum(ref) / len(ref)
    pass_at = min(0.95 * mean, min(ref))
    zero_at = min(0.7 * mean, pass_at)
    budget = {"epochs": 6, "batch_size": 100, "lr": 0.001, "train_images": 1500,
              "val_images": 500}
    details = {"val_acc": val_acc, "val_loss": round(1.62 + (mean - val_acc) / 40, 4),
               "reference_val_acc": ref, "reference_mean": mean, "pass_at": pass_at,
               "zero_at": zero_at, "budget": budget,
               "data": {"source": "CIFAR-10 horses (cached)", "train_images": 1500,
                        "val_images": 500, "seed": 0},
               "curve": _curve(val_acc, budget["epochs"], seed + 7),
               "reference_curve": _curve(round(mean, 2), budget["epochs"], 99, start_loss=2.85),
               "seconds": 38.4 + seed % 5,
               "samples": f"artifacts/samples_{target}.png"}
    summary = (f"validation accuracy {val_acc:.1f} % vs reference {mean:.1f} % "
               f"({min(ref):.1f}–{max(ref):.1f} over {len(ref)} seeds) under the same budget")
    if val_acc >= pass_at:
        return 1.0, details, f"{summary}; needed {pass_at:.1f} %"
    if val_acc <= zero_at:
        return 0.0, details, f"{summary}; needed {pass_at:.1f} % (no credit below {zero_at:.1f} %)"
    return ((val_acc - zero_at) / (pass_at - zero_at), details,
            f"{summary}; needed {pass_at:.1f} % for full credit")


# --------------------------------------------------------------------------- assembling records
def check(cid: str, kind: str, target: str | None, status: str, fraction: float, message: str,
          details: dict | None = None, *, weight: float = 1, visibility: str = "public",
          feedback: str = "full", title: str = "") -> dict:
    return {"id": cid, "kind": kind, "target": target, "title": title, "weight": weight,
            "visibility": visibility, "feedback": feedback, "status": status,
            "fraction": fraction, "message": message, "details": details or {}}


def question(qid: str, title: str, points: float, checks: list[dict],
             *, mode: str = "all") -> dict:
    """Spread the question's points over its checks by weight, as the pipeline does."""
    total_weight = sum(c["weight"] for c in checks)
    for c in checks:
        c["max_score"] = points * c["weight"] / total_weight
        fraction = c.pop("fraction")
        if mode == "static" and c["kind"] == "accuracy":
            c.update(status="skipped", message="training checks run only with --checks all",
                     details={})
            fraction = 0.0
        c["score"] = c["max_score"] * fraction
    return {"id": qid, "title": title, "score": sum(c["score"] for c in checks),
            "max_score": points, "checks": checks}


def environment(device: str = "cpu") -> dict:
    return {"grader": "0.1.0", "python": "3.11.7", "torch": "2.14.1", "numpy": "2.1.3",
            "platform": "Linux-6.8.0-x86_64-with-glibc2.36", "device": device,
            "seeds": {"python": 0, "numpy": 0, "torch": 0}, "isolation": dict(ISOLATION)}


def record(student: str, questions: list[dict], *, rubric: dict = RUBRIC_2023, mode: str = "all",
           problems: list[dict] | None = None, neutralised: list[dict] | None = None,
           status: str = "graded", error: dict | None = None, wall: float = 41.0,
           rss: int = 1_210_000_000, hour: int = 14) -> dict:
    score = sum(q["score"] for q in questions)
    max_score = sum(q["max_score"] for q in questions) or 3.0
    assessed = sum(c["max_score"] for q in questions for c in q["checks"]
                   if c["status"] != "skipped")
    training = sum(1 for q in questions for c in q["checks"]
                   if c["kind"] == "accuracy" and c["status"] != "skipped")
    digest = f"{zlib.crc32(student.encode()):08x}" * 8
    return {
        "schema": 1, "student": student,
        "submission": {"path": f"class/{student}.ipynb", "kind": "notebook", "sha256": digest,
                       "files": [f"{student}.ipynb"]},
        "rubric": dict(rubric), "status": status, "error": error, "checks_mode": mode,
        "score": score, "max_score": max_score, "assessed_max_score": assessed,
        "questions": questions, "problems": list(problems or []),
        "neutralised": list(neutralised or []), "environment": environment(),
        "timings": {"total_s": round(wall + 1.3, 2), "ingest_s": 0.05,
                    "sandbox_s": round(wall * 0.2, 2), "checks_s": 0.21,
                    "training_s": round(wall * 0.8, 2) if training else 0.0},
        "resources": {"wall_s": wall, "cpu_s": round(wall * 1.7, 2), "max_rss_bytes": rss},
        "graded_at": f"2026-11-22T{hour:02d}:{len(student) % 60:02d}:00+00:00",
        "key": "9f" * 32,
    }


def _model_question(qid: str, target: str, *, arch_bug: str | None = None,
                    drop_bn2: bool = False, convt_bug: bool = False,
                    error: dict | None = None, hidden_feedback: tuple[str, str] = ("verdict",
                                                                                   "verdict"),
                    mode: str = "all") -> dict:
    """The static question of one model (architecture, shapes, params, gradients, hidden)."""
    hidden = HIDDEN_CONFIGS[target]
    gen_shape_title = "right output shape for other kernels, filters, colours and input channels"
    gen_param_title = "right parameter count for other kernels, filters, colours and input channels"
    if error:
        text = _problem_line(error)
        checks = [check(k, k, target, "error", 0.0, text, {"problem": error},
                        weight=3 if k == "architecture" else 1)
                  for k in ("architecture", "output_shape", "param_count", "gradient_flow")]
        checks += [
            check("generalises_shape", "output_shape", target, "error", 0.0, text,
                  {"problem": error}, visibility="hidden", feedback=hidden_feedback[0],
                  title=gen_shape_title),
            check("generalises_params", "param_count", target, "error", 0.0, text,
                  {"problem": error}, visibility="hidden", feedback=hidden_feedback[1],
                  title=gen_param_title)]
        return question(qid, target, 0.5, checks, mode=mode)
    arch = architecture_details(target, arch_bug)
    arch_ok = not arch["differences"]
    n_diff = len(arch["differences"])
    arch_msg = ("every layer matches the handout's model" if arch_ok else
                "; ".join(d["message"] for d in arch["differences"][:2])
                + (f" (+{n_diff - 2} more)" if n_diff > 2 else ""))
    shapes = shape_details(target, ["handout"], convt_bug=convt_bug)
    shape_ok = shapes["configs"]["handout"]["ok"]
    params = param_details(target, ["handout"], drop_bn2=drop_bn2)
    p = params["configs"]["handout"]
    param_msg = (f"{p['found']['total']:,} parameters" if p["ok"] else
                 f"{p['found']['trainable']:,} trainable parameters, expected "
                 f"{p['expected']['trainable']:,}; {p['found']['total']:,} parameters in all, "
                 f"expected {p['expected']['total']:,}")
    gen_shapes = shape_details(target, hidden, convt_bug=convt_bug)
    gen_ok = all(c["ok"] for c in gen_shapes["configs"].values())
    gen_params = param_details(target, hidden, drop_bn2=drop_bn2)
    genp_ok = all(c["ok"] for c in gen_params["configs"].values())

    def shape_msg(details: dict) -> str:
        bad = []
        for name, conf in details["configs"].items():
            for run in conf["runs"]:
                if not run["ok"]:
                    bad.append(f"{name}: input {tuple(run['input'])} gave {run['found']}, "
                               f"expected {tuple(run['expected'])}")
        return "; ".join(bad) or f"correct for all {len(details['configs'])} configuration(s)"

    def param_msg_of(details: dict) -> str:
        bad = [f"{n}: {c['found']['total']:,} parameters in all, expected "
               f"{c['expected']['total']:,}" for n, c in details["configs"].items() if not c["ok"]]
        return "; ".join(bad) or f"correct for all {len(details['configs'])} configuration(s)"

    checks = [
        check("architecture", "architecture", target, "passed" if arch_ok else "failed",
              1.0 if arch_ok else 0.4, arch_msg, arch, weight=3),
        check("output_shape", "output_shape", target, "passed" if shape_ok else "failed",
              1.0 if shape_ok else 0.0, shape_msg(shapes), shapes),
        check("param_count", "param_count", target, "passed" if p["ok"] else "failed",
              1.0 if p["ok"] else 0.0, param_msg if p["ok"] else f"handout: {param_msg}",
              params),
        check("gradient_flow", "gradient_flow", target, "passed", 1.0,
              "correct for all 1 configuration(s)", grad_details(target, ["handout"])),
        check("generalises_shape", "output_shape", target, "passed" if gen_ok else "failed",
              1.0 if gen_ok else 0.0, shape_msg(gen_shapes), gen_shapes, visibility="hidden",
              feedback=hidden_feedback[0], title=gen_shape_title),
        check("generalises_params", "param_count", target, "passed" if genp_ok else "failed",
              1.0 if genp_ok else 0.0, param_msg_of(gen_params), gen_params,
              visibility="hidden", feedback=hidden_feedback[1], title=gen_param_title),
    ]
    return question(qid, target, 0.5, checks, mode=mode)


def _training_question(qid: str, target: str, val_acc: float | None, *, seed: int = 0,
                       error: dict | None = None, mode: str = "all") -> dict:
    if error:
        c = check("accuracy", "accuracy", target, "error", 0.0, _problem_line(error),
                  {"problem": error})
    else:
        assert val_acc is not None
        fraction, details, message = accuracy_details(target, val_acc, seed=seed)
        c = check("accuracy", "accuracy", target, "passed" if fraction == 1.0 else "failed",
                  fraction, message, details)
    return question(qid, f"{target} trains", 0.5, [c], mode=mode)


def _problem_line(problem: dict) -> str:
    where = f" (cell {problem['cell']}, line {problem['line']})" if problem.get("cell") else ""
    return f"{problem['kind']}: {problem['message']}{where}"


# Which hidden checks use which feedback level in this class's rubric (a TA's choice): 4.1's
# hidden checks show their verdict, 5.1's parameter generalisation is fully hidden, 6.1's shape
# generalisation shows everything.
FEEDBACK = {"PoolUpsampleNet": ("verdict", "verdict"), "ConvTransposeNet": ("verdict", "none"),
            "UNet": ("full", "verdict")}
QIDS = {"PoolUpsampleNet": ("4.1", "4.2"), "ConvTransposeNet": ("5.1", "5.2"),
        "UNet": ("6.1", "6.2")}


def _class_record(student: str, *, bugs: dict[str, dict] | None = None,
                  accs: dict[str, float | None] | None = None,
                  errors: dict[str, dict] | None = None, mode: str = "all", seed: int = 0,
                  **kwargs: Any) -> dict:
    bugs, accs, errors = bugs or {}, accs or {}, errors or {}
    questions = []
    for target, (q_model, q_train) in QIDS.items():
        questions.append(_model_question(q_model, target, error=errors.get(target),
                                         hidden_feedback=FEEDBACK[target], mode=mode,
                                         **bugs.get(target, {})))
        questions.append(_training_question(q_train, target, accs.get(target, 47.0), seed=seed,
                                            error=errors.get(target), mode=mode))
    problems = [e for e in errors.values()]
    return record(student, questions, mode=mode, problems=problems, **kwargs)


# --------------------------------------------------------------------------- the cast
def passing_result(student: str = "alice", *, mode: str = "all") -> dict:
    """Everything right; accuracies inside the reference's band."""
    return _class_record(student, accs={"PoolUpsampleNet": 44.8, "ConvTransposeNet": 48.1,
                                        "UNet": 52.0}, mode=mode, wall=44.2, hour=13)


def failing_result(student: str = "bob") -> dict:
    """Wrong architectures: a missing BatchNorm, ConvTranspose2d without output_padding, an
    extra Dropout; the shapes and parameter counts that follow from them; partial accuracy."""
    return _class_record(
        student,
        bugs={"PoolUpsampleNet": {"arch_bug": "missing_bn2", "drop_bn2": True},
              "ConvTransposeNet": {"arch_bug": "no_output_padding", "convt_bug": True},
              "UNet": {"arch_bug": "extra_dropout"}},
        accs={"PoolUpsampleNet": 38.9, "ConvTransposeNet": 29.5, "UNet": 50.1},
        neutralised=[{"cell": 2, "line": 1, "what": "shell command: !pip install torch==1.13"}],
        wall=47.9, rss=1_330_000_000)


CAROL_TRACEBACK = [
    "Cell 12, line 27, in PoolUpsampleNet.forward",
    "    out2 = self.block2(out1_pooled)",
    "Cell 12, line 14, in PoolUpsampleNet.__init__.<locals>.block2",
    "    return self.conv2(x)",
    "RuntimeError: Given groups=1, weight of size [64, 32, 3, 3], expected input[2, 16, 16, 16] "
    "to have 32 channels, but got 16 channels instead",
]


def crashing_result(student: str = "carol") -> dict:
    """The student's code raised in one model, looped forever in another and blew the memory
    limit in the third: every failure located in their notebook."""
    errors = {
        "PoolUpsampleNet": {"kind": "exception",
                            "message": "RuntimeError: Given groups=1, weight of size "
                                       "[64, 32, 3, 3], expected input[2, 16, 16, 16] to have 32 "
                                       "channels, but got 16 channels instead",
                            "cell": 12, "line": 27, "traceback": list(CAROL_TRACEBACK)},
        "ConvTransposeNet": {"kind": "timeout",
                             "message": "ConvTransposeNet(3, 32, 24, 1) did not finish within "
                                        "the 120 s limit (still running in forward)",
                             "cell": 14, "line": 31,
                             "traceback": ["Cell 14, line 31, in ConvTransposeNet.forward",
                                           "    while x.shape[-1] < 32:"]},
        "UNet": {"kind": "memory",
                 "message": "exceeded the 6 GiB memory limit while constructing "
                            "UNet(3, 32, 24, 1)",
                 "cell": 16, "line": 9,
                 "traceback": ["Cell 16, line 9, in UNet.__init__",
                               "    self.skip = torch.zeros(4096, 4096, 128)"]},
    }
    return _class_record(student, errors=errors, wall=121.6, rss=6_420_000_000,
                         neutralised=[{"cell": 1, "line": 3,
                                       "what": "from google.colab import drive"},
                                      {"cell": 1, "line": 4,
                                       "what": "drive.mount('/content/drive')"}])


def corrupt_result(student: str = "dave") -> dict:
    """Nothing could be graded: the notebook is not valid JSON."""
    rec = record(student, [], status="error", wall=0.04, rss=48_000_000,
                 error={"kind": "corrupt",
                        "message": "the notebook is not valid JSON: Expecting ',' delimiter: "
                                   "line 214 column 5 (char 10233)",
                        "cell": None, "line": None, "traceback": []})
    rec["score"], rec["max_score"], rec["assessed_max_score"] = 0.0, 3.0, 0.0
    rec["timings"] = {"total_s": 0.06, "ingest_s": 0.05, "sandbox_s": 0.0, "checks_s": 0.0,
                      "training_s": 0.0}
    return rec


def internal_result(student: str = "erin") -> dict:
    """Correct work, but the grader could not replay one graph: an internal check."""
    rec = _class_record(student, accs={"PoolUpsampleNet": 45.1, "ConvTransposeNet": 46.2,
                                       "UNet": 53.0}, wall=43.0)
    q = rec["questions"][4]  # 6.1 UNet
    for c in q["checks"]:
        if c["id"] == "gradient_flow":
            c.update(status="internal", score=0.0, details={},
                     message="replay of the captured graph failed: no replay rule for op "
                             "'pixel_shuffle' (grader bug, please report)")
    q["score"] = sum(c["score"] for c in q["checks"])
    rec["score"] = sum(x["score"] for x in rec["questions"])
    return rec


REVIEW_WHY = ("the network could not be replayed on the grader's validation images: no replay "
              "rule for op 'custom_colour_lut'")


def review_result(student: str = "hana") -> dict:
    """Correct static work, but one trained network could not be replayed on the trusted side:
    its accuracy question awaits a TA (no points, no deduction)."""
    rec = _class_record(student, accs={"PoolUpsampleNet": 45.3, "ConvTransposeNet": 47.7,
                                       "UNet": 51.8}, wall=44.0)
    q = next(q for q in rec["questions"] if q["id"] == "6.2")
    for c in q["checks"]:
        c.update(status="review", score=0.0,
                 message=f"{REVIEW_WHY}: the grader cannot measure this model's accuracy, so a "
                         "TA will look at this question (no automatic credit)",
                 details={"review": REVIEW_WHY, "curve": [], "seconds": 39.0, "attempts": []})
    q["score"] = 0.0
    rec["score"] = sum(x["score"] for x in rec["questions"])
    rec["assessed_max_score"] -= q["max_score"]
    return rec


def grader_crash_result(student: str = "frank") -> dict:
    """The grader itself failed on this submission (as grader.batch.jobs.internal_failure)."""
    return {"schema": 1, "student": student,
            "submission": {"path": f"class/{student}", "kind": "folder",
                           "sha256": "ab" * 32},
            "rubric": dict(RUBRIC_2023), "status": "error",
            "error": {"kind": "internal", "message": "worker process died (signal 9) while "
                                                     "grading",
                      "cell": None, "line": None,
                      "traceback": ["Traceback (most recent call last):",
                                    '  File "grader/batch/local.py", line 41, in _worker_main',
                                    "BrokenPipeError: [Errno 32] Broken pipe"]},
            "score": 0.0, "max_score": 3.0, "assessed_max_score": 0.0, "questions": [],
            "problems": [], "neutralised": [], "key": "77" * 32}


def finetune_result(student: str = "gina") -> dict:
    """2020 rubric part C: which DeepLabV3 parameters the student's fine-tuning moved."""
    head = "classifier.4"
    trainable = [f"{head}.weight", f"{head}.bias", "classifier.1.weight", "classifier.1.bias"]
    c1 = check("finetune_train", "finetune_train", "train", "failed", 0.5,
               "4 parameter tensors were trainable, expected only classifier.4 (2); "
               "classifier.1 was updated too",
               {"trainable": trainable, "changed": trainable, "unchanged_count": 620,
                "head": {"type": "Conv2d", "in_channels": 256, "out_channels": 2,
                         "kernel_size": [1, 1]}})
    c2 = check("finetune_head", "finetune_head", "train", "passed", 1.0,
               "the head is Conv2d(256, 2, kernel_size=1) and everything else is frozen",
               {"trainable": [f"{head}.weight", f"{head}.bias"],
                "changed": [f"{head}.weight", f"{head}.bias"], "unchanged_count": 622,
                "head": {"type": "Conv2d", "in_channels": 256, "out_channels": 2,
                         "kernel_size": [1, 1]}})
    qs = [question("C.1", "the fine-tuning train() optimises only classifier.4", 1, [c1]),
          question("C.2", "the head is replaced by a 2-class convolution and everything else is "
                          "frozen", 1, [c2])]
    rec = record(student, qs, rubric=RUBRIC_2020, wall=212.0, rss=3_900_000_000)
    rec["max_score"] = 2.0
    return rec


def cohort(n: int = 18, seed: int = 413) -> list[dict]:
    """A class: the named cast plus `n` seeded students with a realistic spread of mistakes."""
    rng = random.Random(seed)
    results = [passing_result(), failing_result(), crashing_result(), corrupt_result(),
               internal_result(), grader_crash_result()]
    bug_menu = [{"PoolUpsampleNet": {"arch_bug": "missing_bn2", "drop_bn2": True}},
                {"ConvTransposeNet": {"arch_bug": "no_output_padding", "convt_bug": True}},
                {"UNet": {"arch_bug": "extra_dropout"}}]
    for i in range(n):
        bugs: dict[str, dict] = {}
        for menu in bug_menu:
            if rng.random() < 0.25:
                bugs.update(menu)
        accs = {"PoolUpsampleNet": round(rng.uniform(30, 46), 1),
                "ConvTransposeNet": round(rng.uniform(33, 49), 1),
                "UNet": round(rng.uniform(40, 54), 1)}
        results.append(_class_record(f"s{1003000 + 17 * i}", bugs=bugs, accs=accs, seed=i,
                                     wall=round(rng.uniform(35, 70), 1),
                                     rss=rng.randint(900, 1800) * 1_000_000,
                                     hour=13 + i % 3))
    return results


# --------------------------------------------------------------------------- files on disk
def samples_png(seed: int = 0) -> bytes:
    """A small colourisation-samples picture: greyscale inputs, outputs, ground truth."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    tiles = 6
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    rows = []
    truth = []
    for _ in range(tiles):
        c = rng.uniform(0.2, 0.9, size=3)
        blob = np.exp(-(((xx - rng.uniform(0.3, 0.7)) ** 2 + (yy - 0.55) ** 2) / 0.05))
        img = (1 - blob)[..., None] * np.array([0.45, 0.62, 0.35]) + blob[..., None] * c
        truth.append(img)
    truth_row = np.concatenate(truth, axis=1)
    grey = truth_row.mean(axis=2, keepdims=True).repeat(3, axis=2)
    quant = np.round(truth_row * 4) / 4
    rows = [grey, quant, truth_row]
    picture = np.concatenate(rows, axis=0)
    picture = np.kron(picture, np.ones((2, 2, 1)))  # 2x nearest upscale for legibility
    buf = io.BytesIO()
    Image.fromarray((picture * 255).clip(0, 255).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def write_student_dir(result: dict, root: Path) -> Path:
    """Write `root/<student>/result.json` and the sample pictures its checks reference."""
    folder = Path(root) / result["student"]
    (folder / "artifacts").mkdir(parents=True, exist_ok=True)
    for q in result.get("questions", []):
        for c in q["checks"]:
            rel = c.get("details", {}).get("samples")
            if rel:
                (folder / rel).write_bytes(samples_png(len(rel)))
    (folder / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return folder


def fresh(result: dict) -> dict:
    """A deep copy, for tests that mutate a record."""
    return copy.deepcopy(result)


# --------------------------------------------------------------------------- reading pages back
class _Grab(HTMLParser):
    """Collect the text (and raw markup) inside the element with a given id."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}
    # Tags that separate words when rendered; inline tags (code, span, mark, a) do not.
    BLOCK = {"br", "td", "th", "tr", "p", "div", "li", "dt", "dd", "h1", "h2", "h3", "h4", "pre",
             "section", "article", "header", "figure", "figcaption", "table", "ul", "footer",
             "nav", "main", "svg", "text", "title", "option"}

    def __init__(self, wanted: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted, self.depth, self.done = wanted, 0, False
        self.text: list[str] = []
        self.skip = 0  # inside <style> or <script>: not text a reader sees

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skip += tag in ("style", "script")
        if tag in self.BLOCK:
            self.handle_data(" ")
        if self.wanted is None or self.done or tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.wanted:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("style", "script") and self.skip > 0
        if tag in self.BLOCK:
            self.handle_data(" ")
        if self.wanted is not None and self.depth and tag not in self.VOID:
            self.depth -= 1
            if self.depth == 0:
                self.done = True

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.wanted is None or (self.depth and not self.done):
            self.text.append(data)


def page_text(html: str, element_id: str | None = None) -> str:
    """The visible text of a page (or of one element by id), whitespace collapsed."""
    grab = _Grab(element_id)
    grab.feed(html)
    if element_id and not grab.text and not grab.done:
        raise KeyError(f"no element with id {element_id!r}")
    return " ".join("".join(grab.text).split())


def typed(value: Any) -> Any:
    """A stored record (or a list of them) read back the way the grader reads result.json."""
    from grader.result import Result

    if isinstance(value, list):
        return [Result.from_dict(v) for v in value]
    return Result.from_dict(value)
