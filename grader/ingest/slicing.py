"""Build the program under test: the targets and everything they need, nothing heavy.

The notebook's top-level statements are replayed in order, keeping only definitions and cheap
bindings that the targets reach: through names read when a statement runs (base classes,
decorators, defaults, class bodies: the binding in force *at that point*) and names read when a
function runs (the *last* binding). Training calls, loops, data loading, prints and plots are
left out. Line `i` of the program maps back to the student's cell and line.
"""

from __future__ import annotations
import __future__ as future_module

import ast
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from grader.ingest.cells import CleanCell, CleanContext, clean_code
from grader.ingest.problems import PROGRAM_FILENAME, Problem
from grader.ingest.submission import Submission, module_name
from grader.ingest.units import Unit, bound_names, build_units

Location = tuple[int | None, int | None]


@dataclass
class Program:
    """Runnable source for the targets, mapped line by line to the student's cells."""

    source: str
    line_map: list[Location]
    defines: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    neutralised: list[dict] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    omitted: list[dict] = field(default_factory=list)   # top-level work not included
    labels: dict[int, str] = field(default_factory=dict)
    filename: str = PROGRAM_FILENAME

    def where(self, cell: int | None, line: int | None) -> str:
        """'cell 12, line 4' (or 'models.py, line 4') for a student location."""
        if cell is None:
            return "generated code"
        label = self.labels.get(cell, f"cell {cell}")
        return f"{label}, line {line}" if line is not None else label

    def compile(self):  # noqa: ANN201 - a code object
        return compile(self.source, self.filename, "exec", dont_inherit=True)


def clean_cells(submission: Submission) -> list[CleanCell]:
    """Clean every code cell of the submission, in order (shared state: Colab imports)."""
    ctx = CleanContext()
    out: list[CleanCell] = []
    for cell in submission.cells:
        if cell.kind != "code":
            continue
        module = module_name(cell.file) if cell.is_module and cell.file else None
        out.append(clean_code(cell.index, cell.source, ctx, module=module))
    return out


def _code_cells(cleaned: list[CleanCell]) -> list[CleanCell]:
    """What runs as Python for extraction: a `%%writefile x.py` cell contributes its module."""
    return [c.body if c.body is not None else c for c in cleaned]


def _module_exports(cells: list[CleanCell]) -> dict[str, set[str]]:
    exports: dict[str, set[str]] = {}
    for cell in cells:
        if cell.module is None or cell.tree is None:
            continue
        names: set[str] = set()
        for node in cell.tree.body:
            names |= bound_names(node)
        for key in {cell.module, cell.module.rsplit(".", 1)[-1]}:
            exports.setdefault(key, set()).update(names)
    return exports


_DEF_RE = r"^\s*(?:async\s+def|def|class)\s+{name}\b|^{name}\s*="


def _broken_defining(cells: list[CleanCell], name: str) -> list[CleanCell]:
    pattern = re.compile(_DEF_RE.format(name=re.escape(name)), re.M)
    return [c for c in cells if c.error is not None and pattern.search(c.source)]


def _names_in_broken(cells: list[CleanCell]) -> set[str]:
    found: set[str] = set()
    for cell in cells:
        if cell.error is not None:
            found |= set(re.findall(r"^\s*(?:def|class)\s+(\w+)", cell.source, re.M))
    return found


