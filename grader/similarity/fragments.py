"""The code a student wrote for one target class: the class and the helpers it reaches.

The grader's own slicer (`grader.ingest.extract`) already turns a notebook into the program
the targets need, without running anything and mapped line by line to the student's cells.
Here that program is cut once more, per target: the statement that binds the class, plus every
top-level definition it reaches by name (a `_block()` helper, a shared base class, a constant).
Imports are not part of a fragment; they only say what each imported name stands for.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.ingest import Program, Submission, extract
from grader.rubric.schema import Rubric
from grader.similarity.normalise import import_aliases


@dataclass(frozen=True)
class SourceLine:
    """One line of a fragment and where the student wrote it ("cell 12", line 4)."""

    text: str
    where: str | None
    line: int | None


@dataclass(frozen=True)
class Fragment:
    """One student's code for one target, ready to normalise and to show."""

    student: str
    target: str
    source: str                      # the statements, in notebook order
    lines: tuple[SourceLine, ...]    # one per line of `source`
    aliases: dict[str, str]          # import name -> dotted name it stands for

    def show(self, line: int) -> str:
        """'cell 12, line 4' for line `line` (1-based) of `source`."""
        where = self.lines[line - 1]
        if where.where is None:
            return "generated code"
        return f"{where.where}, line {where.line}" if where.line else where.where


def _binds(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _reads(statement: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)}


def _start(statement: ast.stmt) -> int:
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])


def _binding(statements: list[ast.stmt], names: list[str]) -> ast.stmt | None:
    """The last statement binding one of `names` (the target, then its aliases; any case)."""
    for wanted in (set(names), {n.lower() for n in names}):
        for statement in reversed(statements):
            bound = _binds(statement)
            if bound & wanted or {b.lower() for b in bound} & wanted:
                return statement
    return None


def _reached(statements: list[ast.stmt], start: ast.stmt) -> list[ast.stmt]:
    """`start` and the top-level definitions it needs by name, in program order."""
    last: dict[str, ast.stmt] = {}
    for statement in statements:
        for name in _binds(statement):
            last[name] = statement
    keep = {id(start): start}
    todo = [start]
    while todo:
        for name in _reads(todo.pop()):
            found = last.get(name)
            if found is not None and id(found) not in keep:
                keep[id(found)] = found
                todo.append(found)
    return [s for s in statements if id(s) in keep]


def _fragment(student: str, target: str, program: Program, statements: list[ast.stmt],
              aliases: dict[str, str]) -> Fragment:
    lines = program.source.split("\n")
    text: list[str] = []
    where: list[SourceLine] = []
    for statement in statements:
        for number in range(_start(statement), (statement.end_lineno or statement.lineno) + 1):
            cell, line = program.line_map[number - 1]
            text.append(lines[number - 1])
            where.append(SourceLine(lines[number - 1],
                                    program.labels.get(cell, f"cell {cell}")
                                    if cell is not None else None, line))
    return Fragment(student, target, "\n".join(text) + "\n", tuple(where), aliases)


def class_targets(rubric: Rubric) -> list[str]:
    """The targets compared: the classes students write. A function target (the 2020
    rubric's `train`) is the starter's loop with a few lines changed: nothing to compare."""
    return [name for name, target in rubric.targets.items() if target.kind == "class"]


def fragments(submission: Submission, rubric: Rubric) -> dict[str, Fragment]:
    """The fragment of each class target the submission defines (absent targets are left
    out: nothing to compare)."""
    targets = class_targets(rubric)
    aliases = [a for t in targets for a in rubric.targets[t].aliases]
    program = extract(submission, targets, extra_names=aliases)
    try:
        tree = ast.parse(program.source)
    except SyntaxError:
        return {}
    statements = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    imported = import_aliases(tree)
    found: dict[str, Fragment] = {}
    for target in targets:
        start = _binding(statements, [target, *rubric.targets[target].aliases])
        if start is not None:
            found[target] = _fragment(submission.student, target, program,
                                      _reached(statements, start), imported)
    return found
