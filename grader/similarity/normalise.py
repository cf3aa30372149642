"""Turn one student's code for a class into a canonical token stream.

A copy is usually disguised by renaming, reordering independent lines, reformatting and
comments. Working on the syntax tree undoes all four at once:

- comments, blank lines and layout never reach the tree; docstrings, bare strings, `pass` and
  type annotations are dropped from it;
- every name the student chose (locals, parameters, `self.` attributes, helper functions and
  classes) becomes a placeholder of its kind (`V`, `A`, `F`), so a rename changes nothing and
  one inserted variable does not shift the names of all the others, as numbering would;
- names that come from imports are spelled in full (`nn`, `torch.nn` and `from torch import nn`
  all read `torch.nn`), builtins, keyword argument names and library attributes are kept:
  they are what the code does;
- the statements of every body are put in one canonical order that respects their data
  dependencies: a statement moves only past statements it neither reads nor writes. In
  `__init__` the layers come in the order `forward` uses them, so shuffling the layer
  definitions gives the same stream;
- keyword arguments are sorted and the operands of `+` and `*` ordered (`2 * nf` is `nf * 2`).

Each token remembers the lines of the statement it came from, so shared fingerprints can be
shown on the student's own lines.
"""

from __future__ import annotations

import ast
import builtins
import copy
import io
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

from grader.similarity.signatures import SIGNATURES, Signature

BUILTINS = frozenset(dir(builtins)) | {"self", "cls"}
VARIABLE, ATTRIBUTE, FUNCTION = "V", "A", "F"
LATE = 10**6   # the rank of a statement that writes no layer `forward` uses
SKIPPED_TOKENS = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
                  tokenize.COMMENT, tokenize.ENDMARKER, tokenize.ENCODING}


