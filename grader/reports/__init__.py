"""Reports stage: per-student HTML, class dashboard, gradebook, LMS exports, terminal summary.

Everything here reads result.json records (docs/results.md) and nothing else; hidden-check
rules live in `view.py` so every output applies them the same way.
"""

from grader.reports.canvas import export_canvas
from grader.reports.dashboard import render_dashboard
from grader.reports.gradebook import write_gradebook
from grader.reports.gradescope import GRADESCOPE_SCHEMA, export_gradescope, validate_gradescope
from grader.reports.student import render_student_report
from grader.reports.terminal import format_terminal_summary, wants_colour

__all__ = [
    "GRADESCOPE_SCHEMA", "export_canvas", "export_gradescope", "format_terminal_summary",
    "render_dashboard", "render_student_report", "validate_gradescope", "wants_colour",
    "write_gradebook",
]
