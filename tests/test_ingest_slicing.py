"""Extracting the classes and functions under test from messy submissions."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import pytest
import torch

from grader.ingest import extract, load_submission, locate, student_traceback
from tests.ingest_factory import (
    BINDING_CELLS,
    messy_cells,
    notebook_bytes,
    two_module_folder,
    write_notebook,
    write_zip,
)

torch.set_num_threads(1)
TARGETS = ["PoolUpsampleNet", "UNet", "ConvTransposeNet", "train"]


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory):
    path = write_notebook(tmp_path_factory.mktemp("class") / "alice.ipynb", messy_cells())
    sub = load_submission(path)
    return sub, extract(sub, TARGETS)


def _run(program) -> dict:
    namespace: dict = {"__name__": "submission"}
    exec(program.compile(), namespace)
    return namespace


def test_program_compiles_and_holds_the_winning_definitions(messy) -> None:
    sub, program = messy
    compile(program.source, program.filename, "exec")
    assert program.defines["PoolUpsampleNet"] == 10          # not the first attempt in cell 8
    assert program.defines["train"] == 16                    # not the stub in cell 6
    assert program.defines["UNet"] == 13 and program.defines["forward"] == 14
    assert "first_attempt" not in program.source
    assert "The final training loop" in program.source
    assert program.source.count("class PoolUpsampleNet") == 1
    assert "YOUR CODE GOES HERE" in program.source           # the student's text, untouched
    assert program.source.startswith("from __future__ import print_function\n"
                                     "from __future__ import division\n")
    assert program.line_map[0] == (5, 1)


def test_no_heavy_or_unsafe_top_level_work(messy) -> None:
    _sub, program = messy
    source = program.source
    for forbidden in ("cnn = train(args)", "drive.mount", "get_ipython", "get_file(",
                      "plt.show", "plt.savefig", 'print("downloaded")', "ls -la", "args.update",
                      "for i in range", "HORSE_CATEGORY"):
        assert forbidden not in source, forbidden
    top_level_calls = [line for line in source.splitlines()
                       if re.match(r"^[A-Za-z_][\w.]*\(", line)]
    assert top_level_calls == []
    omitted = {(o["cell"], o["what"]) for o in program.omitted}
    assert (9, "cnn = train(args)") in omitted and (11, "cnn = train(args)") in omitted


def test_extracted_classes_instantiate_and_run(messy) -> None:
    _sub, program = messy
    ns = _run(program)
    x = torch.zeros(2, 1, 32, 32)
    pool = ns["PoolUpsampleNet"](3, 32, 24, 1)
    assert pool(x).shape == (2, 24, 32, 32)
    unet = ns["UNet"](3, 8, 10, 1)                         # forward was monkey-patched in
    assert unet(x).shape == (2, 10, 32, 32)                # cell 14 and uses helper `skip`
    assert callable(ns["train"]) and "ConvTransposeNet" not in ns


def test_problems_have_kind_cell_and_line(messy) -> None:
    _sub, program = messy
    by_cell = {p.cell: p for p in program.problems}
    unrelated = by_cell[15]
    assert unrelated.kind == "syntax" and unrelated.line == 3
    assert unrelated.traceback == ['cell 15, line 3: print("plotting"']
    target = by_cell[17]
    assert target.kind == "syntax" and target.line == 4
    assert target.message.startswith("ConvTransposeNet is defined in cell 17, which has a "
                                     "syntax error at line 4")
    assert len(program.problems) == 2


def test_missing_target_suggests_close_names(messy) -> None:
    sub, _program = messy
    program = extract(sub, ["PoolUpsampleNt", "Unet", "Discriminator"])
    problems = {p.message.split(" ")[0]: p for p in program.problems if p.kind == "missing"}
    assert problems["PoolUpsampleNt"].hint == ["PoolUpsampleNet"]
    assert problems["Unet"].hint[0] == "UNet"
    assert "did you mean UNet" in problems["Unet"].message
    assert problems["Discriminator"].hint == [] and problems["Discriminator"].cell is None
    assert problems["Discriminator"].message == ("Discriminator is not defined anywhere in "
                                                 "the submission")


def test_neutralised_items_are_located(messy) -> None:
    _sub, program = messy
    items = {(n["cell"], n["line"]): n["what"] for n in program.neutralised}
    assert items[(2, 2)] == "Google Colab: drive.mount('/content/drive')"
    assert items[(2, 4)] == "shell command: pip install -q torchsummary"
    assert items[(5, 2)].startswith("shell command: wget -q")
    assert items[(5, 3)].startswith("download: get_file(")
    assert items[(4, 17)].startswith("download: urllib.request.urlretrieve")
    assert items[(18, 1)] == "cell magic %%bash (cell not run)"
    assert items[(19, 4)] == "plotting: plt.show()"


def test_line_map_points_at_the_students_own_lines(messy) -> None:
    sub, program = messy
    lines = program.source.splitlines()
    assert len(program.line_map) == len(lines)
    for number, text in enumerate(lines, start=1):
        cell, line = locate(program, number)
        if cell is None:
            assert text == "" or text.startswith("# ---") or text.startswith("from __future__")
            continue
        student = sub.cell(cell).source.split("\n")[line - 1]
        if text.startswith("from __future__"):        # hoisted from cell 5, one per feature
            assert text.split()[-1] in student
            continue
        assert student.strip() == text.strip(), (number, cell, line)


def test_traceback_maps_back_to_the_students_cell(messy) -> None:
    sub, program = messy
    ns = _run(program)
    unet = ns["UNet"](3, 8, 10, 1)
    with pytest.raises(RuntimeError) as info:
        unet(torch.zeros(2, 3, 32, 32))                    # wrong number of input channels
    lines = student_traceback(program, info.value)
    assert lines[0] == "cell 14, line 6: x1 = self.conv1(x)"
    assert lines[-1].startswith("RuntimeError")
    assert not any("torch" in line.split(":")[0] for line in lines)
    text = "".join(traceback.format_exception(info.value))
    assert student_traceback(program, text)[0] == lines[0]
    frames = traceback.extract_tb(info.value.__traceback__)
    assert student_traceback(program, frames) == lines[:-1]


def test_binding_time_semantics(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "bind.ipynb", BINDING_CELLS)
    sub = load_submission(path)
    program = extract(sub, ["Net", "make_layer"])
    ns = _run(program)
    net = ns["Net"]()
    assert ns["Net"].tag == "v1"              # base class in force when Net was defined
    assert ns["Net"].width == 6               # class body ran with KERNEL = 3
    assert net.layer.kernel_size == (9, 9)    # default k=3 (def time) * SCALE=3 (last binding)
    assert "print(i)" not in program.source
    # the decorator ran when Net was defined, writing into the REGISTRY of that moment; the
    # notebook rebinds REGISTRY afterwards, and functions see that last binding
    assert ns["REGISTRY"] == {"new": 1}
    assert ns["register"].__globals__ is ns
    assert program.source.count("REGISTRY = ") == 2
    both = _run(extract(sub, ["Net", "Block"]))
    assert both["Block"].tag == "v2" and both["Net"].tag == "v1"


def test_two_module_folder_is_inlined_in_dependency_order(tmp_path: Path) -> None:
    sub = load_submission(two_module_folder(tmp_path / "carol"))
    program = extract(sub, ["UNet", "Net", "models"])
    assert program.problems == []
    ns = _run(program)
    out = ns["Net"](3, 8, 10, 1)(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 10, 32, 32)
    assert ns["models"].UNet is ns["UNet"]
    assert "print(UNet())" not in program.source           # the __main__ block is not run
    assert "fit(net" not in program.source
    assert program.defines["conv_block"] == next(c.index for c in sub.cells
                                                 if c.file == "layers.py")
    models_line = next(i for i, (c, _l) in enumerate(program.line_map, 1)
                       if c is not None and sub.cell(c).file == "models.py")
    assert program.where(*program.line_map[models_line - 1]).startswith("models.py, line ")


def test_writefile_module_and_zip_notebook(tmp_path: Path) -> None:
    cells = [
        ("code", "%%writefile mynets.py\nimport torch.nn as nn\n\n\nclass Tiny(nn.Module):\n"
                 "    def __init__(self):\n        super().__init__()\n"
                 "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
                 "        return self.fc(x)\n"),
        ("code", "from mynets import Tiny\nimport mynets\nmodel = Tiny()\nmodel(1)"),
    ]
    path = write_zip(tmp_path / "frank.zip", {"frank/a2.ipynb": notebook_bytes(cells)})
    program = extract(load_submission(path), ["Tiny"])
    ns = _run(program)
    assert ns["Tiny"]()(torch.zeros(1, 4)).shape == (1, 2)
    assert program.defines["Tiny"] == 1


def test_target_only_made_by_top_level_code(tmp_path: Path) -> None:
    cells = [("code", "import torch.nn as nn\n\n\ndef build():\n    return nn.Linear(1, 1)\n"),
             ("code", "Model = build()\nprint(Model)")]
    program = extract(load_submission(write_notebook(tmp_path / "g.ipynb", cells)), ["Model"])
    (problem,) = program.problems
    assert problem.kind == "missing" and (problem.cell, problem.line) == (2, 1)
    assert "top-level code the grader does not run" in problem.message


def test_redefinition_in_a_broken_later_cell_keeps_the_earlier_one(tmp_path: Path) -> None:
    cells = [("code", "class Net:\n    version = 1"),
             ("code", "class Net:\n    version = (2\n")]
    program = extract(load_submission(write_notebook(tmp_path / "h.ipynb", cells)), ["Net"])
    assert _run(program)["Net"].version == 1
    (problem,) = program.problems
    assert problem.kind == "syntax" and problem.cell == 2
    assert "the earlier definition in cell 1 was used" in problem.message


def test_config_objects_and_mutations_needed_by_a_function(tmp_path: Path) -> None:
    cells = [
        ("code", "class AttrDict(dict):\n    def __getattr__(self, k):\n        return self[k]"),
        ("code", "args = AttrDict()\nargs.update({'batch_size': 100, 'gpu': True})\n"
                 "args['seed'] = 0\nSIZE = args.batch_size * 2\nresult = heavy(args)"),
        ("code", "def batches():\n    return SIZE + args.seed + len(args)"),
    ]
    program = extract(load_submission(write_notebook(tmp_path / "i.ipynb", cells)),
                      ["batches"])
    assert "heavy(" not in program.source
    assert _run(program)["batches"]() == 203


def test_only_needed_imports_and_statements_sharing_a_line(tmp_path: Path) -> None:
    cells = [
        ("code", "import torch, torchsummary_not_installed as ts\n"
                 "from torch.nn import Linear, NotARealLayer\nfrom math import *"),
        ("code", "import torch.nn as nn; net = nn.Linear(2, 2); net(torch.ones(2))"),
        ("code", "def layer():\n    return Linear(2, floor(2.5))\n\n\n"
                 "def make():\n    return nn.Sequential(layer())"),
        ("code", "bad = 'null\x00byte'"),
    ]
    program = extract(load_submission(write_notebook(tmp_path / "j.ipynb", cells)), ["make"],
                      extra_names=["torch", "not_defined_anywhere"])
    assert "import torch\n" in program.source and "torchsummary" not in program.source
    assert "from torch.nn import Linear\n" in program.source
    assert "from math import *" in program.source
    assert "import torch.nn as nn\n" in program.source and "net(" not in program.source
    assert locate(program, program.source.splitlines().index("import torch") + 1) == (1, 1)
    assert _run(program)["make"]()[0].out_features == 2
    (problem,) = program.problems
    assert problem.kind == "syntax" and problem.cell == 4


def test_mixed_and_relative_local_imports(tmp_path: Path) -> None:
    root = two_module_folder(tmp_path / "kim")
    (root / "main.py").write_text(
        "import math, models\nfrom . import layers\n\n\ndef build():\n"
        "    return models.UNet(3, 4, 5, 1), layers.conv_block(1, 2, 3), math.pi\n",
        encoding="utf-8")
    program = extract(load_submission(root), ["build"])
    assert program.problems == []
    unet, block, pi = _run(program)["build"]()
    assert type(unet).__name__ == "UNet" and len(block) == 3 and pi > 3
