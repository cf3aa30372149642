"""The terminal summary printed by `grader check`."""

from __future__ import annotations

import io
import re

from grader.reports import format_terminal_summary, wants_colour
from grader.reports.view import fmt_points
from tests import reports_factory as factory

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_per_question_rows_with_scores_and_reasons():
    result = factory.failing_result()
    text = format_terminal_summary(factory.typed(result))
    assert text.splitlines()[1].startswith(f"score {fmt_points(result['score'])} / 3.00")
    for q in result["questions"]:
        assert re.search(rf"^{re.escape(q['id'])}\s+{re.escape(q['title'])}\s+"
                         rf"{fmt_points(q['score'])} / 0.50$", text, flags=re.M), q["id"]
    assert "◐ Partial credit   0.075/0.188  Layers match the handout (PoolUpsampleNet)" in text
    assert "      block 2: expected BatchNorm2d(64) after MaxPool2d, found none" in text
    assert "Lines not run by the grader\n  cell 2, line 1: shell command" in text
    assert not ANSI.search(text)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_hidden_checks_respected():
    result = factory.failing_result()
    none = result["questions"][2]["checks"][5]
    verdict = result["questions"][0]["checks"][5]
    none.update(title="NONE-TITLE", message="NONE-MESSAGE")
    verdict.update(title="VERDICT-TITLE", message="VERDICT-MESSAGE")
    student = format_terminal_summary(factory.typed(result))
    assert "VERDICT-TITLE [hidden check]" in student and "VERDICT-MESSAGE" not in student
    assert "NONE" not in student
    assert "+ 1 hidden check(s), counted in the total above" in student
    ta = format_terminal_summary(factory.typed(result), audience="ta")
    assert "NONE-TITLE [hidden · students see: none]" in ta
    assert "      VERDICT-MESSAGE" in ta  # a failed check's reason, shown to TAs


def test_failures_located_with_traceback():
    text = format_terminal_summary(factory.typed(factory.crashing_result()))
    assert "Your code raised an exception at cell 12, line 27" in text
    assert "    |     out2 = self.block2(out1_pooled)" in text
    assert "Memory limit exceeded at cell 16, line 9" in text
    assert text.count("(the same failure as above)") >= 6


def test_not_graded_submission():
    text = format_terminal_summary(factory.typed(factory.corrupt_result()),
                                   report_path="./grader-report.html")
    assert "NOT GRADED: The submission could not be read" in text
    assert "not valid JSON" in text
    assert text.rstrip().endswith("Full report: ./grader-report.html")
    crash = format_terminal_summary(factory.typed(factory.grader_crash_result()))
    assert "course staff will review it" in crash and "BrokenPipe" not in crash


def test_colour_only_when_asked(monkeypatch):
    result = factory.internal_result()
    coloured = format_terminal_summary(factory.typed(result), colour=True)
    assert "\x1b[35m?\x1b[0m" in coloured  # internal in magenta
    assert ANSI.sub("", coloured) == format_terminal_summary(factory.typed(result))
    assert not wants_colour(io.StringIO())

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_colour(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_colour(Tty())
