"""Figures inside the reports: inline SVG plots and PNG pictures embedded as data: URIs.

Pages must open offline, one by one, so every figure is inlined. Shared by the report pages
and by the check kinds whose detail views draw (accuracy's curves and samples).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Sequence
from itertools import count
from pathlib import Path
from typing import Any

from markupsafe import Markup

STUDENT = "#1f6feb"
REFERENCE = "#6e7781"
PASS_LINE = "#1a7f37"
ZERO_LINE = "#cf222e"

_ids = count()


def _matplotlib_svg(fig) -> Markup:
    """Serialise a matplotlib Figure to an <svg> element for inlining (no XML prolog)."""
    import matplotlib

    buf = io.StringIO()
    # A unique salt keeps clip-path ids distinct when several plots share one page.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"g{next(_ids)}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    transparent=True)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # Let CSS size it: keep the viewBox, drop the fixed width/height in points.
    text = re.sub(r'(<svg[^>]*?)\swidth="[^"]*"\s+height="[^"]*"', r"\1", text, count=1)
    return Markup(text.replace("<svg", '<svg class="plot" role="img"', 1))


def _series(curve: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, point in enumerate(curve, 1):
        value = point.get(key) if isinstance(point, dict) else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(float(point.get("epoch", i)))
            ys.append(float(value))
    return xs, ys


def _reference_runs(reference: object) -> list[list[dict]]:
    """A reference curve may be one run (list of points) or one run per seed (list of lists)."""
    if not isinstance(reference, list) or not reference:
        return []
    if all(isinstance(run, list) for run in reference):
        return [run for run in reference if run]
    return [[p for p in reference if isinstance(p, dict)]]


def training_curves(curve: Sequence[dict] | None, reference: object = None, *,
                    pass_at: float | None = None, zero_at: float | None = None) -> Markup | None:
    """Loss and validation accuracy per epoch: the student's run against the reference's."""
    curve = [p for p in (curve or []) if isinstance(p, dict)]
    runs = _reference_runs(reference)
    if not curve and not runs:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 2.9), dpi=100)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for r, run in enumerate(runs):
        label = "reference" if r == 0 else None
        loss_ax.plot(*_series(run, "train_loss"), color=REFERENCE, lw=1.3, alpha=0.8,
                     label=f"{label} train" if label else None)
        loss_ax.plot(*_series(run, "val_loss"), color=REFERENCE, lw=1.3, ls="--", alpha=0.8,
                     label=f"{label} validation" if label else None)
        acc_ax.plot(*_series(run, "val_acc"), color=REFERENCE, lw=1.3, alpha=0.8, marker="o",
                    ms=3, label=label)
    if curve:
        loss_ax.plot(*_series(curve, "train_loss"), color=STUDENT, lw=2, label="yours train")
        loss_ax.plot(*_series(curve, "val_loss"), color=STUDENT, lw=2, ls="--",
                     label="yours validation")
        acc_ax.plot(*_series(curve, "val_acc"), color=STUDENT, lw=2, marker="o", ms=4,
                    label="yours")
    if pass_at is not None:
        acc_ax.axhline(pass_at, color=PASS_LINE, lw=1, ls=":", label="full credit")
    if zero_at is not None:
        acc_ax.axhline(zero_at, color=ZERO_LINE, lw=1, ls=":", label="no credit")
    loss_ax.set_title("Loss (cross-entropy)", fontsize=10)
    acc_ax.set_title("Validation accuracy (%)", fontsize=10)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7.5, frameon=False)
        ax.xaxis.get_major_locator().set_params(integer=True)
    # Fixed margins: tight_layout would triple the time of every plot in a batch.
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.16, top=0.9, wspace=0.2)
    return _matplotlib_svg(fig)


def accuracy_scale(val_acc: float, reference: Sequence[float], pass_at: float,
                   zero_at: float) -> Markup:
    """A number line: no-credit zone, partial zone, full-credit zone, reference seeds, you."""
    values = [val_acc, pass_at, zero_at, *reference]
    lo = max(0.0, math.floor(min(values) / 5) * 5 - 5)
    hi = min(100.0, math.ceil(max(values) / 5) * 5 + 5)
    w, h, left, right = 640, 74, 16, 16

    def x(v: float) -> float:
        return left + (w - left - right) * (v - lo) / (hi - lo)

    parts = [f'<svg class="scale" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="your accuracy {val_acc:.1f} % against the credit thresholds">']
    parts.append(f'<rect x="{x(lo):.1f}" y="22" width="{x(zero_at) - x(lo):.1f}" height="14" '
                 'class="zone-zero"/>')
    parts.append(f'<rect x="{x(zero_at):.1f}" y="22" width="{x(pass_at) - x(zero_at):.1f}" '
                 'height="14" class="zone-partial"/>')
    parts.append(f'<rect x="{x(pass_at):.1f}" y="22" width="{x(hi) - x(pass_at):.1f}" '
                 'height="14" class="zone-full"/>')
    for v in reference:
        parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="18" y2="40" class="seed"/>')
    parts.append(f'<path d="M{x(val_acc):.1f} 40 l-6 10 h12 z" class="you"/>')
    parts.append(f'<text x="{x(val_acc):.1f}" y="64" text-anchor="middle" class="you-label">'
                 f'you {val_acc:.1f} %</text>')
    parts.append(f'<text x="{x(pass_at):.1f}" y="14" text-anchor="middle">'
                 f'full credit ≥ {pass_at:.1f} %</text>')
    parts.append(f'<text x="{x(zero_at):.1f}" y="14" text-anchor="middle">'
                 f'none ≤ {zero_at:.1f} %</text>')
    for v in (lo, hi):
        parts.append(f'<text x="{x(v):.1f}" y="64" text-anchor="middle" class="tick">'
                     f'{v:.0f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(fractions: Sequence[float], *, bins: int = 10) -> Markup:
    """Score distribution (as % of the maximum) in `bins` equal bins, as an SVG bar chart."""
    counts = [0] * bins
    for f in fractions:
        i = min(bins - 1, max(0, int(f * bins + 1e-9)))
        counts[i] += 1
    w, h, pad_l, pad_b, pad_t = 640, 220, 34, 34, 14
    plot_w, plot_h = w - pad_l - 10, h - pad_b - pad_t
    top = max(counts) or 1
    step = max(1, math.ceil(top / 5))
    bar_w = plot_w / bins
    parts = [f'<svg class="hist" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="histogram of {len(fractions)} scores">']
    for t in range(0, top + 1, step):
        y = pad_t + plot_h * (1 - t / top)
        parts.append(f'<line x1="{pad_l}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                     f'{t}</text>')
    for i, c in enumerate(counts):
        bh = plot_h * c / top
        x0 = pad_l + i * bar_w
        parts.append(f'<rect x="{x0 + 2:.1f}" y="{pad_t + plot_h - bh:.1f}" '
                     f'width="{bar_w - 4:.1f}" height="{bh:.1f}" class="bar">'
                     f'<title>{i * 100 // bins}–{(i + 1) * 100 // bins} %: {c}</title></rect>')
        if c:
            parts.append(f'<text x="{x0 + bar_w / 2:.1f}" y="{pad_t + plot_h - bh - 4:.1f}" '
                         f'text-anchor="middle" class="count">{c}</text>')
        parts.append(f'<text x="{x0:.1f}" y="{h - pad_b + 16}" text-anchor="middle" '
                     f'class="tick">{i * 100 // bins}</text>')
    parts.append(f'<text x="{w - 10}" y="{h - pad_b + 16}" text-anchor="end" class="tick">'
                 f'100 %</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PICTURE_BYTES = 4_000_000


def embed_png(relative: Any, root: Path) -> str | None:
    """A data: URI for a PNG artifact under `root`, or None when it is absent or not safe.

    The path comes from result.json and the file from a sandbox, so it must stay inside the
    student's folder and really be a PNG of sensible size before it is inlined.
    """
    if not isinstance(relative, str) or not relative:
        return None
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if base not in path.parents or not path.is_file():
        return None
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_PICTURE_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
