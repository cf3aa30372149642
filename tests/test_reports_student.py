"""The per-student HTML report: content a student and a TA rely on."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from grader.reports import render_student_report
from grader.reports.view import fmt_points, fmt_shape, student_view
from tests import reports_factory as factory
from tests.reports_factory import page_text


def render(result: dict, folder: Path, audience: str = "student") -> str:
    factory.write_student_dir(result, folder.parent)
    path = render_student_report(factory.typed(result), folder, audience=audience)
    assert path == folder / "report.html"
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bob(tmp_path_factory) -> tuple[dict, str, str]:
    """The failing student, rendered for both audiences (matplotlib makes this the slow part)."""
    result = factory.failing_result()
    root = tmp_path_factory.mktemp("class")
    student = render(result, root / "bob")
    ta = Path(render_student_report(factory.typed(result), root / "bob", audience="ta",
                                    filename="report-ta.html")).read_text(encoding="utf-8")
    return result, student, ta


def rows_with_class(html: str, css: str) -> list[str]:
    return re.findall(rf'<tr class="{css}">(.*?)</tr>', html, flags=re.S)


def test_score_and_every_question_up_front(bob):
    result, html, _ = bob
    summary = page_text(html, "summary")
    header = page_text(html, "score")
    assert f"{fmt_points(result['score'])} / {fmt_points(result['max_score'])}" in header
    assert f"{round(100 * result['score'] / result['max_score'])} %" in header
    for q in result["questions"]:
        assert f"{q['id']} {q['title']}" in summary
        assert f"{fmt_points(q['score'])} / {fmt_points(q['max_score'])}" in summary
        assert f'id="{"q-" + q["id"].replace(".", "-")}"' in html
    # The summary comes before the first question's details.
    assert html.index('id="summary"') < html.index('id="q-4-1"')


def test_each_check_has_a_verdict_and_a_plain_reason(bob):
    _, html, _ = bob
    q41 = page_text(html, "q-4-1")
    assert "Partial credit Layers match the handout (PoolUpsampleNet)" in q41
    assert "block 2: expected BatchNorm2d(64) after MaxPool2d, found none" in q41
    assert "Failed Number of parameters (PoolUpsampleNet)" in q41
    assert "Passed Output shape (PoolUpsampleNet)" in q41


def test_architecture_diff_highlights_the_missing_layer(bob):
    _, html, _ = bob
    q41 = html[html.index('id="q-4-1"'):html.index('id="q-4-2"')]
    missing = rows_with_class(q41, "missing")
    assert len(missing) == 1
    assert "BatchNorm2d(64)" in missing[0] and ">missing<" in missing[0]
    assert "block 2" in page_text(q41) or '<td class="block">2</td>' in missing[0]
    # Every other layer is shown as matching, beside the reference's.
    assert len(rows_with_class(q41, "match")) == len(factory._layers("PoolUpsampleNet")) - 1


def test_architecture_diff_marks_the_differing_attribute(bob):
    _, html, _ = bob
    q51 = html[html.index('id="q-5-1"'):html.index('id="q-5-2"')]
    mismatches = rows_with_class(q51, "mismatch")
    assert len(mismatches) == 2
    for row in mismatches:
        # Only the reference has output_padding, and exactly that token is highlighted.
        assert re.search(r"<mark>[^<]*output_padding[^<]*</mark>", row)
        assert "≠ differs" in row
    q61 = html[html.index('id="q-6-1"'):html.index('id="q-6-2"')]
    (extra,) = rows_with_class(q61, "extra")
    assert "Dropout(p=0.2)" in extra and "not in the reference" in extra


def test_shapes_expected_and_found_per_configuration(bob):
    _, html, _ = bob
    text = page_text(html, "q-5-1")
    for size in factory.INPUT_SIZES:
        expected = factory.out_shape("ConvTransposeNet", "handout", size)
        found = factory.out_shape("ConvTransposeNet", "handout", size, convt_bug=True)
        assert expected != found
        row = (f"{fmt_shape(factory.in_shape('ConvTransposeNet', 'handout', size))} "
               f"{fmt_shape(expected)} {fmt_shape(found)} ✗")
        assert row in text


def test_parameter_counts_expected_and_found(bob):
    _, html, _ = bob
    text = page_text(html, "q-4-1")
    want = factory.param_total("PoolUpsampleNet", "handout")
    got = factory.param_total("PoolUpsampleNet", "handout", drop_bn2=True)
    assert f"handout {want:,} {got:,} {want:,} {got:,} {got - want:+,}" in text


def test_training_curves_and_samples_are_embedded(bob):
    result, html, _ = bob
    q42 = html[html.index('id="q-4-2"'):html.index('id="q-5-1"')]
    svg = re.search(r'<svg class="plot".*?</svg>', q42, flags=re.S)
    assert svg, "no training-curve plot"
    for label in ("yours train", "yours validation", "reference", "full credit"):
        assert label in svg.group(0)
    assert '<svg class="scale"' in q42
    details = result["questions"][1]["checks"][0]["details"]
    assert f"{details['val_acc']:.1f} %" in page_text(q42)
    assert re.search(r'<img class="samples" src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"',
                     q42)


def test_samples_outside_the_student_folder_are_not_embedded(tmp_path):
    result = factory.failing_result()
    secret = tmp_path / "secret.png"
    secret.write_bytes(factory.samples_png())
    result["questions"][1]["checks"][0]["details"]["samples"] = "../secret.png"
    result["questions"][3]["checks"][0]["details"]["samples"] = "artifacts/not-a-png.png"
    folder = tmp_path / "bob"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "not-a-png.png").write_text("<svg onload=alert(1)>")
    html = render_student_report(factory.typed(result), folder).read_text(encoding="utf-8")
    assert "data:image/png" not in html.split('id="q-6-2"')[0]
    assert page_text(html, "q-4-2").count("samples picture was not available") == 1
    assert "onload=alert" not in html


def test_hidden_checks_follow_the_rubric_for_students_and_not_for_tas(tmp_path):
    result = factory.failing_result()
    q51 = result["questions"][2]
    by_id = {c["id"]: c for c in q51["checks"]}
    verdict, none = by_id["generalises_shape"], by_id["generalises_params"]
    assert (verdict["feedback"], none["feedback"]) == ("verdict", "none")
    verdict.update(title="VERDICT-TITLE", message="VERDICT-MESSAGE")
    verdict["details"]["configs"]["narrow"]["runs"][0]["found"] = [7, 7, 7, 7]
    none.update(title="NONE-TITLE", message="NONE-MESSAGE")
    student = render(result, tmp_path / "bob")
    ta = render_student_report(factory.typed(result), tmp_path / "bob", audience="ta",
                               filename="ta.html").read_text(encoding="utf-8")

    assert "VERDICT-TITLE" in student and "Failed VERDICT-TITLE" in page_text(student, "q-5-1")
    assert "VERDICT-MESSAGE" not in student and "(7, 7, 7, 7)" not in student
    assert "NONE-TITLE" not in student and "NONE-MESSAGE" not in student
    assert "1 more check is hidden" in page_text(student, "q-5-1")
    # The hidden check still counts in the question total the student sees.
    total = f"{fmt_points(q51['score'])} / {fmt_points(q51['max_score'])}"
    assert total in page_text(student, "q-5-1")
    assert sum(c["score"] for c in q51["checks"]) == pytest.approx(q51["score"])

    for secret in ("VERDICT-TITLE", "VERDICT-MESSAGE", "(7, 7, 7, 7)", "NONE-TITLE",
                   "NONE-MESSAGE"):
        assert secret in ta, secret
    assert "hidden · students see: none" in page_text(ta, "q-5-1")
    assert "TA view" in page_text(ta)


def test_hidden_full_feedback_shows_everything_to_students():
    result = factory.failing_result()
    view = student_view(factory.typed(result), "student")
    q61 = next(q for q in view["questions"] if q["id"] == "6.1")
    full = next(c for c in q61["checks"] if c["id"] == "generalises_shape")
    assert full["hidden"] and full["level"] == "full" and full["details"]["configs"]


def test_crashing_student_sees_cells_and_their_own_traceback(tmp_path):
    result = factory.crashing_result()
    html = render(result, tmp_path / "carol")
    problems = page_text(html, "problems")
    assert "Your code raised an exception · in your notebook at cell 12, line 27" in problems
    for line in factory.CAROL_TRACEBACK:
        assert " ".join(line.split()) in problems
    assert "Time limit exceeded · in your notebook at cell 14, line 31" in problems
    assert "Memory limit exceeded · in your notebook at cell 16, line 9" in problems
    assert "while x.shape[-1] < 32:" in problems
    # The failure is repeated at the check it broke, and the neutralised Colab lines are listed.
    assert "Where it failed · in your notebook at cell 12, line 27" in page_text(html, "q-4-1")
    assert "cell 1, line 3 from google.colab import drive" in problems
    # Resources, isolation and environment are reported.
    run = page_text(html, "run")
    assert "peak memory 6.4 GB" in run and "wall time 2 min 02 s" in run
    assert "method bubblewrap" in run and "network none" in run and "torch 2.14.1" in run


def test_error_status_student_still_gets_a_report(tmp_path):
    result = factory.corrupt_result()
    html = render(result, tmp_path / "dave")
    banner = page_text(html, "not-graded")
    assert "Your submission could not be graded" in banner
    assert "The submission could not be read" in banner
    assert "not valid JSON: Expecting ',' delimiter: line 214" in banner
    assert "0.00 / 3.00" in page_text(html, "score")
    assert "No question was graded." in page_text(html, "summary")


def test_grader_failure_is_not_blamed_on_the_student(tmp_path):
    result = factory.grader_crash_result()
    html = render(result, tmp_path / "frank")
    assert "The grader failed on this submission" in page_text(html, "not-graded")
    assert "not with your work" in page_text(html, "not-graded")
    assert "BrokenPipeError" not in html and "grader/batch/local.py" not in html
    ta = render_student_report(factory.typed(result), tmp_path / "frank", audience="ta",
                               filename="ta.html").read_text(encoding="utf-8")
    assert "BrokenPipeError: [Errno 32] Broken pipe" in page_text(ta, "not-graded")


def test_internal_check_is_flagged_and_its_grader_message_kept_for_tas(tmp_path):
    result = factory.internal_result()
    student = render(result, tmp_path / "erin")
    ta = render_student_report(factory.typed(result), tmp_path / "erin", audience="ta",
                               filename="ta.html").read_text(encoding="utf-8")
    q61 = page_text(student, "q-6-1")
    assert "Grader problem Every parameter receives a gradient (UNet)" in q61
    assert "This is not your fault" in q61
    assert "1 check could not be completed by the grader" in page_text(student)
    assert "pixel_shuffle" not in student
    assert "no replay rule for op 'pixel_shuffle'" in page_text(ta, "q-6-1")


def test_static_mode_says_what_was_assessed(tmp_path):
    result = factory.passing_result(mode="static")
    html = render(result, tmp_path / "alice")
    text = page_text(html)
    assert (f"{fmt_points(result['assessed_max_score'])} of the rubric's "
            f"{fmt_points(result['max_score'])} points were assessed in this run; not assessed "
            "in this run: 4.2, 5.2, 6.2") in text
    assert "not assessed in this run" in page_text(html, "summary")
    assert f"1.50 / {fmt_points(result['assessed_max_score'])}" in page_text(html, "score")
    assert "Not run Trains to the reference's accuracy (UNet)" in page_text(html, "q-6-2")


def test_fine_tuning_shows_which_parameters_moved(tmp_path):
    result = factory.finetune_result()
    html = render(result, tmp_path / "gina")
    text = page_text(html, "q-C-1")
    assert "changed by training (4) classifier.4.weight, classifier.4.bias, classifier.1.weight"\
        in text
    assert "unchanged 620 parameter tensors" in text
    assert "Conv2d(256 → 2, kernel 1, 1)" in text


HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def test_student_controlled_text_is_escaped(tmp_path):
    result = factory.crashing_result()
    result["student"] = "mallory" + HOSTILE
    result["problems"][0]["traceback"].append("    raise ValueError('" + HOSTILE + "')")
    result["problems"][0]["message"] = HOSTILE
    result["neutralised"][0]["what"] = HOSTILE
    result["questions"][0]["checks"][0]["message"] = HOSTILE
    arch = factory.failing_result()["questions"][0]["checks"][0]
    arch["details"]["table"][0]["student"] = HOSTILE
    arch["details"]["table"][0]["status"] = "mismatch"
    result["questions"][0]["checks"][0] = arch
    html = render_student_report(factory.typed(result), tmp_path / "m").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in html
    # Escaped, the payload reads back as the exact text the student wrote.
    assert HOSTILE in page_text(html, "problems")
    assert "raise ValueError('" + HOSTILE + "')" in page_text(html, "problems")


def test_report_page_is_self_contained_and_forbids_scripts(bob):
    _, html, _ = bob
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"',
                             html).group(1))
    assert "script-src 'none'" in csp and "default-src 'none'" in csp
    assert not re.search(r'<(link|script)\b', html)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "@media print" in html and "@media (max-width: 640px)" in html


def test_filename_and_artifacts_root_for_the_self_check(tmp_path):
    result = factory.failing_result()
    artifacts = factory.write_student_dir(result, tmp_path / "work")
    cwd = tmp_path / "cwd"
    path = render_student_report(factory.typed(result), cwd, filename="grader-report.html",
                                 artifacts_root=artifacts)
    assert path == cwd / "grader-report.html"
    assert path.read_text(encoding="utf-8").count('<img class="samples"') == 3


def test_unknown_audience_is_refused():
    with pytest.raises(ValueError, match="audience"):
        student_view(factory.typed(factory.passing_result()), "parent")


def test_fine_tuning_whose_training_step_did_not_complete_renders(tmp_path):
    """A real 2020 notebook: its train() ran but took no step, so `changed` is None (this once
    made the template raise and aborted a whole batch)."""
    result = factory.finetune_result()
    for q in result["questions"]:
        for c in q["checks"]:
            c["details"].update(changed=None, unchanged_count=None)
    for audience in ("student", "ta"):
        html = render_student_report(factory.typed(result), tmp_path / audience,
                                     audience=audience).read_text(encoding="utf-8")
        assert "not measured (the training step did not complete)" in html
