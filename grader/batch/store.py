"""Where a batch's results live, written so that a `kill -9` at any moment loses nothing.

Every file is written to a temporary name in the same directory, flushed to disk and renamed
over the target, so a reader sees either the old file or the new one, never half of one. A
student's `result.json` is written last, after their artifacts and report: its presence with the
right key is what marks the student as graded, so an interrupted student is simply regraded.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from grader.result import Result

RESULT = "result.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (same-directory temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n")


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def safe_name(student: str) -> str:
    """A folder name for a student id that cannot escape the output directory."""
    name = _UNSAFE.sub("_", student).strip("._") or "student"
    return name[:120]


class ResultStore:
    """The output directory of a batch: one folder per student, plus class-level files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._clean_temporaries()

    def _clean_temporaries(self) -> None:
        # Leftovers of writes interrupted by a kill; never a complete file.
        for tmp in self.root.glob("**/.*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                pass

    def student_dir(self, student: str) -> Path:
        return self.root / safe_name(student)

    def load(self, student: str) -> Result | None:
        """The stored result of a student, or None when absent or unreadable."""
        path = self.student_dir(student) / RESULT
        try:
            return Result.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None

    def is_current(self, student: str, key: str) -> bool:
        """True when the student was already graded with exactly this key."""
        stored = self.load(student)
        return stored is not None and stored.key == key

    def save(self, result: Result, artifacts: dict[str, bytes] | None = None) -> Path:
        """Write artifacts first and the result last, each atomically."""
        folder = self.student_dir(result.student)
        for name, data in (artifacts or {}).items():
            target = (folder / name).resolve()
            if folder.resolve() not in target.parents:
                raise ValueError(f"artifact name escapes the student folder: {name!r}")
            atomic_write_bytes(target, data)
        path = folder / RESULT
        atomic_write_text(path, result.to_json())
        return path

    def results(self, students: list[str] | None = None) -> list[Result]:
        """Stored results, for the given students or for every student folder."""
        if students is None:
            folders = sorted(p for p in self.root.iterdir() if (p / RESULT).is_file())
            loaded = [self.load(p.name) for p in folders]
        else:
            loaded = [self.load(s) for s in students]
        return [r for r in loaded if r is not None]
