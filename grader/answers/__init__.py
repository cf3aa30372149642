"""Written answers (weights / outputs / connections counts, padding) checked with sympy.

Counts come from the reference models themselves (forward hooks), never from hand-written
formulas; see ``counts.py`` and ``fit.py``. The command line is ``grader.answers.cli.main``.
"""

from .answerset import AnswerSet, AnswerSetResult, check_answer_set
from .check import Context, Verdict, check_count, check_padding
from .load import AnswersFileError, load_answer_sets
from .parse import AnswerParseError, parse_answer, parse_factor

__all__ = [
    "AnswerParseError",
    "AnswerSet",
    "AnswerSetResult",
    "AnswersFileError",
    "Context",
    "Verdict",
    "check_answer_set",
    "check_count",
    "check_padding",
    "load_answer_sets",
    "parse_answer",
    "parse_factor",
]
