"""Render the factory's class with the reports stage and screenshot two pages for the docs.

    python scripts/make_screenshots.py [--out docs/screenshots] [--keep DIR]
    python scripts/make_screenshots.py --from out/demo --student 0004_bergström_nadia

Writes student-report.png (a student with architecture, shape and parameter-count failures)
and dashboard.png (the class dashboard), as palette PNGs under 300 KB. Needs Chromium.
With `--from`, the pages are those of a real graded class (e.g. `make demo`'s output).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.reports import render_dashboard, render_student_report  # noqa: E402
from grader.reports.browser import Chromium, find_chromium, pixel_variance, shrink_png  # noqa: E402
from tests import reports_factory as factory  # noqa: E402

LIMIT = 300_000


def build(root: Path) -> tuple[Path, Path]:
    """Write the factory class (results, artifacts, reports, dashboard) under `root`."""
    results = factory.cohort()
    for result in results:
        folder = factory.write_student_dir(result, root)
        render_student_report(factory.typed(result), folder)
    batch = {"wall_s": 318.4, "workers": 2,
             "command": "grader grade class/ --rubric rubrics/csc413-2023-a2.yaml --out out/"}
    dashboard = render_dashboard(factory.typed(results), root, batch=batch)
    return root / "bob" / "report.html", dashboard


def shoot(browser: Chromium, page: Path, target: Path, height: int) -> int:
    load = browser.load(page, width=1280, height=height, full_page=True, max_height=height)
    if load.errors:
        raise SystemExit(f"{page}: console errors: {load.errors}")
    if pixel_variance(load.png) < 50:
        raise SystemExit(f"{page}: the screenshot is blank")
    colours = 256
    data = shrink_png(load.png, max_colours=colours)
    while len(data) > LIMIT and colours > 16:
        colours //= 2
        data = shrink_png(load.png, max_colours=colours)
    target.write_bytes(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", type=Path, help="keep the rendered class in this folder")
    parser.add_argument("--from", dest="graded", type=Path,
                        help="a `grader grade` output folder to shoot instead of the factory's")
    parser.add_argument("--student", help="the student folder to shoot with --from")
    args = parser.parse_args(argv)
    if not find_chromium():
        print("Chromium is not installed; cannot take screenshots", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        if args.graded:
            report = args.graded / (args.student or "") / "report.html"
            dashboard = args.graded / "index.html"
        else:
            report, dashboard = build(root)
        with Chromium() as browser:
            for page, name, height in ((report, "student-report.png", 2200),
                                       (dashboard, "dashboard.png", 2000)):
                size = shoot(browser, page, args.out / name, height)
                print(f"{args.out / name}: {size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
