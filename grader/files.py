"""Files the grader writes: atomically, and under names that cannot escape their folder.

One home for both, because every output (results, reports, the class pages, compiled rubrics,
calibrations) must survive a `kill -9` at any moment: a reader sees the old file or the new
one, never half of one. (The notebook runtime inside the sandbox keeps its own tiny writer:
it may not import `grader`.)
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (same-directory temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any, **dumps: Any) -> Path:
    options = {"indent": 2, "allow_nan": False, **dumps}
    return atomic_write_text(path, json.dumps(value, **options) + "\n")


def safe_name(student: str) -> str:
    """A folder name for a student id that cannot escape the output directory."""
    name = _UNSAFE.sub("_", student).strip("._") or "student"
    return name[:120]
