"""Helpers shared by check kinds: walking configs and turning student failures into verdicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grader.checks.registry import Verdict

ConfigResult = tuple[bool, str, dict[str, Any]]


def problem_text(problem: dict | None) -> str:
    """One line describing a student failure, with its location when known."""
    if not problem:
        return "unknown failure"
    where = ""
    if problem.get("cell"):
        where = f" (cell {problem['cell']}" + (f", line {problem['line']}" if problem.get(
            "line") else "") + ")"
    return f"{problem.get('kind', 'error')}: {problem.get('message', '')}{where}".strip()


def target_unavailable(measured: dict) -> Verdict | None:
    """A verdict when the target could not be observed at all, else None."""
    if not measured:
        return Verdict.internal("no observations for this target reached the checks")
    if not measured.get("found", True) or measured.get("problem"):
        problem = measured.get("problem")
        return Verdict.error(problem_text(problem), problem=problem)
    return None


def over_configs(measured: dict, expected: dict, names: list[str] | None,
                 judge: Callable[[dict, dict, str], ConfigResult]) -> Verdict:
    """Judge each config; passed when all pass, partial credit by the fraction that pass.

    A config whose construction or forward raised counts as an error for that config; the check
    is `error` only when every config failed that way, so one crash does not hide the rest.
    """
    unavailable = target_unavailable(measured)
    if unavailable:
        return unavailable
    configs = names or list(expected)
    if not configs:
        return Verdict.internal("the compiled expectations list no configuration for this check")
    per_config: dict[str, dict] = {}
    messages: list[str] = []
    passed = errors = 0
    for name in configs:
        got = measured.get("configs", {}).get(name)
        want = expected.get(name)
        if want is None:
            return Verdict.internal(f"no compiled expectation for config '{name}'; "
                                    "run `grader compile` for this rubric")
        if got is None:
            return Verdict.internal(f"config '{name}' was not observed")
        if got.get("status") != "ok":
            errors += 1
            text = problem_text(got.get("problem"))
            per_config[name] = {"ok": False, "error": text}
            messages.append(f"{name}: {text}")
            continue
        ok, message, details = judge(got, want, name)
        passed += ok
        per_config[name] = {"ok": ok, "message": message, **details}
        if not ok:
            messages.append(f"{name}: {message}")
    total = len(configs)
    if passed == total:
        return Verdict.passed(f"correct for all {total} configuration(s)", configs=per_config)
    if errors == total:
        return Verdict.error("; ".join(messages), configs=per_config)
    return Verdict.failed("; ".join(messages), fraction=passed / total, configs=per_config)
