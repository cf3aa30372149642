"""Turn a notebook code cell into plain Python that is safe to run, keeping its line numbers.

IPython's own input transformer rewrites `!cmd`, `%magic` and `%%cellmagic` exactly as a kernel
would (so `%`-formatting continuation lines survive); the result is then parsed and the things a
grader must never do are neutralised by editing the text at the AST's positions: shell commands,
magics, Google Drive mounts, downloads, plotting windows, directory changes. Every edit keeps
the cell's line count, so line N of the clean cell is line N of the student's cell.
"""

from __future__ import annotations
import __future__ as future_module

import ast
import difflib
import re
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

# cell magics whose body is ordinary Python run once (we run it as plain code)
UNWRAP_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit"}
WRITEFILE_MAGICS = {"writefile", "file"}
# line magics whose argument is a statement to run (`%time cnn = train(args)`)
UNWRAP_LINE_MAGICS = {"time", "timeit", "prun", "memit", "capture"}

DOWNLOAD_CALLS = {"urlretrieve", "urlopen", "get_file", "download_url_to_file", "download_url",
                  "download_and_extract_archive", "download_file_from_google_drive",
                  "load_state_dict_from_url", "hf_hub_download", "snapshot_download"}
DOWNLOAD_DOTTED = {"wget.download", "gdown.download", "gdown.download_folder", "requests.get",
                   "requests.post", "requests.request", "requests.head"}
PLOT_CALLS = {"show", "savefig", "pause", "imsave"}
PLOT_ROOTS = {"plt", "pyplot", "matplotlib.pyplot"}
MODEL_LOADERS = re.compile(r"^(deeplabv3|fcn|lraspp)_\w+$")


@dataclass
class SyntaxProblem:
    """A cell that does not compile: message, line in the student's cell, that line's text."""

    message: str
    line: int | None
    text: str


@dataclass
class WrittenFile:
    """A `%%writefile NAME` cell: what it would write."""

    name: str
    content: str
    append: bool
    line: int


@dataclass
class CleanCell:
    """Plain Python for one code cell, line-aligned with the student's cell."""

    index: int
    source: str                       # what runs in place of the cell (notebook execution)
    lines: list[int]                  # for each line of `source`, the student's line number
    tree: ast.Module | None           # parsed `source`; None when it does not compile
    error: SyntaxProblem | None = None
    neutralised: list[dict] = field(default_factory=list)
    futures: list[tuple[str, int]] = field(default_factory=list)   # (feature, student line)
    module: str | None = None         # a .py module (or %%writefile x.py body): its name
    written: WrittenFile | None = None
    body: CleanCell | None = None     # %%writefile x.py: the module's own clean code
    magic: str | None = None          # the cell magic, if any

    @property
    def text_lines(self) -> list[str]:
        return self.source.split("\n")

    def student_line(self, line: int | None) -> int | None:
        """The student's line for line `line` of `source`."""
        if line is None or not self.lines:
            return line
        return self.lines[min(max(line, 1), len(self.lines)) - 1]


@dataclass
class CleanContext:
    """What one cell tells the next: names imported from google.colab."""

    colab_names: set[str] = field(default_factory=set)


def _record(cell: int, line: int | None, what: str) -> dict:
    return {"cell": cell, "line": line, "what": what}


def _snippet(text: str, limit: int = 80) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    more = len(text.strip().splitlines()) > 1
    if len(first) > limit:
        return first[: limit - 3] + "..."
    return first + (" ..." if more else "")


