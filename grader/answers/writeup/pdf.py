"""Lines of a PDF write-up from its text layer, exponents kept.

pypdf's own text extraction flattens superscripts onto the baseline, so ``3²·NF`` comes out as
``32·NF`` and ``NF²`` as ``NF2``: a counting answer read that way is wrong, and no rule applied
to the flattened text can tell ``3²`` from ``32``. So the page is rebuilt from pypdf's
positioned text pieces (its ``visitor_text`` callback: text, matrices, font size): pieces on one
baseline make a line, a smaller piece raised above a line's baseline is written ``^{..}``, a
lowered one ``_{..}``, and a wide horizontal gap starts a new cell, which is how a table's
columns survive. Page numbers are dropped; a clearly larger vertical gap becomes a blank line,
so paragraphs stay apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .clean import fold, join_subscripted_words
from .records import Cell, Document, Line, Where

__all__ = ["PdfError", "read_pdf"]

SMALL = 0.85  # a piece below this fraction of its line's size may be an exponent or index
SAME_ROW = 0.2  # pieces whose baselines differ by less than this (in font sizes) share a row
CELL_GAP = 1.2  # a horizontal gap wider than this (in font sizes) separates two cells
PARAGRAPH_GAP = 1.75  # a vertical gap wider than this (in font sizes) is a blank line
MAX_PAGES = 200  # a write-up is a few dozen pages; more is not one, and would only cost time
# advance of a character in font sizes when the font has no usable /Widths (a CID font): a
# rough Computer Modern / Helvetica table, enough to tell a word gap from a column gap
_NARROW = dict.fromkeys(" .,:;'!|()[]{}ilj`", 0.3)
_WIDE = dict.fromkeys("+=×−<>÷·MWmw", 0.8)


class PdfError(ValueError):
    """A PDF that cannot be opened or read."""


def _table_width(text: str) -> float:
    return sum(_NARROW.get(ch, _WIDE.get(ch, 0.7 if ch.isupper() else 0.5)) for ch in text)


@dataclass
class _Piece:
    text: str
    x: float
    y: float
    size: float
    width: float  # advance of the whole piece, in font sizes

    @property
    def end(self) -> float:
        return self.x + self.width * self.size


def _font_widths(font: Any) -> Callable[[str], float]:
    """The font's own advance widths for ASCII codes (simple fonts: Type1, TrueType), falling
    back to the rough table for other characters and for fonts without a /Widths array."""
    try:
        widths = [float(w) / 1000 for w in font["/Widths"].get_object()]
        first = int(font["/FirstChar"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return _table_width

    def width(text: str) -> float:
        total = 0.0
        for ch in text:
            index = ord(ch) - first
            if ord(ch) < 128 and 0 <= index < len(widths) and widths[index] > 0:
                total += widths[index]
            else:
                total += _table_width(ch)
        return total

    return width


@dataclass
class _Row:
    pieces: list[_Piece] = field(default_factory=list)

    @property
    def size(self) -> float:
        return max(p.size for p in self.pieces)

    @property
    def y(self) -> float:
        big = [p.y for p in self.pieces if p.size >= self.size * SMALL]
        return sorted(big)[len(big) // 2]

    @property
    def left(self) -> float:
        return min(p.x for p in self.pieces)

    @property
    def right(self) -> float:
        return max(p.end for p in self.pieces)


def _product(m: list[float], n: list[float]) -> list[float]:
    """``m`` then ``n`` for PDF matrices ``[a b c d e f]``."""
    return [m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
            m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
            m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5]]


def _pieces(page) -> list[_Piece]:  # type: ignore[no-untyped-def]
    found: list[_Piece] = []
    measures: dict[int, Callable[[str], float]] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text or not text.strip():
            return
        m = _product([float(v) for v in tm], [float(v) for v in cm])
        scale = math.hypot(m[2], m[3]) or 1.0
        measure = measures.setdefault(id(font), _font_widths(font) if font else _table_width)
        raw = text.replace("\n", " ").rstrip()
        # pypdf prefixes a space it inferred from a gap: that space is not drawn, so not measured
        width = measure(raw.lstrip())
        found.append(_Piece(fold(raw), m[4], m[5], max(float(size) * scale, 1.0), width))

    page.extract_text(visitor_text=visit)
    return found


def _rows(pieces: list[_Piece]) -> list[_Row]:
    rows: list[_Row] = []
    for piece in sorted(pieces, key=lambda p: (-p.y, p.x)):
        for row in rows[-2:]:
            if abs(row.y - piece.y) <= SAME_ROW * max(row.size, piece.size):
                row.pieces.append(piece)
                break
        else:
            rows.append(_Row([piece]))
    return _attach_small_rows(rows)


def _attach_small_rows(rows: list[_Row]) -> list[_Row]:
    """A row of small pieces just above (below) a larger row holds that row's exponents
    (indices)."""
    kept: list[_Row] = []
    for i, row in enumerate(rows):
        target = None
        for j in (i + 1, i - 1):  # the row below first: superscripts are the common case
            if not 0 <= j < len(rows) or rows[j] is row:
                continue
            base = rows[j]
            if row.size > SMALL * base.size:
                continue
            rise = (row.y - base.y) / base.size
            inside = row.left >= base.left - base.size and row.right <= base.right + 3 * base.size
            if inside and (0.1 <= rise <= 0.75 or -0.5 <= rise <= -0.05):
                target = base
                break
        if target is None:
            kept.append(row)
        else:
            target.pieces.extend(row.pieces)
    return kept


def _line(row: _Row, where: Where) -> Line:
    size, base_y = row.size, row.y
    cells: list[Cell] = []
    text, start, end = "", None, None
    for piece in sorted(row.pieces, key=lambda p: p.x):
        rise = (piece.y - base_y) / size
        small = piece.size < SMALL * size
        role = "sup" if small and rise > 0.12 else "sub" if small and rise < -0.08 else "normal"
        if role != "normal":
            text += ("^{" if role == "sup" else "_{") + piece.text.strip() + "}"
            end = max(end or piece.x, piece.end)
            continue
        if start is not None and end is not None and piece.x - end > CELL_GAP * size:
            cells.append(Cell(text.strip(), start, end))
            text, start = "", None
        elif text and end is not None and piece.x - end > 0.15 * size \
                and not text.endswith(" ") and not piece.text.startswith(" "):
            text += " "
        if start is None:
            start = piece.x
        text += piece.text
        end = max(end or piece.x, piece.end)
    if text.strip() and start is not None and end is not None:
        cells.append(Cell(text.strip(), start, end))
    cells = [replace(c, text=join_subscripted_words(c.text)) for c in cells]
    return Line("   ".join(c.text for c in cells), where, tuple(cells))


def _is_page_number(row: _Row) -> bool:
    text = "".join(p.text for p in row.pieces).strip()
    return text.isdigit() and len(text) <= 4


def read_pdf(path: Path) -> Document:
    """Every page's lines; pages without any text are listed (a scan, a pasted image)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        reader = PdfReader(str(path))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = list(reader.pages)
    except (OSError, ValueError, PyPdfError) as exc:
        raise PdfError(f"{path}: not a readable PDF ({exc})") from None
    if len(pages) > MAX_PAGES:
        raise PdfError(f"{path}: {len(pages)} pages, more than a write-up's {MAX_PAGES}")
    lines: list[Line] = []
    empty: list[int] = []
    for number, page in enumerate(pages, start=1):
        try:
            rows = _rows(_pieces(page))
        except (ValueError, KeyError, TypeError, PyPdfError) as exc:
            raise PdfError(f"{path}: page {number} cannot be read ({exc})") from None
        if rows and _is_page_number(rows[-1]):
            rows.pop()
        if rows and _is_page_number(rows[0]):
            rows.pop(0)
        if not rows:
            empty.append(number)
            continue
        previous: _Row | None = None
        count = 0
        for row in rows:
            if previous is not None and previous.y - row.y > PARAGRAPH_GAP * max(previous.size,
                                                                                 row.size):
                lines.append(Line("", Where("page", number, count)))
            count += 1
            lines.append(_line(row, Where("page", number, count)))
            previous = row
        lines.append(Line("", Where("page", number, count + 1)))
    return Document(path, "pdf", tuple(lines), tuple(empty))
