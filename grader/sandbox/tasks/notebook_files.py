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


def timeouts(request: dict[str, Any]) -> tuple[float, float, float | None]:
    """(per cell, for the prelude, for the whole notebook or None) of a request."""
    cell = float(request.get("cell_timeout") or 120)
    return cell, float(request.get("prelude_timeout") or max(cell, 300)), request.get("timeout")


def write_local_files(files: dict[str, str] | None, workdir: str) -> None:
    """The submission's own `.py` modules, written where its notebook imports them from."""
    for name, text in (files or {}).items():
        safe = safe_name(name)
        if safe:
            target = Path(workdir, safe)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")


def captured_in_cells(capture: Path, sequence: list[str]) -> dict[str, Any]:
    """What the prelude recorded, each call and event labelled with the cell it ran in
    (`seq` n is the n-th cell run after the prelude)."""
    captured = read_capture(capture)
    for call in captured.get("calls", []) + captured.get("events", []):
        seq = call.get("seq") or 0
        call["cell"] = sequence[seq - 1] if 0 < seq <= len(sequence) else None
    return captured
