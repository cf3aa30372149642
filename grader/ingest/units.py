"""Top-level statements of a submission as units: what each binds, uses, and whether it is safe.

A unit is one top-level statement of a clean cell. The slicer keeps the units the targets need.
Uses are split by *when* they are looked up: `now` (evaluated as the statement runs: base
classes, decorators, default arguments, class bodies, right-hand sides) and `later` (looked up
when a function body runs, i.e. after the whole program). `symtable` gives CPython's own scoping.
"""

from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass, field

from grader.ingest.cells import CleanCell, char_col, dotted_name

SAFE_BUILTIN_CALLS = {
    "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bool",
    "bytes", "range", "len", "min", "max", "abs", "round", "sorted", "reversed", "zip",
    "enumerate", "sum", "any", "all", "isinstance", "issubclass", "getattr", "hasattr", "repr",
    "object", "slice", "divmod", "pow", "chr", "ord", "hash", "id", "type", "property",
    "staticmethod", "classmethod", "map", "filter", "iter",
}
SAFE_CALL_NAMES = {
    "AttrDict", "EasyDict", "edict", "SimpleNamespace", "Namespace", "namedtuple", "OrderedDict",
    "defaultdict", "Counter", "deque", "partial", "field", "dataclass", "TypeVar", "NamedTuple",
    "ArgumentParser", "Path", "PurePath", "compile", "getLogger", "Enum", "IntEnum",
}
SAFE_CALL_PREFIXES = (
    "os.path.", "math.", "collections.", "functools.partial", "types.SimpleNamespace",
    "argparse.", "typing.", "dataclasses.", "pathlib.", "re.compile", "string.", "enum.",
    "logging.getLogger", "os.environ.get", "os.getenv", "os.getcwd", "os.cpu_count",
    "torch.device", "torch.cuda.is_available", "torch.cuda.device_count", "torch.tensor",
    "torch.zeros", "torch.ones", "torch.arange", "torch.linspace", "torch.float", "torch.long",
    "torch.int", "torch.finfo", "torch.iinfo", "torch.Size", "torch.get_default_dtype",
    "torch.backends.mps.is_available",
    "np.array", "np.asarray", "np.zeros", "np.ones", "np.arange", "np.linspace", "np.float",
    "np.int", "np.uint8", "np.dtype", "np.pi", "np.sqrt", "np.log", "np.exp",
    "numpy.array", "numpy.asarray", "numpy.zeros", "numpy.ones", "numpy.arange",
    "nn.", "torch.nn.", "transforms.", "torchvision.transforms.", "T.",
)
SAFE_METHODS = {
    "format", "join", "split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper",
    "replace", "startswith", "endswith", "copy", "keys", "values", "items", "get", "parse_args",
    "parse_known_args", "to_dict", "encode", "decode", "index", "count", "__getitem__",
}
MUTATING_METHODS = {
    "update", "append", "extend", "insert", "setdefault", "add", "add_argument",
    "add_argument_group", "set_defaults", "__setitem__", "pop", "remove", "discard", "clear",
    "register_buffer", "register_parameter", "add_module",
}
SIMPLE_BASES = {"dict", "object", "list", "tuple", "OrderedDict", "collections.OrderedDict",
                "defaultdict", "collections.defaultdict", "SimpleNamespace",
                "types.SimpleNamespace", "Namespace", "argparse.Namespace", "NamedTuple",
                "typing.NamedTuple", "Enum", "enum.Enum", "IntEnum", "enum.IntEnum", "EasyDict"}
COMPREHENSIONS = {"listcomp", "setcomp", "dictcomp", "genexpr"}


@dataclass
class Unit:
    """One top-level statement of one clean cell."""

    pos: int
    cell: CleanCell
    node: ast.stmt
    kind: str                      # def|import|local-import|assign|mutation|compound|heavy
    binds: set[str] = field(default_factory=set)
    now: set[str] = field(default_factory=set)
    later: set[str] = field(default_factory=set)
    mutates: str | None = None     # for kind "mutation": the root name changed
    replacement: list[str] | None = None   # text emitted instead of the statement

    @property
    def includable(self) -> bool:
        return self.kind != "heavy"

    @property
    def start_line(self) -> int:
        decorators = getattr(self.node, "decorator_list", [])
        return min([self.node.lineno] + [d.lineno for d in decorators])

    def segment(self) -> list[tuple[str, int]]:
        """(text, student line) for each line of this statement in the clean cell."""
        lines = self.cell.text_lines
        node = self.node
        first = self.start_line
        last = node.end_lineno or node.lineno
        out: list[tuple[str, int]] = []
        for number in range(first, last + 1):
            text = lines[number - 1]
            if number == last and node.end_col_offset is not None:
                text = text[:char_col(text, node.end_col_offset)]
            if number == first and first == node.lineno and node.col_offset:
                text = text[char_col(text, node.col_offset):]
            out.append((text, self.cell.student_line(number) or number))
        return out

    def describe(self) -> str:
        text = " ".join(t.strip() for t, _ in self.segment()[:1])
        return text if len(text) <= 80 else text[:77] + "..."


