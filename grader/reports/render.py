"""The jinja2 environment shared by every page, and the safe way to write a page to disk.

Autoescaping is on for every template, so anything that came from a student (names, messages,
tracebacks, layer descriptions) is inert text unless the code wraps it in Markup on purpose.
Each page also carries a Content-Security-Policy: the student report allows no script at all and
the dashboard allows exactly its own inline script (by hash), so even an escaping mistake could
not run code or load anything from the network.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from grader.checks.registry import view_source
from grader.files import atomic_write_text
from grader.reports import view as v

TEMPLATES = Path(__file__).with_name("templates")


def csp(script: str | None = None) -> str:
    """A policy for a self-contained page: inline styles, data: images, nothing else."""
    script_src = (f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                  if script else "'none'")
    return ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src {script_src}; base-uri 'none'; form-action 'none'")


def _shape(value: Any) -> str:
    return v.fmt_shape(value)


def _thousands(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—" if value is None else str(value)


def _signed(value: Any) -> str:
    try:
        return f"{int(value):+,}"
    except (TypeError, ValueError):
        return "—"


def _yesno(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(x) for x in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={x}" for k, x in value.items())
    return value


def _word_diff(text: Any, other: Any) -> Markup:
    """`text` with the tokens that differ from `other` wrapped in <mark> (escaped throughout)."""
    import difflib
    import re

    if text is None:
        return Markup("")
    if other is None:
        return escape(text)
    split = re.compile(r"(\w+|\W)")
    a = [t for t in split.split(str(text)) if t]
    b = [t for t in split.split(str(other)) if t]
    out = []
    for op, i1, i2, _, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        chunk = escape("".join(a[i1:i2]))
        out.append(chunk if op == "equal" else Markup("<mark>%s</mark>") % chunk)
    return Markup("").join(out)


def _pretty(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _defined(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that treats a missing value (jinja Undefined) as None instead of raising."""

    def wrapper(value: Any, *args: Any) -> Any:
        return fn(None if isinstance(value, jinja2.Undefined) else value, *args)

    return wrapper


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        # the pages' templates, then each check kind's detail view, declared in its module
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)),
                                    jinja2.FunctionLoader(view_source)]),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,  # details vary by kind and version
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters = dict(
        points=v.fmt_points, points3=lambda x: v.fmt_points(x, 3), when=v.fmt_when,
        percent=v.fmt_percent, shape=_shape, seconds=v.fmt_seconds,
        bytes=v.fmt_bytes, thousands=_thousands, signed=_signed, yesno=_yesno,
        word_diff=_word_diff, pretty=_pretty, signed_points=v.fmt_signed_points,
    )
    env.filters.update({name: _defined(fn) for name, fn in filters.items()})
    env.globals.update(STATUS=v.STATUS, ADJUSTMENT_LABEL=v.ADJUSTMENT_LABEL)
    return env


def stylesheet() -> Markup:
    """The shared CSS, inlined into each page (the files must open offline, one by one)."""
    return Markup((TEMPLATES / "style.css").read_text(encoding="utf-8"))


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(css=stylesheet(), **context)


def write_atomic(path: Path, text: str) -> Path:
    """Write a page so a reader (or a killed batch) never sees half of it."""
    return atomic_write_text(path, text)
