"""Small notebooks of our own that reproduce what real student submissions do.

Each pattern was seen in the field test (benchmarks/field): correct models written in styles the
grader once misjudged, and the real faults it must still name. The code here is written for the
tests, in the handout's layer order, and only the style varies.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

IMPORTS = """import torch
import torch.nn as nn
import torch.nn.functional as F
from collections import OrderedDict"""

# PoolUpsampleNet: layers made as attributes, then grouped into Sequentials that reuse the very
# same module objects (one shared ReLU, pool and upsample too).
POOL_SHARED = """class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        padding = kernel // 2
        self.conv1 = nn.Conv2d(num_in_channels, num_filters, kernel, padding=padding)
        self.bn1 = nn.BatchNorm2d(num_filters)
        self.conv2 = nn.Conv2d(num_filters, 2 * num_filters, kernel, padding=padding)
        self.bn2 = nn.BatchNorm2d(2 * num_filters)
        self.conv3 = nn.Conv2d(2 * num_filters, num_filters, kernel, padding=padding)
        self.bn3 = nn.BatchNorm2d(num_filters)
        self.conv4 = nn.Conv2d(num_filters, num_colours, kernel, padding=padding)
        self.bn4 = nn.BatchNorm2d(num_colours)
        self.conv5 = nn.Conv2d(num_colours, num_colours, kernel, padding=padding)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2)
        self.relu = nn.ReLU()
        self.block1 = nn.Sequential(self.conv1, self.pool, self.bn1, self.relu)
        self.block2 = nn.Sequential(self.conv2, self.pool, self.bn2, self.relu)
        self.block3 = nn.Sequential(self.conv3, self.up, self.bn3, self.relu)
        self.block4 = nn.Sequential(self.conv4, self.up, self.bn4, self.relu)

    def forward(self, x):
        return self.conv5(self.block4(self.block3(self.block2(self.block1(x)))))"""

# ConvTransposeNet: modules called through .forward(...), and functional ops on the modules'
# own parameters.
CONVT_FORWARD = """class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        stride, padding, output_padding = 2, kernel // 2, 1
        nf, nc = num_filters, num_colours
        self.c1 = nn.Conv2d(num_in_channels, nf, kernel, stride=stride, padding=padding)
        self.b1 = nn.BatchNorm2d(nf)
        self.c2 = nn.Conv2d(nf, 2 * nf, kernel, stride=stride, padding=padding)
        self.b2 = nn.BatchNorm2d(2 * nf)
        self.t3 = nn.ConvTranspose2d(2 * nf, nf, kernel, stride=stride, padding=padding,
                                     output_padding=output_padding)
        self.b3 = nn.BatchNorm2d(nf)
        self.t4 = nn.ConvTranspose2d(nf, nc, kernel, stride=stride, padding=padding,
                                     output_padding=output_padding)
        self.b4 = nn.BatchNorm2d(nc)
        self.c5 = nn.Conv2d(nc, nc, kernel, padding=padding)

    def forward(self, x):
        x = F.conv2d(x, self.c1.weight, self.c1.bias, stride=2, padding=1)
        x = F.relu(self.b1.forward(x))
        x = F.relu(self.b2(self.c2.forward(x)))
        x = F.conv_transpose2d(x, self.t3.weight, self.t3.bias, stride=2, padding=1,
                               output_padding=1)
        x = F.relu(self.b3(x))
        x = F.relu(self.b4.forward(self.t4.forward(x)))
        return self.c5.forward(x)"""

# UNet: block 1 applied a second time to the same input, for the skip connection.
UNET_TWICE = """class UNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        nf, nc, p = num_filters, num_colours, kernel // 2
        self.down1 = nn.Sequential(nn.Conv2d(num_in_channels, nf, kernel, stride=2, padding=p),
                                   nn.BatchNorm2d(nf), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(nf, 2 * nf, kernel, stride=2, padding=p),
                                   nn.BatchNorm2d(2 * nf), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * nf, nf, kernel, stride=2, padding=p,
                                                    output_padding=1),
                                 nn.BatchNorm2d(nf), nn.ReLU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * nf, nc, kernel, stride=2, padding=p,
                                                    output_padding=1),
                                 nn.BatchNorm2d(nc), nn.ReLU())
        self.final = nn.Conv2d(num_in_channels + nc, nc, kernel, padding=p)

    def forward(self, x):
        x3 = self.up1(self.down2(self.down1(x)))
        x4 = self.up2(torch.cat([self.down1(x), x3], dim=1))
        return self.final(torch.cat([x, x4], dim=1))"""

# PoolUpsampleNet: blocks in an nn.ModuleList of nn.Sequential(OrderedDict), final conv in a
# ModuleDict.
POOL_CONTAINERS = """class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        padding = kernel // 2
        chans = [num_in_channels, num_filters, 2 * num_filters, num_filters, num_colours]
        self.blocks = nn.ModuleList()
        for i in range(4):
            resample = nn.MaxPool2d(2) if i < 2 else nn.Upsample(scale_factor=2)
            self.blocks.append(nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(chans[i], chans[i + 1], kernel, padding=padding)),
                ("resample", resample), ("bn", nn.BatchNorm2d(chans[i + 1])),
                ("relu", nn.ReLU())])))
        self.heads = nn.ModuleDict(
            {"final": nn.Conv2d(num_colours, num_colours, kernel, padding=padding)})

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.heads["final"](x)"""

# ConvTransposeNet across three cells: a helper block class, the model, and its forward added
# afterwards.
CONVT_CELLS = [
    """def block(conv, channels):
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU())""",
    """class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        nf, nc = num_filters, num_colours
        self.enc = nn.Sequential(
            block(nn.Conv2d(num_in_channels, nf, kernel, stride=2, padding=1), nf),
            block(nn.Conv2d(nf, 2 * nf, kernel, stride=2, padding=1), 2 * nf))
        self.dec = nn.Sequential(
            block(nn.ConvTranspose2d(2 * nf, nf, kernel, stride=2, padding=1,
                                     output_padding=1), nf),
            block(nn.ConvTranspose2d(nf, nc, kernel, stride=2, padding=1,
                                     output_padding=1), nc))
        self.out = nn.Conv2d(nc, nc, kernel, padding=kernel // 2)""",
    """def convt_forward(self, x):
    return self.out(self.dec(self.enc(x)))


ConvTransposeNet.forward = convt_forward""",
]

