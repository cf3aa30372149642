"""The write-up stage: find a student's write-up, read it, and judge the rubric's written
questions (`written` checks) from it.

Where the answers may be, in order: the write-up given for this student (`grader grade
--writeups DIR`), write-up files handed in with the notebook (a PDF, Markdown, LaTeX or text
file in the submission's folder or zip), and the notebook's own Markdown cells. For each
question the first of these that has its heading is judged. A PDF is parsed inside the sandbox
(its limits end a hostile file); text is read here; finding and judging the answers always
happens here, on the trusted side.

No write-up at all leaves a question unassessed (blank, not zero: a static run of notebooks
alone must not cost the written points). A write-up that does not have the question's heading,
or cannot be read, sends the question to a TA with what was found.
"""

from __future__ import annotations

import base64
import importlib
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.ingest.submission import Submission
from grader.plan import Plan
from grader.rubric.schema import CheckSpec, Question
from grader.state import SubmissionRun, outcome_problem

WRITEUP_SUFFIXES = (".pdf", ".md", ".markdown", ".tex", ".txt")
MAX_WRITEUP_BYTES = 30_000_000
MAX_FOUND = 5          # write-up files looked at per submission


@dataclass
class Source:
    """One place answers may be: its name for the report, and its lines (or why not)."""

    name: str
    separate: bool          # a write-up file, not the notebook itself
    document: Any = None    # grader.answers.writeup.Document
    error: str | None = None


def writeup_files(path: Path, scratch: Path) -> list[Path]:
    """Write-up files handed in with the submission (its folder, or its zip unpacked into
    `scratch`), largest PDFs first then text, at most MAX_FOUND."""
    found: list[Path] = []
    if path.is_dir():
        found = [p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()
                 and p.suffix.lower() in WRITEUP_SUFFIXES
                 and not any(part.startswith(".") or part == "__MACOSX"
                             for part in p.relative_to(path).parts)]
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    name = Path(info.filename)
                    if (info.is_dir() or name.suffix.lower() not in WRITEUP_SUFFIXES
                            or info.file_size > MAX_WRITEUP_BYTES or ".." in name.parts
                            or name.is_absolute() or "__MACOSX" in name.parts):
                        continue
                    target = scratch / f"{len(found)}_{name.name}"
                    target.write_bytes(archive.read(info))
                    found.append(target)
        except (zipfile.BadZipFile, OSError):
            return []
    order = {s: i for i, s in enumerate(WRITEUP_SUFFIXES)}
    return sorted(found, key=lambda p: (order[p.suffix.lower()], p.name))[:MAX_FOUND]


def _reference_available() -> bool:
    """Whether the reference models are importable (a student's machine or a Gradescope
    image may not have them)."""
    try:
        importlib.import_module("reference.models")
    except ImportError:
        return False
    return True


def writeup_for(folder: Path, student: str) -> Path | None:
    """A student's write-up in a `--writeups` folder: `<student>.pdf` (or .md, .tex, .txt),
    `<student>_anything.pdf` / `<student>-anything.pdf`, or the first write-up in a
    `<student>/` folder; None when there is none."""
    key = student.casefold()
    order = {s: i for i, s in enumerate(WRITEUP_SUFFIXES)}
    candidates = []
    for entry in sorted(folder.iterdir()):
        stem = entry.stem.casefold() if entry.is_file() else entry.name.casefold()
        if not (stem == key or stem.startswith((key + "_", key + "-"))):
            continue
        if entry.is_file() and entry.suffix.lower() in order:
            candidates.append(entry)
        elif entry.is_dir() and stem == key:
            candidates += writeup_files(entry, folder)
    return min(candidates, key=lambda p: (order[p.suffix.lower()], p.name), default=None)


def unclaimed_writeups(folder: Path, students: list[str]) -> list[str]:
    """Write-ups in a `--writeups` folder that belong to no student of the class (a misspelt
    id would otherwise leave that student's written questions silently unassessed)."""
    claimed = {p.resolve() for s in students if (p := writeup_for(folder, s)) is not None}
    keys = [s.casefold() for s in students]
    return [entry.name for entry in sorted(folder.iterdir())
            if (entry.is_dir() and entry.name.casefold() not in keys)
            or (entry.is_file() and entry.suffix.lower() in WRITEUP_SUFFIXES
                and entry.resolve() not in claimed
                and not any(entry.stem.casefold() == k
                            or entry.stem.casefold().startswith((k + "_", k + "-"))
                            for k in keys))]


