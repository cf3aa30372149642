"""Reference solutions for the PA2 colourisation networks, one class per handout figure.

Every constructor takes the starter's positional order ``(kernel, num_filters, num_colours,
num_in_channels)`` so that ``Net(args.kernel, args.num_filters, num_colours, num_in_channels)``
from the starter's training loop works unchanged. Blocks are ``nn.Sequential`` in the order the
handout diagrams draw them, so module names and parameter counts are what a conforming student
solution produces (see ASSIGNMENTS.md sections 1 and 2).

Padding rules, kept exactly as the handouts fix them:

* 2020 ``CNN``/``UNet2020`` and ``PoolUpsampleNet`` use ``padding = kernel // 2`` on every
  stride-1 convolution, so any odd kernel keeps 32x32 in and out.
* ``ConvTransposeNet`` and ``UNet`` use stride 2, padding 1 and output_padding 1 on the
  down/up-sampling layers, as the handout states. Those values are only shape-correct for
  ``kernel == 3``; the handout leaves the general-k rule to the students (question 5.4:
  padding ``(k - 1) // 2``, output_padding ``1`` for odd k, ``0`` for even k), so it is
  deliberately not built in here. Only the final stride-1 conv uses ``kernel // 2``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MODELS",
    "CNN",
    "ConvTransposeNet",
    "MyConv2d",
    "PoolUpsampleNet",
    "UNet",
    "UNet2020",
    "build_model",
    "count_parameters",
]

# The stride-2 layers of ConvTransposeNet / UNet, fixed by the handout (valid for kernel 3).
STRIDE = 2
STRIDED_PADDING = 1
OUTPUT_PADDING = 1


class MyConv2d(nn.Module):
    """The 2020 starter's hand-rolled convolution: same parameters as ``nn.Conv2d(bias=True)``.

    Kept as its own module because 2020 students had to use it, so a grader comparing module
    types and weight shapes needs the real thing.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, padding: int | None = None
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size * self.kernel_size)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"padding={self.padding}"
        )