class _Slicer:
    def __init__(self, units: list[Unit]) -> None:
        self.units = units
        self.binders: dict[str, list[Unit]] = {}
        self.mutators: dict[str, list[Unit]] = {}
        for unit in units:
            for name in unit.binds:
                self.binders.setdefault(name, []).append(unit)
            if unit.mutates:
                self.mutators.setdefault(unit.mutates, []).append(unit)
        self.needed: set[int] = set()
        self.wanted: dict[int, set[str]] = {}   # unit -> the names something needs from it

    def final(self, name: str) -> Unit | None:
        """The last includable binding of `name` (what a function body sees when it runs)."""
        for unit in reversed(self.binders.get(name, [])):
            if unit.includable:
                return unit
        return None

    def before(self, name: str, pos: int) -> Unit | None:
        """The includable binding of `name` in force just before statement `pos`."""
        for unit in reversed(self.binders.get(name, [])):
            if unit.pos < pos and unit.includable:
                return unit
        return None

    def need(self, unit: Unit | None, name: str | None = None) -> None:
        """Keep `unit` (for `name`, or for everything it binds) and what it depends on.

        A function reached through a `now` use (a decorator, a helper called in a class body or
        a default argument) may *run* at that point, so what its body reads is also taken as
        bound at that point (`at`), besides the last binding.
        """
        Item = tuple[Unit, "str | None", "int | None"]
        stack: list[Item] = [(unit, name, None)] if unit is not None else []
        seen: set[tuple[int, int | None]] = set()
        while stack:
            current, wanted, at = stack.pop()
            self.wanted.setdefault(current.pos, set()).update(
                current.binds if wanted is None else {wanted})
            if (current.pos, at) in seen:
                continue
            seen.add((current.pos, at))
            self.needed.add(current.pos)
            for used in current.now:
                dep = self.before(used, current.pos)
                if dep is not None:
                    stack.append((dep, used, current.pos))
            for used in current.later:
                for dep, when in ((self.final(used), None),
                                  (self.before(used, at) if at is not None else None, at)):
                    if dep is not None:
                        stack.append((dep, used, when))
            for bound in current.binds:
                stack.extend((m, None, None) for m in self._mutations_after(bound, current.pos))

    def _mutations_after(self, name: str, pos: int) -> list[Unit]:
        """In-place changes (`X.forward = f`, `args.update(...)`) to the binding made at `pos`."""
        later_binds = [u.pos for u in self.binders.get(name, []) if u.pos > pos]
        stop = min(later_binds) if later_binds else len(self.units)
        return [u for u in self.mutators.get(name, []) if pos < u.pos < stop]


def extract(submission: Submission, targets: Iterable[str], *,
            extra_names: Iterable[str] = ()) -> Program:
    """The program defining `targets` (and `extra_names`, if defined) with their dependencies."""
    targets = list(targets)
    cleaned = clean_cells(submission)
    cells = _code_cells(cleaned)
    problems: list[Problem] = []
    labels = {c.index: submission.label(c.index) for c in submission.cells}

    def where(index: int, line: int | None) -> str:
        return f"{labels.get(index, f'cell {index}')}" + (f", line {line}" if line else "")

    syntax_by_cell: dict[int, Problem] = {}
    for cell in cells:
        if cell.error is not None:
            err = cell.error
            problem = submission.problem(
                "syntax", f"syntax error in {where(cell.index, err.line)}: {err.message}",
                cell.index, err.line, traceback=[f"{where(cell.index, err.line)}: {err.text}"])
            syntax_by_cell[cell.index] = problem
            problems.append(problem)

    units = build_units(cells, _module_exports(cells))
    slicer = _Slicer(units)
    known = {n for u in units if u.kind in ("def", "assign", "import", "local-import")
             for n in u.binds} | _names_in_broken(cells)
    lost: dict[int, list[str]] = {}     # broken cell -> targets only it defines
    for unit in units:   # `from torch.nn import *` may provide anything: always keep it
        if unit.kind == "import" and any(a.name == "*" for a in unit.node.names):
            slicer.need(unit)
    for name in targets:
        unit = slicer.final(name)
        broken = _broken_defining(cells, name)
        if unit is None:
            if broken:   # say it once, on the cell's syntax problem, naming the targets
                lost.setdefault(broken[-1].index, []).append(name)
            else:
                problems.append(_unavailable(submission, name, slicer, known, where))
            continue
        slicer.need(unit, name)
        for cell in broken:
            if cell.index > unit.cell.index:
                syntax_by_cell[cell.index].message += (
                    f" (this cell redefines {name}; the earlier definition in "
                    f"{labels.get(unit.cell.index)} was used)")
    for name in extra_names:
        slicer.need(slicer.final(name), name)
    errors = {c.index: c.error for c in cells if c.error is not None}
    for index, names in lost.items():
        subject = " and ".join(names) + (" is" if len(names) == 1 else " are")
        syntax_by_cell[index].message = (
            f"{subject} defined in {where(index, None)}, which has a syntax error at line "
            f"{errors[index].line}: {errors[index].message}")

    source_lines, line_map, defines = _emit(units, slicer, labels, futures_of(cleaned))
    source = "\n".join(source_lines) + "\n" if source_lines else ""
    program = Program(source=source, line_map=line_map,
                      defines=defines, problems=problems, targets=targets, labels=labels,
                      neutralised=_neutralised(cleaned),
                      omitted=[{"cell": u.cell.index, "line": u.cell.student_line(u.node.lineno),
                                "what": u.describe()} for u in units if u.kind == "heavy"])
    try:
        program.compile()
    except SyntaxError as exc:  # a grader bug, never the student's: say so plainly
        cell, line = program.line_map[(exc.lineno or 1) - 1] if exc.lineno else (None, None)
        problems.append(Problem("internal", f"the grader built an invalid program: {exc.msg}",
                                cell=cell, line=line))
    return program


