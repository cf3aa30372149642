"""Build the reference submissions (and the demo class) as notebooks a student would hand in.

`grader selftest` grades `submissions/reference/<rubric>/` and CI expects full marks, so these
notebooks are written like real submissions: helper cells, a download cell, the model classes
taken verbatim from `reference/models.py`, and top-level training calls that the grader must
neutralise rather than run. Run `python scripts/build_submissions.py` after changing the
reference models; a test fails when the committed notebooks are out of date.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import reference.models as models  # noqa: E402

HEADER = """# Programming Assignment 2: Convolutional Neural Networks

Greyscale-to-colour on CIFAR-10 horses, posed as 24-way classification of every pixel."""

SETUP = """%matplotlib inline
import os
import tarfile
import pickle
import urllib.request

import numpy as np
import numpy.random as npr
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F"""

HELPERS = '''HORSE_CATEGORY = 7


class AttrDict(dict):
    """A dict whose keys are also attributes, like the starter's args objects."""

    def __getattr__(self, name):
        return self[name]

    def __setattr__(self, name, value):
        self[name] = value


def get_file(fname, origin, untar=False):
    """Download `origin` into data/ once, untarring when asked."""
    os.makedirs("data", exist_ok=True)
    path = os.path.join("data", fname + (".tar.gz" if untar else ""))
    if not os.path.exists(path):
        urllib.request.urlretrieve(origin, path)
    if untar:
        with tarfile.open(path) as archive:
            archive.extractall("data")
        return os.path.join("data", fname)
    return path


