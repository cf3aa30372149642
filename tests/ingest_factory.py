"""Messy student submissions for the ingest tests, written the way real PA2 notebooks look.

Colab boilerplate (Drive mount, `!pip`, `%cd`), downloads and 25-epoch training at top level,
`%`-formatting continuation lines, a `from __future__` import in a middle cell, the starter's
"YOUR CODE GOES HERE" comments left in, a model split over cells and monkey-patched, `train`
redefined, stale outputs, cell magics, and syntax errors in some cells.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nbformat

Cells = list[tuple[str, str]]

COLAB = """from google.colab import drive
drive.mount('/content/drive')
%cd /content/drive/MyDrive/CSC413/a2
!pip install -q torchsummary
%matplotlib inline"""

IMPORTS = """import os
import pickle
import tarfile
import urllib.request

import numpy as np
import numpy.random as npr
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F"""

HELPERS = '''HORSE_CATEGORY = 7
NUM_COLOURS = 24


class AttrDict(dict):
    def __init__(self, *args, **kwargs):
        super(AttrDict, self).__init__(*args, **kwargs)
        self.__dict__ = self


def get_file(fname, origin, untar=False):
    datadir = os.path.join("data")
    if not os.path.exists(datadir):
        os.makedirs(datadir)
    fpath = os.path.join(datadir, fname)
    print("Downloading data from", origin)
    urllib.request.urlretrieve(origin, fpath + ".tar.gz")
    if untar:
        with tarfile.open(fpath + ".tar.gz") as archive:
            archive.extractall(datadir)
    return fpath


def compute_loss(criterion, outputs, labels, batch_size, num_colours):
    loss_out = outputs.transpose(1, 3).contiguous().view([batch_size * 32 * 32, num_colours])
    loss_lab = labels.transpose(1, 3).contiguous().view([batch_size * 32 * 32])
    return criterion(loss_out, loss_lab)


def run_validation_step(cnn, criterion, grey, rgb_cat, batch_size, colours):
    correct, total, losses = 0.0, 0.0, []
    val_loss = float(np.mean(losses)) if losses else 0.0
    val_acc = 100 * correct / max(total, 1)
    print('Val Loss: %.4f, Val Acc: %.1f%%' %
          (val_loss, val_acc))
    return val_loss, val_acc'''

# cell 5: a __future__ import in a middle cell, plus a download that must not happen
DOWNLOADS = """from __future__ import print_function, division
!wget -q http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz
x_train = get_file(fname="cifar-10-batches-py",
                   origin="http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", untar=True)
