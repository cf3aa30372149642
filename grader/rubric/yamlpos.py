"""YAML loading that remembers where every value came from.

A TA editing a rubric deserves `rubrics/x.yaml:14:7: questions[1].checks[0].kind: ...`, not a
stack trace, so we compose the node tree ourselves and record each key path's line and column.
Duplicate keys, which plain YAML silently overwrites, are errors here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """Render ('questions', 1, 'checks', 0, 'kind') as questions[1].checks[0].kind."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top>"


class RubricError(ValueError):
    """A rubric problem located by file, line, column and key path."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 column: int | None = None, path: KeyPath = ()) -> None:
        self.message, self.file, self.line, self.column, self.path = (
            message, file, line, column, path)
        where = file or "<rubric>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        key = f" {format_path(path)}:" if path else ""
        super().__init__(f"{where}:{key} {message}")


@dataclass
class Located:
    """Parsed YAML data plus the source position of every key path."""

    data: Any
    positions: dict[KeyPath, tuple[int, int]]
    file: str

    def error(self, path: KeyPath, message: str) -> RubricError:
        """An error pointing at `path`, or at its nearest located parent."""
        probe = tuple(path)
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, col = self.positions.get(probe, (None, None))
        return RubricError(message, self.file, line, col, tuple(path))


_constructor = yaml.constructor.SafeConstructor()


def _build(node: yaml.Node, path: KeyPath, positions: dict, file: str) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                mark = key_node.start_mark
                raise RubricError("mapping keys must be plain scalars", file, mark.line + 1,
                                  mark.column + 1, path)
            key = str(key)
            if key in out:
                raise RubricError(f"duplicate key '{key}'", file, key_node.start_mark.line + 1,
                                  key_node.start_mark.column + 1, path)
            out[key] = _build(value_node, (*path, key), positions, file)
            # Point errors about a key at the key itself, which is where a TA looks.
            positions[(*path, key)] = (key_node.start_mark.line + 1,
                                       key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), positions, file) for i, child in enumerate(node.value)]
    return _constructor.construct_object(node, deep=True)


def load_located(source: str | Path, text: str | None = None) -> Located:
    """Parse a YAML file (or `text` labelled as `source`) keeping positions."""
    file = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise RubricError(f"cannot read rubric: {exc.strerror or exc}", file) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise RubricError(f"invalid YAML: {exc.problem or exc.context}", file, line, col) from None
    if node is None:
        raise RubricError("the rubric file is empty", file)
    positions: dict[KeyPath, tuple[int, int]] = {}
    data = _build(node, (), positions, file)
    return Located(data, positions, file)
