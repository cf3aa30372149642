"""Read a write-up PDF into lines, inside the sandbox.

A student's PDF is parsed here rather than on the trusted side: parsing is where a hostile file
could cost time or memory, and the sandbox's limits end that. Only the document's lines cross
back, as JSON; finding the answers and judging them happens on the trusted side.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any


def run(request: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    from grader.answers.writeup import WriteupError, read_document

    name = Path(str(request.get("name") or "writeup.pdf")).name
    path = out_dir / name
    path.write_bytes(base64.b64decode(request["data"]))
    try:
        document = read_document(path)
    except WriteupError as exc:
        return {"document": None, "error": str(exc).replace(str(out_dir) + "/", "")}
    finally:
        path.unlink(missing_ok=True)
    data = document.to_dict()
    data["path"] = name
    return {"document": data, "error": None}
