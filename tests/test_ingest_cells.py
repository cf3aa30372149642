"""Cleaning one cell: IPython syntax to plain Python, unsafe calls neutralised, lines kept."""

from __future__ import annotations

import ast

import pytest

from grader.ingest.cells import CleanContext, clean_code, ipython_transform
from tests.ingest_factory import COLAB, HELPERS, TRAIN_V2


def _whats(cell) -> list[tuple[int, str]]:
    return [(r["line"], r["what"]) for r in cell.neutralised]


def test_colab_boilerplate_is_neutralised_line_by_line() -> None:
    cell = clean_code(2, COLAB)
    assert cell.error is None
    assert len(cell.source.split("\n")) == len(COLAB.split("\n"))
    whats = _whats(cell)
    assert whats[0] == (1, "Google Colab import: from google.colab import drive")
    assert whats[1] == (2, "Google Colab: drive.mount('/content/drive')")
    assert whats[2] == (3, "magic %cd /content/drive/MyDrive/CSC413/a2")
    assert whats[3] == (4, "shell command: pip install -q torchsummary")
    assert whats[4] == (5, "magic %matplotlib inline")
    assert "get_ipython" not in cell.source and "drive" not in cell.source
    exec(compile(cell.source, "<cell>", "exec"), {})   # nothing left that does anything


def test_percent_continuation_lines_survive() -> None:
    # a naive "drop lines starting with %" stripper breaks both of these
    for text in (HELPERS, TRAIN_V2):
        cell = clean_code(4, text)
        assert cell.error is None
        assert cell.source.count("%") >= text.count("%") - 1
    cell = clean_code(16, TRAIN_V2)
    line = next(i for i, t in enumerate(cell.source.split("\n"), 1) if t.strip().startswith("%"))
    assert cell.source.split("\n")[line - 1] == TRAIN_V2.split("\n")[line - 1]


def test_line_and_cell_magics_with_statements_are_unwrapped() -> None:
    cell = clean_code(11, "x = 1\n%time y = x + 1\n%timeit -n1 -r1 z = y * 2\nw = 3")
    assert cell.error is None
    lines = cell.source.split("\n")
    assert lines[1].strip() == "y = x + 1" and lines[2].strip() == "z = y * 2"
    namespace: dict = {}
    exec(compile(cell.source, "<cell>", "exec"), namespace)
    assert namespace["z"] == 4
    timed = clean_code(11, "%%time\nargs = {'epochs': 25}\ncnn = len(args)")
    assert timed.error is None and timed.magic == "time"
    assert timed.source.split("\n")[2] == "cnn = len(args)"       # line 3 is still line 3
    assert _whats(timed) == [(1, "cell magic %%time (body run as plain code)")]
    captured = clean_code(3, "%%capture out\nimport os")
    assert "`out` is not set" in captured.neutralised[0]["what"]


@pytest.mark.parametrize("magic", ["bash", "sh", "script bash", "html", "javascript"])
def test_non_python_cell_magics_do_not_run(magic: str) -> None:
    cell = clean_code(7, f"%%{magic}\nrm -rf data\necho done")
    assert cell.error is None and cell.source.strip() == ""
    assert cell.neutralised[0]["what"].startswith(f"cell magic %%{magic.split()[0]}")
    assert cell.neutralised[0]["line"] == 1


def test_writefile_is_recorded_and_importable_as_module() -> None:
    text = "%%writefile models.py\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n"
    cell = clean_code(6, text)
    assert cell.written is not None and cell.written.name == "models.py"
    assert cell.body is not None and cell.body.module == "models"
    assert cell.body.error is None
    assert cell.body.student_line(5) == 5                        # lines of the cell, not file
    assert "importable as module models" in cell.neutralised[0]["what"]
    # notebook execution writes the file (basename only) into the working folder
    assert "open('models.py', 'w'" in cell.source
    escape = clean_code(6, "%%writefile ../../etc/x.py\nx = 1\n")
    assert "open('x.py', 'w'" in escape.source


