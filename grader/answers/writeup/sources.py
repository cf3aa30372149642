"""Lines of a write-up in any of the forms students hand in, one reader per form.

* ``.pdf``: the text layer (``pdf.py``).
* ``.md`` / ``.markdown`` / ``.txt``: Markdown as typed, or as PDF-to-Markdown converters write it
  (``#`` / ``**4.3**`` headings, ``$..$`` math, pipe tables).
* ``.tex``: a LaTeX source or fragment; numbered ``\\section``/``\\subsection`` headings get
  the numbers LaTeX would print, so ``\\subsection{}`` under the 4th section reads "4.3".
* ``.ipynb``: the notebook's Markdown (and raw) cells, each line located by cell.

Every reader returns the same ``Document``: lines with their location and, for tables, cells.
"""

from __future__ import annotations

import re
from pathlib import Path

from .clean import fold, strip_latex_layout, strip_markup
from .pdf import PdfError, read_pdf
from .records import Cell, Document, Line, Where

__all__ = ["SUFFIXES", "WriteupError", "document_from_text", "read_document"]

SUFFIXES = (".pdf", ".md", ".markdown", ".txt", ".tex", ".ipynb")


class WriteupError(ValueError):
    """A write-up that cannot be read at all (not a PDF, not a notebook, unknown suffix)."""


_ALIGNED = re.compile(r"\S(?:.*?\S)?(?=\s{2,}|\t|$)")
_PIPE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _pipe_cells(text: str) -> tuple[Cell, ...]:
    body = text.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    parts = re.split(r"(?<!\\)\|", body)
    return tuple(Cell(p.strip(), float(i), i + 0.9) for i, p in enumerate(parts))


def _aligned_cells(text: str) -> tuple[Cell, ...]:
    """Cells of a line laid out with runs of spaces (a converter's or a student's table)."""
    cells = tuple(Cell(m.group(0), float(m.start()), float(m.end()))
                  for m in _ALIGNED.finditer(text.expandtabs(8)))
    return cells if len(cells) > 1 else ()


def _markdown_lines(source: str, where: list[Where]) -> list[Line]:
    """Markdown (or plain text) lines; ``where[i]`` locates source line ``i``."""
    out: list[Line] = []
    fenced = commented = False
    for raw, at in zip(source.splitlines(), where, strict=False):
        if commented or (raw.lstrip().startswith("<!--") and "-->" not in raw):
            commented = "-->" not in raw  # an HTML comment over several lines
            continue
        if raw.strip().startswith(("```", "~~~")):
            fenced = not fenced
            out.append(Line("", at))
            continue
        text = fold(raw)
        if fenced:
            out.append(Line(text.strip(), at))
            continue
        if re.fullmatch(r"\s*<!--.*-->\s*", text) or _PIPE_RULE.match(text):
            continue
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", text)
        if heading:
            out.append(Line(strip_markup(heading.group(1)), at, heading=True))
            continue
        if text.count("|") >= 2 and not text.strip().startswith("$"):
            cells = tuple(Cell(strip_markup(c.text), c.x0, c.x1) for c in _pipe_cells(text))
            out.append(Line("   ".join(c.text for c in cells), at, cells, grid=True))
            continue
        clean = strip_markup(text)
        out.append(Line(clean, at, _aligned_cells(clean)))
    return out


_SECTION = re.compile(r"\\(section|subsection|subsubsection|paragraph)(\*?)\s*(?:\[[^\]]*\])?\s*\{")
_OWN_LABEL = re.compile(
    r"^\s*(?:(?:part|section|question|q|problem|exercise|task|§)\s*[A-Da-d1-9]\b"
    r"|[A-Da-d1-9]\s*[.\-(]\s*[1-9a-e]\b)", re.IGNORECASE)


