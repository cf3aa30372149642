"""A student's submission (.ipynb, .py, folder or .zip) read into cells, without running anything.

Every file becomes cells: a notebook's cells in order, a `.py` module as one cell. Cells are
numbered 1.. across the whole submission, so a single notebook's cell numbers are the ones the
student sees when counting cells from the top.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import nbformat

from grader.ingest.archive import (
    IngestLimits,
    corrupt_error,
    limit_error,
    read_folder,
    read_zip,
    skip_reason,
)
from grader.ingest.problems import IngestError, Problem

SUBMISSION_SUFFIXES = (".ipynb", ".py", ".zip")


@dataclass
class Cell:
    """One notebook cell, or one whole `.py` module (kind "code", `number` 1)."""

    index: int                  # 1-based across the submission
    kind: str                   # "code" | "markdown" | "raw"
    source: str
    cell_id: str | None = None
    file: str | None = None     # relative path of the file the cell comes from
    number: int = 1             # 1-based position inside its own file

    @property
    def is_module(self) -> bool:
        return bool(self.file and self.file.endswith(".py"))


@dataclass
class Submission:
    student: str
    path: Path
    kind: str                   # "notebook" | "python" | "folder" | "zip"
    cells: list[Cell]
    files: dict[str, bytes]
    sha256: str
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # entries of a zip/folder not read
    notes: list[str] = field(default_factory=list)     # e.g. the id pattern did not match

    def cell(self, index: int) -> Cell:
        return self.cells[index - 1]

    @property
    def code_files(self) -> list[str]:
        return sorted({c.file for c in self.cells if c.file})

    def label(self, index: int | None) -> str:
        """How a report names cell `index`: "cell 12", "models.py" or "a2.ipynb cell 3"."""
        if index is None or not 1 <= index <= len(self.cells):
            return "generated code"
        cell = self.cells[index - 1]
        if cell.is_module:
            return str(cell.file)
        if len(self.code_files) > 1:
            return f"{cell.file} cell {cell.number}"
        return f"cell {cell.number}"

    def where(self, index: int | None, line: int | None) -> str:
        text = self.label(index)
        return f"{text}, line {line}" if line is not None and index is not None else text

    def problem(self, kind: str, message: str, index: int | None = None,
                line: int | None = None, traceback: list[str] | None = None,
                hint: list[str] | None = None) -> Problem:
        """A Problem located at cell `index`, naming the file when that helps."""
        file = None
        if index is not None and 1 <= index <= len(self.cells):
            cell = self.cells[index - 1]
            if cell.is_module or len(self.code_files) > 1:
                file = cell.file
        return Problem(kind, message, cell=index, line=line, traceback=list(traceback or []),
                       file=file, hint=list(hint or []))


def files_digest(files: dict[str, bytes]) -> str:
    """sha256 over (name, size, bytes) of the files read, in sorted name order (recorded in the
    result as what was graded; the cache key is `payload_hash`, known before reading)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()


def zip_members(members: list[tuple[str, Path]]) -> bytes:
    """A deterministic zip (names and contents only, no timestamps) of (archive name, file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in members:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _zip_folder(folder: Path) -> bytes:
    return zip_members([(p.relative_to(folder).as_posix(), p) for p in sorted(folder.rglob("*"))
                        if p.is_file() and not p.is_symlink()])


def read_payload(path: Path) -> tuple[bytes, bool]:
    """The bytes that identify a submission as handed in: the file, or a deterministic zip of
    the folder (names and contents only, no timestamps); and whether it was a folder."""
    path = Path(path)
    if path.is_dir():
        return _zip_folder(path), True
    return path.read_bytes(), False


def payload_hash(payload: bytes) -> str:
    """The submission's part of a result key: sha256 of its payload (`read_payload`)."""
    return hashlib.sha256(payload).hexdigest()


def student_id(path: Path, pattern: str | None = None) -> str:
    """The student id: the regex group `student` on the file name, else the file/folder stem."""
    name = path.name
    if pattern:
        match = re.search(pattern, name)
        if match and match.groupdict().get("student"):
            return match.group("student")
    stem = name[: -len(path.suffix)] if path.suffix and path.is_file() else name
    return stem or name