def test_downloads_plots_and_directory_changes_are_neutralised_everywhere() -> None:
    text = '''import os
import urllib.request
import torchvision
import matplotlib.pyplot as plt


def load(url):
    path, _ = "data.tgz", None
    urllib.request.urlretrieve(url,
                               path)
    plt.savefig("out.png")
    return path


os.chdir("/content/drive")
ds = torchvision.datasets.CIFAR10("data", train=True, download=True)
r = requests.get("http://example.com").json()
plt.show()
'''
    cell = clean_code(4, text)
    assert cell.error is None
    whats = dict(_whats(cell))
    assert whats[9].startswith("download: urllib.request.urlretrieve(url,")
    assert whats[11] == 'plotting: plt.savefig("out.png")'
    assert whats[15] == 'directory change: os.chdir("/content/drive")'
    assert whats[16].startswith("dataset download turned off")
    assert whats[17].startswith("download: requests.get")
    assert whats[18] == "plotting: plt.show()"
    assert "download=False" in cell.source
    assert len(cell.source.split("\n")) == len(text.split("\n"))
    ast.parse(cell.source)
    assert "urlretrieve" not in cell.source and "chdir" not in cell.source


def test_pretrained_model_loads_are_recorded_but_kept_for_the_prelude() -> None:
    text = ("model = torch.hub.load('pytorch/vision:v0.5.0', 'deeplabv3_resnet101', "
            "pretrained=True)")
    cell = clean_code(6, text)
    assert "torch.hub.load" in cell.source
    assert "random weights" in cell.neutralised[0]["what"]


def test_colab_names_carry_over_between_cells() -> None:
    ctx = CleanContext()
    clean_code(1, "from google.colab import files", ctx)
    later = clean_code(2, "uploaded = files.upload()\nx = 1", ctx)
    assert later.neutralised[0]["what"] == "Google Colab: files.upload()"
    assert later.source.split("\n")[0] == "uploaded = None"


def test_future_imports_are_lifted_out_of_the_cell() -> None:
    cell = clean_code(5, "from __future__ import print_function, division\nimport torch\nx = 1")
    assert cell.error is None
    assert cell.futures == [("print_function", 1), ("division", 1)]
    assert "__future__" not in cell.source
    late = clean_code(5, "import torch\nfrom __future__ import annotations\nx = 1")
    assert late.error is None and late.futures == [("annotations", 2)]
    bogus = clean_code(5, "from __future__ import braces")
    assert bogus.error is not None and "braces" in bogus.error.message


def test_syntax_errors_point_at_the_students_line() -> None:
    text = "!pip install foo \\\n    bar\nimport torch\n\nx = (1,\ny = 2\n"
    cell = clean_code(15, text)
    assert cell.tree is None and cell.error is not None
    assert cell.error.line == 5
    assert "never closed" in cell.error.message
    outside = clean_code(3, "x = 1\nreturn x")
    assert outside.error is not None and outside.error.line == 2
    assert "outside function" in outside.error.message
    awaited = clean_code(3, "import asyncio\nawait asyncio.sleep(0)")   # IPython allows this
    assert awaited.error is None


def test_ipython_transform_keeps_line_alignment() -> None:
    text = "\n\n!ls -l \\\n   data\nx = 1\n  %cd /tmp\ny = 'a %s' % (\n    x)\n"
    source, lines = ipython_transform(text)
    assert len(source.split("\n")) == len(lines)
    out = source.split("\n")
    assert lines[out.index("x = 1")] == 5
    assert lines[next(i for i, t in enumerate(out) if t.startswith("y = "))] == 7


def test_non_ascii_source_edits_use_character_columns() -> None:
    text = "é = 'données'; drive.mount('/content/drive'); ü = 'ok'"
    cell = clean_code(2, text)
    assert cell.error is None
    namespace: dict = {}
    exec(compile(cell.source, "<cell>", "exec"), namespace)
    assert namespace["ü"] == "ok" and namespace["é"] == "données"