# UNet with its blocks in a plain Python list: runs, but the parameters are not registered.
UNET_PLAIN_LIST = """class UNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        nf, nc = num_filters, num_colours
        self.layers = [
            nn.Sequential(nn.Conv2d(num_in_channels, nf, kernel, stride=2, padding=1),
                          nn.BatchNorm2d(nf), nn.ReLU()),
            nn.Sequential(nn.Conv2d(nf, 2 * nf, kernel, stride=2, padding=1),
                          nn.BatchNorm2d(2 * nf), nn.ReLU()),
            nn.Sequential(nn.ConvTranspose2d(2 * nf, nf, kernel, stride=2, padding=1,
                                             output_padding=1), nn.BatchNorm2d(nf), nn.ReLU()),
            nn.Sequential(nn.ConvTranspose2d(2 * nf, nc, kernel, stride=2, padding=1,
                                             output_padding=1), nn.BatchNorm2d(nc), nn.ReLU()),
        ]
        self.final = nn.Conv2d(num_in_channels + nc, nc, kernel, padding=1)

    def forward(self, x):
        x1 = self.layers[0](x)
        x3 = self.layers[2](self.layers[1](x1))
        x4 = self.layers[3](torch.cat([x1, x3], dim=1))
        return self.final(torch.cat([x, x4], dim=1))"""