def load_cifar10(root="data/cifar-10-batches-py"):
    def read(name):
        with open(os.path.join(root, name), "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        return batch[b"data"].reshape(-1, 3, 32, 32), np.array(batch[b"labels"]).reshape(-1, 1)

    parts = [read(f"data_batch_{i}") for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = read("test_batch")
    return (x_train, y_train), (x_test, y_test)


def process(xs, ys, max_pixel=256.0):
    xs = xs / max_pixel
    xs = xs[np.where(ys == HORSE_CATEGORY)[0], :, :, :]
    npr.shuffle(xs)
    grey = np.mean(xs, axis=1, keepdims=True)
    return xs, grey


def get_rgb_cat(xs, colours):
    distances = np.linalg.norm(xs[:, None] - colours[None, :, :, None, None], axis=2)
    return np.argmin(distances, axis=1)[:, None]


def compute_loss(criterion, outputs, labels, num_colours):
    logits = outputs.transpose(1, 3).contiguous().view(-1, num_colours)
    return criterion(logits, labels.transpose(1, 3).contiguous().view(-1))


def run_validation_step(cnn, criterion, grey, rgb_cat, batch_size, num_colours):
    cnn.eval()
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for i in range(0, len(grey), batch_size):
            images = torch.from_numpy(grey[i:i + batch_size]).float()
            labels = torch.from_numpy(rgb_cat[i:i + batch_size]).long()
            outputs = cnn(images)
            losses.append(compute_loss(criterion, outputs, labels, num_colours).item())
            correct += (outputs.argmax(1, keepdim=True) == labels).sum().item()
            total += labels.numel()
    return float(np.mean(losses)), 100.0 * correct / total'''

TRAIN = '''def train(args, cnn=None):
    npr.seed(args.seed)
    colours = np.load(args.colours, allow_pickle=True, encoding="bytes")[0]
    num_colours = np.shape(colours)[0]
    if cnn is None:
        Net = globals()[args.model]
        cnn = Net(args.kernel, args.num_filters, num_colours, 1)
    optimizer = torch.optim.Adam(cnn.parameters(), lr=args.learn_rate)
    criterion = nn.CrossEntropyLoss()

    (x_train, y_train), (x_test, y_test) = load_cifar10()
    train_rgb, train_grey = process(x_train, y_train)
    train_cat = get_rgb_cat(train_rgb, colours)
    test_rgb, test_grey = process(x_test, y_test)
    test_cat = get_rgb_cat(test_rgb, colours)

    for epoch in range(args.epochs):
        cnn.train()
        for i in range(0, len(train_grey), args.batch_size):
            images = torch.from_numpy(train_grey[i:i + args.batch_size]).float()
            labels = torch.from_numpy(train_cat[i:i + args.batch_size]).long()
            optimizer.zero_grad()
            loss = compute_loss(criterion, cnn(images), labels, num_colours)
            loss.backward()
            optimizer.step()
        val_loss, val_acc = run_validation_step(cnn, criterion, test_grey, test_cat,
                                                args.batch_size, num_colours)
        print("Epoch [%d/%d], Loss: %.4f, Val Loss: %.4f, Val Acc: %.1f%%"
              % (epoch + 1, args.epochs, loss.item(), val_loss, val_acc))
    return cnn'''

DOWNLOADS = """!pip install -q tqdm
get_file(fname="cifar-10-batches-py",
         origin="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", untar=True)
get_file(fname="colours", origin="http://www.cs.toronto.edu/~jba/kmeans_colour_a2.tar.gz",
         untar=True)"""


def args_cell(model: str, lr: float = 0.001, experiment: str = "colourization") -> str:
    return textwrap.dedent(f'''\
        args = AttrDict()
        args_dict = {{
            "gpu": True,
            "valid": False,
            "checkpoint": "",
            "colours": "./data/colours/colour_kmeans24_cat7.npy",
            "model": "{model}",
            "kernel": 3,
            "num_filters": 32,
            "learn_rate": {lr},
            "batch_size": 100,
            "epochs": 25,
            "seed": 0,
            "plot": True,
            "experiment_name": "{experiment}",
            "visualize": False,
            "downsize_input": False,
        }}
        args.update(args_dict)
        cnn = train(args)''')


def module_source(names: list[str]) -> str:
    """Top-level statements of reference/models.py that define `names`, in file order."""
    source = Path(models.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    chunks = []
    for node in tree.body:
        defined: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined = [node.name]
        elif isinstance(node, ast.Assign):
            defined = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if any(name in names for name in defined):
            chunks.append(ast.get_source_segment(source, node))
    return "\n\n\n".join(chunks)


def class_source(cls: type, rename: str | None = None) -> str:
    text = inspect.getsource(cls)
    if rename:
        text = text.replace(f"class {cls.__name__}(", f"class {rename}(", 1)
    return text.rstrip()


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(text))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i + 1}"
    return nb


def reference_2023(models_in: list[str], title: str) -> nbformat.NotebookNode:
    strided = module_source(["STRIDE", "STRIDED_PADDING", "OUTPUT_PADDING", "_down", "_up"])
    cells = [("md", HEADER + f"\n\n{title}"), ("code", SETUP), ("code", HELPERS),
             ("code", DOWNLOADS), ("code", TRAIN)]
    sections = {"PoolUpsampleNet": "4", "ConvTransposeNet": "5", "UNet": "6"}
    for name in models_in:
        cells.append(("md", f"## Section {sections[name]}: {name}"))
        if name == "ConvTransposeNet":
            cells.append(("code", strided))
        cells.append(("code", class_source(getattr(models, name))))
        cells.append(("code", args_cell(name)))
    return notebook(cells)


FINETUNE = '''import scipy.io
from PIL import Image


class CUB(torch.utils.data.Dataset):
    """Oxford-17 flowers with trimaps, as binary flower/background masks."""

    def __init__(self, root, split, size=224):
        splits = scipy.io.loadmat(os.path.join(root, "datasplits.mat"))
        keys = ["trn1", "trn2", "trn3"] if split == "train" else ["val1"]
        ids = np.concatenate([splits[k].ravel() for k in keys])
        self.items = [i for i in ids
                      if os.path.exists(os.path.join(root, "trimaps", "image_%04d.png" % i))]
        self.root, self.size = root, size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        i = self.items[index]
        image = Image.open(os.path.join(self.root, "jpg", "image_%04d.jpg" % i)).convert("RGB")
        trimap = Image.open(os.path.join(self.root, "trimaps", "image_%04d.png" % i))
        image = np.asarray(image.resize((self.size, self.size)), dtype=np.float32) / 255
        image = (image - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
        trimap = np.asarray(trimap.convert("RGB").resize((self.size, self.size), Image.NEAREST))
        mask = np.all(trimap == [128, 0, 0], axis=-1)
        return (torch.from_numpy(image.transpose(2, 0, 1)).float(),
                torch.from_numpy(mask.astype(np.int64)))


def iou_pytorch(outputs, labels):
    preds = outputs.argmax(1).bool()
    labels = labels.bool()
    inter = (preds & labels).float().sum((1, 2))
    union = (preds | labels).float().sum((1, 2))
    iou = (inter + 1e-6) / (union + 1e-6)
    return (torch.clamp(20 * (iou - 0.5), 0, 10).ceil() / 10).mean()


def train(args, model):
    torch.manual_seed(args.seed)
    learned_parameters = []
    for name, param in model.named_parameters():
        if name.startswith("classifier.4"):
            learned_parameters.append(param)
    optimizer = torch.optim.Adam(learned_parameters, lr=args.learn_rate)
    train_loader = torch.utils.data.DataLoader(CUB(args.data, "train", args.image_size),
                                               batch_size=args.train_batch_size,
                                               shuffle=True, drop_last=True)
    val_loader = torch.utils.data.DataLoader(CUB(args.data, "val", args.image_size),
                                             batch_size=args.val_batch_size)
    best_iou = 0
    for epoch in range(args.epochs):
        model.train()
        for images, masks in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images)["out"], masks)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            ious = [iou_pytorch(model(images)["out"], masks) for images, masks in val_loader]
        val_iou = float(torch.stack(ious).mean())
        best_iou = max(best_iou, val_iou)
        print("Epoch [%d/%d], Loss: %.4f, mIOU: %.4f" % (epoch + 1, args.epochs,
                                                           loss.item(), val_iou))
    return model'''

FINETUNE_ARGS = '''args = AttrDict()
args.update({
    "data": "data/flowers",
    "learn_rate": 0.05,
    "train_batch_size": 128,
    "val_batch_size": 256,
    "image_size": 224,
    "epochs": 10,
    "seed": 0,
    "checkpoint_name": "finetune-segmentation",
})
model = torch.hub.load("pytorch/vision:v0.5.0", "deeplabv3_resnet101", pretrained=True)
model.requires_grad_(False)
model.classifier[4] = nn.Conv2d(256, 2, kernel_size=1)
train(args, model)'''


def reference_2020() -> nbformat.NotebookNode:
    cells = [("md", HEADER + "\n\nWinter 2020: Parts A, B and C."), ("code", SETUP),
             ("code", HELPERS), ("code", DOWNLOADS), ("code", TRAIN),
             ("md", "## Provided: MyConv2d"),
             ("code", "import math\n\n\n" + class_source(models.MyConv2d)),
             ("md", "## Part A: CNN"), ("code", class_source(models.CNN)),
             ("code", args_cell("CNN", lr=0.3, experiment="colourization_cnn")),
             ("md", "## Part B: UNet"), ("code", class_source(models.UNet2020, rename="UNet")),
             ("code", args_cell("UNet", experiment="colourization_unet")),
             ("md", "## Part C: fine-tuning DeepLabV3"),
             ("code", "!wget -q https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz"),
             ("code", FINETUNE), ("code", FINETUNE_ARGS)]
    return notebook(cells)


def reference_notebooks() -> dict[str, nbformat.NotebookNode]:
    """Rubric id -> the reference submission notebook."""
    return {
        "csc413-2023-a2": reference_2023(["PoolUpsampleNet", "ConvTransposeNet", "UNet"],
                                         "Winter 2023: sections 4, 5 and 6."),
        "csc413-f2024-a2": reference_2023(["PoolUpsampleNet", "ConvTransposeNet"],
                                          "Fall 2024: sections 4 and 5."),
        "csc413-2020-pa2": reference_2020(),
    }


def write(nb: nbformat.NotebookNode, path: Path) -> bool:
    """Write `nb` to `path` if it differs; True when the file changed."""
    text = nbformat.writes(nb) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def main() -> int:
    for rubric, nb in reference_notebooks().items():
        path = ROOT / "submissions" / "reference" / rubric / "reference.ipynb"
        print(("wrote " if write(nb, path) else "up to date ") + str(path.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
