"""Diagnostic task: run a snippet of Python in a fresh namespace and return one expression's value.

`{"task": "echo", "code": "...", "result_expr": "..."}`. The snippet sees `request` and `out_dir`
(write artifacts there). Used by the isolation tests to attempt forbidden things from inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run(request: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__echo__", "request": request, "out_dir": out_dir}
    code = request.get("code", "")
    if not isinstance(code, str):
        raise TypeError("echo: 'code' must be a string")
    exec(compile(code, "<echo>", "exec"), namespace)
    expr = request.get("result_expr")
    if expr is None:
        return {"value": None}
    return {"value": eval(compile(expr, "<echo result_expr>", "eval"), namespace)}
