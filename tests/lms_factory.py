"""Download folders as each LMS writes them, built from the vendors' documented formats (no
real student data): Canvas's renamed flat files, Gradescope's export with its Ruby-style
`submission_metadata.yml`, MarkUs's group folders with its submissions summary."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.pipeline_factory import edited, reference_notebook

RUBRIC = "csc413-2023-a2"


def notebook(dest: Path, broken: bool = False) -> Path:
    """The reference notebook, or one with a wrong pooling layer."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if broken:
        return edited(RUBRIC, dest, "PoolUpsampleNet", "nn.MaxPool2d(2)", "nn.AvgPool2d(2)")
    dest.write_bytes(reference_notebook(RUBRIC).read_bytes())
    return dest


def canvas_download(root: Path) -> Path:
    """Three students: 12345 uploaded a2_code.ipynb twice (the second became a2_code-1.ipynb);
    23456 was late and handed in a notebook and a write-up; 34567 only typed a text entry."""
    root.mkdir(parents=True, exist_ok=True)
    notebook(root / "smithjohn_12345_678901_a2_code.ipynb", broken=True)
    notebook(root / "smithjohn_12345_678950_a2_code-1.ipynb")
    notebook(root / "doejane_LATE_23456_678902_a2_code.ipynb")
    (root / "doejane_LATE_23456_678903_writeup.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (root / "roejim_34567_text.html").write_text("<p>see attached</p>", encoding="utf-8")
    return root


GRADESCOPE_METADATA = """\
submission_5001:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1001234567'
    :email: ada@example.edu
  :created_at: 2023-03-10 22:30:00.123456000 Z
  :score: 0.0
  :status: processed
  :history:
  - :submitters: []
    :created_at: 2023-03-09 18:00:00.000000000 Z
    :score: 0.0
    :status: processed
submission_5002:
  :submitters:
  - :name: Alan Turing
    :sid: ''
    :email: aturing@example.edu
  - :name: Grace Hopper
    :sid: '1007654321'
    :email: ghopper@example.edu
  :created_at: 2023-03-11 03:15:00.000000000 Z
  :score: 0.0
  :status: processed
  :history: []
"""


def gradescope_export(root: Path) -> Path:
    """`assignment_77_export/` with an individual and a group submission."""
    export = root / "assignment_77_export"
    export.mkdir(parents=True, exist_ok=True)
    (export / "submission_metadata.yml").write_text(GRADESCOPE_METADATA, encoding="utf-8")
    notebook(export / "submission_5001" / "a2_code.ipynb")
    notebook(export / "submission_5002" / "a2_code.ipynb", broken=True)
    return root


MARKUS_SUMMARY = """\
Group,Section,Submission Date,Grace Credits Used,Marking State,Total Mark,Tags
lovelac1,LEC0101,"Friday, March 10, 2023, 04:59:01 PM EST",0,in_progress,,
turinga2,LEC0101,"Saturday, March 11, 2023, 09:30:00 AM EST",1,in_progress,,
"""


def markus_download(root: Path) -> Path:
    """Group folders named by user name, and MarkUs's submissions summary beside them."""
    root.mkdir(parents=True, exist_ok=True)
    notebook(root / "lovelac1" / "a2_code.ipynb")
    notebook(root / "turinga2" / "a2_code.ipynb")
    (root / "A2_submissions.csv").write_text(MARKUS_SUMMARY, encoding="utf-8")
    return root


def zipped(folder: Path, dest: Path) -> Path:
    """The folder as the LMS's download zip (paths relative to the folder)."""
    with zipfile.ZipFile(dest, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return dest
