"""Where a batch's results live, written so that a `kill -9` at any moment loses nothing.

Every file is written to a temporary name in the same directory, flushed to disk and renamed
over the target, so a reader sees either the old file or the new one, never half of one. A
student's `result.json` is written last, after their artifacts and report: its presence with the
right key is what marks the student as graded, so an interrupted student is simply regraded.
"""

from __future__ import annotations

from pathlib import Path

from grader.files import atomic_write_bytes, atomic_write_text, safe_name
from grader.result import Result

RESULT = "result.json"


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
