"""The records a download layout produces, and the registry layouts add themselves to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.ingest.origin import Origin


@dataclass(frozen=True)
class Entry:
    """One student's submission in a download: what to grade and where it came from.

    `paths` is one file or folder graded as it is, or several files graded together as one
    folder (a Canvas student's notebook and module, say), each under its name in `names`.
    """

    student: str
    paths: tuple[Path, ...]
    origin: Origin
    names: tuple[str, ...] = ()

    @property
    def single(self) -> Path | None:
        return self.paths[0] if len(self.paths) == 1 and not self.names else None


@dataclass
class Found:
    """What a layout read: the entries, what it skipped, and what a TA should know."""

    layout: str
    entries: list[Entry]
    ignored: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    why: str = ""


Detect = Callable[[Path], str | None]
Read = Callable[[Path, str | None], Found]


@dataclass(frozen=True)
class Layout:
    name: str
    help: str
    detect: Detect
    read: Read


_REGISTRY: dict[str, Layout] = {}


def layout(name: str, *, help: str, detect: Detect) -> Callable[[Read], Read]:
    """Register a layout's reader (`read(root, student_pattern) -> Found`)."""
    def register(read: Read) -> Read:
        _REGISTRY[name] = Layout(name, help, detect, read)
        return read
    return register


def registered() -> dict[str, Layout]:
    return dict(_REGISTRY)