def ipython_transform(text: str) -> tuple[str, list[int]]:
    """IPython's cell transform, re-aligned so each output line maps to a student line."""
    orig = text.split("\n")
    lead = 0
    while lead < len(orig) and not orig[lead].strip():
        lead += 1
    body = orig[lead:]
    if not body:
        return text, list(range(1, len(orig) + 1))
    try:
        out = TransformerManager().transform_cell("\n".join(body))
    except Exception:  # IPython gives up on some broken cells; compile reports the error
        out = "\n".join(body)
    out_lines = out.split("\n")
    if out_lines and out_lines[-1] == "" and (not body or body[-1] != ""):
        out_lines.pop()
    lines: list[str] = [""] * lead
    mapping: list[int] = list(range(1, lead + 1))
    matcher = difflib.SequenceMatcher(None, body, out_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines.extend(out_lines[j1:j2])
            mapping.extend(lead + 1 + i for i in range(i1, i2))
            continue
        n_orig, n_out = i2 - i1, j2 - j1
        for k in range(n_out):
            lines.append(out_lines[j1 + k])
            mapping.append(lead + 1 + i1 + min(k, max(n_orig - 1, 0)) if n_orig else
                           max(lead + i1, 1))
        for k in range(n_out, n_orig):   # an escaped command spanning lines became one line
            lines.append("")
            mapping.append(lead + 1 + i1 + k)
    return "\n".join(lines), mapping


def dotted_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):
        base = dotted_name(node.func)
        return f"{base}()" if base else None
    return None


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _parse_statement(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _magic_statement(magic: str, args: str) -> str | None:
    """The statement inside `%time stmt` / `%timeit -n1 stmt`, if it is valid Python."""
    if _parse_statement(args) and args.strip():
        return args.strip()
    tokens = args.split()
    while tokens and tokens[0].startswith("-"):
        option = tokens.pop(0)
        if option in ("-n", "-r", "-p", "-o") and tokens and tokens[0].isdigit():
            tokens.pop(0)
    rest = " ".join(tokens)
    return rest if rest and _parse_statement(rest) else None


class _Lazy:
    """A snippet computed only if it ends up in a message (most calls are left alone)."""

    def __init__(self, make) -> None:  # noqa: ANN001 - a zero-argument callable
        self.make = make

    def __format__(self, spec: str) -> str:
        return format(self.make(), spec)


class _Neutraliser(ast.NodeVisitor):
    """Collects text edits (positions from the AST) that neutralise unsafe calls."""

    def __init__(self, cell: int, source: str, lines_map: list[int], ctx: CleanContext) -> None:
        self.cell = cell
        self.source = source
        self.lines = source.split("\n")
        self.lines_map = lines_map
        self.ctx = ctx
        self.edits: list[tuple[int, int, int, int, str]] = []
        self.records: list[dict] = []
        self.futures: list[tuple[str, int]] = []

    # -- helpers -------------------------------------------------------------------------
    def _line(self, node: ast.AST) -> int:
        lineno = getattr(node, "lineno", 1)
        return self.lines_map[min(lineno, len(self.lines_map)) - 1] if self.lines_map else lineno

    def _text(self, node: ast.AST) -> str:
        """The source of `node` (only its first lines matter: it becomes a short snippet)."""
        first, last = node.lineno, min(node.end_lineno, node.lineno + 3)  # type: ignore
        lines = self.lines[first - 1:last]
        if not lines:
            return ""
        if last == node.end_lineno:  # type: ignore[attr-defined]
            lines[-1] = lines[-1][:char_col(lines[-1], node.end_col_offset)]  # type: ignore
        lines[0] = lines[0][char_col(lines[0], node.col_offset):]  # type: ignore
        return "\n".join(lines)

    def _replace(self, node: ast.AST, text: str, what: str | None, *, statement: bool = False
                 ) -> None:
        span = node.end_lineno - node.lineno  # type: ignore[attr-defined]
        if span:
            text = f"({'None' if statement else text}" + "\n" * span + ")"
        self.edits.append((node.lineno, node.col_offset,  # type: ignore[attr-defined]
                           node.end_lineno, node.end_col_offset, text))  # type: ignore
        if what:
            self.records.append(_record(self.cell, self._line(node), what))

    # -- statements ----------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        colab = [a for a in node.names if a.name == "google.colab" or
                 a.name.startswith("google.colab.")]
        if colab and len(colab) == len(node.names):
            for alias in node.names:
                self.ctx.colab_names.add((alias.asname or alias.name).split(".")[0])
            self._replace(node, "pass", f"Google Colab import: {_snippet(self._text(node))}",
                          statement=True)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module == "__future__":
            for alias in node.names:
                self.futures.append((alias.name, self._line(node)))
            self._replace(node, "pass", None, statement=True)
        elif module == "google.colab" or module.startswith("google.colab."):
            for alias in node.names:
                self.ctx.colab_names.add(alias.asname or alias.name)
            self._replace(node, "pass", f"Google Colab import: {_snippet(self._text(node))}",
                          statement=True)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if (isinstance(call, ast.Call) and dotted_name(call.func) == "get_ipython().run_line_magic"
                and len(call.args) >= 2):
            name, args = _const_str(call.args[0]), _const_str(call.args[1])
            if name in UNWRAP_LINE_MAGICS and args is not None and node.lineno == node.end_lineno:
                inner = _magic_statement(name, args)
                if inner and "\n" not in inner:
                    self._replace(node, inner, f"magic %{name} (statement run as plain code)")
                    return
        self.generic_visit(node)

    # -- calls ---------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        verdict = self._classify(node)
        if verdict is not None:
            replacement, what = verdict
            if replacement is None:       # recorded, left in place for the prelude
                self.records.append(_record(self.cell, self._line(node), what))
            else:
                self._replace(node, replacement, what)
                return
        for keyword in node.keywords:
            if (keyword.arg == "download" and isinstance(keyword.value, ast.Constant)
                    and keyword.value.value is True):
                self._replace(keyword.value, "False",
                              f"dataset download turned off: {_snippet(self._text(node))}")
        self.generic_visit(node)

    def _classify(self, node: ast.Call) -> tuple[str | None, str] | None:
        name = dotted_name(node.func)
        if not name:
            return None
        if name.startswith("get_ipython()."):
            method = name.split(".", 1)[1]
            first = _const_str(node.args[0]) if node.args else None
            second = _const_str(node.args[1]) if len(node.args) > 1 else None
            if method in ("system", "system_raw", "system_piped"):
                return "None", f"shell command: {_snippet(first or '')}"
            if method == "getoutput":
                return "[]", f"shell command (output captured): {_snippet(first or '')}"
            if method in ("run_line_magic", "magic"):
                return "None", f"magic %{first or ''} {second or ''}".rstrip()
            if method == "run_cell_magic":
                return "None", f"cell magic %%{first or ''}"
            return "None", f"IPython call: {_snippet(self._text(node))}"
        parts = name.split(".")
        snippet = _Lazy(lambda: _snippet(self._text(node)))
        if parts[0] in self.ctx.colab_names or name in ("drive.mount", "drive.flush_and_unmount"):
            return "None", f"Google Colab: {snippet}"
        if name in DOWNLOAD_DOTTED or parts[-1] in DOWNLOAD_CALLS:
            return "None", f"download: {snippet}"
        if name in ("torch.hub.load", "hub.load") or (
                MODEL_LOADERS.match(parts[-1]) and any(
                    k.arg in ("pretrained", "weights") for k in node.keywords)):
            return None, (f"pretrained model download: {snippet} (the grader builds the model "
                          "locally with random weights)")
        if parts[-1] in PLOT_CALLS and ".".join(parts[:-1]) in PLOT_ROOTS:
            return "None", f"plotting: {snippet}"
        if name in ("os.chdir", "chdir"):
            return "None", f"directory change: {snippet}"
        return None


