"""A progress bar for a batch: done/total, failures and ETA on stderr, silent when not wanted.

    with Progress(total=len(jobs), done=already_graded, quiet=args.quiet) as progress:
        for job, graded in pool.run(todo):
            store.save(graded.result, graded.artifacts)
            progress.advance(graded.result)

The bar only draws on a terminal (never into a log file or a CI transcript) and never without
being asked. Counting goes on either way, so the batch summary can use `progress.counts`.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from tqdm import tqdm

from grader.result import Result


class Progress:
    """Counts finished submissions and, on a TTY unless `quiet`, shows them as a tqdm bar.

    `done` is how many were already graded before this run (resumed batches start part-way).
    """

    def __init__(self, total: int, done: int = 0, quiet: bool = False,
                 stream: IO[str] | None = None, desc: str = "grading") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.skipped = total, done
        self.counts = {"graded": 0, "error": 0, "internal": 0}
        self.enabled = not quiet and _is_tty(self.stream)
        self._bar: tqdm | None = None
        if self.enabled:
            self._bar = tqdm(total=total, initial=done, desc=desc, unit="sub",
                             file=self.stream, dynamic_ncols=True, smoothing=0.1,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
            self._refresh_postfix()

    @property
    def done(self) -> int:
        return self.skipped + sum(self.counts.values())

    @property
    def failures(self) -> int:
        return self.counts["error"] + self.counts["internal"]

    def advance(self, result: Result) -> str:
        """Count one finished submission; returns its outcome word."""
        word = result.status
        self.counts[word] += 1
        if self._bar is not None:
            self._refresh_postfix()
            self._bar.update(1)
        return word

    def write(self, message: str) -> None:
        """Print a line without tearing the bar (plain stderr when the bar is off)."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream)

    def _refresh_postfix(self) -> None:
        assert self._bar is not None
        parts = []
        if self.failures:
            parts.append(f"failures={self.failures}")
        if self.counts["internal"]:
            parts.append(f"internal={self.counts['internal']}")
        self._bar.set_postfix_str(" ".join(parts), refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
