"""What the two notebook-running tasks (`notebook` in a kernel, `cells` in process) share.

Kept apart from both so that `cells`, which the warm worker preloads, imports none of the
Jupyter client machinery.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

CAPTURE_FILE = "captured.json"
TIMEOUT_ENAME = "CellTimeout"


def safe_name(name: str) -> str | None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith("/") or ".." in parts:
        return None
    return "/".join(parts)


def read_capture(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"calls": [], "events": []}
