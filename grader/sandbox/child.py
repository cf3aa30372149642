"""The forked task process: lock itself down, run one task module, leave its result as files.

Everything here runs after `fork()` in the warm worker and before/around student code, so it
must not return into the worker's loop: it always ends with `os._exit`.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from grader.sandbox.cleanup import PR_SET_NO_NEW_PRIVS, prctl

EXIT_RESULT, EXIT_ERROR, EXIT_BROKEN = 0, 1, 2
RESULT_FILE, ERROR_FILE = "result.json", "error.json"

RLIMITS = {
    "AS": resource.RLIMIT_AS, "CPU": resource.RLIMIT_CPU, "FSIZE": resource.RLIMIT_FSIZE,
    "CORE": resource.RLIMIT_CORE, "NOFILE": resource.RLIMIT_NOFILE,
    "NPROC": resource.RLIMIT_NPROC,
}


def run_child(task: str, request: dict[str, Any], base: Path, work: Path, out: Path,
              stdout_fd: int, stderr_fd: int, rlimits: dict[str, list[int]],
              env: dict[str, str], threads: int) -> NoReturn:
    """Never returns. Exit code 0: result.json written; 1: error.json written; 2: neither."""
    try:
        _lock_down(stdout_fd, stderr_fd, env, threads, rlimits)
        os.chdir(work)
        sys.path.insert(0, str(work))
        sys.argv = [task]
    except BaseException:
        os.write(2, f"sandbox: task set-up failed\n{traceback.format_exc()}".encode())
        os._exit(EXIT_BROKEN)
    code = EXIT_BROKEN
    try:
        code = _run_task(task, request, base, out)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code)


def _lock_down(stdout_fd: int, stderr_fd: int, env: dict[str, str], threads: int,
               rlimits: dict[str, list[int]]) -> None:
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the zygote ignores it
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-large write fails with EFBIG instead
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # protocol pipes included
    # Fresh line-buffered text streams on the new fds (the old ones may think they can seek).
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                                       errors="backslashreplace", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                                       errors="backslashreplace", closefd=False)
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:  # the OOM killer takes the task first
            fh.write("1000")
    except OSError:
        pass
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.environ.clear()
    os.environ.update(env)
    torch = sys.modules.get("torch")
    if torch is not None:  # before any torch op: the worker's OpenMP pool does not exist here
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(RLIMITS[name], (soft, hard))


def _memory_kind(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        text = str(current)
        if "can't allocate memory" in text or "Cannot allocate memory" in text:
            return True
        current = current.__cause__ or current.__context__
    return False


def _classify(exc: BaseException) -> str:
    if _memory_kind(exc):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: RLIMIT_FSIZE
        return "output_limit"
    return "error"


def _write_json(path: Path, payload: Any) -> None:
    text = json.dumps(payload)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _run_task(task: str, request: dict[str, Any], base: Path, out: Path) -> int:
    from grader.sandbox.tasks import load_task

    try:
        result = load_task(task).run(request, out)
        if not isinstance(result, dict):
            raise TypeError(f"task {task} returned {type(result).__name__}, not a dict")
        try:
            _write_json(base / RESULT_FILE, result)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"task {task} returned a result that is not JSON: {exc}") from None
        return EXIT_RESULT
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code included
        report = {"kind": _classify(exc), "type": type(exc).__name__,
                  "message": str(exc)[:4000],
                  "traceback": "".join(traceback.format_exception(exc))[-64_000:]}
        try:
            _write_json(base / ERROR_FILE, report)
        except BaseException:
            os.write(2, report["traceback"].encode(errors="replace"))
            return EXIT_BROKEN
        return EXIT_ERROR