def _braced(text: str, start: int) -> tuple[str, int]:
    """The content of the ``{...}`` group opening at ``text[start - 1]``, and the end index."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start:i], i + 1
    return text[start:], len(text)


def _latex_lines(source: str) -> list[Line]:
    """LaTeX lines after ``\\begin{document}`` (all of a fragment), numbered as in the file."""
    first = 1
    begin = source.find("\\begin{document}")
    if begin >= 0:
        first += source.count("\n", 0, begin)
        source = source[begin:].replace("\\begin{document}", "", 1)
    counters = [0, 0, 0]
    out: list[Line] = []
    heading_start = re.compile(r"(?=\\(?:sub)*section\b|\\paragraph\b)")
    pieces = ((n, piece) for n, raw in enumerate(source.splitlines(), start=first)
              for piece in ([p for p in heading_start.split(raw) if p] or [""]))
    for n, raw in pieces:  # "\subsection{}\subsection{}" on one line: two headings
        at = Where("line", 0, n)
        text = fold(raw)
        counter = re.search(r"\\setcounter\{(sub)?section\}\{(\d+)\}", text)
        if counter:
            counters[1 if counter.group(1) else 0] = int(counter.group(2))
            continue
        m = _SECTION.search(text)
        if m:
            title, end = _braced(text, m.end())
            title = strip_latex_layout(title).strip()
            level = {"section": 0, "subsection": 1, "subsubsection": 2}.get(m.group(1))
            label = ""
            if level is not None and not m.group(2):
                counters[level] += 1
                for deeper in range(level + 1, 3):
                    counters[deeper] = 0
                label = ".".join(str(c) for c in counters[: level + 1])
            shown = title if (_OWN_LABEL.match(title) or not label) else f"{label} {title}"
            out.append(Line(shown.strip(), at, heading=True))
            rest = strip_latex_layout(text[end:])
            if rest:
                out.append(Line(rest, at, _aligned_cells(rest)))
            continue
        clean = strip_latex_layout(text)
        if re.search(r"(?<!\\)&", clean):
            parts = [p.strip() for p in re.split(r"(?<!\\)&", clean)]
            cells = tuple(Cell(p, float(i), i + 0.9) for i, p in enumerate(parts))
            out.append(Line("   ".join(parts), at, cells, grid=True))
            continue
        out.append(Line(clean, at, _aligned_cells(clean)))
    return out


def _notebook_lines(path: Path) -> list[Line]:
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types on a bad file
        raise WriteupError(f"{path}: not a readable notebook ({exc})") from None
    out: list[Line] = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") not in ("markdown", "raw"):
            continue
        source = cell.get("source", "")
        where = [Where("cell", index, n) for n in range(1, source.count("\n") + 2)]
        out.extend(_markdown_lines(source, where))
        out.append(Line("", Where("cell", index, len(where) + 1)))
    return out


def document_from_text(text: str, path: Path, kind: str = "markdown") -> Document:
    """A document from text already in memory (a Markdown cell, a converter's output)."""
    if kind == "latex":
        return Document(path, "latex", tuple(_latex_lines(text)))
    where = [Where("line", 0, n) for n in range(1, text.count("\n") + 2)]
    return Document(path, "text" if kind == "text" else "markdown",
                    tuple(_markdown_lines(text, where)))


def read_document(path: str | Path) -> Document:
    """The write-up at ``path`` as lines; WriteupError when it cannot be read at all."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise WriteupError(f"{path}: no such file")
    if suffix not in SUFFIXES:
        raise WriteupError(f"{path}: a write-up must be one of {', '.join(SUFFIXES)}")
    if suffix == ".pdf":
        try:
            return read_pdf(path)
        except PdfError as exc:
            raise WriteupError(str(exc)) from None
    if suffix == ".ipynb":
        return Document(path, "notebook", tuple(_notebook_lines(path)))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WriteupError(f"{path}: cannot read ({exc})") from None
    kind = "latex" if suffix == ".tex" else "text" if suffix == ".txt" else "markdown"
    return document_from_text(text, path, kind)