class CNN(nn.Module):
    """2020 Part A: conv -> pool/upsample -> BN -> ReLU blocks, then a final conv (logits)."""

    def __init__(
        self,
        kernel: int = 3,
        num_filters: int = 32,
        num_colours: int = 24,
        num_in_channels: int = 1,
    ) -> None:
        super().__init__()
        padding = kernel // 2
        nf, nc = num_filters, num_colours

        self.downconv1 = nn.Sequential(
            MyConv2d(num_in_channels, nf, kernel, padding=padding),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
        )
        self.downconv2 = nn.Sequential(
            MyConv2d(nf, 2 * nf, kernel, padding=padding),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(2 * nf),
            nn.ReLU(),
        )
        self.rfconv = nn.Sequential(
            MyConv2d(2 * nf, 2 * nf, kernel, padding=padding),
            nn.BatchNorm2d(2 * nf),
            nn.ReLU(),
        )
        self.upconv1 = nn.Sequential(
            MyConv2d(2 * nf, nf, kernel, padding=padding),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
        )
        self.upconv2 = nn.Sequential(
            MyConv2d(nf, nc, kernel, padding=padding),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nc),
            nn.ReLU(),
        )
        self.finalconv = MyConv2d(nc, nc, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # out1..out5 are kept on the module because the starter's plot_activation() reads them.
        self.out1 = self.downconv1(x)
        self.out2 = self.downconv2(self.out1)
        self.out3 = self.rfconv(self.out2)
        self.out4 = self.upconv1(self.out3)
        self.out5 = self.upconv2(self.out4)
        self.out_final = self.finalconv(self.out5)
        return self.out_final


class UNet2020(nn.Module):
    """2020 Part B: the CNN with skips 3+2 -> 4, 4+1 -> 5 and image -> final conv.

    Concatenation is decoder tensor first, skip second (the ordering the 2018 solution and most
    2020 students used); the opposite order has the same shapes and parameter count.
    """

    def __init__(
        self,
        kernel: int = 3,
        num_filters: int = 32,
        num_colours: int = 24,
        num_in_channels: int = 1,
    ) -> None:
        super().__init__()
        nf, nc = num_filters, num_colours

        self.downconv1 = nn.Sequential(
            MyConv2d(num_in_channels, nf, kernel),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
        )
        self.downconv2 = nn.Sequential(
            MyConv2d(nf, 2 * nf, kernel),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(2 * nf),
            nn.ReLU(),
        )
        self.rfconv = nn.Sequential(
            MyConv2d(2 * nf, 2 * nf, kernel),
            nn.BatchNorm2d(2 * nf),
            nn.ReLU(),
        )
        self.upconv1 = nn.Sequential(
            MyConv2d(2 * nf + 2 * nf, nf, kernel),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
        )
        self.upconv2 = nn.Sequential(
            MyConv2d(nf + nf, nc, kernel),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nc),
            nn.ReLU(),
        )
        self.finalconv = MyConv2d(nc + num_in_channels, nc, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.out1 = self.downconv1(x)
        self.out2 = self.downconv2(self.out1)
        self.out3 = self.rfconv(self.out2)
        self.out4 = self.upconv1(torch.cat((self.out3, self.out2), dim=1))
        self.out5 = self.upconv2(torch.cat((self.out4, self.out1), dim=1))
        self.out_final = self.finalconv(torch.cat((self.out5, x), dim=1))
        return self.out_final


class PoolUpsampleNet(nn.Module):
    """2021-2025 section 4: the 2020 CNN without ``rfconv``, built from ``nn.Conv2d``."""

    def __init__(
        self,
        kernel: int = 3,
        num_filters: int = 32,
        num_colours: int = 24,
        num_in_channels: int = 1,
    ) -> None:
        super().__init__()
        padding = kernel // 2
        nf, nc = num_filters, num_colours

        self.conv1 = nn.Sequential(
            nn.Conv2d(num_in_channels, nf, kernel_size=kernel, padding=padding),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(nf, 2 * nf, kernel_size=kernel, padding=padding),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(2 * nf),
            nn.ReLU(),
        )
        self.conv3 = nn.Sequential(
            nn.Conv2d(2 * nf, nf, kernel_size=kernel, padding=padding),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
        )
        self.conv4 = nn.Sequential(
            nn.Conv2d(nf, nc, kernel_size=kernel, padding=padding),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(nc),
            nn.ReLU(),
        )
        self.conv5 = nn.Sequential(
            nn.Conv2d(nc, nc, kernel_size=kernel, padding=padding),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        return self.conv5(x)


def _down(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    """Stride-2 conv -> BN -> ReLU, with the handout's fixed padding 1."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=kernel, stride=STRIDE, padding=STRIDED_PADDING),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(),
    )


def _up(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    """Stride-2 transposed conv -> BN -> ReLU, with the handout's padding 1, output_padding 1."""
    return nn.Sequential(
        nn.ConvTranspose2d(
            in_ch,
            out_ch,
            kernel_size=kernel,
            stride=STRIDE,
            padding=STRIDED_PADDING,
            output_padding=OUTPUT_PADDING,
            dilation=1,
        ),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(),
    )


class ConvTransposeNet(nn.Module):
    """2021-2025 section 5: strided convs down, transposed convs up, no pooling."""

    def __init__(
        self,
        kernel: int = 3,
        num_filters: int = 32,
        num_colours: int = 24,
        num_in_channels: int = 1,
    ) -> None:
        super().__init__()
        nf, nc = num_filters, num_colours

        self.conv1 = _down(num_in_channels, nf, kernel)
        self.conv2 = _down(nf, 2 * nf, kernel)
        self.upconv1 = _up(2 * nf, nf, kernel)
        self.upconv2 = _up(nf, nc, kernel)
        self.finalconv = nn.Sequential(
            nn.Conv2d(nc, nc, kernel_size=kernel, padding=kernel // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.upconv1(x)
        x = self.upconv2(x)
        return self.finalconv(x)


class UNet(nn.Module):
    """2021-2023 section 6: ConvTransposeNet plus skips block1 -> upconv2 and image -> final.

    The skip tensor goes first in each ``torch.cat``, matching the diagram's
    ``[BS, NF + NF, 16, 16]`` and ``[BS, NIC + NC, 32, 32]`` labels.
    """

    def __init__(
        self,
        kernel: int = 3,
        num_filters: int = 32,
        num_colours: int = 24,
        num_in_channels: int = 1,
    ) -> None:
        super().__init__()
        nf, nc = num_filters, num_colours

        self.conv1 = _down(num_in_channels, nf, kernel)
        self.conv2 = _down(nf, 2 * nf, kernel)
        self.upconv1 = _up(2 * nf, nf, kernel)
        self.upconv2 = _up(nf + nf, nc, kernel)
        self.finalconv = nn.Sequential(
            nn.Conv2d(num_in_channels + nc, nc, kernel_size=kernel, padding=kernel // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        x3 = self.upconv1(x2)
        x4 = self.upconv2(torch.cat([x1, x3], dim=1))
        return self.finalconv(torch.cat([x, x4], dim=1))


MODELS: dict[str, type[nn.Module]] = {
    "CNN": CNN,
    "UNet2020": UNet2020,
    "PoolUpsampleNet": PoolUpsampleNet,
    "ConvTransposeNet": ConvTransposeNet,
    "UNet": UNet,
}


def build_model(
    name: str,
    kernel: int = 3,
    num_filters: int = 32,
    num_colours: int = 24,
    num_in_channels: int = 1,
) -> nn.Module:
    """Instantiate a registered model by name, with a message listing valid names on a typo."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
    return cls(kernel, num_filters, num_colours, num_in_channels)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameter elements, as the handout counts them (BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
