"""capture_graph: one canonical node per tensor op, whatever spelling the student used."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.graph.capture import capture_graph
from reference.models import CNN, ConvTransposeNet, UNet
from tests.graph_factory import (
    ActBlock,
    CumprodNet,
    FunctionalPoolNet,
    SequentialPoolNet,
    SkipNet,
    capture,
    ops_of,
    structure,
)

torch.set_num_threads(1)


def _same_weights(*models: nn.Module) -> None:
    for m in models[1:]:
        m.load_state_dict(models[0].state_dict(), strict=False)


@pytest.mark.parametrize("spelling", ["functional", "torch", "method", "inplace",
                                      "functional_inplace"])
def test_every_relu_spelling_gives_the_module_graph(spelling):
    torch.manual_seed(0)
    ref, other = ActBlock("module"), ActBlock(spelling)
    _same_weights(ref, other)
    g_ref, out_ref, _ = capture(ref)
    g, out, _ = capture(other)
    assert structure(g) == structure(g_ref)
    assert ops_of(g) == ["conv2d", "batch_norm", "relu"]
    assert torch.equal(out, out_ref)
    relu = g["nodes"][-1]
    assert relu.get("inplace", False) == ("inplace" in spelling)
    # Only the module spelling is attributed to the ReLU module.
    assert (relu["module"], relu["module_type"]) == (
        ("act", "ReLU") if spelling == "module" else (None, None))


def test_myconv2d_functional_conv_is_a_conv_node_of_its_module():
    torch.manual_seed(0)
    g, out, _ = capture(CNN(5, 8, 10, 1))
    conv = g["nodes"][0]
    assert conv["op"] == "conv2d" and conv["known"]
    assert conv["inputs"] == [{"input": 0}, {"param": "downconv1.0.weight"},
                              {"param": "downconv1.0.bias"}]
    assert (conv["module"], conv["module_type"]) == ("downconv1.0", "MyConv2d")
    assert conv["attrs"]["padding"] == [2, 2] and conv["attrs"]["kernel_size"] == [5, 5]
    assert conv["shape"] == [2, 8, 32, 32]
    assert g["nodes"][g["output"]]["shape"] == list(out.shape) == [2, 10, 32, 32]
    assert ops_of(g)[:4] == ["conv2d", "max_pool2d", "batch_norm", "relu"]


def test_sequential_and_functional_forms_agree_and_same_padding_is_numbers():
    torch.manual_seed(0)
    seq, fun = SequentialPoolNet(k=5), FunctionalPoolNet(k=5)
    fun.conv.load_state_dict(seq.block[0].state_dict())
    g_seq, out_seq, _ = capture(seq)
    g_fun, out_fun, _ = capture(fun)
    assert ops_of(g_seq) == ops_of(g_fun) == ["conv2d", "max_pool2d", "batch_norm", "relu",
                                              "upsample"]
    conv_seq, conv_fun = g_seq["nodes"][0]["attrs"], g_fun["nodes"][0]["attrs"]
    assert conv_fun["padding"] == conv_seq["padding"] == [2, 2]
    assert conv_fun["padding_spec"] == "same"
    pool_seq, pool_fun = g_seq["nodes"][1]["attrs"], g_fun["nodes"][1]["attrs"]
    assert pool_seq["kernel_size"] == pool_fun["kernel_size"] == 2
    assert pool_seq["stride"] == pool_fun["stride"] == 2
    up = g_seq["nodes"][4]["attrs"]
    assert up["scale_factor"] == 2.0 and up["mode"] == "nearest"
    assert g_fun["nodes"][4]["attrs"]["scale_factor"] == 2.0
    assert torch.allclose(out_seq, out_fun)


def test_batch_norm_records_mode_and_stats_and_not_its_counter():
    torch.manual_seed(0)
    g_train, _, _ = capture(SequentialPoolNet(), train=True)
    g_eval, _, _ = capture(SequentialPoolNet(), train=False)
    for g, training in ((g_train, True), (g_eval, False)):
        bn = next(n for n in g["nodes"] if n["op"] == "batch_norm")
        assert bn["attrs"]["training"] is training
        assert bn["attrs"]["eps"] == 1e-5 and bn["attrs"]["momentum"] == 0.1
        assert bn["inputs"][1:] == [{"buffer": "block.2.running_mean"},
                                    {"buffer": "block.2.running_var"},
                                    {"param": "block.2.weight"}, {"param": "block.2.bias"}]
    # num_batches_tracked += 1 is bookkeeping, not a layer.
    assert ops_of(g_train) == ops_of(g_eval)


def test_cat_order_is_kept():
    g_first, _, _ = capture(SkipNet(skip_first=True))
    g_last, _, _ = capture(SkipNet(skip_first=False))
    cat_first = next(n for n in g_first["nodes"] if n["op"] == "cat")
    cat_last = next(n for n in g_last["nodes"] if n["op"] == "cat")
    assert cat_first["inputs"][0] == {"input": 0} and cat_first["attrs"]["dim"] == 1
    assert cat_last["inputs"][1] == {"input": 0}
    assert cat_first["shape"] == cat_last["shape"] == [2, 5, 32, 32]


def test_strided_and_transposed_convs_record_their_settings():
    g, _, _ = capture(ConvTransposeNet())
    conv, convt = g["nodes"][0], next(n for n in g["nodes"] if n["op"] == "conv_transpose2d")
    assert conv["attrs"]["stride"] == [2, 2] and conv["attrs"]["padding"] == [1, 1]
    assert convt["attrs"]["output_padding"] == [1, 1] and convt["attrs"]["stride"] == [2, 2]
    assert convt["inputs"][1] == {"param": "upconv1.0.weight"}
    assert convt["module_type"] == "ConvTranspose2d" and convt["shape"] == [2, 32, 16, 16]


def test_unet_skips_reference_earlier_nodes_and_graph_is_json():
    g, _, _ = capture(UNet())
    text = json.dumps(g)
    assert json.loads(text) == g
    cats = [n for n in g["nodes"] if n["op"] == "cat"]
    assert len(cats) == 2
    first_relu = next(n["id"] for n in g["nodes"] if n["op"] == "relu")
    assert cats[0]["inputs"][0] == {"node": first_relu}
    assert cats[1]["inputs"][0] == {"input": 0}


def test_binary_ops_scalars_and_reversed_operands():
    class Arith(nn.Module):
        def forward(self, x):
            y = 1 - x
            y = y * 2 + x
            y += 3
            return y / 4

    g, out, x = capture(Arith(), (2, 3))
    assert ops_of(g) == ["sub", "mul", "add", "add", "div"]
    sub = g["nodes"][0]
    assert sub["inputs"] == [{"const": 1}, {"input": 0}]
    assert g["nodes"][3].get("inplace") is True
    assert torch.allclose(out, ((1 - x) * 2 + x + 3) / 4)


def test_unknown_op_is_recorded_not_dropped():
    g, _, _ = capture(CumprodNet())
    assert ops_of(g) == ["conv2d", "sigmoid", "cumprod"]
    assert g["nodes"][2]["known"] is False
    assert g["unknown_ops"] == ["cumprod"]


def test_modules_built_inside_forward_and_views_are_followed():
    class Sloppy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x):
            y = nn.ReLU()(self.conv(x)).contiguous()
            flat = y.view(y.size(0), -1)
            return flat.reshape(x.shape[0], 2, 32, 32)

    g, out, _ = capture(Sloppy())
    assert ops_of(g) == ["conv2d", "relu", "view", "reshape"]  # contiguous() is not a node
    relu = g["nodes"][1]
    assert relu["module"] is None and relu["module_type"] == "ReLU"
    assert g["nodes"][2]["inputs"] == [{"node": 1}]
    assert g["nodes"][3]["shape"] == list(out.shape)


def test_exceptions_in_forward_propagate_and_leave_no_hooks():
    class Bad(nn.Module):
        def forward(self, x):
            return F.conv2d(x, torch.zeros(2, 5, 3, 3))

    with pytest.raises(RuntimeError):
        capture_graph(Bad(), torch.randn(1, 1, 8, 8))
    # A later capture is unaffected (the global module hooks were removed).
    g, _, _ = capture(ActBlock("module"))
    assert ops_of(g) == ["conv2d", "batch_norm", "relu"]
    assert torch.nn.modules.module._global_forward_hooks == {}
