"""Located failures of a student's submission, and tracebacks mapped back to their cells.

Every stage reports student-caused failures as a `Problem` so reports can say *where* in the
student's own notebook something went wrong ("cell 12, line 4"), never in grader internals.
"""

from __future__ import annotations

import re
import traceback as tb_module
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.ingest.slicing import Program

KINDS = ("syntax", "missing", "exception", "timeout", "memory", "crashed", "corrupt", "limit",
         "internal")

PROGRAM_FILENAME = "<submission>"


@dataclass
class Problem:
    """One failure: what kind, a message for the student, and where (1-based cell and line).

    `cell` is the submission's 1-based cell index (the notebook cell number for a single
    notebook); `file` is set when the submission has several files or is a `.py` module.
    """

    kind: str
    message: str
    cell: int | None = None
    line: int | None = None
    traceback: list[str] = field(default_factory=list)
    file: str | None = None
    hint: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r}; expected one of {KINDS}")

    def to_dict(self) -> dict[str, Any]:
        """JSON form used in result.json; `file`/`hint` appear only when set."""
        out: dict[str, Any] = {"kind": self.kind, "message": self.message, "cell": self.cell,
                               "line": self.line, "traceback": list(self.traceback)}
        if self.file is not None:
            out["file"] = self.file
        if self.hint:
            out["hint"] = list(self.hint)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(kind=data["kind"], message=data.get("message", ""), cell=data.get("cell"),
                   line=data.get("line"), traceback=list(data.get("traceback") or []),
                   file=data.get("file"), hint=list(data.get("hint") or []))


class IngestError(Exception):
    """A submission that cannot be read at all (corrupt, unsafe, or over a limit)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def locate(program: Program, lineno: int | None) -> tuple[int | None, int | None]:
    """The (cell, line in cell) that produced line `lineno` (1-based) of `program.source`."""
    if lineno is None or lineno < 1 or lineno > len(program.line_map):
        return (None, None)
    return program.line_map[lineno - 1]


_FILE_LINE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<name>.+))?$')

Frame = tuple[str, int, str]


def _frames_from_text(text: str) -> tuple[list[Frame], list[str]]:
    """Frames (file, line, function) and the trailing exception lines of a formatted traceback."""
    frames: list[Frame] = []
    tail: list[str] = []
    lines = text.rstrip("\n").splitlines()
    for raw in lines:
        match = _FILE_LINE.match(raw)
        if match:
            frames.append((match["file"], int(match["line"]), match["name"] or ""))
            tail = []
        elif raw and not raw.startswith((" ", "\t", "Traceback (most recent call last)")):
            if raw.startswith(("During handling", "The above exception")):
                tail = []
                continue
            tail.append(raw)
    return frames, tail


def _frames_from_objects(items: Sequence[Any]) -> list[Frame]:
    frames: list[Frame] = []
    for item in items:
        if isinstance(item, dict):
            frames.append((str(item.get("filename", "")), int(item.get("lineno") or 0),
                           str(item.get("name", ""))))
        elif isinstance(item, tb_module.FrameSummary):
            frames.append((item.filename, int(item.lineno or 0), item.name))
        else:
            filename, lineno, name = item[0], item[1], item[2] if len(item) > 2 else ""
            frames.append((str(filename), int(lineno), str(name)))
    return frames


def student_traceback(program: Program,
                      tb: str | BaseException | Sequence[Any]) -> list[str]:
    """Lines of a traceback that point at the student's own cells, innermost last.

    `tb` is a formatted traceback, an exception (its `__traceback__` is walked), or frames
    (`FrameSummary`, dicts with filename/lineno/name, or tuples). Only frames in the program's
    file are kept; torch and grader frames are dropped. The exception line closes the list.
    """
    tail: list[str] = []
    if isinstance(tb, BaseException):
        frames = _frames_from_objects(tb_module.extract_tb(tb.__traceback__))
        tail = tb_module.format_exception_only(type(tb), tb)[-1:]
        tail = [line.rstrip("\n") for line in tail]
    elif isinstance(tb, str):
        frames, tail = _frames_from_text(tb)
    else:
        frames = _frames_from_objects(tb)
    out: list[str] = []
    source_lines = program.source.splitlines()
    for filename, lineno, _name in frames:
        if filename != program.filename:
            continue
        cell, line = locate(program, lineno)
        code = source_lines[lineno - 1].strip() if 0 < lineno <= len(source_lines) else ""
        where = program.where(cell, line) if cell is not None else f"generated line {lineno}"
        out.append(f"{where}: {code}" if code else where)
    return out + tail
