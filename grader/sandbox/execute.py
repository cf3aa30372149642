"""Run a student's program one top-level statement at a time (inside the sandbox).

A program built for the targets can still hold a statement that fails where the grader runs it:
`from helpers import *` for a file the student did not submit, a path that exists only on their
laptop. Run as one block, the first such failure would leave every later class undefined and
zero questions whose own code works. Statement by statement, a failure is recorded and the
rest still runs; a class that really needed the failed statement fails on its own, with a
located problem, when it is built.
"""

from __future__ import annotations
import __future__ as future_module

import ast
from typing import Any


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(future_module, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def run_statements(source: str, filename: str, namespace: dict[str, Any]
                   ) -> list[BaseException]:
    """Execute `source` in `namespace`, statement by statement; the exceptions raised, in order.

    A syntax error in the whole program is raised (nothing can run). Line numbers stay those
    of `source`, so tracebacks locate each failure as a single `exec` would.
    """
    tree = ast.parse(source, filename)
    flags = _future_flags(tree)
    failures: list[BaseException] = []
    for node in tree.body:
        code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec",
                       flags=flags, dont_inherit=True)
        try:
            exec(code, namespace)
        except (Exception, SystemExit) as exc:
            failures.append(exc)
    return failures