def load_submission(path: str | Path, student: str | None = None, *,
                    limits: IngestLimits | None = None,
                    student_pattern: str | None = None) -> Submission:
    """Read one submission; raises IngestError(problem) when it cannot be read at all."""
    limits = limits or IngestLimits()
    path = Path(path)
    if not path.exists():
        raise IngestError(Problem("corrupt", f"{path}: no such file or folder"))
    ignored: list[str] = []
    if path.is_dir():
        kind = "folder"
        files, ignored = read_folder(path, limits)
    else:
        suffix = path.suffix.lower()
        size = path.stat().st_size
        if suffix == ".zip":
            kind = "zip"
            files, ignored = read_zip(path, limits)
        elif suffix in (".ipynb", ".py"):
            if size > limits.max_file_bytes:
                raise limit_error(f"{path.name} is {size} bytes (limit {limits.max_file_bytes})")
            kind = "notebook" if suffix == ".ipynb" else "python"
            files = {path.name: path.read_bytes()}
        else:
            raise corrupt_error(f"{path.name}: not a notebook, Python file, zip or folder")
    if not files:
        raise corrupt_error(f"{path.name}: holds no notebook (.ipynb) or Python (.py) file")
    notes: list[str] = []
    who = student
    if who is None:
        who = student_id(path, student_pattern)
        if student_pattern and not re.search(student_pattern, path.name):
            notes.append(f"file name {path.name!r} does not match the rubric's student_pattern; "
                         f"using {who!r} as the student id")
    cells: list[Cell] = []
    for name in sorted(files):
        if name.endswith(".py") and html_wrapped(files[name].decode("utf-8", "replace")):
            notes.append(f"{name} is an HTML page (the code saved from a browser); the Python "
                         "inside its <pre> block was graded")
    for name in order_files(files):
        for number, (kind_, source, cell_id) in enumerate(
                file_cells(name, files[name], limits), start=1):
            cells.append(Cell(index=len(cells) + 1, kind=kind_, source=source, cell_id=cell_id,
                              file=name, number=number))
    return Submission(student=who, path=path, kind=kind, cells=cells, files=files,
                      sha256=files_digest(files), ignored=ignored, notes=notes)


def file_cells(name: str, data: bytes, limits: IngestLimits) -> list[tuple[str, str, str | None]]:
    """(kind, source, cell id) for each cell of one file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise corrupt_error(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if name.endswith(".py"):
        return [("code", python_text(text).replace("\r\n", "\n"), None)]
    cells = notebook_cells(name, text)
    if len(cells) > limits.max_cells:
        raise limit_error(f"{name}: {len(cells)} cells (limit {limits.max_cells})")
    return cells


class _PreText(HTMLParser):
    """The text inside the <pre> blocks of an HTML page, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.depth += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.depth:
            self.depth -= 1
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def html_wrapped(text: str) -> bool:
    """A `.py` that is really a web page (code saved from a browser's view of the file)."""
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html")) and "<pre" in text.lower()


def python_text(text: str) -> str:
    """The Python in a `.py` file: as it is, or the code inside an HTML page's <pre> block."""
    if not html_wrapped(text):
        return text
    parser = _PreText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts).strip("\n") + "\n"


def _source(value: object) -> str:
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)


