"""LMS download layouts: who each submission belongs to, when it was handed in, which attempt
is graded, and what the auto-detection chose and why."""

from __future__ import annotations

import zipfile

import pytest

from grader.batch.run import _latest_per_student
from grader.ingest.layouts import Entry, read_download
from grader.ingest.layouts.markus import markus_time
from grader.ingest.problems import IngestError
from grader.result import Origin
from tests import lms_factory as lms


def test_canvas_names_give_ids_the_newest_upload_and_the_late_marker(tmp_path):
    found = read_download([lms.canvas_download(tmp_path / "dl")])
    assert found.layout == "canvas" and "Canvas" in found.why
    by_id = {e.student: e for e in found.entries}
    assert set(by_id) == {"12345", "23456"}
    smith = by_id["12345"]
    assert smith.names == ("a2_code.ipynb",)            # graded under its original name
    assert smith.paths[0].name == "smithjohn_12345_678950_a2_code-1.ipynb"   # the newer upload
    assert [e.path.endswith("678901_a2_code.ipynb") for e in smith.origin.earlier] == [True]
    assert smith.origin.name == "smithjohn" and smith.origin.lms_late is False
    doe = by_id["23456"]
    assert doe.names == ("a2_code.ipynb", "writeup.pdf") and doe.origin.lms_late is True
    assert doe.origin.submitted_at is None               # Canvas's download has no times
    ignored = {p.name: why for p, why in found.ignored}
    assert ignored["roejim_34567_text.html"] == "a text or URL entry, not code"


def test_a_zipped_canvas_download_is_unpacked_and_detected(tmp_path):
    archive = lms.zipped(lms.canvas_download(tmp_path / "dl"), tmp_path / "subs.zip")
    found = read_download([archive], scratch=tmp_path / "scratch")
    assert found.layout == "canvas"
    assert {e.student for e in found.entries} == {"12345", "23456"}
    assert found.notes[0].startswith("unpacked subs.zip")
    assert all((tmp_path / "scratch") in e.paths[0].parents for e in found.entries)


def test_one_students_zip_is_still_one_submission(tmp_path):
    one = tmp_path / "alice.zip"
    with zipfile.ZipFile(one, "w") as archive:
        archive.write(lms.notebook(tmp_path / "src" / "a2.ipynb"), "a2.ipynb")
    found = read_download([one])
    assert found.layout == "folder" and [e.student for e in found.entries] == ["alice"]


def test_gradescope_export_gives_sid_name_time_history_and_group_members(tmp_path):
    found = read_download([lms.gradescope_export(tmp_path / "dl")])
    assert found.layout == "gradescope" and "submission_metadata.yml" in found.why
    by_id = {e.student: e for e in found.entries}
    assert set(by_id) == {"1001234567", "aturing", "1007654321"}   # no sid: the email's user
    ada = by_id["1001234567"]
    assert ada.origin.name == "Ada Lovelace" and ada.origin.lms_id == "5001"
    assert ada.origin.submitted_at == "2023-03-10T22:30:00.123456+00:00"
    assert [e.submitted_at for e in ada.origin.earlier] == ["2023-03-09T18:00:00+00:00"]
    assert by_id["aturing"].paths == by_id["1007654321"].paths    # one group submission
    assert any("group submission" in n for n in found.notes)


def test_markus_groups_with_the_summary_get_submission_times(tmp_path):
    found = read_download([lms.markus_download(tmp_path / "dl")])
    assert found.layout == "markus" and "A2_submissions.csv" in found.why
    times = {e.student: e.origin.submitted_at for e in found.entries}
    assert times == {"lovelac1": "2023-03-10T16:59:01-05:00",
                     "turinga2": "2023-03-11T09:30:00-05:00"}


def test_markus_without_its_summary_reads_as_folders_and_says_times_are_unknown(tmp_path):
    root = lms.markus_download(tmp_path / "dl")
    (root / "A2_submissions.csv").unlink()
    assert read_download([root]).layout == "folder"
    forced = read_download([root], "markus")
    assert forced.why == "--layout markus"
    assert {e.origin.submitted_at for e in forced.entries} == {None}
    assert "submission times unknown" in forced.notes[0]


@pytest.mark.parametrize("text, iso", [
    ("Friday, March 10, 2023, 04:59:01 PM EST", "2023-03-10T16:59:01-05:00"),
    ("Monday, October 02, 2023, 11:00:00 AM EDT", "2023-10-02T11:00:00-04:00"),
    ("2023-03-10T17:00:00+00:00", "2023-03-10T17:00:00+00:00"),
    ("Friday, March 10, 2023, 04:59:01 PM XYZ", None),   # unknown zone: never guessed
    ("", None)])
def test_markus_dates(text, iso):
    assert markus_time(text) == iso


def test_plain_folders_keep_duplicate_ids_apart_and_say_so(tmp_path):
    lms.notebook(tmp_path / "class" / "alice.ipynb")
    with zipfile.ZipFile(tmp_path / "class" / "alice.zip", "w") as archive:
        archive.writestr("a2.ipynb", (tmp_path / "class" / "alice.ipynb").read_text())
    found = read_download([tmp_path / "class"])
    assert sorted(e.student for e in found.entries) == ["alice", "alice-2"]
    assert "use an LMS --layout" in found.notes[0]


def test_a_forced_layout_on_loose_files_is_refused(tmp_path):
    one = lms.notebook(tmp_path / "a.ipynb")
    with pytest.raises(ValueError, match="reads one download folder"):
        read_download([one, one], "canvas")


def test_an_unsafe_download_zip_is_refused(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("smithjohn_12345_678901_a2.ipynb", "{}")
        z.writestr("../../evil_1_2_x.py", "print(1)")
    with pytest.raises(IngestError, match="unsafe entry"):
        read_download([archive], "canvas", scratch=tmp_path / "scratch")
    assert not (tmp_path.parent / "evil_1_2_x.py").exists()


def test_the_latest_of_several_timed_submissions_is_graded_the_rest_listed(tmp_path):
    def entry(when: str, name: str) -> Entry:
        return Entry(student="ada", paths=(tmp_path / name,),
                     origin=Origin(layout="gradescope", submitted_at=when, lms_id=name))
    kept, notes = _latest_per_student([entry("2023-03-10T22:30:00+00:00", "b"),
                                       entry("2023-03-10T17:30:00-05:00", "a"),  # 22:30 UTC
                                       entry("2023-03-11T01:00:00+00:00", "c")])
    assert [e.origin.lms_id for e in kept] == ["c"]
    assert sorted(e.lms_id for e in kept[0].origin.earlier) == ["a", "b"]
    assert "3 submissions" in notes[0]
