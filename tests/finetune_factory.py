"""Notebooks for the fine-tuning tests: a 2020 Part C notebook the way the starter shaped it
(cv2-based `CUB` dataset reading jpg/, trimaps/ and datasplits.mat from the working folder,
`train(args, model)` with a `learned_parameters` list), and the mistakes students made.
Also hand-built Measured dicts for the pure check tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.ingest_factory import write_notebook

REFERENCE_2020 = (Path(__file__).resolve().parents[1] / "submissions" / "reference" /
                  "csc413-2020-pa2" / "reference.ipynb")

IMPORTS = """\
%matplotlib inline
import os
import cv2
import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader


class AttrDict(dict):
    def __getattr__(self, k):
        return self[k]
"""

DATASET = """\
def convert_to_binary(masks, thres=0.5):
    binary = ((masks[:, 0] == 128) & (masks[:, 1] == 0) & (masks[:, 2] == 0)).long()
    return binary


class CUB(torch.utils.data.Dataset):
    def __init__(self, image_folder, mask_folder, ids, size=224):
        self.ids = [i for i in ids
                    if os.path.exists(os.path.join(mask_folder, 'image_%04d.png' % i))]
        self.image_folder, self.mask_folder, self.size = image_folder, mask_folder, size

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, k):
        i = self.ids[k]
        img = cv2.imread(os.path.join(self.image_folder, 'image_%04d.jpg' % i))
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        img = cv2.resize(img, (self.size, self.size)) / 255.0
        img = (img - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        mask = cv2.cvtColor(cv2.imread(os.path.join(self.mask_folder, 'image_%04d.png' % i)),
                            cv2.COLOR_BGR2RGB)
        mask = cv2.resize(mask, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        return (torch.from_numpy(img.transpose(2, 0, 1)).float(),
                torch.from_numpy(mask.transpose(2, 0, 1).copy()))
"""

TRAIN = """\
def train(args, model):
    np.random.seed(args.seed)
    learned_parameters = []
    {collect}
    optimizer = torch.optim.Adam(learned_parameters, lr=args.learn_rate)
    splits = scipy.io.loadmat('datasplits.mat')
    train_ids = np.concatenate([splits['trn1'][0], splits['trn2'][0], splits['trn3'][0]])
    train_set = CUB('jpg', 'trimaps', train_ids)
    train_loader = DataLoader(train_set, batch_size=args.train_batch_size, shuffle=True,
                              num_workers=4, drop_last=True)
    for epoch in range(args.epochs):
        model.train()
        for i, (images, masks) in enumerate(train_loader):
            optimizer.zero_grad()
            outputs = model(images)['out']
            loss = F.cross_entropy(outputs, convert_to_binary(masks))
            loss.backward()
            optimizer.step()
        print('Epoch [%d/%d], Loss: %.4f' % (epoch + 1, args.epochs, loss.item()))
    return model
"""

COLLECT = {
    "head": "for name, param in model.named_parameters():\n"
            "        if name.startswith('classifier.4'):\n"
            "            learned_parameters.append(param)",
    "all": "learned_parameters = list(model.parameters())",
    # a typo: the first line of train raises (AttributeError), before the optimizer exists
    "typo": "for name, param in model.named_parameter():\n"
            "        learned_parameters.append(param)",
}

RUN = """\
args = AttrDict(learn_rate=0.05, train_batch_size=128, val_batch_size=256, epochs=10, seed=0,
                checkpoint_name='finetune-segmentation')
model = torch.hub.load('pytorch/vision:v0.5.0', 'deeplabv3_resnet101', pretrained=True)
{freeze}
model.classifier[4] = nn.Conv2d(256, {classes}, kernel_size=1)
model = model.cuda()
train(args, model)
"""


def finetune_cells(collect: str = "head", freeze: bool = True, classes: int = 2,
                   call: bool = True) -> list[tuple[str, str]]:
    """A Part C notebook; the arguments reproduce one mistake each."""
    run = RUN.format(freeze="model.requires_grad_(False)" if freeze else "# (not frozen)",
                     classes=classes)
    if not call:
        run = run.replace("train(args, model)\n", "print(model.classifier)\n")
    return [
        ("markdown", "## Part C: Fine-tune Semantic Segmentation Model"),            # 1
        ("code", "!pip install -q opencv-python\n!wget -q https://www.robots.ox.ac.uk/~vgg/"
                 "data/flowers/17/17flowers.tgz\n!tar xzf 17flowers.tgz"),             # 2
        ("code", IMPORTS),                                                            # 3
        ("code", DATASET),                                                            # 4
        ("code", TRAIN.format(collect=COLLECT[collect])),                             # 5
        ("code", run),                                                                # 6
    ]


NOTEBOOKS: dict[str, dict[str, Any]] = {
    "forgot_freeze": {"freeze": False},
    "all_params": {"collect": "all", "freeze": False},
    "head_21": {"classes": 21},
    "train_raises": {"collect": "typo"},
    "never_called": {"call": False},
}


def write_finetune(folder: Path, name: str) -> Path:
    """One of NOTEBOOKS as `<folder>/<name>.ipynb`."""
    return write_notebook(folder / f"{name}.ipynb", finetune_cells(**NOTEBOOKS[name]))


# --- hand-built Measured dicts (the shape grader.finetune.observe returns) ----------------------
BACKBONE = [f"backbone.{i}.0.weight" for i in range(12)] + [
    "classifier.0.convs.0.0.weight", "classifier.1.weight", "classifier.2.weight",
    "classifier.2.bias", "aux_classifier.0.weight", "aux_classifier.4.weight",
    "aux_classifier.4.bias"]
HEAD_NAMES = ["classifier.4.weight", "classifier.4.bias"]
ALL = BACKBONE[:16] + HEAD_NAMES + BACKBONE[16:]


def measured(*, trainable: list[str] | None = None, changed: list[str] | None = HEAD_NAMES,
             optimised: list[str] | None = HEAD_NAMES, out_channels: int = 2,
             kernel: list[int] | None = None, head_type: str = "Conv2d", head: bool = True,
             steps: int = 2, problem: dict | None = None) -> dict[str, Any]:
    """A Measured dict for `train`; defaults describe a correct submission."""
    trainable = list(HEAD_NAMES if trainable is None else trainable)
    kernel = kernel or [1, 1]
    info = None
    if head:
        info = {"type": head_type, "in_channels": 256, "out_channels": out_channels,
                "kernel_size": kernel, "params": 256 * out_channels * kernel[0] * kernel[1]
                + out_channels}
    return {"found": True, "problem": None, "finetune": {
        "calls": 1, "cell": 6, "line": 7, "model_class": "DeepLabV3",
        "trainable": trainable,
        "changed": None if changed is None else list(changed),
        "unchanged_count": None if changed is None else len(ALL) - len(changed),
        "optimised": None if optimised is None else list(optimised),
        "optimised_foreign": 0, "optimizers": [], "head": info, "aux_head": None,
        "total": 11_024_445, "trainable_count": 514 if trainable == HEAD_NAMES else 11_024_445,
        "parameter_tensors": len(ALL),
        "run": {"status": "raised" if problem else "stopped", "steps": steps, "run_s": 3.2,
                "stopped_by": None if problem else "steps", "data_roots": ["."],
                "problem": problem}}}