def notebook_cells(name: str, text: str) -> list[tuple[str, str, str | None]]:
    """Cells of a notebook of any v4 minor (or v3, upgraded); tolerant of missing fields."""
    if not text.strip():
        raise corrupt_error(f"{name}: the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise corrupt_error(f"{name}: not valid notebook JSON (line {exc.lineno}, column "
                            f"{exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise corrupt_error(f"{name}: not a Jupyter notebook (no 'nbformat' field)")
    major = data.get("nbformat")
    if major == 3:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                node = nbformat.reads(text, as_version=4)
        except Exception as exc:  # nbformat raises many kinds on malformed v3 files
            raise corrupt_error(f"{name}: cannot upgrade this nbformat 3 notebook ({exc})"
                                ) from None
        raw_cells = [dict(c) for c in node.get("cells", [])]
    elif major == 4:
        raw_cells = data.get("cells")
        if not isinstance(raw_cells, list):
            raise corrupt_error(f"{name}: notebook has no 'cells' list")
    else:
        raise corrupt_error(f"{name}: unsupported notebook format nbformat={major!r}")
    if not raw_cells:
        raise corrupt_error(f"{name}: the notebook has no cells")
    out: list[tuple[str, str, str | None]] = []
    for raw in raw_cells:
        if not isinstance(raw, dict):
            raise corrupt_error(f"{name}: a cell is not a JSON object")
        kind = raw.get("cell_type", "code")
        if kind not in ("code", "markdown", "raw"):
            kind = "raw"
        cell_id = raw.get("id")
        out.append((kind, _source(raw.get("source")).replace("\r\n", "\n"),
                    str(cell_id) if cell_id is not None else None))
    return out


_IMPORT = re.compile(r"^\s*(?:from\s+(\.*[\w.]*)\s+import|import\s+([\w., ]+))", re.M)


def module_name(name: str) -> str:
    """'pkg/models.py' -> 'pkg.models'."""
    return ".".join(PurePosixPath(name).with_suffix("").parts)


def order_files(files: dict[str, bytes]) -> list[str]:
    """Files in an order where local modules come before the files that import them."""
    names = sorted(files)
    by_module: dict[str, str] = {}
    for name in names:
        if name.endswith(".py"):
            dotted = module_name(name)
            by_module[dotted] = name
            by_module.setdefault(dotted.rsplit(".", 1)[-1], name)
    deps: dict[str, set[str]] = {}
    for name in names:
        text = files[name].decode("utf-8", "replace")
        found: set[str] = set()
        for match in _IMPORT.finditer(text):
            modules = [match[1]] if match[1] is not None else match[2].split(",")
            for module in modules:
                module = module.strip().split(" ")[0].lstrip(".")
                for candidate in (module, module.rsplit(".", 1)[-1]):
                    if candidate in by_module and by_module[candidate] != name:
                        found.add(by_module[candidate])
        deps[name] = found
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2 or state.get(name) == 1:  # done, or an import cycle
            return
        state[name] = 1
        for dep in sorted(deps[name]):
            visit(dep)
        state[name] = 2
        ordered.append(name)

    # modules first (alphabetical), then notebooks, each after what it imports
    for name in sorted(names, key=lambda n: (n.endswith(".ipynb"), n)):
        visit(name)
    return ordered


class Discovered(list):  # list[Path] that also says what it skipped
    """The submissions found by `discover`, plus `ignored`: (path, reason) pairs."""

    def __init__(self, items: list[Path], ignored: list[tuple[Path, str]]) -> None:
        super().__init__(items)
        self.ignored = ignored


def discover(paths: list[str | Path] | tuple[str | Path, ...]) -> Discovered:
    """Submissions under `paths`: a file is one submission; a folder is a class folder.

    Each `.ipynb`, `.py`, `.zip` or sub-folder of a class folder is one submission; hidden and
    checkpoint entries and other files are skipped and listed in `.ignored`.
    """
    found: list[Path] = []
    ignored: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            found.append(path)
            continue
        for entry in sorted(path.iterdir(), key=lambda p: p.name):
            if entry.name.startswith(".") or entry.name in ("__pycache__", "__MACOSX"):
                ignored.append((entry, "hidden or checkpoint entry"))
            elif entry.is_symlink():
                ignored.append((entry, "symbolic link"))
            elif entry.is_dir():
                found.append(entry)
            elif entry.suffix.lower() in SUBMISSION_SUFFIXES:
                found.append(entry)
            else:
                reason = skip_reason((entry.name,)) or "not a submission"
                ignored.append((entry, reason))
    return Discovered(found, ignored)