def _emit(units: list[Unit], slicer: _Slicer, labels: dict[int, str],
          futures: dict[str, Location]) -> tuple[list[str], list[Location], dict[str, int]]:
    """The kept statements in notebook order, each line mapped to the student's line."""
    source_lines: list[str] = []
    line_map: list[Location] = []
    for feature, location in futures.items():
        source_lines.append(f"from __future__ import {feature}")
        line_map.append(location)
    defines: dict[str, int] = {}
    current_cell: int | None = None
    previous_end = 0
    for unit in units:
        if unit.pos not in slicer.needed:
            continue
        if unit.cell.index != current_cell:
            current_cell = unit.cell.index
            if source_lines:
                source_lines.append("")
                line_map.append((None, None))
            source_lines.append(f"# --- {labels.get(current_cell, current_cell)} ---")
            line_map.append((None, None))
        elif unit.start_line > previous_end + 1:   # keep the student's spacing readable
            source_lines.append("")
            line_map.append((None, None))
        previous_end = unit.node.end_lineno or unit.node.lineno
        wanted = slicer.wanted.get(unit.pos, set())
        replacement = unit.replacement or _import_subset(unit, wanted)
        if replacement is not None:
            for text in replacement:
                source_lines.append(text)
                line_map.append((unit.cell.index, unit.cell.student_line(unit.node.lineno)))
        else:
            for text, student_line in unit.segment():
                source_lines.append(text)
                line_map.append((unit.cell.index, student_line))
        bound = unit.binds & wanted if unit.kind == "import" and wanted else unit.binds
        for name in bound:   # `from models import UNet` does not move UNet's home
            if unit.kind != "local-import" or name not in defines:
                defines[name] = unit.cell.index
    return source_lines, line_map, defines


def _import_subset(unit: Unit, wanted: set[str] | None) -> list[str] | None:
    """`import torch, torchsummary` when only torch is needed: import only torch (so a
    package missing in the sandbox does not break the program), on the same line."""
    node = unit.node
    if unit.kind != "import" or not wanted or not isinstance(node, (ast.Import, ast.ImportFrom)):
        return None
    if len(node.names) < 2 or any(a.name == "*" for a in node.names):
        return None
    keep = [a for a in node.names if (a.asname or a.name.split(".")[0]) in wanted]
    if len(keep) == len(node.names) or not keep:
        return None
    parts = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in keep)
    if isinstance(node, ast.ImportFrom):
        return [f"from {'.' * node.level}{node.module or ''} import {parts}"]
    return [f"import {parts}"]


def _unavailable(submission: Submission, name: str, slicer: _Slicer, known: set[str],
                 where) -> Problem:  # noqa: ANN001 - local helper
    """Why target `name` cannot be built: only top-level code makes it, or it is absent."""
    heavy = slicer.binders.get(name, [])
    if heavy:
        unit = heavy[-1]
        line = unit.cell.student_line(unit.node.lineno)
        return submission.problem(
            "missing", f"{name} is only created by top-level code the grader does not run "
            f"({where(unit.cell.index, line)}: {unit.describe()})", unit.cell.index, line)
    lowered = {k.lower(): k for k in known}
    hints = [lowered[name.lower()]] if name.lower() in lowered else []
    hints += [h for h in difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
              if h not in hints]
    message = f"{name} is not defined anywhere in the submission"
    if hints:
        message += "; did you mean " + " or ".join(hints[:3]) + "?"
    return Problem("missing", message, hint=hints[:3])


def futures_of(cleaned: list[CleanCell]) -> dict[str, Location]:
    found: dict[str, Location] = {}
    for cell in cleaned:
        for part in [cell] + ([cell.body] if cell.body else []):
            if part.error is not None:
                continue
            for feature, line in part.futures:
                if feature in future_module.all_feature_names:
                    found.setdefault(feature, (cell.index, line))
    return found


def _neutralised(cleaned: list[CleanCell]) -> list[dict]:
    records: list[dict] = []
    for cell in cleaned:
        records.extend(cell.neutralised)
        if cell.body is not None:
            records.extend(cell.body.neutralised)
    return sorted(records, key=lambda r: (r["cell"], r["line"] or 0))