print("downloaded")"""

TRAIN_V1 = '''def train(args, cnn=None):
    # YOUR CODE GOES HERE
    npr.seed(args.seed)
    for epoch in range(args.epochs):
        print("Epoch [%d/%d]" % (epoch + 1, args.epochs))
    return cnn'''

POOL_V1 = '''class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.first_attempt = True   # an early try, redefined below
        self.conv = nn.Conv2d(num_in_channels, num_colours, kernel)

    def forward(self, x):
        return self.conv(x)'''

ARGS_CELL = '''args = AttrDict()
args_dict = {
    "gpu": True,
    "valid": False,
    "checkpoint": "",
    "colours": "./data/colours/colour_kmeans24_cat7.npy",
    "model": "PoolUpsampleNet",
    "kernel": 3,
    "num_filters": 32,
    "learn_rate": 0.001,
    "batch_size": 100,
    "epochs": 25,
    "seed": 0,
    "plot": True,
    "experiment_name": "colourization_cnn",
    "visualize": False,
    "downsize_input": False,
}
args.update(args_dict)
cnn = train(args)'''

POOL_V2 = '''class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()

        # Useful parameters
        padding = kernel // 2

        ############### YOUR CODE GOES HERE ###############
        self.block1 = nn.Sequential(
            nn.Conv2d(num_in_channels, num_filters, kernel_size=kernel, padding=padding),
            nn.MaxPool2d(2), nn.BatchNorm2d(num_filters), nn.ReLU())
        self.block2 = nn.Sequential(
            nn.Conv2d(num_filters, 2 * num_filters, kernel_size=kernel, padding=padding),
            nn.MaxPool2d(2), nn.BatchNorm2d(2 * num_filters), nn.ReLU())
        self.block3 = nn.Sequential(
            nn.Conv2d(2 * num_filters, num_filters, kernel_size=kernel, padding=padding),
            nn.Upsample(scale_factor=2), nn.BatchNorm2d(num_filters), nn.ReLU())
        self.block4 = nn.Sequential(
            nn.Conv2d(num_filters, num_colours, kernel_size=kernel, padding=padding),
            nn.Upsample(scale_factor=2), nn.BatchNorm2d(num_colours), nn.ReLU())
        self.block5 = nn.Conv2d(num_colours, num_colours, kernel_size=kernel, padding=padding)
        ###################################################

    def forward(self, x):
        ############### YOUR CODE GOES HERE ###############
        out = self.block1(x)
        out = self.block2(out)
        out = self.block3(out)
        out = self.block4(out)
        return self.block5(out)
        ###################################################'''

TIMED_TRAIN = """%%time
args.epochs = 25
cnn = train(args)"""

UNET_INIT = '''class UNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        stride = 2
        padding = kernel // 2
        output_padding = 1
        self.conv1 = nn.Sequential(
            nn.Conv2d(num_in_channels, num_filters, kernel, stride=stride, padding=padding),
            nn.BatchNorm2d(num_filters), nn.ReLU())
        self.conv2 = nn.Sequential(
            nn.Conv2d(num_filters, 2 * num_filters, kernel, stride=stride, padding=padding),
            nn.BatchNorm2d(2 * num_filters), nn.ReLU())
        self.up1 = nn.Sequential(
            nn.ConvTranspose2d(2 * num_filters, num_filters, kernel, stride=stride,
                               padding=padding, output_padding=output_padding),
            nn.BatchNorm2d(num_filters), nn.ReLU())
        self.up2 = nn.Sequential(
            nn.ConvTranspose2d(2 * num_filters, num_colours, kernel, stride=stride,
                               padding=padding, output_padding=output_padding),
            nn.BatchNorm2d(num_colours), nn.ReLU())
        self.final = nn.Conv2d(num_in_channels + num_colours, num_colours, kernel,
                               padding=padding)'''

UNET_FORWARD = '''def skip(a, b):
    return torch.cat([a, b], dim=1)


def forward(self, x):
    x1 = self.conv1(x)
    x2 = self.conv2(x1)
    x3 = self.up1(x2)
    x4 = self.up2(skip(x1, x3))
    return self.final(skip(x, x4))


UNet.forward = forward'''

UNRELATED_BROKEN = '''def plot_activation(args, cnn):
    # YOUR CODE GOES HERE
    print("plotting"'''

TRAIN_V2 = '''def train(args, cnn=None):
    """The final training loop (the earlier one was a stub)."""
    npr.seed(args.seed)
    num_colours = NUM_COLOURS
    if cnn is None:
        Net = globals()[args.model]
        cnn = Net(args.kernel, args.num_filters, num_colours, 1)
    optimizer = torch.optim.Adam(cnn.parameters(), lr=args.learn_rate)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        print("Epoch [%d/%d], Loss: %.4f"
              % (epoch + 1, args.epochs, 0.0))
    return cnn'''

CONVT_BROKEN = '''class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(num_in_channels, num_filters, kernel, stride=2, padding=1
        self.conv2 = nn.Conv2d(num_filters, num_colours, kernel, stride=2, padding=1)

    def forward(self, x):
        return self.conv2(self.conv1(x))'''

BASH = """%%bash
ls -la data
echo done"""

PLOTS = """plt.figure()
plt.plot([1, 2, 3])
plt.savefig("curve.png")
plt.show()"""


def messy_cells() -> Cells:
    """A finished 2023-style notebook. Cell numbers below are what the tests assert on."""
    return [
        ("markdown", "# CSC413 PA2: Convolutional Neural Networks"),   # 1
        ("code", COLAB),                                                # 2
        ("code", IMPORTS),                                              # 3
        ("code", HELPERS),                                              # 4
        ("code", DOWNLOADS),                                            # 5
        ("code", TRAIN_V1),                                             # 6
        ("markdown", "## Section 4: PoolUpsampleNet"),                  # 7
        ("code", POOL_V1),                                              # 8
        ("code", ARGS_CELL),                                            # 9
        ("code", POOL_V2),                                              # 10
        ("code", TIMED_TRAIN),                                          # 11
        ("markdown", "## Section 6: UNet"),                             # 12
        ("code", UNET_INIT),                                            # 13
        ("code", UNET_FORWARD),                                         # 14
        ("code", UNRELATED_BROKEN),                                     # 15
        ("code", TRAIN_V2),                                             # 16
        ("code", CONVT_BROKEN),                                         # 17
        ("code", BASH),                                                 # 18
        ("code", PLOTS),                                                # 19
    ]


# Binding-time semantics: the base class and default argument in force *when* a class or
# function is defined, the last binding for what a function body reads when it runs.
BINDING_CELLS: Cells = [
    ("code", "import torch.nn as nn\nKERNEL = 3\nSCALE = 1\nREGISTRY = {}\n\n\n"
             "def register(cls):\n    REGISTRY[cls.__name__] = cls\n    return cls"),
    ("code", 'class Block(nn.Module):\n    tag = "v1"\n\n    def __init__(self):\n'
             '        super().__init__()'),
    ("code", 'def make_layer(k=KERNEL):\n    return nn.Conv2d(1, 1, k * SCALE)\n\n\n'
             '@register\nclass Net(Block):\n    width = KERNEL * 2\n\n    def __init__(self):\n'
             '        super().__init__()\n        self.layer = make_layer()'),
    ("code", 'class Block(nn.Module):\n    tag = "v2"\n\n    def __init__(self):\n'
             '        super().__init__()\n\n\nKERNEL = 5\nSCALE = 3\nREGISTRY = {"new": 1}\n'
             'for i in range(3):\n    print(i)'),
]

FINETUNE_TRAIN = '''def train(args, model):
    learned_parameters = []
    for name, param in model.named_parameters():
        if name.startswith("classifier.4"):
            learned_parameters.append(param)
    optimizer = torch.optim.Adam(learned_parameters, lr=args.learn_rate)
    for epoch in range(args.epochs):
        print("epoch", epoch)
    return model'''

FINETUNE_RUN = '''args = AttrDict()
args.update({"learn_rate": 0.05, "train_batch_size": 128, "val_batch_size": 256,
             "epochs": 10, "seed": 0, "checkpoint_name": "finetune-segmentation"})
model = torch.hub.load('pytorch/vision:v0.5.0', 'deeplabv3_resnet101', pretrained=True)
model.requires_grad_(False)
model.classifier[4] = nn.Conv2d(256, 2, kernel_size=1)
model = model.cuda()
train(args, model)'''


def finetune_cells() -> Cells:
    """A 2020 Part C notebook: the effect of top-level code is what gets graded."""
    return [
        ("markdown", "## Part C: fine-tune DeepLabV3"),                              # 1
        ("code", "from google.colab import drive\ndrive.mount('/content/drive')\n"
                 "!pip install -q opencv-python\n%matplotlib inline"),                # 2
        ("code", "import torch\nimport torch.nn as nn\nimport matplotlib.pyplot as plt\n\n\n"
                 "class AttrDict(dict):\n    def __getattr__(self, k):\n"
                 "        return self[k]"),                                           # 3
        ("code", "!wget -q https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz\n"
                 "!tar xzf 17flowers.tgz"),                                           # 4
        ("code", FINETUNE_TRAIN),                                                     # 5
        ("code", FINETUNE_RUN),                                                       # 6
        ("code", "def show(xs):\n    plt.plot(xs)\n    plt.show()\n\n\n"
                 "def broken(v):\n    w = v * 2\n    return w / 0\n\n\n"
                 "show([1, 2])\nbroken(3)"),                                          # 7
        ("code", "print('unterminated'"),                                             # 8
        ("code", "import time\nwhile True:\n    time.sleep(0.05)"),                   # 9
        ("code", "def train(args, model):\n    raise RuntimeError('must not run')\n\n\n"
                 "train(args, model)\nprint('after', type(model).__name__)"),         # 10
    ]


def notebook(cells: Cells, *, minor: int = 5, outputs: bool = True) -> nbformat.NotebookNode:
    """An nbformat 4.`minor` notebook; code cells get stale outputs like a real submission."""
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = minor
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["colab"] = {"provenance": [], "name": "a2-code.ipynb"}
    count = 0
    for kind, text in cells:
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            count += 1
            cell = nbformat.v4.new_code_cell(text, execution_count=count)
            if outputs:
                cell.outputs = [nbformat.v4.new_output(
                    "stream", name="stdout", text="Epoch [1/25], Loss: 2.3119\n")]
        nb.cells.append(cell)
    for number, cell in enumerate(nb.cells):
        if minor >= 5:
            cell["id"] = f"c{number:03d}-x"
        else:
            cell.pop("id", None)
    return nb


def write_notebook(path: Path, cells: Cells, *, minor: int = 5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(notebook(cells, minor=minor), version=4), encoding="utf-8")
    return path


def write_v4_0(path: Path, cells: Cells) -> Path:
    """nbformat 4.0 as old Jupyter wrote it: no cell ids, sources as lists of lines."""
    import json

    doc = {"nbformat": 4, "nbformat_minor": 0, "metadata": {}, "cells": []}
    for kind, text in cells:
        cell = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        doc["cells"].append(cell)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


MODELS_PY = '''"""My models for PA2."""
import torch
import torch.nn as nn

from layers import conv_block

DEFAULT_FILTERS = 32


class UNet(nn.Module):
    def __init__(self, kernel=3, num_filters=DEFAULT_FILTERS, num_colours=24, num_in_channels=1):
        super().__init__()
        self.down = conv_block(num_in_channels, num_filters, kernel)
        self.out = nn.Conv2d(num_filters + num_in_channels, num_colours, kernel,
                             padding=kernel // 2)

    def forward(self, x):
        return self.out(torch.cat([self.down(x), x], dim=1))


if __name__ == "__main__":
    print(UNet())
'''

LAYERS_PY = '''import torch.nn as nn


def conv_block(cin, cout, k):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout),
                         nn.ReLU())
'''

MAIN_PY = '''import models
from models import UNet as Net
import train_utils

net = Net()
train_utils.fit(net, epochs=25)
'''

TRAIN_UTILS_PY = '''def fit(net, epochs):
    for _ in range(epochs):
        pass
'''


def two_module_folder(root: Path) -> Path:
    """A `.py` submission: models.py imports layers.py; main.py imports both styles."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "models.py").write_text(MODELS_PY, encoding="utf-8")
    (root / "layers.py").write_text(LAYERS_PY, encoding="utf-8")
    (root / "main.py").write_text(MAIN_PY, encoding="utf-8")
    (root / "train_utils.py").write_text(TRAIN_UTILS_PY, encoding="utf-8")
    cache = root / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "models.cpython-311.pyc").write_bytes(b"\x00garbage")
    (root / ".ipynb_checkpoints").mkdir(exist_ok=True)
    (root / ".ipynb_checkpoints" / "old-checkpoint.py").write_text("x = (", encoding="utf-8")
    (root / "colours.npy").write_bytes(b"\x93NUMPY")
    return root


def write_zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED,
              symlinks: tuple[str, ...] = ()) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
    path.write_bytes(buffer.getvalue())
    return path


def notebook_bytes(cells: Cells, *, minor: int = 5) -> bytes:
    return nbformat.writes(notebook(cells, minor=minor), version=4).encode("utf-8")
