"""Helpers for the answers tests: notebooks with answer cells, written with nbformat."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    """Write a notebook of ("markdown" | "code", source) cells and return its path."""
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source))
    nbformat.write(nb, str(path))
    return path