@dataclass(frozen=True)
class Token:
    """One token of the canonical stream and the fragment lines (1-based) it stands for."""

    text: str
    first: int
    last: int


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Each name an import binds, with the dotted name it stands for."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _defined_names(tree: ast.Module) -> set[str]:
    """Functions and classes the student defined at top level (they become `F`)."""
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _self_attributes(tree: ast.AST) -> set[str]:
    """Attributes the student gives `self` (assigned, or methods): their names are choices."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name) and node.value.id == "self"):
            found.add(node.attr)
        if isinstance(node, ast.ClassDef):
            found.update(item.name for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and not _api_method(item.name))
    return found


def _api_method(name: str) -> bool:
    """Methods whose names torch or Python prescribe (`forward`, `__init__`, ...)."""
    return name == "forward" or (name.startswith("__") and name.endswith("__"))


class _Canonical(ast.NodeTransformer):
    """Names to placeholders or full import paths; annotations, docstrings and `pass` out."""

    def __init__(self, aliases: dict[str, str], defined: set[str], attributes: set[str],
                 kept: set[str]) -> None:
        self.aliases, self.defined, self.attributes, self.kept = (
            aliases, defined, attributes, kept)

    def name(self, identifier: str) -> str:
        if identifier in self.kept or identifier in BUILTINS:
            return identifier
        if identifier in self.aliases:
            return self.aliases[identifier]
        return FUNCTION if identifier in self.defined else VARIABLE

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.name(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        if node.arg not in ("self", "cls"):
            node.arg = VARIABLE
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if (isinstance(node.value, ast.Name) and node.value.id == "self"
                and node.attr in self.attributes):
            node.attr = ATTRIBUTE
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        if node.name in self.attributes:      # a method of the student's own
            node.name = ATTRIBUTE
        elif not _api_method(node.name):
            node.name = self.name(node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self.name(node.name)
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return self.visit(ast.copy_location(ast.Assign(targets=[node.target], value=node.value),
                                            node))

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if (isinstance(node.func, ast.Name) and node.func.id == "super" and node.args):
            node.args = []   # super(Net, self) is super()
        if isinstance(node.func, ast.Name) and node.func.id == FUNCTION:
            for keyword in node.keywords:   # the student's own parameter names
                if keyword.arg is not None:
                    keyword.arg = VARIABLE
        signature = SIGNATURES.get(ast.unparse(node.func))
        if signature is not None:
            _spell_out(node, signature)
        node.keywords.sort(key=lambda k: (k.arg is None, k.arg or "", ast.unparse(k.value)))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ast.unparse(node.left), ast.unparse(node.right)
            if right < left:
                node.left, node.right = node.right, node.left
        return node


def _spell_out(call: ast.Call, signature: Signature) -> None:
    """Positional arguments as keywords, arguments equal to their default dropped."""
    if any(isinstance(a, ast.Starred) for a in call.args) or len(call.args) > len(
            signature.params):
        return
    named = [ast.keyword(arg=name, value=value)
             for name, value in zip(signature.params, call.args, strict=False)]
    keywords = named + list(call.keywords)
    given = {k.arg: ast.unparse(k.value) for k in keywords if k.arg is not None}
    call.args = []
    call.keywords = [k for k in keywords if k.arg is None or not (
        signature.defaults.get(k.arg) == given[k.arg]
        or given.get(signature.same_as.get(k.arg, "")) == given[k.arg])]


def _is_noise(statement: ast.stmt) -> bool:
    """Statements that say nothing about the code: docstrings, bare constants, `pass`."""
    if isinstance(statement, ast.Pass):
        return True
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _key(node: ast.AST) -> str | None:
    """What a node reads or writes, for ordering: a name, or `self.attr` (never `self`)."""
    if isinstance(node, ast.Name):
        return None if node.id == "self" else node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id == "self":
            return f"self.{node.attr}"
    return None


@dataclass
class _Effects:
    reads: set[str]
    writes: set[str]


def _effects(original: ast.stmt, imports: dict[str, str]) -> _Effects:
    """Names and `self.` attributes a statement reads and writes, on the student's own names.

    A method call on a student's object (`layers.append(...)`, `self.blocks.extend(...)`)
    counts as writing it, so such calls keep their place; calls into a library never do."""
    reads: set[str] = set()
    writes: set[str] = set()
    for node in ast.walk(original):
        key = _key(node)
        if key is not None and key not in imports:
            ctx = getattr(node, "ctx", None)
            (writes if isinstance(ctx, (ast.Store, ast.Del)) else reads).add(key)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root = node.func.value
            while isinstance(root, (ast.Attribute, ast.Subscript)) and _key(root) is None:
                root = root.value
            key = _key(root)
            if key is not None and key not in imports:
                writes.add(key)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            writes.add(node.name)
        if isinstance(node, ast.arg):
            writes.add(node.arg)
    return _Effects(reads, writes)


def _order(pairs: list[tuple[ast.stmt, ast.stmt]], rank: dict[str, int],
           imports: dict[str, str]) -> list[tuple[ast.stmt, ast.stmt]]:
    """(canonical, original) statements in canonical order: a topological order of their data
    dependencies, breaking ties by the rank of the layer written (statements that write
    nothing, such as `super().__init__()`, first), then by canonical text."""
    effects = [_effects(o, imports) for _, o in pairs]
    keys = [(min((rank.get(w, LATE) for w in e.writes), default=-1), ast.unparse(c))
            for e, (c, _) in zip(effects, pairs, strict=True)]
    before: list[set[int]] = [set() for _ in pairs]
    for j, later in enumerate(effects):
        for i in range(j):
            earlier = effects[i]
            if (earlier.writes & (later.reads | later.writes)) or (earlier.reads & later.writes):
                before[j].add(i)
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(pairs):
        ready = [i for i in range(len(pairs)) if i not in done and before[i] <= done]
        chosen = min(ready, key=lambda i: (keys[i], i))
        done.add(chosen)
        order.append(chosen)
    return [pairs[i] for i in order]


def _forward_rank(original_class: ast.ClassDef) -> dict[str, int]:
    """`self.` attributes in the order the methods other than `__init__` first read them."""
    rank: dict[str, int] = {}
    methods = sorted(original_class.body, key=lambda m: _method_order(getattr(m, "name", "")))
    for item in methods:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name != "__init__":
            for node in ast.walk(item):
                key = _key(node)
                if key and key.startswith("self.") and isinstance(
                        getattr(node, "ctx", None), ast.Load):
                    rank.setdefault(key, len(rank))
    return rank


def _method_order(name: str) -> int:
    return {"__init__": 0, "forward": 1}.get(name, 2)


def _bodies(canonical: ast.AST, original: ast.AST, rank: dict[str, int],
            imports: dict[str, str]) -> None:
    """Sort every statement list under `canonical`, walking `original` alongside it.

    In a class the methods other than `__init__` are sorted first, so that the order in which
    they use the layers (the rank `__init__` is sorted by) is itself canonical."""
    if isinstance(canonical, ast.ClassDef) and isinstance(original, ast.ClassDef):
        pairs = list(zip(canonical.body, original.body, strict=True))
        pairs.sort(key=lambda p: _method_order(getattr(p[1], "name", "")) == 0)
        rank = {}
        for child, child_original in pairs:
            if _method_order(getattr(child_original, "name", "")) == 0:
                rank = _forward_rank(original)
            _bodies(child, child_original, rank, imports)
        pairs.sort(key=lambda p: (_method_order(getattr(p[1], "name", "")), ast.unparse(p[0])))
        canonical.body = [c for c, _ in pairs]
        original.body = [o for _, o in pairs]
        return
    for field in ("body", "orelse", "finalbody"):
        statements = getattr(canonical, field, None)
        originals = getattr(original, field, None)
        if not isinstance(statements, list) or not isinstance(originals, list):
            continue
        pairs = list(zip(statements, originals, strict=True))
        for child, child_original in pairs:
            _bodies(child, child_original, rank, imports)
        pairs = _order(pairs, rank, imports)
        setattr(canonical, field, [c for c, _ in pairs])
        setattr(original, field, [o for _, o in pairs])
    for handler_c, handler_o in zip(getattr(canonical, "handlers", []),
                                    getattr(original, "handlers", []), strict=True):
        _bodies(handler_c, handler_o, rank, imports)


def _kept(statements: list[ast.stmt]) -> list[ast.stmt]:
    """The statements worth comparing: no docstrings, bare constants, `pass`, bare annotations."""
    kept = []
    for s in statements:
        if _is_noise(s) or (isinstance(s, ast.AnnAssign) and s.value is None):
            continue
        kept.append(s)
    return kept


def _lex(text: str) -> list[str]:
    """Python tokens of `text`, with dotted names (`torch.nn.Conv2d`, `self.A`) as one."""
    out: list[str] = []
    previous_dot = False
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in SKIPPED_TOKENS:
            continue
        if (token.type == tokenize.OP and token.string == "." and out
                and (out[-1][-1:].isalnum() or out[-1][-1:] == "_")):
            out[-1] += "."
            previous_dot = True
            continue
        if previous_dot and token.type == tokenize.NAME:
            out[-1] += token.string
        else:
            out.append(token.string)
        previous_dot = False
    return out


def _header(node: ast.stmt) -> str:
    """The first line of a compound statement, canonical ("def V(self, V):", "for V in ...")."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        shell = copy.copy(node)
        shell.body = [ast.Pass()]
        lines = ast.unparse(shell).split("\n")
        return "\n".join(lines[:-1])
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return f"for {ast.unparse(node.target)} in {ast.unparse(node.iter)}:"
    if isinstance(node, (ast.While, ast.If)):
        return f"{'while' if isinstance(node, ast.While) else 'if'} {ast.unparse(node.test)}:"
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return "with " + ", ".join(ast.unparse(item) for item in node.items) + ":"
    return "try:"


