"""Every mutant applies to its rubric's reference notebook, changes its code, stays a notebook."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import nbformat
import pytest
import yaml

from grader.audit.mutants import (
    Edit,
    MutantError,
    apply_edits,
    cell_source,
    mutants_for_targets,
    parse_cell,
    reference_notebook_path,
)
from grader.rubric.schema import shipped_rubrics

ROOT = Path(__file__).resolve().parents[1]
RUBRICS = shipped_rubrics()


def _targets(rubric_id: str) -> dict[str, str]:
    # Read the YAML directly: the 2020 rubric names check kinds that may not be registered yet.
    data = yaml.safe_load((ROOT / "rubrics" / f"{rubric_id}.yaml").read_text(encoding="utf-8"))
    return {name: (t or {}).get("reference") or name for name, t in data["targets"].items()}


def _notebook(rubric_id: str) -> dict:
    return json.loads(reference_notebook_path(rubric_id).read_text(encoding="utf-8"))


CASES = [(rid, m) for rid in RUBRICS for m in mutants_for_targets(_targets(rid))]


@pytest.mark.parametrize(("rubric_id", "mutant"), CASES, ids=[f"{r}:{m.id}" for r, m in CASES])
def test_mutant_applies_changes_code_and_is_valid_nbformat(rubric_id, mutant):
    original = _notebook(rubric_id)
    pristine = copy.deepcopy(original)
    mutated = mutant.apply(original)
    assert original == pristine, "apply must not modify its input"
    nbformat.validate(nbformat.from_dict(mutated))
    assert len(mutated["cells"]) == len(original["cells"])
    changed = [i for i, (a, b) in enumerate(zip(original["cells"], mutated["cells"], strict=True))
               if cell_source(a) != cell_source(b)]
    assert changed, "the mutant leaves every cell as it was"
    for i in changed:
        assert mutated["cells"][i]["cell_type"] == "code"
        parse_cell(cell_source(mutated["cells"][i]))
    # the mutated notebook still defines the target (a class, or the fine-tuning cell's train)
    defined = {node.name for c in mutated["cells"] if c["cell_type"] == "code"
               for node in parse_cell(cell_source(c)).body
               if isinstance(node, ast.ClassDef | ast.FunctionDef)}
    assert mutant.target in defined
    assert mutant.diff(original).count("\n+") >= 1


@pytest.mark.parametrize("rubric_id", RUBRICS)
def test_catalogue_covers_the_bugs_students_make(rubric_id):
    mutants = mutants_for_targets(_targets(rubric_id))
    ids = [m.id for m in mutants]
    assert len(ids) == len(set(ids))
    for target in _targets(rubric_id):
        mine = [m for m in mutants if m.target == target]
        assert any(m.equivalent for m in mine), f"{target}: no equivalent rewrite"
        assert sum(not m.equivalent for m in mine) >= 4, f"{target}: too few bug-mutants"
    categories = {m.category for m in mutants}
    expected = {"normalisation", "activation", "order", "padding/stride", "pool/upsample",
                "hard-coded size", "skip connection", "unused layer", "softmax", "frozen layer",
                "equivalent"}
    if rubric_id != "csc413-2020-pa2":
        expected.add("transposed conv")
    else:
        expected |= {"provided layer", "fine-tuning"}
    if rubric_id == "csc413-f2024-a2":
        expected.discard("skip connection")   # no UNet in Fall 2024
    assert expected <= categories


def test_an_edit_that_no_longer_applies_fails_loudly():
    nb = _notebook("csc413-f2024-a2")
    unet = mutants_for_targets({"UNet": "UNet"})[0]          # Fall 2024 has no UNet
    with pytest.raises(MutantError, match="cells define `UNet`"):
        unet.apply(nb)
    with pytest.raises(MutantError, match="occurs 4 time"):  # four ReLUs, not one
        apply_edits(nb, [Edit("PoolUpsampleNet", "nn.ReLU()", "nn.ReLU(True)")])
    with pytest.raises(MutantError, match="no longer parses"):
        apply_edits(nb, [Edit("PoolUpsampleNet.forward", "return self.conv5(x)", "return (")])
    with pytest.raises(MutantError, match="matches 0"):
        apply_edits(nb, [Edit("PoolUpsampleNet.conv9", "x", "y")])
    # the reference drifting (a renamed variable) breaks the mutants that relied on it
    drifted = copy.deepcopy(nb)
    for cell in drifted["cells"]:
        text = cell_source(cell).replace("nf, nc = num_filters, num_colours",
                                         "nf = num_filters\n        nc = num_colours")
        cell["source"] = text.splitlines(keepends=True)
    hard = next(m for m in mutants_for_targets({"PoolUpsampleNet": "PoolUpsampleNet"})
                if m.id == "pool-hardcoded-nf")
    with pytest.raises(MutantError, match="occurs 0 time"):
        hard.apply(drifted)


def test_whole_class_rewrite_replaces_only_that_class():
    nb = _notebook("csc413-2023-a2")
    eq = next(m for m in mutants_for_targets({"UNet": "UNet"}) if m.id == "unet-eq-rewrite")
    mutated = eq.apply(nb)
    (index,) = [i for i, (a, b) in enumerate(zip(nb["cells"], mutated["cells"], strict=True))
                if cell_source(a) != cell_source(b)]
    tree = parse_cell(cell_source(mutated["cells"][index]))
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [c.name for c in classes] == ["UNet"]
    assert "torch.concat((x1, x3), 1)" in cell_source(mutated["cells"][index])
    assert "_up(" not in cell_source(mutated["cells"][index])