class WriteupStage:
    """Judges the rubric's written questions for one submission at a time."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def checks(self) -> list[tuple[Question, CheckSpec]]:
        return list(self.plan.running("writeup"))

    def run(self, submission: Submission, run: SubmissionRun, sandbox: Callable[[], Any],
            given: Path | None = None) -> None:
        """Judge every running written check; `sandbox()` gives the sandbox (started only
        when a PDF needs reading)."""
        from grader.rubric.compile import check_uid

        checks = self.checks()
        if not checks:
            return
        if not _reference_available():
            for question, spec in checks:
                run.per_check[check_uid(question, spec)] = {
                    "skipped": "written answers are judged against the reference models, not "
                               "installed here: the course's batch grades this question"}
            return
        with tempfile.TemporaryDirectory(prefix="grader-writeup-") as tmp:
            sources = self._sources(submission, Path(tmp), sandbox, run, given)
            for question, spec in checks:
                run.per_check[check_uid(question, spec)] = self._judge(
                    spec.params["question"], sources)

    # -- where the answers may be ---------------------------------------------------------------
    def _sources(self, submission: Submission, tmp: Path, sandbox: Callable[[], Any],
                 run: SubmissionRun,
                 given: Path | None) -> list[Source]:
        files = ([given] if given is not None else []) + writeup_files(submission.path, tmp)
        sources = [self._read(path, sandbox, run) for path in files]
        for name, data in sorted(submission.files.items()):
            if name.lower().endswith(".ipynb"):
                path = tmp / "notebooks" / Path(name).name
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(data)
                sources.append(self._text(path, name, separate=False))
        return sources

    def _read(self, path: Path, sandbox: Callable[[], Any], run: SubmissionRun) -> Source:
        if path.stat().st_size > MAX_WRITEUP_BYTES:
            return Source(path.name, True, error=f"{path.name} is larger than "
                                                 f"{MAX_WRITEUP_BYTES // 1_000_000} MB")
        if path.suffix.lower() != ".pdf":
            return self._text(path, path.name, separate=True)
        from grader.answers.writeup import Document

        outcome = sandbox().run({"task": "writeup", "name": path.name,
                               "data": base64.b64encode(path.read_bytes()).decode("ascii")})
        run.add_resources(outcome)
        if not outcome.ok or not isinstance(outcome.result, dict):
            problem = outcome_problem(outcome, f"reading {path.name}")
            return Source(path.name, True, error=problem["message"])
        if outcome.result.get("error"):
            return Source(path.name, True, error=str(outcome.result["error"]))
        try:
            document = Document.from_dict(outcome.result["document"])
        except (KeyError, TypeError, ValueError) as exc:
            return Source(path.name, True, error=f"{path.name}: unreadable lines ({exc})")
        return Source(path.name, True, document=document)

    @staticmethod
    def _text(path: Path, name: str, separate: bool) -> Source:
        from grader.answers.writeup import WriteupError, read_document

        try:
            return Source(name, separate, document=read_document(path))
        except WriteupError as exc:
            return Source(name, separate, error=str(exc).replace(str(path.parent) + "/", ""))

    # -- judging --------------------------------------------------------------------------------
    @staticmethod
    def _judge(question: str, sources: list[Source]) -> dict[str, Any]:
        from grader.answers.writeup import answers_from_writeup, judge_answers

        heading = question.split("/", 1)[-1]
        for source in sources:
            if source.document is None:
                continue
            extracted = answers_from_writeup(source.document.path, [question],
                                             document=source.document)
            if not extracted.headings.get(question):
                continue
            answered, unreadable = extracted.for_question(question)
            if not answered and not unreadable:
                if not source.separate:
                    continue   # the starter's own heading in the notebook is not an answer
                return {"review": f"found a {heading} heading in {source.name} but could "
                                  "not read an answer under it: a TA grades this question",
                        "source": source.name}
            verdict = judge_answers(extracted)[0]
            return {"source": source.name, "verdict": verdict.to_dict()}
        separate = [s for s in sources if s.separate]
        unreadable = [f"{s.name}: {s.error}" for s in separate if s.error]
        if separate:
            looked = ", ".join(s.name for s in separate)
            why = (f"could not read {'; '.join(unreadable)}" if unreadable and
                   len(unreadable) == len(separate)
                   else f"no answer found under a {heading} heading in {looked}")
            return {"review": f"{why}: a TA grades this question by hand",
                    "source": looked}
        return {"skipped": f"no write-up was handed in (or given with --writeups) and the "
                           f"notebook has no {heading} heading: not assessed in this run"}
