"""Styles and faults seen in real student submissions, graded through the real pipeline.

Correct models written in common real styles keep every static point (and no sentence in the
report is wrong about them); real faults are still caught and named in a TA's words.
"""

from __future__ import annotations

import pytest

from grader.pipeline import Grader
from grader.result import QuestionResult, Result
from tests import field_factory as f
from tests.sandbox_factory import needs_bwrap

pytestmark = needs_bwrap


def question(result: Result, qid: str) -> QuestionResult:
    q = result.question(qid)
    assert q is not None, qid
    return q


def check(result: Result, qid: str, cid: str):
    return next(c for c in question(result, qid).checks if c.id == cid)


def full_static(result: Result, qid: str) -> bool:
    q = question(result, qid)
    return all(c.status == "passed" for c in q.checks if c.assessed)


def messages(result: Result, qid: str) -> str:
    return " ".join(c.message for c in question(result, qid).checks)


@pytest.fixture(scope="module")
def grader2023():
    with Grader("csc413-2023-a2") as g:
        yield g


@pytest.fixture(scope="module")
def styles(grader2023, tmp_path_factory) -> Result:
    path = f.notebook(tmp_path_factory.mktemp("styles") / "styles.ipynb",
                      f.POOL_SHARED, f.CONVT_FORWARD, f.UNET_TWICE)
    return grader2023.grade_path(path).result


@pytest.fixture(scope="module")
def containers(grader2023, tmp_path_factory) -> Result:
    path = f.notebook(tmp_path_factory.mktemp("containers") / "containers.ipynb",
                      f.POOL_CONTAINERS, *f.CONVT_CELLS)
    return grader2023.grade_path(path).result


@pytest.fixture(scope="module")
def faults(grader2023, tmp_path_factory) -> Result:
    path = f.notebook(tmp_path_factory.mktemp("faults") / "faults.ipynb",
                      f.POOL_FROZEN, f.CONVT_ORDER, f.UNET_PLAIN_LIST)
    return grader2023.grade_path(path).result


def test_modules_shared_between_attributes_and_sequentials_are_used(styles):
    assert full_static(styles, "4.1"), messages(styles, "4.1")
    assert "never used" not in messages(styles, "4.1")


def test_forward_calls_and_functional_ops_on_module_parameters(styles):
    assert full_static(styles, "5.1"), messages(styles, "5.1")


def test_a_block_applied_twice_is_named_without_costing_points(styles):
    assert full_static(styles, "6.1"), messages(styles, "6.1")
    arch = check(styles, "6.1", "architecture")
    assert "block 1 (`down1`) is applied twice to the same input" in arch.message
    assert "not in the handout's model" not in arch.message


def test_a_rubric_can_make_a_block_applied_twice_cost_points():
    """`recomputed: deduct` turns the note into a difference (judged on the same observation)."""
    from grader.checks.architecture import architecture
    from grader.graph.measure import measure_class
    from grader.rubric.compile import load_compiled, observe_configs
    from grader.rubric.schema import load_rubric

    namespace: dict = {}
    exec(compile(f"{f.IMPORTS}\n{f.UNET_TWICE}", "<unet>", "exec"), namespace)
    rubric = load_rubric("csc413-2023-a2")
    configs = {"handout": observe_configs(rubric.targets["UNet"])["handout"]}
    measured = measure_class(namespace["UNet"], configs, target="UNet")
    expected = load_compiled(rubric)["expectations"]["6.1/architecture"]
    noted = architecture(measured, expected, {"config": "handout"})
    deducted = architecture(measured, expected, {"config": "handout", "recomputed": "deduct"})
    assert noted.status == "passed" and "applied twice" in noted.message
    assert deducted.status == "failed" and 0 < deducted.fraction < 1
    assert "applied twice to the same input" in deducted.message


def test_module_list_dict_and_ordered_dict_containers(containers):
    assert full_static(containers, "4.1"), messages(containers, "4.1")


def test_a_model_defined_across_several_cells(containers):
    assert full_static(containers, "5.1"), messages(containers, "5.1")


def test_frozen_parameters_are_caught_and_named(faults):
    flow = check(faults, "4.1", "gradient_flow")
    assert flow.status == "failed"
    assert "frozen (requires_grad=False" in flow.message and "conv1.weight" in flow.message
    count = check(faults, "4.1", "param_count")
    assert count.status == "failed" and "frozen" in count.message
    assert check(faults, "4.1", "architecture").status == "passed"


def test_a_layer_order_difference_says_which_layers_moved(faults):
    arch = check(faults, "5.1", "architecture")
    assert arch.status == "failed" and 0 < arch.score < arch.max_score
    assert "block 1: ReLU comes before BatchNorm2d" in arch.message


def test_layers_in_a_plain_python_list_are_named(faults):
    arch = check(faults, "6.1", "architecture")
    assert arch.status == "failed"
    assert arch.message.startswith("`layers` is a plain Python list of 4 modules")
    assert "nn.ModuleList" in arch.message
    count = check(faults, "6.1", "param_count")
    assert count.status == "failed" and "plain Python container" in count.message


def test_the_2020_myconv2d_called_through_forward(tmp_path):
    path = f.notebook(tmp_path / "myconv.ipynb", f.MYCONV, f.CNN_FORWARD)
    with Grader("csc413-2020-pa2") as g:
        graded = g.grade_path(path)
    result = graded.result
    assert full_static(result, "A.1"), messages(result, "A.1")
    assert "functional call" not in messages(result, "A.1")
    # No fine-tuning part: reported from the source, without starting a notebook kernel.
    assert result.timings["finetune_s"] < 1.0
    c1 = check(result, "C.1", "finetune_train")
    assert c1.status == "error" and "no function named train" in c1.message


def test_a_py_folder_whose_helper_module_is_missing(tmp_path):
    """`from helpers import *` for a file not handed in fails alone; the models are graded."""
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "models.py").write_text(f"{f.IMPORTS}\nfrom helpers import *\n\n\n"
                                      f"{f.POOL_SHARED}\n", encoding="utf-8")
    (folder / "main.py").write_text("from models import *\nfrom helpers import load_data\n\n"
                                    "model = PoolUpsampleNet(3, 32, 24, 1)\n", encoding="utf-8")
    with Grader("csc413-2023-a2") as g:
        result = g.grade_path(folder).result
    assert full_static(result, "4.1"), messages(result, "4.1")
    assert result.status == "graded"
    assert any("helpers" in p.message for p in result.problems)


def test_a_py_file_saved_as_an_html_page(tmp_path):
    path = tmp_path / "colourization.py"
    path.write_text(f.html_page(f"{f.IMPORTS}\n\n\n{f.POOL_SHARED}\n"), encoding="utf-8")
    with Grader("csc413-2023-a2") as g:
        result = g.grade_path(path).result
    assert full_static(result, "4.1"), messages(result, "4.1")
    assert any("HTML page" in n for n in result.submission.notes)
