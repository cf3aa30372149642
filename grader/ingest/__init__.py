"""ingest stage: read a submission and turn it into a runnable `Program` for the targets.

Nothing here executes student code; it only reads and parses it. `prepare_notebook` builds a
notebook for the sandbox task `notebook` (which does execute it, inside the sandbox).
"""

from grader.ingest.archive import IngestLimits
from grader.ingest.prelude import notebook_request, prelude_source, prepare_notebook
from grader.ingest.problems import (
    KINDS,
    PROGRAM_FILENAME,
    IngestError,
    Problem,
    locate,
    student_traceback,
)
from grader.ingest.slicing import Program, extract
from grader.ingest.submission import Cell, Submission, discover, load_submission

__all__ = [
    "KINDS",
    "PROGRAM_FILENAME",
    "Cell",
    "IngestError",
    "IngestLimits",
    "Problem",
    "Program",
    "Submission",
    "discover",
    "extract",
    "load_submission",
    "locate",
    "notebook_request",
    "prelude_source",
    "prepare_notebook",
    "student_traceback",
]