def char_col(line: str, col: int) -> int:
    """AST columns count UTF-8 bytes; text editing needs characters."""
    return len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))


def apply_edits(source: str, edits: list[tuple[int, int, int, int, str]]) -> str:
    lines = source.split("\n")
    for lineno, col, end_lineno, end_col, text in sorted(edits, reverse=True):
        start = char_col(lines[lineno - 1], col)
        end = char_col(lines[end_lineno - 1], end_col)
        head = lines[lineno - 1][:start]
        tail = lines[end_lineno - 1][end:]
        lines[lineno - 1:end_lineno] = (head + text + tail).split("\n")
    return "\n".join(lines)


def _syntax_check(source: str, tree: ast.Module, futures: list[tuple[str, int]]) -> None:
    """Raise SyntaxError for what ast.parse lets through but compile does not."""
    for feature, _line in futures:
        if feature not in future_module.all_feature_names:
            raise SyntaxError(f"future feature {feature} is not defined")
    compile(tree, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def clean_code(index: int, text: str, ctx: CleanContext | None = None, *,
               module: str | None = None) -> CleanCell:
    """Clean one code cell (or a whole `.py` module when `module` is given)."""
    ctx = ctx or CleanContext()
    raw_lines = text.split("\n")
    first = next((i for i, line in enumerate(raw_lines) if line.strip()), None)
    if module is None and first is not None and raw_lines[first].startswith("%%"):
        return _clean_cell_magic(index, raw_lines, first, ctx)
    source, lines_map = ipython_transform(text)
    return _finish(index, source, lines_map, ctx, module=module)


def _finish(index: int, source: str, lines_map: list[int], ctx: CleanContext, *,
            module: str | None = None, records: list[dict] | None = None,
            magic: str | None = None) -> CleanCell:
    records = list(records or [])
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return _broken(index, source, lines_map, exc, records, module, magic)
    except (ValueError, RecursionError, MemoryError) as exc:   # null bytes, absurd nesting
        return _broken(index, source, lines_map, SyntaxError(str(exc)), records, module, magic)
    visitor = _Neutraliser(index, source, lines_map, ctx)
    visitor.visit(tree)
    new_source = apply_edits(source, visitor.edits) if visitor.edits else source
    try:
        new_tree = ast.parse(new_source) if visitor.edits else tree
    except SyntaxError:  # an edit we could not place (a grader bug): never run such a cell
        new_source = "\n".join("" for _ in source.split("\n"))
        new_tree = ast.parse(new_source)
        visitor.records.append(_record(index, None, "the grader could not neutralise this "
                                       "cell's shell commands or downloads; it was not run"))
        visitor.futures = []
    try:
        _syntax_check(new_source, new_tree, visitor.futures)
    except SyntaxError as exc:
        return _broken(index, new_source, lines_map, exc, records + visitor.records, module, magic)
    if len(new_source.split("\n")) != len(lines_map):   # never expected: keep the map honest
        lines_map = (lines_map + [lines_map[-1]] * len(new_source.split("\n")))[
            : len(new_source.split("\n"))]
    return CleanCell(index=index, source=new_source, lines=lines_map, tree=new_tree,
                     neutralised=records + visitor.records, futures=visitor.futures,
                     module=module, magic=magic)


def _broken(index: int, source: str, lines_map: list[int], exc: SyntaxError,
            records: list[dict], module: str | None, magic: str | None) -> CleanCell:
    line = exc.lineno
    student = lines_map[min(max(line, 1), len(lines_map)) - 1] if line and lines_map else line
    text = (exc.text or "").rstrip("\n")
    if not text and line and 0 < line <= len(source.split("\n")):
        text = source.split("\n")[line - 1]
    error = SyntaxProblem(message=exc.msg or "invalid syntax", line=student, text=text.strip())
    return CleanCell(index=index, source=source, lines=lines_map, tree=None, error=error,
                     neutralised=records, module=module, magic=magic)


def _clean_cell_magic(index: int, raw_lines: list[str], first: int,
                      ctx: CleanContext) -> CleanCell:
    header = raw_lines[first][2:]
    name, _, args = header.strip().partition(" ")
    magic_line = first + 1
    if name in UNWRAP_CELL_MAGICS:
        what = f"cell magic %%{name} (body run as plain code)"
        if name == "capture" and args.split() and not args.split()[-1].startswith("-"):
            what += f"; `{args.split()[-1]}` is not set"
        body = list(raw_lines)
        body[first] = ""
        source, lines_map = ipython_transform("\n".join(body))
        return _finish(index, source, lines_map, ctx, magic=name,
                       records=[_record(index, magic_line, what)])
    blank = "\n".join("" for _ in raw_lines)
    lines_map = list(range(1, len(raw_lines) + 1))
    if name in WRITEFILE_MAGICS:
        tokens = args.split()
        append = any(t in ("-a", "--append") for t in tokens)
        target = next((t for t in tokens if not t.startswith("-")), "")
        target = target.strip("'\"")
        content = "\n".join(raw_lines[first + 1:])
        if content and not content.endswith("\n"):
            content += "\n"
        written = WrittenFile(name=target, content=content, append=append, line=magic_line)
        base = target.replace("\\", "/").rsplit("/", 1)[-1]
        mode = "a" if append else "w"
        writer = (f"with open({base!r}, {mode!r}, encoding='utf-8') as _grader_file: "
                  f"_grader_file.write({content!r})")
        source = "\n".join([""] * first + [writer] + [""] * (len(raw_lines) - first - 1))
        body_cell = None
        what = f"cell magic %%writefile {target} (written to the working folder as {base})"
        if base.endswith(".py") and base[:-3].isidentifier():
            padded = "\n".join([""] * (first + 1) + raw_lines[first + 1:])
            body_cell = clean_code(index, padded, ctx, module=base[:-3])
            what += f"; importable as module {base[:-3]}"
        cell = CleanCell(index=index, source=source, lines=lines_map,
                         tree=ast.parse(source), neutralised=[_record(index, magic_line, what)],
                         written=written, body=body_cell, magic=name)
        return cell
    return CleanCell(index=index, source=blank, lines=lines_map, tree=ast.parse(blank),
                     neutralised=[_record(index, magic_line,
                                          f"cell magic %%{name or '?'} (cell not run)")],
                     magic=name or "?")
