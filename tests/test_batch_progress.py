"""The batch progress bar: drawn only on a terminal when not quiet; counts failures either way."""

from __future__ import annotations

import io

from grader.batch.progress import Progress
from grader.result import Result


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _schema1(**fields) -> Result:
    """A record as the first version wrote it (schema 1), read through the loader."""
    return Result.from_dict({"schema": 1, "student": "s", "rubric": {"id": "r"}, **fields})


GRADED = _schema1(status="graded",
                  questions=[{"id": "4.1", "checks": [{"id": "a", "status": "failed"}]}])
STUDENT_ERROR = _schema1(status="error", error={"kind": "corrupt", "message": "not JSON"})
INTERNAL = _schema1(status="error", error={"kind": "internal", "message": "worker died"})
CHECK_INTERNAL = _schema1(status="graded", questions=[
    {"id": "4.1", "checks": [{"id": "a", "status": "passed"}, {"id": "b", "status": "internal"}]}])


def test_schema1_records_separate_the_students_fault_from_the_graders():
    assert GRADED.status == "graded"
    assert STUDENT_ERROR.status == "error"
    assert INTERNAL.status == "internal"
    assert CHECK_INTERNAL.status == "internal"
    assert _schema1(status="error", error=None).status == "error"


def test_bar_on_a_terminal_shows_done_total_and_failures():
    stream = Terminal()
    with Progress(total=6, done=2, stream=stream) as progress:
        for result in (GRADED, STUDENT_ERROR, INTERNAL):
            progress.advance(result)
        progress.write("s004: the grader failed")
    text = stream.getvalue()
    assert progress.enabled
    assert "5/6" in text and "failures=2" in text and "internal=1" in text
    assert "s004: the grader failed" in text
    assert "<" in text  # elapsed<remaining: the ETA
    assert progress.done == 5 and progress.failures == 2


def test_quiet_or_not_a_terminal_draws_nothing_but_still_counts():
    for progress in (Progress(3, quiet=True, stream=Terminal()), Progress(3, stream=io.StringIO())):
        stream = progress.stream
        progress.advance(GRADED)
        progress.advance(CHECK_INTERNAL)
        progress.close()
        assert not progress.enabled and stream.getvalue() == ""
        assert progress.counts == {"graded": 1, "error": 0, "internal": 1}


def test_write_without_a_bar_goes_to_the_stream():
    stream = io.StringIO()
    progress = Progress(1, stream=stream)
    progress.write("summary line")
    assert stream.getvalue() == "summary line\n"
