"""The `architecture` check kind: verdicts, partial credit, details, failures and the 2020 rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from grader.checks.registry import get
from grader.rubric.schema import parse_rubric
from grader.rubric.yamlpos import load_located
from tests import architecture_factory as f

ROOT = Path(__file__).resolve().parents[1]
KIND = get("architecture")


def expected_for(reference: f.Built, config: str = "handout", **params) -> dict:
    return KIND.expect_fn(f.measured(reference, config), {"config": config, **params})


def grade(student: f.Built, reference: f.Built, **params):
    params = {"config": "handout", "module_types": {}, "allow": [], **params}
    return KIND(f.measured(student), expected_for(reference), params)


def test_registered_as_a_static_check_with_its_parameters():
    assert KIND.stage == "static"
    assert {"config", "module_types", "allow"} <= set(KIND.params)
    assert KIND.expect_fn is not None


def _architecture_specs(name: str) -> list:
    """The shipped rubric's architecture checks, validated by the real rubric parser (other
    questions are left out, so that kinds still being written elsewhere do not matter)."""
    data = yaml.safe_load((ROOT / "rubrics" / name).read_text())
    questions = []
    for q in data["questions"]:
        checks = [c for c in q["checks"] if c.get("kind") == "architecture"]
        if checks:
            questions.append({**q, "checks": checks})
    data["questions"] = questions
    rubric = parse_rubric(load_located(name, yaml.safe_dump(data)))
    return [c for q in rubric.questions for c in q.checks]


def test_the_shipped_rubrics_validate_with_this_kind():
    specs = _architecture_specs("csc413-2020-pa2.yaml")
    assert len(specs) == 2
    assert all(c.params["module_types"] == {"conv2d": "MyConv2d"} for c in specs)
    assert all(c.params["config"] == "handout" and c.weight == 3 for c in specs)
    for name in ("csc413-2023-a2.yaml", "csc413-f2024-a2.yaml"):
        specs = _architecture_specs(name)
        assert specs and all(c.params["module_types"] == {} and c.params["allow"] == []
                             for c in specs)


def test_expectation_is_the_reference_graph_and_is_plain_json():
    reference = f.unet()
    expected = expected_for(reference)
    assert expected["config"] == "handout"
    assert expected["graph"] == reference.graph
    assert expected["reference_config"]["param_shapes"] == reference.param_shapes
    assert json.loads(json.dumps(expected)) == expected


def test_a_conforming_model_passes_with_the_full_table():
    verdict = grade(f.pool_upsample_net(relu="inplace"), f.pool_upsample_net())
    assert verdict.status == "passed" and verdict.fraction == 1.0
    assert verdict.message == "all 17 layers match the handout's model"
    assert verdict.details["differences"] == []
    assert len(verdict.details["table"]) == 17
    assert all(set(row) == {"block", "student", "reference", "status"}
               for row in verdict.details["table"])


def test_accepted_concatenation_order_is_mentioned_but_passes():
    verdict = grade(f.unet(skip_first=(False, False)), f.unet())
    assert verdict.status == "passed"
    assert "other order" in verdict.message and "accepted" in verdict.message


def test_one_missing_layer_costs_a_quarter_of_the_check():
    verdict = grade(f.pool_upsample_net(blocks={2: {"bn": False}}), f.pool_upsample_net())
    assert verdict.status == "failed"
    assert verdict.message == "block 2: expected BatchNorm2d(64) after MaxPool2d, found none"
    assert verdict.fraction == pytest.approx(0.75)  # capped: 16 / 17 layers would be 0.94
    assert grade(f.pool_upsample_net(blocks={2: {"bn": False}}), f.pool_upsample_net(),
                 max_partial=1.0).fraction == pytest.approx(16 / 17)
    (d,) = verdict.details["differences"]
    assert set(d) == {"kind", "location", "expected", "found", "message"}
    assert verdict.details["matched"] == 16 and verdict.details["reference_layers"] == 17


def test_many_differences_are_summarised_in_the_message():
    verdict = grade(f.pool_upsample_net(nf=16), f.pool_upsample_net())
    assert verdict.status == "failed"
    assert verdict.message.count("; ") == 2
    assert verdict.message.endswith("(and 4 more differences)")
    assert len(verdict.details["differences"]) == 7
    assert 0 < verdict.fraction < 0.7


def test_the_message_leads_with_a_lost_skip_before_moved_layers():
    """Three BatchNorms moved and one skip lost: the one line a student reads first names the
    skip, which changes what the network computes; the details keep every difference."""
    student = f.unet(skip1="none", order="relu_before_bn")
    verdict = grade(student, f.unet())
    assert verdict.status == "failed"
    assert verdict.message.startswith("block 4: the skip connection from block 1 is missing")
    kinds = [d["kind"] for d in verdict.details["differences"]]
    assert kinds.count("order") >= 2 and kinds.index("skip") > kinds.index("order")


def test_a_different_model_gets_little_credit():
    verdict = grade(f.conv_transpose_net(), f.unet())
    assert verdict.status == "failed" and verdict.fraction < 0.9
    assert any("skip connection from block 1 is missing" in d["message"]
               for d in verdict.details["differences"])


def test_2020_module_types_rule():
    rule = {"module_types": {"conv2d": "MyConv2d"}}
    assert grade(f.cnn2020(), f.cnn2020(), **rule).status == "passed"
    assert grade(f.unet2020(decoder_first=False), f.unet2020(), **rule).status == "passed"
    verdict = grade(f.cnn2020(conv_type="Conv2d"), f.cnn2020(), **rule)
    assert verdict.status == "failed"
    assert "nn.Conv2d" in verdict.message and "MyConv2d" in verdict.message
    assert verdict.fraction == pytest.approx(14 / 20)  # 6 of CNN's 20 layers
    assert grade(f.cnn2020(conv_type="Conv2d"), f.cnn2020()).status == "passed"


def test_resample_order_is_accepted_only_when_the_rubric_says_so():
    student = f.cnn2020(blocks={1: {"order": "resample_last"}, 2: {"order": "resample_last"}})
    assert grade(student, f.cnn2020()).status == "failed"
    verdict = grade(student, f.cnn2020(), allow=["resample_order"])
    assert verdict.status == "passed" and "accepted by the rubric" in verdict.message
    assert grade(student, f.cnn2020(), allow=["typo"]).status == "internal"


def test_a_module_defined_but_never_called():
    student = f.pool_upsample_net(final="absent")
    student.modules.append({"name": "conv5.0", "type": "Conv2d",
                            "attrs": {"kernel_size": [3, 3]}, "params": 24 * 24 * 9 + 24})
    verdict = grade(student, f.pool_upsample_net())
    messages = [d["message"] for d in verdict.details["differences"]]
    assert "`conv5.0` (Conv2d) is defined in __init__ but never used in forward" in messages
    assert any(m.startswith("the final block 5 is missing") for m in messages)
    assert verdict.fraction == pytest.approx(0.75)


def test_kernel_sizes_come_from_the_module_list_without_parameter_shapes():
    student, reference = f.pool_upsample_net(k=5), f.pool_upsample_net()
    measured = f.measured(student, with_shapes=False)
    expected = KIND.expect_fn(f.measured(reference, with_shapes=False), {"config": "handout"})
    verdict = KIND(measured, expected, {"config": "handout"})
    assert verdict.status == "failed"
    assert "block 1: Conv2d kernel_size 5, padding 2, expected kernel_size 3, padding 1" in \
        verdict.message


def test_target_not_found_is_the_students_error():
    expected = expected_for(f.unet())
    problem = {"kind": "missing", "message": "class UNet is not defined", "cell": None,
               "line": None, "traceback": []}
    verdict = KIND({"found": False, "problem": problem, "configs": {}}, expected,
                   {"config": "handout"})
    assert verdict.status == "error" and "UNet is not defined" in verdict.message
    assert KIND({}, expected, {"config": "handout"}).status == "internal"


def test_a_crashing_config_is_an_error_with_its_location():
    problem = {"kind": "exception", "message": "RuntimeError: size mismatch", "cell": 7,
               "line": 12, "traceback": []}
    measured = f.measured(f.unet(), status="error", problem=problem)
    verdict = KIND(measured, expected_for(f.unet()), {"config": "handout"})
    assert verdict.status == "error"
    assert verdict.message == "exception: RuntimeError: size mismatch (cell 7, line 12)"


def test_grader_side_gaps_are_internal_not_the_students_fault():
    built = f.unet()
    expected = expected_for(built)
    assert KIND(f.measured(built, "other"), expected, {"config": "handout"}).status == "internal"
    assert KIND(f.measured(built), {}, {"config": "handout"}).status == "internal"
    no_graph = f.measured(built)
    no_graph["configs"]["handout"]["graph"] = None
    assert KIND(no_graph, expected, {"config": "handout"}).status == "internal"
    broken = f.measured(built)
    broken["configs"]["handout"]["graph"] = {"nodes": [{"op": "relu"}], "output": 0}
    verdict = KIND(broken, expected, {"config": "handout"})
    assert verdict.status == "internal" and "malformed graph" in verdict.message


def test_config_defaults_to_the_compiled_one():
    built = f.pool_upsample_net()
    verdict = KIND(f.measured(built), expected_for(built), {})
    assert verdict.status == "passed"


def test_real_capture_end_to_end_without_any_shape_tables():
    """Graphs from grader.graph.capture carry kernel sizes themselves: nothing else is needed."""
    capture = pytest.importorskip("grader.graph.capture")
    import torch

    from reference.models import UNet

    torch.set_num_threads(1)

    def measured(model) -> dict:
        with torch.no_grad():
            graph, _ = capture.capture_graph(model.eval(), torch.randn(2, 1, 32, 32))
        return {"found": True, "problem": None,
                "configs": {"handout": {"status": "ok", "problem": None, "graph": graph}}}

    expected = KIND.expect_fn(measured(UNet()), {"config": "handout"})
    assert KIND(measured(UNet()), expected, {"config": "handout"}).status == "passed"
    student = UNet()
    student.finalconv[0].padding = (0, 0)
    verdict = KIND(measured(student), expected, {"config": "handout"})
    assert verdict.status == "failed"
    assert verdict.message == "block 5: Conv2d kernel 3 padding 0, expected padding 1"
