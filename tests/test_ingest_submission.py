"""Reading submissions: notebooks of any v4 minor, .py, folders, zips (safely), discovery."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.ingest import IngestError, IngestLimits, discover, load_submission
from tests.ingest_factory import (
    BINDING_CELLS,
    messy_cells,
    notebook_bytes,
    two_module_folder,
    write_notebook,
    write_v4_0,
    write_zip,
)


def test_messy_notebook_cells_are_numbered_like_the_notebook(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "alice.ipynb", messy_cells())
    sub = load_submission(path)
    assert sub.student == "alice" and sub.kind == "notebook"
    assert len(sub.cells) == len(messy_cells())
    assert [c.index for c in sub.cells] == list(range(1, len(sub.cells) + 1))
    assert sub.cell(1).kind == "markdown" and sub.cell(2).kind == "code"
    assert sub.cell(5).source.startswith("from __future__ import")
    assert sub.cell(10).cell_id == "c009-x"
    assert sub.label(13) == "cell 13" and sub.where(13, 4) == "cell 13, line 4"
    assert list(sub.files) == ["alice.ipynb"]


def test_nbformat_4_0_and_4_5_give_the_same_cells(tmp_path: Path) -> None:
    old = load_submission(write_v4_0(tmp_path / "old.ipynb", BINDING_CELLS))
    new = load_submission(write_notebook(tmp_path / "new.ipynb", BINDING_CELLS, minor=5))
    assert [(c.kind, c.source) for c in old.cells] == [(c.kind, c.source) for c in new.cells]
    assert all(c.cell_id is None for c in old.cells)
    assert all(c.cell_id for c in new.cells)


def test_nbformat_3_notebook_is_upgraded(tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
        nbformat.v3.new_text_cell("markdown", source="# old"),
        nbformat.v3.new_code_cell(input="import torch\nx = 1")])])
    path = tmp_path / "v3.ipynb"
    path.write_text(nbformat.v3.writes_json(v3), encoding="utf-8")
    sub = load_submission(path)
    assert [(c.kind, c.source) for c in sub.cells] == [("markdown", "# old"),
                                                      ("code", "import torch\nx = 1")]


@pytest.mark.parametrize("content, needle", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b'{"cells": [', "not valid notebook JSON"),
    (b'{"hello": "world"}', "not a Jupyter notebook"),
    (b'[1, 2, 3]', "not a Jupyter notebook"),
    (b'{"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": []}', "no cells"),
    (b'{"nbformat": 2, "cells": []}', "unsupported notebook format"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_unreadable_notebooks_are_corrupt(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bob.ipynb"
    path.write_bytes(content)
    with pytest.raises(IngestError) as info:
        load_submission(path)
    assert info.value.problem.kind == "corrupt"
    assert needle in info.value.problem.message
    assert "bob.ipynb" in info.value.problem.message


def test_student_pattern_from_quercus_names(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "smithj_12345_6789_a2-code.ipynb", BINDING_CELLS)
    pattern = r"^(?P<student>[a-z]+)_\d+_\d+_"
    assert load_submission(path, student_pattern=pattern).student == "smithj"
    assert load_submission(path, "override", student_pattern=pattern).student == "override"
    other = write_notebook(tmp_path / "a2-code.ipynb", BINDING_CELLS)
    sub = load_submission(other, student_pattern=pattern)
    assert sub.student == "a2-code" and "student_pattern" in sub.notes[0]


def test_sha256_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    a = write_notebook(tmp_path / "a" / "x.ipynb", BINDING_CELLS)
    b = write_notebook(tmp_path / "b" / "x.ipynb", BINDING_CELLS)
    assert load_submission(a).sha256 == load_submission(b).sha256 == load_submission(a).sha256
    changed = BINDING_CELLS[:-1] + [("code", "KERNEL = 7")]
    c = write_notebook(tmp_path / "c" / "x.ipynb", changed)
    assert load_submission(c).sha256 != load_submission(a).sha256
    folder = two_module_folder(tmp_path / "mods")
    first = load_submission(folder).sha256
    (folder / "layers.py").write_text("# edited\n", encoding="utf-8")
    assert load_submission(folder).sha256 != first


def test_folder_reads_code_only_and_orders_modules_by_imports(tmp_path: Path) -> None:
    sub = load_submission(two_module_folder(tmp_path / "carol"))
    assert sub.kind == "folder" and sub.student == "carol"
    names = [c.file for c in sub.cells]
    assert set(names) == {"layers.py", "models.py", "main.py", "train_utils.py"}
    assert names.index("layers.py") < names.index("models.py") < names.index("main.py")
    assert names.index("train_utils.py") < names.index("main.py")
    assert sorted(sub.files) == sorted(names)
    ignored = " ".join(sub.ignored)
    assert "__pycache__" in ignored and ".ipynb_checkpoints" in ignored
    assert "colours.npy" in ignored
    models = next(c for c in sub.cells if c.file == "models.py")
    assert sub.label(models.index) == "models.py"
    assert sub.problem("syntax", "x", models.index, 3).file == "models.py"


def test_zip_with_single_top_folder_is_unwrapped(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "dave.zip", {
        "dave_a2/a2-code.ipynb": notebook_bytes(BINDING_CELLS),
        "dave_a2/helpers.py": b"def helper():\n    return 1\n",
        "dave_a2/data/cifar.npy": b"\x93NUMPY",
        "__MACOSX/dave_a2/._a2-code.ipynb": b"junk",
    })
    sub = load_submission(path)
    assert sub.kind == "zip" and sub.student == "dave"
    assert sorted(sub.files) == ["a2-code.ipynb", "helpers.py"]
    assert any("cifar.npy" in entry for entry in sub.ignored)
    assert sub.cells[0].file == "helpers.py"          # modules before notebooks
    assert sub.label(sub.cells[1].index) == "a2-code.ipynb cell 1"


@pytest.mark.parametrize("member", ["../evil.py", "/etc/cron.d/evil.py", "ok/../../evil.py",
                                    "C:/Windows/evil.py", "..\\evil.py"])
def test_zip_path_escapes_are_refused(tmp_path: Path, member: str) -> None:
    path = write_zip(tmp_path / "eve.zip", {"a2.ipynb": notebook_bytes(BINDING_CELLS),
                                           member: b"print('pwned')\n"})
    with pytest.raises(IngestError) as info:
        load_submission(path)
    assert info.value.problem.kind == "corrupt"
    assert "unsafe entry" in info.value.problem.message
    assert not (tmp_path.parent / "evil.py").exists()


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "eve.zip", {"a2.ipynb": notebook_bytes(BINDING_CELLS)},
                     symlinks=("link.py",))
    with pytest.raises(IngestError, match="symbolic link"):
        load_submission(path)


def test_zip_bomb_is_refused_by_ratio_before_reading_it_all(tmp_path: Path) -> None:
    bomb = b"#" + b" " * 30_000_000 + b"\n"       # 30 MB of spaces: deflates ~1000x
    path = write_zip(tmp_path / "mallory.zip", {"a2.ipynb": notebook_bytes(BINDING_CELLS),
                                               "models.py": bomb})
    assert path.stat().st_size < 200_000
    with pytest.raises(IngestError) as info:
        load_submission(path)
    assert info.value.problem.kind == "limit"
    assert "zip bomb" in info.value.problem.message


def test_zip_lying_about_sizes_is_capped(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "liar.zip", {"models.py": b"x = 1\n" * 400_000})
    limits = IngestLimits(max_file_bytes=1_000_000, max_ratio=10_000)
    with pytest.raises(IngestError) as info:
        load_submission(path, limits=limits)
    assert info.value.problem.kind == "limit"


def test_zip_member_and_file_count_limits(tmp_path: Path) -> None:
    members = {f"m{i}.py": b"x = 1\n" for i in range(30)}
    path = write_zip(tmp_path / "many.zip", members)
    with pytest.raises(IngestError, match="entries"):
        load_submission(path, limits=IngestLimits(max_members=10))
    with pytest.raises(IngestError, match="code files"):
        load_submission(path, limits=IngestLimits(max_files=10))


def test_corrupt_and_empty_zips(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(IngestError) as info:
        load_submission(bad)
    assert info.value.problem.kind == "corrupt"
    only_data = write_zip(tmp_path / "data.zip", {"cifar.npy": b"123", "writeup.pdf": b"%PDF"})
    with pytest.raises(IngestError, match="no notebook"):
        load_submission(only_data)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    with pytest.raises(IngestError):
        load_submission(tmp_path / "empty.zip")


def test_discover_class_folder(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    write_notebook(klass / "alice.ipynb", BINDING_CELLS)
    (klass / "bob.py").write_text("x = 1\n", encoding="utf-8")
    write_zip(klass / "carol.zip", {"a2.ipynb": notebook_bytes(BINDING_CELLS)})
    two_module_folder(klass / "dave")
    (klass / ".ipynb_checkpoints").mkdir()
    (klass / ".DS_Store").write_bytes(b"\0")
    (klass / "grades.csv").write_text("a,b\n", encoding="utf-8")
    single = write_notebook(tmp_path / "erin.ipynb", BINDING_CELLS)
    found = discover([klass, single])
    assert [p.name for p in found] == ["alice.ipynb", "bob.py", "carol.zip", "dave",
                                       "erin.ipynb"]
    skipped = {p.name for p, _reason in found.ignored}
    assert skipped == {".ipynb_checkpoints", ".DS_Store", "grades.csv"}
    students = [load_submission(p).student for p in found]
    assert students == ["alice", "bob", "carol", "dave", "erin"]
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "nope"])


def test_notebook_json_with_list_sources_and_odd_cells(tmp_path: Path) -> None:
    doc = {"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["import torch\n", "x = 1"], "outputs": [],
         "metadata": {}, "execution_count": 3},
        {"cell_type": "heading", "source": "old heading", "metadata": {}},
        {"cell_type": "code", "source": "y = 2\r\nz = 3", "metadata": {}}]}
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps(doc), encoding="utf-8")
    sub = load_submission(path)
    assert [(c.kind, c.source) for c in sub.cells] == [
        ("code", "import torch\nx = 1"), ("raw", "old heading"), ("code", "y = 2\nz = 3")]
