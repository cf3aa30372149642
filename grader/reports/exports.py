"""The registry of exporters: files a batch writes for an LMS or a spreadsheet.

An exporter is one module that registers a writer under a name with `@exporter`, saying whether
it writes one file for the class or one per student, whether every batch writes it or only
when asked (`grader grade --export NAME`), and the command-line options it takes. The batch
and the CLI find exporters here; adding one touches its own module and one line of
`EXPORTER_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.result import Result

# The modules that register exporters (imported on first use).
EXPORTER_MODULES = ("grader.reports.gradebook", "grader.reports.gradescope",
                    "grader.reports.canvas", "grader.reports.markus",
                    "grader.reports.prairielearn")


@dataclass(frozen=True)
class ExportOption:
    """A command-line option of an exporter (`--canvas-roster CSV`), passed to its writer."""

    flag: str
    help: str
    type: Callable[[str], Any] = str
    metavar: str | None = None

    @property
    def key(self) -> str:
        """The writer's keyword for the option: `--canvas-roster` -> `canvas_roster`."""
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class ExportContext:
    """What every writer may need besides the results: where, which rubric, its options.

    `zero_errors` is the course's choice, shared by every grade upload, to record 0 for a
    submission that could not be graded because of itself instead of leaving it blank
    (grader.reports.withheld)."""

    out: Path
    rubric_title: str
    max_score: float
    options: dict[str, Any] = field(default_factory=dict)
    zero_errors: bool = False


ClassWriter = Callable[[list[Result], ExportContext], Path]
StudentWriter = Callable[[Result, Path, ExportContext], Path]


@dataclass(frozen=True)
class Exporter:
    name: str
    help: str
    scope: str                 # "class": one file for the batch; "student": one per student
    always: bool               # written by every batch, or only with --export NAME
    write: Callable[..., Path]
    options: tuple[ExportOption, ...] = ()


EXPORTERS: dict[str, Exporter] = {}


def exporter(name: str, *, help: str, scope: str = "class", always: bool = False,
             options: tuple[ExportOption, ...] = ()) -> Callable[[Callable[..., Path]],
                                                                   Callable[..., Path]]:
    """Register a writer: `(results, context)` for the class, `(result, folder, context)` per
    student."""
    if scope not in ("class", "student"):
        raise ValueError(f"exporter {name!r}: scope must be 'class' or 'student'")

    def register(write: Callable[..., Path]) -> Callable[..., Path]:
        if name in EXPORTERS:
            raise ValueError(f"exporter {name!r} registered twice")
        EXPORTERS[name] = Exporter(name, help, scope, always, write, tuple(options))
        return write

    return register


def exporters() -> dict[str, Exporter]:
    """Every registered exporter, by name."""
    for module in EXPORTER_MODULES:
        importlib.import_module(module)
    return EXPORTERS


def chosen(names: tuple[str, ...] | list[str], scope: str) -> list[Exporter]:
    """The exporters a batch writes in `scope`: those always written, and those asked for."""
    registry = exporters()
    unknown = set(names) - set(registry)
    if unknown:
        raise ValueError(f"unknown export(s) {sorted(unknown)}; known: {sorted(registry)}")
    return [e for e in registry.values()
            if e.scope == scope and (e.always or e.name in names)]