# PoolUpsampleNet with its first block frozen.
POOL_FROZEN = POOL_SHARED.replace(
    "        self.block1 = nn.Sequential(self.conv1, self.pool, self.bn1, self.relu)\n",
    "        self.block1 = nn.Sequential(self.conv1, self.pool, self.bn1, self.relu)\n"
    "        for p in self.block1.parameters():\n            p.requires_grad = False\n")

# ConvTransposeNet whose first block puts ReLU before BatchNorm.
CONVT_ORDER = """class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        nf, nc = num_filters, num_colours
        self.b1 = nn.Sequential(nn.Conv2d(num_in_channels, nf, kernel, stride=2, padding=1),
                                nn.ReLU(), nn.BatchNorm2d(nf))
        self.b2 = nn.Sequential(nn.Conv2d(nf, 2 * nf, kernel, stride=2, padding=1),
                                nn.BatchNorm2d(2 * nf), nn.ReLU())
        self.b3 = nn.Sequential(nn.ConvTranspose2d(2 * nf, nf, kernel, stride=2, padding=1,
                                                   output_padding=1), nn.BatchNorm2d(nf),
                                nn.ReLU())
        self.b4 = nn.Sequential(nn.ConvTranspose2d(nf, nc, kernel, stride=2, padding=1,
                                                   output_padding=1), nn.BatchNorm2d(nc),
                                nn.ReLU())
        self.b5 = nn.Conv2d(nc, nc, kernel, padding=1)

    def forward(self, x):
        return self.b5(self.b4(self.b3(self.b2(self.b1(x)))))"""

# 2020: the provided MyConv2d, called through .forward() by a CNN of separate attributes.
MYCONV = """class MyConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, padding=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        bound = 1.0 / (in_channels * kernel_size * kernel_size) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, padding=self.padding)"""

CNN_FORWARD = """class CNN(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super(CNN, self).__init__()
        nf, nc = num_filters, num_colours
        self.myconv1 = MyConv2d(num_in_channels, nf, kernel)
        self.bn1 = nn.BatchNorm2d(nf)
        self.myconv2 = MyConv2d(nf, 2 * nf, kernel)
        self.bn2 = nn.BatchNorm2d(2 * nf)
        self.myconv3 = MyConv2d(2 * nf, 2 * nf, kernel)
        self.bn3 = nn.BatchNorm2d(2 * nf)
        self.myconv4 = MyConv2d(2 * nf, nf, kernel)
        self.bn4 = nn.BatchNorm2d(nf)
        self.myconv5 = MyConv2d(nf, nc, kernel)
        self.bn5 = nn.BatchNorm2d(nc)
        self.myconv6 = MyConv2d(nc, nc, kernel)

    def forward(self, x):
        self.out1 = F.relu(self.bn1(F.max_pool2d(self.myconv1.forward(x), 2)))
        self.out2 = F.relu(self.bn2(F.max_pool2d(self.myconv2.forward(self.out1), 2)))
        self.out3 = F.relu(self.bn3(self.myconv3.forward(self.out2)))
        self.out4 = F.relu(self.bn4(F.interpolate(self.myconv4.forward(self.out3),
                                                  scale_factor=2)))
        self.out5 = F.relu(self.bn5(F.interpolate(self.myconv5.forward(self.out4),
                                                  scale_factor=2)))
        return self.myconv6.forward(self.out5)"""


def notebook(path: Path, *cells: str) -> Path:
    """A notebook with a markdown title and one code cell per source (imports first)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# PA2 (test notebook)"),
                nbformat.v4.new_code_cell(IMPORTS)]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def html_page(code: str) -> str:
    """A `.py` as a browser saves a web view of the file: an HTML page with the code escaped."""
    from html import escape

    return f"<!DOCTYPE html>\n<html>\n<body>\n<pre>{escape(code)}</pre>\n</body>\n</html>\n"
