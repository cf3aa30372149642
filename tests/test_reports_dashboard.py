"""The class dashboard: what a TA reads before releasing grades."""

from __future__ import annotations

import base64
import hashlib
import re
from html import unescape
from pathlib import Path

import pytest

from grader.files import safe_name
from grader.reports import render_dashboard
from grader.reports.dashboard import summarise
from tests import reports_factory as factory
from tests.reports_factory import page_text

BATCH = {"wall_s": 318.4, "workers": 2, "started_at": "2026-11-22T13:00:00+00:00",
         "finished_at": "2026-11-22T13:05:18+00:00", "checks_mode": "all",
         "command": "grader grade class/ --rubric rubrics/csc413-2023-a2.yaml --out out/"}


@pytest.fixture(scope="module")
def cohort() -> list[dict]:
    return factory.cohort()


@pytest.fixture(scope="module")
def page(cohort, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("out")
    path = render_dashboard(factory.typed(cohort), out, batch=BATCH)
    assert path == out / "index.html"
    return path.read_text(encoding="utf-8")


def test_status_counts_separate_student_errors_from_grader_problems(cohort, page):
    s = summarise(factory.typed(cohort))
    assert factory.typed(factory.corrupt_result()).status == "error"
    assert factory.typed(factory.grader_crash_result()).status == "internal"
    # erin's one internal check makes her row internal too: a TA must look before release.
    assert (s["status"]["graded"], s["status"]["error"], s["status"]["internal"]) == (
        len(cohort) - 3, 1, 2)
    assert s["internal_checks"] == 1  # erin's gradient check
    overview = page_text(page, "overview")
    assert f"{len(cohort)} submissions" in overview
    assert f"{len(cohort) - 3} graded" in overview
    assert "1 could not be graded (submission at fault)" in overview
    assert "2 internal grader problems (1 submission, 1 check)" in overview


def test_histogram_counts_every_graded_submission(cohort, page):
    svg = re.search(r'<svg class="hist".*?</svg>', page, flags=re.S).group(0)
    bins = [int(n) for n in re.findall(r"<title>\d+–\d+ %: (\d+)</title>", svg)]
    assert len(bins) == 10
    assert sum(bins) == summarise(factory.typed(cohort))["graded"]
    perfect = sum(1 for r in factory.typed(cohort)
                  if r.status == "graded" and r.score == r.max_score)
    assert bins[-1] >= perfect >= 1


def test_pass_rates_per_question_and_per_check(cohort, page):
    questions = page_text(page, "questions")
    graded = [r for r in cohort if r["questions"]]
    for qid, title in (("4.1", "PoolUpsampleNet"), ("5.2", "ConvTransposeNet trains")):
        scores = [q["score"] for r in graded for q in r["questions"] if q["id"] == qid]
        full = sum(1 for s in scores if s >= 0.5 - 1e-9)
        assert f"{qid} {title} {sum(scores) / len(scores):.2f} / 0.50 {full} / {len(scores)}" \
            in questions
    checks = page_text(page, "checks")
    arch = [c for r in graded for q in r["questions"] if q["id"] == "4.1" for c in q["checks"]
            if c["id"] == "architecture"]
    passed = sum(c["status"] == "passed" for c in arch)
    failed = sum(c["status"] == "failed" for c in arch)
    errors = sum(c["status"] == "error" for c in arch)
    rate = round(100 * passed / (passed + failed + errors))
    assert (f"4.1 Layers match the handout (PoolUpsampleNet) {passed} {failed} {errors} 0 "
            f"{rate} %") in checks
    assert "hidden · none" in checks and "hidden · verdict" in checks


def test_internal_problems_and_failing_submissions_are_listed(page):
    internal = page_text(page, "internal")
    assert "erin 6.1 · Every parameter receives a gradient (UNet)" in internal
    assert "pixel_shuffle" in internal
    assert "frank whole submission worker process died" in internal
    failing = page_text(page, "failing")
    assert "carol Your code raised an exception cell 12, line 27 RuntimeError" in failing
    assert "dave The submission could not be read — the notebook is not valid JSON" in failing
    assert "alice" not in failing and "erin" not in failing


def test_slowest_submissions_in_order(cohort, page):
    slowest = page_text(page, "slowest")
    names = re.findall(r"\b(alice|bob|carol|erin|s\d{7})\b", slowest)
    walls = {r["student"]: r["timings"]["total_s"] for r in cohort if r.get("timings")}
    expected = sorted(walls, key=lambda s: -walls[s])[:len(names)]
    assert names == expected and names[0] == "carol"


def test_students_table_links_every_report_in_stable_order(cohort, page):
    table = page[page.index('id="students"'):]
    rows = re.findall(r'<tr data-student="([^"]*)" data-status="([^"]*)"', table)
    assert [unescape(s) for s, _ in rows] == sorted((r["student"] for r in cohort),
                                                    key=lambda s: (s.casefold(), s))
    assert dict(rows)["dave"] == "error" and dict(rows)["frank"] == "internal"
    for r in cohort:
        assert f'href="{safe_name(r["student"])}/report.html"' in table
    header = page_text(page, "students")
    assert "Student Status Score % 4.1 4.2 5.1 5.2 6.1 6.2 Time Memory Notes" in header


def test_odd_student_ids_link_to_the_folder_the_batch_writes(tmp_path):
    odd = factory.passing_result("Ann O'Neil/../x <b>")
    html = render_dashboard(factory.typed([odd]), tmp_path).read_text(encoding="utf-8")
    assert f'href="{safe_name(odd["student"])}/report.html"' in html
    assert "<b>" not in html.split('<table class="students"')[1]
    assert "Ann O&#39;Neil/../x &lt;b&gt;" in html


def test_batch_information(page):
    batch = page_text(page, "batch")
    assert "started 2026-11-22 13:00 UTC" in batch
    assert "wall time 5 min 18 s" in batch
    assert "workers 2" in batch and BATCH["command"] in batch
    assert "bubblewrap: 23, not recorded: 1" in batch
    assert "id csc413-2023-a2" in batch and "torch 2.14.1" in batch


def test_batch_information_is_derived_when_not_given(cohort, tmp_path):
    html = render_dashboard(factory.typed(cohort), tmp_path).read_text(encoding="utf-8")
    batch = page_text(html, "batch")
    assert "wall time not recorded" in batch
    assert "started 2026-11-22 13:05 UTC" in batch and "mode all" in batch


def test_works_without_javascript_and_allows_only_its_own_script(page):
    # Every row is in the markup; the filter controls stay hidden until the script shows them.
    assert re.search(r'<div class="controls" id="controls" hidden>', page)
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = unescape(re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1))
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_empty_batch_renders(tmp_path):
    html = render_dashboard([], tmp_path, rubric_title="Nothing yet").read_text(encoding="utf-8")
    assert "Nothing yet" in html and "0 submissions" in page_text(html, "overview")


def test_dashboard_for_rendered_results_on_disk(tmp_path):
    results = [factory.passing_result(), factory.corrupt_result()]
    for r in results:
        factory.write_student_dir(r, tmp_path)
    path = render_dashboard(factory.typed(results), tmp_path)
    for r in results:
        assert (Path(path).parent / safe_name(r["student"]) / "result.json").is_file()