def _names_in_target(target: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(target):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def bound_names(node: ast.stmt) -> set[str]:
    """Module-level names a statement binds (for compound statements: anywhere inside)."""
    names: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name == "*":
                continue
            names.add(alias.asname or alias.name.split(".")[0])
        return names
    if isinstance(node, ast.Assign):
        for target in node.targets:
            names |= _names_in_target(target)
        return names
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return _names_in_target(node.target)
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            names |= bound_names(child)
        elif isinstance(child, (ast.excepthandler, ast.match_case)):
            for inner in ast.iter_child_nodes(child):
                if isinstance(inner, ast.stmt):
                    names |= bound_names(inner)
            if isinstance(child, ast.ExceptHandler) and child.name:
                names.add(child.name)
        elif isinstance(child, ast.withitem) and child.optional_vars is not None:
            names |= _names_in_target(child.optional_vars)
    if isinstance(node, (ast.For, ast.AsyncFor)):
        names |= _names_in_target(node.target)
    for walrus in ast.walk(node):
        if isinstance(walrus, ast.NamedExpr) and isinstance(walrus.target, ast.Name):
            names.add(walrus.target.id)
    return names


def uses(source: str) -> tuple[set[str], set[str]]:
    """(now, later): global names a top-level statement reads, by when they are read."""
    now: set[str] = set()
    later: set[str] = set()
    try:
        table = symtable.symtable(source, "<unit>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return now, later
    for sym in table.get_symbols():
        if sym.is_referenced():
            now.add(sym.get_name())

    def walk(tab: symtable.SymbolTable, deferred: bool) -> None:
        for child in tab.get_children():
            kind = child.get_type()
            kind = getattr(kind, "value", kind)
            is_comp = kind == "function" and child.get_name() in COMPREHENSIONS
            child_deferred = deferred or (kind == "function" and not is_comp)
            for sym in child.get_symbols():
                if sym.is_referenced() and sym.is_global():
                    (later if child_deferred else now).add(sym.get_name())
            walk(child, child_deferred)

    walk(table, False)
    return now, later


class Safety:
    """Decides whether a top-level expression is cheap and free of side effects."""

    def __init__(self, simple_classes: set[str]) -> None:
        self.simple_classes = simple_classes

    def call_ok(self, node: ast.Call) -> bool:
        name = dotted_name(node.func)
        ok = False
        if name is not None:
            last = name.rsplit(".", 1)[-1]
            if (name in SAFE_BUILTIN_CALLS or last in SAFE_CALL_NAMES or
                    name.startswith(SAFE_CALL_PREFIXES) or name in self.simple_classes):
                ok = True
        if not ok and isinstance(node.func, ast.Attribute) and node.func.attr in SAFE_METHODS:
            ok = self.expr_ok(node.func.value)
        if not ok:
            return False
        return all(self.expr_ok(a) for a in node.args) and all(
            self.expr_ok(k.value) for k in node.keywords)

    def expr_ok(self, node: ast.AST | None) -> bool:
        if node is None:
            return True
        if isinstance(node, ast.Call):
            return self.call_ok(node)
        if isinstance(node, ast.Lambda):
            return all(self.expr_ok(d) for d in node.args.defaults + [
                d for d in node.args.kw_defaults if d is not None])
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return all(self.expr_ok(child) for child in ast.iter_child_nodes(node))
        if isinstance(node, ast.comprehension):
            return all(self.expr_ok(child) for child in [node.iter, *node.ifs])
        return all(self.expr_ok(child) for child in ast.iter_child_nodes(node)
                   if isinstance(child, ast.expr))

    def stmt_ok(self, node: ast.stmt) -> bool:
        """Can this (possibly compound) statement run at top level without cost or effect?"""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass)):
            return True
        if isinstance(node, ast.Assign):
            return self.expr_ok(node.value) and all(
                isinstance(t, (ast.Name, ast.Tuple, ast.List, ast.Starred)) for t in node.targets)
        if isinstance(node, ast.AnnAssign):
            return isinstance(node.target, ast.Name) and self.expr_ok(node.value)
        if isinstance(node, ast.AugAssign):
            return isinstance(node.target, ast.Name) and self.expr_ok(node.value)
        if isinstance(node, ast.Expr):
            return isinstance(node.value, ast.Constant)
        if isinstance(node, ast.If):
            return self.expr_ok(node.test) and all(self.stmt_ok(s) for s in node.body + node.orelse)
        if isinstance(node, ast.Try):
            return all(self.stmt_ok(s) for s in node.body + node.orelse + node.finalbody) and all(
                all(self.stmt_ok(s) for s in h.body) and self.expr_ok(h.type)
                for h in node.handlers)
        return False

    def mutation_of(self, node: ast.stmt) -> str | None:
        """The name a cheap in-place change modifies (`args.lr = 1`, `UNet.forward = f`,
        `args.update(d)`, `cfg['k'] = v`), else None."""
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None or not self.expr_ok(node.value):
                return None
            roots = {_root_name(t) for t in targets}
            if (len(roots) == 1 and None not in roots and
                    all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)):
                if all(self.expr_ok(t.slice) for t in targets if isinstance(t, ast.Subscript)):
                    return roots.pop()
            return None
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            func = call.func
            args_ok = all(self.expr_ok(a) for a in call.args) and all(
                self.expr_ok(k.value) for k in call.keywords)
            if not args_ok:
                return None
            if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
                return _root_name(func.value)
            if isinstance(func, ast.Name) and func.id == "setattr" and call.args:
                return _root_name(call.args[0])
        return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def simple_classes(cells: list[CleanCell]) -> set[str]:
    """User classes cheap to instantiate at top level: dict-like configs, dataclasses, enums."""
    found: set[str] = set()
    for cell in cells:
        if cell.tree is None:
            continue
        for node in cell.tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [dotted_name(b) for b in node.bases]
            decorated = any((dotted_name(d) or "").endswith("dataclass") or
                            (isinstance(d, ast.Call) and (dotted_name(d.func) or "").endswith(
                                "dataclass")) for d in node.decorator_list)
            if decorated or all(b in SIMPLE_BASES for b in bases):
                found.add(node.name)
    return found


