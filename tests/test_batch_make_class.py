"""scripts/make_class.py: a deterministic synthetic class whose kinds behave as labelled.

Each generated notebook goes through the real ingest (load_submission + extract); the models it
defines are then built and run in-process (this is our own generated code, not a student's) and
compared with reference/models.py on every rubric config: parameter count, output shape, the
sequence of tensor ops in eval mode, and the convolutions' stride/padding.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import reference.models as ref
from grader.ingest.problems import IngestError
from grader.ingest.slicing import extract
from grader.ingest.submission import discover, load_submission

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from make_class import TARGETS, make_class  # noqa: E402

CONFIGS = {  # (kernel, num_filters, num_colours, num_in_channels), as in the 2023 rubric
    "PoolUpsampleNet": [(3, 32, 24, 1), (3, 8, 10, 1), (5, 16, 12, 3)],
    "ConvTransposeNet": [(3, 32, 24, 1), (3, 8, 10, 1), (3, 16, 12, 3)],
    "UNet": [(3, 32, 24, 1), (3, 8, 10, 1), (3, 16, 12, 3)],
}


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__.rstrip("_"))  # relu_ is relu
        return func(*args, **(kwargs or {}))


def _observe(cls, cfg) -> tuple:
    """What a grader can see of a model: params, shapes, ops, conv settings."""
    try:
        torch.manual_seed(0)
        model = cls(*cfg).eval()
        convs = [(type(m).__name__, m.stride, m.padding, getattr(m, "output_padding", None))
                 for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
        shapes, ops = [], []
        for size in (32, 64):
            with torch.no_grad(), _Ops() as trace:
                shapes.append(tuple(model(torch.randn(2, cfg[3], size, size)).shape))
            ops.append(trace.ops)
        return sum(p.numel() for p in model.parameters()), shapes, ops, convs
    except Exception as exc:  # a buggy model may not even run: that is a difference too
        return ("raised", type(exc).__name__)


REFERENCE = {t: [_observe(getattr(ref, t), cfg) for cfg in CONFIGS[t]] for t in TARGETS}


def _load_models(path: Path) -> dict:
    program = extract(load_submission(path), list(TARGETS))
    namespace: dict = {}
    exec(program.compile(), namespace)
    return namespace


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    out = tmp_path_factory.mktemp("class")
    return out, make_class(out, 60, seed=7)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = make_class(tmp_path / "a", 25, seed=3)
    b = make_class(tmp_path / "b", 25, seed=3)
    c = make_class(tmp_path / "c", 25, seed=4)
    assert a == b
    for entry in a:
        assert ((tmp_path / "a" / entry["file"]).read_bytes()
                == (tmp_path / "b" / entry["file"]).read_bytes())
    assert [e["file"] for e in a] != [e["file"] for e in c]


def test_every_kind_present_and_discover_sees_only_notebooks(mixed):
    out, manifest = mixed
    kinds = {e["kind"] for e in manifest}
    assert kinds == {"correct", "buggy", "slow", "broken"}
    assert len({e["file"] for e in manifest}) == 60
    found = discover([out])
    assert sorted(p.name for p in found) == sorted(e["file"] for e in manifest)
    stored = json.loads((out / ".manifest.json").read_text())
    assert stored == manifest
    layouts = {style for e in manifest for style in e["styles"].values()}
    assert layouts == {"sequential", "functional", "single", "helpers"}


def test_correct_notebooks_match_the_reference_and_buggy_ones_differ_where_labelled(tmp_path):
    torch.set_num_threads(1)
    manifest = make_class(tmp_path, 36, seed=11,
                          mix={"correct": 0.5, "buggy": 0.5, "slow": 0, "broken": 0})
    bugs_seen = set()
    for entry in manifest:
        models = _load_models(tmp_path / entry["file"])
        for target in TARGETS:
            seen = [_observe(models[target], cfg) for cfg in CONFIGS[target]]
            if entry["kind"] == "buggy" and target == entry["target"]:
                assert seen != REFERENCE[target], entry
                bugs_seen.add(entry["variant"])
            else:
                assert seen == REFERENCE[target], (entry, target)
    assert len(bugs_seen) >= 6  # a real spread of mistakes, not one repeated


def test_slow_and_broken_notebooks_fail_the_way_they_say(mixed, tmp_path):
    out, manifest = mixed
    by_variant: dict[str, list[dict]] = {}
    for entry in make_class(tmp_path, 40, seed=5,
                            mix={"correct": 0, "buggy": 0, "slow": 0.5, "broken": 0.5}):
        entry["path"] = tmp_path / entry["file"]
        by_variant.setdefault(entry["variant"], []).append(entry)
    for entry in manifest:
        entry["path"] = out / entry["file"]
        by_variant.setdefault(entry["variant"], []).append(entry)
    for entry in by_variant.get("corrupt_json", []):
        with pytest.raises(IngestError):
            load_submission(entry["path"])
    for variant, kinds in (("syntax", {"syntax"}), ("missing_class", {"missing"})):
        for entry in by_variant.get(variant, []):
            program = extract(load_submission(entry["path"]), list(TARGETS))
            assert {p.kind for p in program.problems} & kinds, (entry, program.problems)
    # The slow and dangerous parts the grader must run are in the program it will run...
    needles = {"infinite_init": "while size", "memory_init": "torch.ones(1024, 1024, 64)",
               "sleep_init": "time.sleep(", "sleep_forward": "time.sleep(",
               "sleep_helper": "checked_filters("}
    for variant, needle in needles.items():
        assert by_variant.get(variant), f"no {variant} notebook generated"
        for entry in by_variant[variant]:
            source = extract(load_submission(entry["path"]), list(TARGETS)).source
            assert needle in source, entry
    # ... and the top-level training sweep is not.
    assert by_variant.get("toplevel_training")
    for entry in by_variant["toplevel_training"]:
        source = extract(load_submission(entry["path"]), list(TARGETS)).source
        assert "time.sleep(3600)" not in source and "for lr in" not in source
        assert "class UNet" in source


def test_written_answers_are_judged_as_their_forms_say(mixed):
    """The generated class is a labelled set for the written questions too: every answer form
    gets the verdict a TA would give it, and no form is missing from a class of 60."""
    from grader.answers.writeup import judge_writeup

    out, manifest = mixed
    expected = {"formula": ("passed", 1.0), "k_substituted": ("passed", 1.0),
                "forgot_a_layer": ("failed", 4 / 6), "prose": ("review", 0.0),
                "right": ("passed", 1.0), "output_padding_1": ("failed", 0.5),
                "formula_in_k": ("review", 0.0)}
    seen = set()
    for entry in manifest:
        if entry["kind"] == "broken" and entry["variant"] == "corrupt_json":
            continue
        questions = [f"2023/{q}" for q in sorted(entry["written"])]
        if not questions:
            continue
        for verdict in judge_writeup(out / entry["file"], questions):
            form = entry["written"][verdict.question.split("/")[1]]
            label = "formula_in_k" if verdict.question.endswith("5.4") and form == "formula" \
                else form
            status, fraction = expected[label]
            assert (verdict.status, round(verdict.fraction, 3)) == (status, round(fraction, 3)), \
                (entry["file"], verdict.question, form, verdict.message)
            seen.add(label)
    assert seen == set(expected)
