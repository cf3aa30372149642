"""The fine-tuning verdicts on hand-built observations: what students got right and wrong."""

from __future__ import annotations

import pytest

from grader.checks.registry import get
from tests.finetune_factory import ALL, BACKBONE, HEAD_NAMES, measured

TRAIN = get("finetune_train")
HEAD = get("finetune_head")


@pytest.fixture(scope="module")
def expect() -> dict[str, dict]:
    return {"train": TRAIN.expect_fn({}, {}), "head": HEAD.expect_fn({}, {})}


def test_expectations_come_from_the_parameters_not_the_reference(expect) -> None:
    assert expect["head"] == {"head": "classifier.4", "head_type": "Conv2d",
                              "head_in_channels": 256, "head_out_channels": 2,
                              "kernel_size": [1, 1], "trainable_prefix": ["classifier.4."]}
    assert expect["train"]["trainable_prefix"] == ["classifier.4."]
    three = HEAD.expect_fn({}, {"out_channels": 3, "head": "classifier.5"})
    assert three["head_out_channels"] == 3 and three["trainable_prefix"] == ["classifier.5."]
    assert TRAIN.stage == HEAD.stage == "finetune"


def test_correct_submission_passes_both(expect) -> None:
    obs = measured()
    train = TRAIN(obs, expect["train"], {})
    assert train.status == "passed" and train.fraction == 1.0
    assert "weight, bias" in train.message
    head = HEAD(obs, expect["head"], {})
    assert head.status == "passed", head.message
    assert "514 trainable" in head.message
    for verdict in (train, head):
        assert {"trainable", "changed", "unchanged_count", "head"} <= set(verdict.details)
    assert head.details["unchanged_count"] == len(ALL) - 2


def test_substring_selection_catching_the_frozen_aux_head_is_harmless(expect) -> None:
    optimised = HEAD_NAMES + ["aux_classifier.4.weight", "aux_classifier.4.bias"]
    verdict = TRAIN(measured(optimised=optimised), expect["train"], {})
    assert verdict.status == "passed", verdict.message


def test_backbone_not_frozen(expect) -> None:
    # learned_parameters was right, so train() still only changes the head: C.1 holds ...
    obs = measured(trainable=ALL)
    assert TRAIN(obs, expect["train"], {}).status == "passed"
    # ... but C.2 says everything else should be frozen
    verdict = HEAD(obs, expect["head"], {})
    assert verdict.status == "failed" and verdict.fraction == 0.5
    assert f"{BACKBONE[0]} (and {len(ALL) - 3} more) still require gradients" in verdict.message
    assert "requires_grad_(False)" in verdict.message
    assert verdict.details["head_ok"] and not verdict.details["frozen_ok"]


def test_train_optimises_everything(expect) -> None:
    obs = measured(trainable=ALL, changed=ALL[:-3] + HEAD_NAMES, optimised=ALL)
    verdict = TRAIN(obs, expect["train"], {})
    assert verdict.status == "failed" and verdict.fraction == 0.0
    assert verdict.message.startswith(f"train() also updated {BACKBONE[0]} (and ")
    assert "only classifier.4 should change" in verdict.message
    assert verdict.details["changed_tensors"] == len(ALL) - 1


def test_optimizer_over_all_parameters_of_a_frozen_model_is_partial(expect) -> None:
    verdict = TRAIN(measured(optimised=ALL), expect["train"], {})
    assert verdict.status == "failed" and verdict.fraction == 0.5
    assert "only classifier.4 changed" in verdict.message and BACKBONE[0] in verdict.message
    assert TRAIN(measured(optimised=ALL), expect["train"],
                 {"partial_credit": 0.25}).fraction == 0.25


def test_head_with_wrong_channels_or_not_replaced(expect) -> None:
    verdict = HEAD(measured(out_channels=21), expect["head"], {})
    assert verdict.status == "failed" and verdict.fraction == 0.5
    assert verdict.message == ("model.classifier[4] has 21 outputs; replace it with a "
                               "256→2 1×1 convolution")
    # not replaced at all: the original, frozen 21-class head
    original = HEAD(measured(out_channels=21, trainable=[]), expect["head"], {})
    assert original.fraction == 0.0
    assert "classifier.4 is frozen too" in original.message
    linear = HEAD(measured(head_type="Linear"), expect["head"], {})
    assert linear.message.startswith("model.classifier[4] is a Linear")
    missing = HEAD(measured(head=False, trainable=[]), expect["head"], {})
    assert missing.fraction == 0.0 and "has no model.classifier[4]" in missing.message


def test_three_by_three_head_gets_part_of_the_head_credit(expect) -> None:
    verdict = HEAD(measured(kernel=[3, 3]), expect["head"], {})
    assert verdict.status == "failed" and verdict.fraction == 0.75
    assert "is a 3×3 convolution" in verdict.message
    assert HEAD(measured(kernel=[3, 3]), expect["head"], {"kernel_credit": 1.0}).status == (
        "passed")


def test_nothing_changed(expect) -> None:
    verdict = TRAIN(measured(changed=[], optimised=[]), expect["train"], {})
    assert verdict.status == "failed"
    assert verdict.message.startswith("train() did not update classifier.4")


def test_student_error_before_the_optimizer_is_located(expect) -> None:
    problem = {"kind": "exception", "cell": 5, "line": 7,
               "message": "AttributeError: 'DeepLabV3' object has no attribute "
                          "'named_parameter'",
               "traceback": ["cell 6, line 7: train(args, model)",
                             "cell 5, line 4: for name, param in model.named_parameter():",
                             "AttributeError: 'DeepLabV3' object has no attribute "
                             "'named_parameter'"]}
    obs = measured(changed=None, optimised=None, steps=0, problem=problem)
    verdict = TRAIN(obs, expect["train"], {})
    assert verdict.status == "error"
    assert "named_parameter" in verdict.message and "(cell 5, line 7)" in verdict.message
    assert verdict.details["problem"] == problem
    # the top-level code that C.2 grades ran fine, so C.2 is still judged
    assert HEAD(obs, expect["head"], {}).status == "passed"


def test_error_after_the_optimizer_is_judged_from_its_parameters(expect) -> None:
    problem = {"kind": "exception", "message": "FileNotFoundError: jpg/image_0001.jpg",
               "cell": 5, "line": 12, "traceback": []}
    obs = measured(changed=None, steps=0, problem=problem)
    verdict = TRAIN(obs, expect["train"], {})
    assert verdict.status == "passed"
    assert "judged from the parameters given to the optimizer" in verdict.message
    assert "FileNotFoundError" in verdict.message
    strict = TRAIN(obs, expect["train"], {"require_step": True})
    assert strict.status == "error" and "first optimizer step" in strict.message
    bad = measured(trainable=ALL, changed=None, optimised=ALL, steps=0, problem=problem)
    assert TRAIN(bad, expect["train"], {}).message.startswith(
        f"train() also optimises {BACKBONE[0]}")


def test_not_found_and_missing_observations(expect) -> None:
    missing = {"found": False, "finetune": None,
               "problem": {"kind": "missing", "cell": 5, "line": None, "traceback": [],
                           "message": "train is defined in cell 5 but never called"}}
    for kind in (TRAIN, HEAD):
        verdict = kind(missing, expect["train" if kind is TRAIN else "head"], {})
        assert verdict.status == "error" and "never called (cell 5)" in verdict.message
        assert kind({}, {}, {}).status == "internal"
        assert kind({"found": True, "problem": None, "finetune": None}, {}, {}).status == (
            "internal")
