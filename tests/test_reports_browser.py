"""Open the reports in headless Chromium: not blank, no console errors, phone and print layouts.

Skipped when no Chromium is installed (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.reports import render_dashboard, render_student_report
from grader.reports.browser import Chromium, find_chromium, pixel_variance
from tests import reports_factory as factory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None,
                       reason="headless Chromium not installed (apt-get install chromium)"),
]

PHONE = {"width": 390, "height": 844, "mobile": True}
BLANK = 50.0  # grey-level variance of a page with real content is in the hundreds or more


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("site")
    pages = {}
    for result in (factory.failing_result(), factory.crashing_result(),
                   factory.corrupt_result()):
        folder = factory.write_student_dir(result, root)
        pages[result["student"]] = render_student_report(factory.typed(result), folder)
    pages["index"] = render_dashboard(factory.typed(factory.cohort(n=8)), root)
    bad = root / "broken.html"
    bad.write_text("<!doctype html><title>broken</title><h1>A page with a bug</h1>"
                   "<script>undefinedFunction();</script>"
                   "<script>console.error('explicit console error')</script>")
    pages["broken"] = bad
    return pages


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


def assert_clean(load) -> None:
    assert load.errors == [], load.errors
    assert load.remote_requests == [], load.remote_requests
    assert load.png and pixel_variance(load.png) > BLANK


@pytest.mark.parametrize("name", ["bob", "carol", "dave", "index"])
def test_page_renders_without_errors_on_desktop(browser, site, name):
    load = browser.load(site[name], width=1280, height=2000)
    assert_clean(load)
    assert browser.evaluate("document.body.scrollHeight") > 900


@pytest.mark.parametrize("name", ["bob", "index"])
def test_page_fits_a_phone(browser, site, name):
    load = browser.load(site[name], **PHONE)
    assert_clean(load)
    # Nothing wider than the screen: tables scroll inside their own boxes, never the page.
    assert browser.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_console_error_detection_catches_a_broken_page(browser, site):
    load = browser.load(site["broken"], width=800, height=600)
    assert any("undefinedFunction is not defined" in e for e in load.errors), load.errors
    assert any("explicit console error" in e for e in load.errors), load.errors


def test_blank_page_is_detected(browser, tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><title>blank</title>")
    load = browser.load(blank, width=800, height=600)
    assert pixel_variance(load.png) < BLANK


def test_escaped_payload_stays_inert_and_csp_blocks_injected_script(browser, tmp_path):
    result = factory.crashing_result()
    payload = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='x'\">"
    result["problems"][0]["traceback"].append(payload)
    report = render_student_report(factory.typed(result), tmp_path / "m")
    load = browser.load(report, width=1000, height=900)
    assert_clean(load)
    assert browser.evaluate("document.title") != "pwned"
    assert payload in browser.evaluate("document.getElementById('problems').textContent")
    # Defence in depth: even markup injected past the escaping cannot run under the policy.
    html = report.read_text(encoding="utf-8")
    injected = tmp_path / "injected.html"
    injected.write_text(html.replace("</main>", "<script>document.title='pwned'</script></main>"))
    load = browser.load(injected, width=1000, height=900)
    assert browser.evaluate("document.title") != "pwned"
    assert any("Content Security Policy" in e for e in load.errors), load.errors


def test_dashboard_sorts_and_filters_with_javascript(browser, site):
    assert_clean(browser.load(site["index"], width=1280, height=1200))
    assert browser.evaluate("document.getElementById('controls').hidden") is False
    first = "document.querySelector('#students tbody tr:not([hidden])').dataset.student"
    score_header = ("Array.from(document.querySelectorAll('#students thead button'))"
                    ".find(b => b.textContent === 'Score')")
    browser.evaluate(f"{score_header}.click()")
    ascending = browser.evaluate(first)
    browser.evaluate(f"{score_header}.click()")
    descending = browser.evaluate(first)
    scores = {r["student"]: r["score"] for r in factory.cohort(n=8)}
    assert scores[ascending] == min(scores.values())
    assert scores[descending] == max(scores.values())
    browser.evaluate("const s = document.getElementById('filter-status');"
                     "s.value = 'attention'; s.dispatchEvent(new Event('change'))")
    shown = browser.evaluate("Array.from(document.querySelectorAll('#students tbody tr'))"
                             ".filter(r => !r.hidden).map(r => r.dataset.student).sort()")
    assert shown == ["carol", "dave", "erin", "frank"]
    assert browser.evaluate("document.getElementById('shown').textContent") == \
        f"4 of {len(scores)} shown"


def test_dashboard_without_javascript_shows_everything(browser, site):
    browser.call("Emulation.setScriptExecutionDisabled", {"value": True}, session=True)
    try:
        load = browser.load(site["index"], width=1280, height=1200)
        assert_clean(load)
        # The page's own script did not run: the controls stay hidden, the headers plain.
        assert browser.evaluate("document.getElementById('controls').hidden") is True
        assert browser.evaluate("document.querySelectorAll('#students button').length") == 0
        assert browser.evaluate("document.querySelectorAll('#students tbody tr').length") == \
            len(factory.cohort(n=8))
        assert browser.evaluate("document.querySelector('#students a').getAttribute('href')") \
            == "alice/report.html"
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", {"value": False}, session=True)


def test_print_layout_hides_navigation_and_breaks_pages_per_question(browser, site):
    browser.load(site["bob"], width=1000, height=1000, media="print", screenshot=False)
    assert browser.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
    assert browser.evaluate(
        "getComputedStyle(document.querySelector('.question')).breakBefore") == "page"
    pdf = browser.pdf()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= len(factory.failing_result()["questions"]) + 1
    browser.load(site["carol"], width=1000, height=1000, media="print", screenshot=False)
    assert browser.evaluate(
        "getComputedStyle(document.querySelector('pre.tb')).whiteSpace") == "pre-wrap"
