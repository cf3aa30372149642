"""Write-ups for the tests, built here: PDFs with a text layer, Markdown, LaTeX, notebooks.

The PDF writer is a minimal one of our own (one Helvetica font, one text object per piece), so
the tests control exactly what the text layer holds: exponents as smaller raised pieces, table
cells at column positions, a page with no text at all.
"""

from __future__ import annotations

import re
from pathlib import Path

LEFT, TOP, SIZE, LEADING = 72.0, 760.0, 11.0, 15.0
COLUMN = 150.0  # x distance between table columns
_SCRIPT = re.compile(r"([\^_])\{([^}]*)\}")


def _width(text: str) -> float:
    """Rough Helvetica advance in font sizes, the same table the reader falls back to."""
    narrow, wide = set(" .,:;'!|()[]{}ilj`"), set("+=×−<>÷·MWmw")
    return sum(0.3 if c in narrow else 0.8 if c in wide else 0.7 if c.isupper() else 0.5
               for c in text)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pieces(line: str, x: float, y: float) -> list[tuple[float, float, float, str]]:
    """A line's text pieces; ``^{..}`` becomes a smaller piece raised above the baseline,
    ``_{..}`` one lowered below it."""
    out = []
    pos = 0
    for m in _SCRIPT.finditer(line):
        before = line[pos:m.start()]
        if before:
            out.append((x, y, SIZE, before))
            x += _width(before) * SIZE
        shift = 0.35 if m.group(1) == "^" else -0.2
        out.append((x, y + shift * SIZE, 0.7 * SIZE, m.group(2)))
        x += _width(m.group(2)) * 0.7 * SIZE
        pos = m.end()
    if line[pos:]:
        out.append((x, y, SIZE, line[pos:]))
    return out


def _page_content(lines: list[str]) -> bytes:
    ops = []
    y = TOP
    for line in lines:
        if not line:
            y -= LEADING
            continue
        for column, cell in enumerate(line.split(" | ")):
            for px, py, size, text in _pieces(cell, LEFT + column * COLUMN, y):
                ops.append(f"BT /F1 {size:.2f} Tf {px:.2f} {py:.2f} Td ({_escape(text)}) Tj ET")
        y -= LEADING
    return "\n".join(ops).encode("cp1252")


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages hold ``lines`` (``" | "`` separates table cells, ``""`` is a gap,
    an empty page has no text layer at all)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    parent = len(objects) + 2 * len(pages) + 1
    kids = []
    for lines in pages:
        content = _page_content(lines)
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(
            f"<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 612 792] /Resources "
            f"<< /Font << /F1 {font} 0 R >> >> /Contents {stream} 0 R >>".encode()))
    refs = " ".join(f"{k} 0 R" for k in kids)
    add(f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>".encode())
    catalog = add(f"<< /Type /Catalog /Pages {parent} 0 R >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    path.write_bytes(bytes(out))
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