def _local(name: str, modules: set[str]) -> str | None:
    for candidate in (name, name.rsplit(".", 1)[-1]):
        if candidate in modules:
            return candidate
    return None


def is_local_import(node: ast.Import | ast.ImportFrom, modules: set[str]) -> bool:
    """Does this import refer to the submission's own modules (`models.py`, %%writefile)?"""
    if isinstance(node, ast.ImportFrom):
        if node.module:
            return _local(node.module, modules) is not None
        return any(_local(a.name, modules) for a in node.names)   # from . import models
    return any(_local(a.name, modules) for a in node.names)


def build_units(cells: list[CleanCell], modules: dict[str, set[str]]) -> list[Unit]:
    """Units for every top-level statement of the compiled cells, in execution order.

    `modules` maps each local module name to the names it binds at top level, so that
    `from models import UNet` becomes a dependency on the module's UNet instead of an import.
    """
    safety = Safety(simple_classes(cells))
    units: list[Unit] = []
    for cell in cells:
        if cell.tree is None:
            continue
        for node in cell.tree.body:
            unit = _make_unit(len(units), cell, node, safety, modules)
            if unit is not None:
                units.append(unit)
    return units


def _make_unit(pos: int, cell: CleanCell, node: ast.stmt, safety: Safety,
               modules: dict[str, set[str]]) -> Unit | None:
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(
            node.value, ast.Constant)):
        return None
    try:
        now, later = uses(ast.unparse(node))
    except RecursionError:   # absurdly deep expressions: treat as top-level work
        return Unit(pos=pos, cell=cell, node=node, kind="heavy", binds=bound_names(node))
    unit = Unit(pos=pos, cell=cell, node=node, kind="heavy", binds=bound_names(node),
                now=now, later=later)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if is_local_import(node, set(modules)):
            _local_import(unit, node, modules)
        else:
            unit.kind = "import"
        return unit
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        unit.kind = "def"
        return unit
    mutated = safety.mutation_of(node)
    if mutated is not None:
        unit.kind = "mutation"
        unit.mutates = mutated
        unit.binds = set()
        return unit
    if safety.stmt_ok(node):
        unit.kind = "compound" if isinstance(node, (ast.If, ast.Try)) else "assign"
    return unit


def _namespace_line(bound: str, exported: list[str]) -> str:
    names = ", ".join(repr(n) for n in exported) + ("," if len(exported) == 1 else "")
    return (f"{bound} = __import__('types').SimpleNamespace(**{{_k: globals()[_k] "
            f"for _k in ({names}) if _k in globals()}})")


def _local_import(unit: Unit, node: ast.Import | ast.ImportFrom,
                  modules: dict[str, set[str]]) -> None:
    """Inline an import of the submission's own module: its names are already defined above
    (one namespace); aliases become assignments, `import models` a namespace object."""
    unit.kind = "local-import"
    local = set(modules)
    lines = [f"# {ast.unparse(node)}  (the submission's own module, inlined above)"]
    unit.binds, unit.now = set(), set()
    from_module = _local(node.module, local) if isinstance(node, ast.ImportFrom) and \
        node.module else None
    for alias in node.names:
        if from_module is not None:           # from models import UNet [as Net] / *
            exported = sorted(modules[from_module])
            if alias.name == "*":
                unit.binds |= set(exported)
                unit.now |= set(exported)
                continue
            bound = alias.asname or alias.name
            unit.binds.add(bound)
            unit.now.add(alias.name)
            if bound != alias.name:
                lines.append(f"{bound} = {alias.name}")
            continue
        module = _local(alias.name, local)
        bound = alias.asname or alias.name.split(".")[0]
        unit.binds.add(bound)
        if module is None:                    # import torch, models: torch is a real import
            lines.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname
                                                   else ""))
            continue
        exported = sorted(modules[module])
        unit.now |= set(exported)
        lines.append(_namespace_line(bound, exported))
    unit.replacement = lines