def _header_lines(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    head = {ast.If: "test", ast.While: "test", ast.For: "iter", ast.AsyncFor: "iter"}
    part = getattr(node, head.get(type(node), ""), None)
    last = getattr(part, "end_lineno", None) or node.lineno
    return first, last


COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor,
            ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)


def _emit(canonical: ast.stmt, original: ast.stmt, out: list[Token]) -> None:
    if not isinstance(canonical, COMPOUND):
        first, last = original.lineno, original.end_lineno or original.lineno
        out.extend(Token(text, first, last) for text in _lex(ast.unparse(canonical)))
        return
    first, last = _header_lines(original)
    out.extend(Token(text, first, last) for text in _lex(_header(canonical)))
    for child, child_original in zip(canonical.body, original.body, strict=True):
        _emit(child, child_original, out)
    for handler_c, handler_o in zip(getattr(canonical, "handlers", []),
                                    getattr(original, "handlers", []), strict=True):
        text = "except" + (f" {ast.unparse(handler_c.type)}" if handler_c.type else "") + ":"
        out.extend(Token(t, handler_o.lineno, handler_o.lineno) for t in _lex(text))
        for child, child_original in zip(handler_c.body, handler_o.body, strict=True):
            _emit(child, child_original, out)
    for field, word in (("orelse", "else:"), ("finalbody", "finally:")):
        branch_c, branch_o = getattr(canonical, field, []), getattr(original, field, [])
        if branch_c:
            out.extend(Token(t, branch_o[0].lineno, branch_o[0].lineno) for t in _lex(word))
        for child, child_original in zip(branch_c, branch_o, strict=True):
            _emit(child, child_original, out)
    end = original.end_lineno or last
    out.append(Token(";", end, end))   # end of the block


def _strip(tree: ast.AST) -> None:
    """Drop noise statements from every body of the original tree (kept in step with the
    canonical one, which drops the same statements)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list):
                setattr(node, field, _kept(statements))


def normalise(source: str, *, aliases: dict[str, str] | None = None,
              kept: Iterable[str] = (), first: Iterable[str] = ()) -> list[Token]:
    """The canonical token stream of `source` (definitions; imports only inform `aliases`).

    `kept` names are spelled as they are (the rubric's class names: prescribed, not chosen);
    top-level definitions named in `first` come first, the others after them in canonical order.
    """
    original = ast.parse(source)
    imports = {**import_aliases(original), **(aliases or {})}
    body = [s for s in original.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    original.body = body
    _strip(original)
    canonical = copy.deepcopy(original)
    kept = set(kept)
    _Canonical(imports, _defined_names(original), _self_attributes(original),
               kept).visit(canonical)
    leading = set(first)
    pairs = list(zip(canonical.body, original.body, strict=True))
    for c, o in pairs:
        _bodies(c, o, {}, imports)
    pairs.sort(key=lambda p: (getattr(p[1], "name", None) not in leading, ast.unparse(p[0])))
    tokens: list[Token] = []
    for c, o in pairs:
        _emit(c, o, tokens)
    return tokens
