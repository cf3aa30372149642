"""replay: the trusted side recomputes a captured forward from graph data and arrays only."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from grader.graph.replay import ReplayError, is_deterministic, replay
from reference.models import MODELS
from tests.graph_factory import (
    REF_CONFIGS,
    CumprodNet,
    DropoutNet,
    SequentialPoolNet,
    capture,
    tensors_of,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("config", sorted(REF_CONFIGS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_replay_reproduces_every_reference_model_in_train_mode(name, config):
    args = REF_CONFIGS[config]
    torch.manual_seed(1)
    model = MODELS[name](*args)
    tensors = tensors_of(model)  # before the forward: the state the sandbox exports
    before = copy.deepcopy(tensors)
    graph, out, x = capture(model, (2, args[3], 32, 32), seed=5)
    replayed = replay(graph, tensors, x)
    assert replayed.shape == out.shape
    assert torch.allclose(replayed, out, atol=1e-5, rtol=1e-5)
    assert all(np.array_equal(before[k], tensors[k]) for k in tensors)  # caller's arrays intact


def test_eval_mode_uses_the_exported_running_statistics():
    torch.manual_seed(0)
    model = SequentialPoolNet()
    bn = model.block[2]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    graph, out, x = capture(model, train=False)
    tensors = tensors_of(model)
    assert torch.allclose(replay(graph, tensors, x), out, atol=1e-6)
    tensors["block.2.running_var"] = tensors["block.2.running_var"] * 4
    assert not torch.allclose(replay(graph, tensors, x), out, atol=1e-3)


def test_inconsistent_data_is_refused():
    model = SequentialPoolNet()
    graph, _, x = capture(model)
    tensors = tensors_of(model)

    wrong_shape = copy.deepcopy(graph)
    wrong_shape["nodes"][1]["shape"] = [2, 4, 8, 8]
    with pytest.raises(ReplayError) as err:
        replay(wrong_shape, tensors, x)
    assert err.value.kind == "inconsistent" and "node 1" in str(err.value)

    missing = {k: v for k, v in tensors.items() if k != "block.0.weight"}
    with pytest.raises(ReplayError, match="block.0.weight"):
        replay(graph, missing, x)

    with pytest.raises(ReplayError, match="captured for input"):
        replay(graph, tensors, torch.randn(2, 1, 16, 16))

    forward_ref = copy.deepcopy(graph)
    forward_ref["nodes"][0]["inputs"][0] = {"node": 3}
    with pytest.raises(ReplayError, match="before it exists"):
        replay(forward_ref, tensors, x)


def test_unknown_and_renamed_ops_are_refused_not_guessed():
    model = CumprodNet()
    graph, _, x = capture(model)
    with pytest.raises(ReplayError) as err:
        replay(graph, tensors_of(model), x)
    assert err.value.kind == "unknown"

    graph, _, x = capture(SequentialPoolNet())
    tampered = copy.deepcopy(graph)
    tampered["nodes"][3]["op"] = "system"
    with pytest.raises(ReplayError) as err:
        replay(tampered, tensors_of(SequentialPoolNet()), x)
    assert err.value.kind == "unknown"


def test_dropout_in_train_mode_is_marked_random_and_replayed_as_identity():
    torch.manual_seed(0)
    model = DropoutNet()
    graph, out, x = capture(model, train=True)
    assert not is_deterministic(graph)
    replayed = replay(graph, tensors_of(model), x)
    assert replayed.shape == out.shape
    assert torch.allclose(replayed, model.conv(x), atol=1e-6)
    graph_eval, _, _ = capture(model, train=False)
    assert is_deterministic(graph_eval)


def test_gradients_flow_through_replay_to_leaf_tensors():
    model = SequentialPoolNet()
    graph, _, x = capture(model)
    tensors = {k: torch.from_numpy(v).requires_grad_(k.endswith(("weight", "bias")))
               for k, v in tensors_of(model).items()}
    x = x.requires_grad_(True)
    replay(graph, tensors, x).sum().backward()
    assert tensors["block.0.weight"].grad is not None and x.grad is not None
