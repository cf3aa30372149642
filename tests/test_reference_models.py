"""Reference models: exact handout parameter counts, shapes, layer order, gradient flow."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reference.models import (
    CNN,
    MODELS,
    ConvTransposeNet,
    MyConv2d,
    PoolUpsampleNet,
    UNet,
    UNet2020,
    build_model,
    count_parameters,
)
from tests.reference_factory import expected_parameters

torch.set_num_threads(1)

HANDOUT_COUNTS = {
    "CNN": 86_784,
    "UNet2020": 112_344,
    "PoolUpsampleNet": 49_728,
    "ConvTransposeNet": 49_728,
    "UNet": 56_856,
}
CONFIGS = [(3, 8, 10, 1), (3, 16, 24, 3), (3, 4, 5, 2), (3, 32, 24, 1)]


@pytest.mark.parametrize("name", sorted(HANDOUT_COUNTS))
def test_default_parameter_counts_match_handout(name: str) -> None:
    model = MODELS[name]()
    assert count_parameters(model) == HANDOUT_COUNTS[name]
    assert count_parameters(MODELS[name](3, 32, 24, 1)) == HANDOUT_COUNTS[name]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("config", CONFIGS)
def test_counts_follow_layer_formula(name: str, config: tuple[int, int, int, int]) -> None:
    k, nf, nc, nic = config
    assert count_parameters(MODELS[name](k, nf, nc, nic)) == expected_parameters(
        name, k, nf, nc, nic
    )


@pytest.mark.parametrize("name", ["CNN", "UNet2020", "PoolUpsampleNet"])
@pytest.mark.parametrize("kernel", [1, 5, 7])
def test_pool_nets_accept_other_odd_kernels(name: str, kernel: int) -> None:
    model = MODELS[name](kernel, 6, 7, 1)
    assert count_parameters(model) == expected_parameters(name, kernel, 6, 7, 1)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 7, 32, 32)


def test_handout_weight_only_formulas() -> None:
    """k^2 (NIC NF + 4NF^2 + NF NC + NC^2) for PoolUpsampleNet, 8NF^2 for the 2020 CNN."""
    for k, nf, nc, nic in [(3, 32, 24, 1), (5, 7, 11, 3)]:
        pool_weights = sum(
            p.numel() for p in PoolUpsampleNet(k, nf, nc, nic).parameters() if p.dim() == 4
        )
        cnn_weights = sum(p.numel() for p in CNN(k, nf, nc, nic).parameters() if p.dim() == 4)
        assert pool_weights == k * k * (nic * nf + 4 * nf**2 + nf * nc + nc**2)
        assert cnn_weights == k * k * (nic * nf + 8 * nf**2 + nf * nc + nc**2)
    assert sum(p.numel() for p in PoolUpsampleNet().parameters() if p.dim() == 4) == 49_248
    assert sum(p.numel() for p in CNN().parameters() if p.dim() == 4) == 86_112


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("side", [32, 64])
def test_output_shapes(name: str, config: tuple[int, int, int, int], side: int) -> None:
    k, nf, nc, nic = config
    model = MODELS[name](k, nf, nc, nic).eval()
    with torch.no_grad():
        out = model(torch.rand(3, nic, side, side))
    assert out.shape == (3, nc, side, side)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradient_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(1)
    model = MODELS[name](3, 8, 6, 1).train()
    x = torch.rand(4, 1, 32, 32)
    y = torch.randint(0, 6, (4, 32, 32))
    F.cross_entropy(model(x), y).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.abs().sum() > 0, f"{pname} got an all-zero gradient"


BLOCKS = {
    "CNN": {
        "downconv1": [MyConv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU],
        "downconv2": [MyConv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU],
        "rfconv": [MyConv2d, nn.BatchNorm2d, nn.ReLU],
        "upconv1": [MyConv2d, nn.Upsample, nn.BatchNorm2d, nn.ReLU],
        "upconv2": [MyConv2d, nn.Upsample, nn.BatchNorm2d, nn.ReLU],
    },
    "PoolUpsampleNet": {
        "conv1": [nn.Conv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU],
        "conv2": [nn.Conv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU],
        "conv3": [nn.Conv2d, nn.Upsample, nn.BatchNorm2d, nn.ReLU],
        "conv4": [nn.Conv2d, nn.Upsample, nn.BatchNorm2d, nn.ReLU],
        "conv5": [nn.Conv2d],
    },
    "ConvTransposeNet": {
        "conv1": [nn.Conv2d, nn.BatchNorm2d, nn.ReLU],
        "conv2": [nn.Conv2d, nn.BatchNorm2d, nn.ReLU],
        "upconv1": [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU],
        "upconv2": [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU],
        "finalconv": [nn.Conv2d],
    },
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_blocks_are_sequentials_in_diagram_order(name: str) -> None:
    model = MODELS[name]()
    for block, types in BLOCKS[name].items():
        seq = getattr(model, block)
        assert isinstance(seq, nn.Sequential)
        assert [type(m) for m in seq] == types, block


def test_2020_nets_use_myconv2d_only() -> None:
    for cls in (CNN, UNet2020):
        kinds = {type(m) for m in cls().modules()}
        assert MyConv2d in kinds and nn.Conv2d not in kinds


def test_upsample_and_pool_settings() -> None:
    for module in PoolUpsampleNet(5).modules():
        if isinstance(module, nn.Upsample):
            assert module.scale_factor == 2 and module.mode == "nearest"
        if isinstance(module, nn.MaxPool2d):
            assert module.kernel_size == 2
        if isinstance(module, nn.Conv2d):
            assert module.padding == (2, 2) and module.stride == (1, 1)


@pytest.mark.parametrize("cls", [ConvTransposeNet, UNet])
def test_strided_layers_use_handout_settings(cls: type[nn.Module]) -> None:
    model = cls()
    convs = [m for m in model.modules() if type(m) is nn.Conv2d]
    transposed = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.stride, c.padding) for c in convs] == [((2, 2), (1, 1))] * 2 + [((1, 1), (1, 1))]
    assert len(transposed) == 2
    for t in transposed:
        assert (t.stride, t.padding, t.output_padding, t.dilation) == (
            (2, 2), (1, 1), (1, 1), (1, 1),
        )  # fmt: skip


def test_strided_nets_keep_fixed_padding_for_other_kernels() -> None:
    """The handout fixes padding 1 / output_padding 1, which is shape-correct only for k=3;
    k=5 is left to the students (question 5.4), so it must not be silently "fixed" here."""
    with torch.no_grad():
        assert ConvTransposeNet(5, 4, 6, 1).eval()(torch.rand(1, 1, 32, 32)).shape == (1, 6, 34, 34)
        with pytest.raises(RuntimeError):
            UNet(5, 4, 6, 1).eval()(torch.rand(1, 1, 32, 32))


def _final_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    handle = model.finalconv.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    model.eval()(x)
    handle.remove()
    return seen[0]


def test_unet_concatenates_skip_first() -> None:
    x = torch.rand(2, 1, 32, 32)
    inp = _final_input(UNet(), x)
    assert inp.shape == (2, 25, 32, 32)
    assert torch.equal(inp[:, :1], x)


def test_unet2020_concatenates_decoder_first() -> None:
    x = torch.rand(2, 3, 32, 32)
    inp = _final_input(UNet2020(3, 8, 5, 3), x)
    assert inp.shape == (2, 8, 32, 32)
    assert torch.equal(inp[:, -3:], x)


def test_cnn_keeps_block_outputs_for_plot_activation() -> None:
    model = CNN(3, 8, 5, 1)
    model(torch.rand(2, 1, 32, 32))
    shapes = [tuple(getattr(model, f"out{i}").shape) for i in range(1, 6)]
    assert shapes == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 16, 8, 8), (2, 8, 16, 16), (2, 5, 32, 32)]


def test_myconv2d_matches_functional_conv_and_init_bound() -> None:
    torch.manual_seed(0)
    layer = MyConv2d(7, 9, 5)
    assert layer.padding == 2
    assert layer.weight.shape == (9, 7, 5, 5) and layer.bias.shape == (9,)
    bound = 1 / math.sqrt(7 * 5 * 5)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound  # uniform over the full range, not tiny
    x = torch.rand(2, 7, 11, 13)
    ref = nn.Conv2d(7, 9, 5, padding=2)
    with torch.no_grad():
        ref.weight.copy_(layer.weight)
        ref.bias.copy_(layer.bias)
    assert torch.allclose(layer(x), ref(x), atol=1e-6)
    assert MyConv2d(3, 3, 3, padding=0)(torch.rand(1, 3, 8, 8)).shape == (1, 3, 6, 6)


def test_count_parameters_trainable_only() -> None:
    model = UNet()
    model.conv1.requires_grad_(False)
    frozen = 1 * 32 * 9 + 32 + 2 * 32  # conv 1->32 and its BatchNorm
    assert count_parameters(model) == HANDOUT_COUNTS["UNet"] - frozen
    assert count_parameters(model, trainable_only=False) == HANDOUT_COUNTS["UNet"]


def test_registry_and_builder() -> None:
    assert set(MODELS) == set(HANDOUT_COUNTS)
    assert isinstance(build_model("UNet", 3, 8, 5, 1), UNet)
    with pytest.raises(KeyError, match="PoolUpsampleNet"):
        build_model("PoolUpsamplenet")
