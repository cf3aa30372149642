"""Workers and tasks over time: nothing outlives a task, one task cannot affect the next, a lost
worker is replaced, tasks run concurrently, and what a task returns arrives intact."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.sandbox import Sandbox, run_once
from grader.sandbox.tasks import UnknownTask
from tests.sandbox_factory import (
    FAST,
    daemon_code,
    echo,
    host_processes_with,
    needs_bwrap,
    tmp_mount_dirs,
    token,
    wait_until,
)

pytestmark = [needs_bwrap, pytest.mark.sandbox]

PROCS = "sorted(int(p) for p in __import__('os').listdir('/proc') if p.isdigit())"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(FAST, workers=1, preload=()) as sb:
        yield sb


def test_double_forked_setsid_daemon_is_gone_when_the_result_is_in(sandbox):
    word = token()
    pids = sandbox.worker_pids()
    outcome = sandbox.run(echo(daemon_code(word, "/scratch/marker", delay=2)))
    assert outcome.status == "ok", outcome.error
    assert host_processes_with(word) == [], "a task process outlived its task"
    # The worker itself cleaned up: the trusted side's backstop did not have to destroy it.
    assert outcome.isolation["warnings"] == [] and sandbox.worker_pids() == pids
    time.sleep(2.3)  # the daemon would have written its marker by now
    later = sandbox.run(echo("import os", f"[{PROCS}, os.path.exists('/scratch/marker'), "
                                          "os.listdir('/scratch'), os.listdir('/tmp')]"))
    procs, marker, scratch, tmp = later.result["value"]
    assert len(procs) == 3 and not marker and set(tmp) == tmp_mount_dirs()
    assert len(scratch) == 1, "only this task's own folder may be in scratch"


def test_task_that_kills_its_supervisor_is_crashed_and_the_sandbox_recovers(sandbox):
    before = sandbox.worker_pids()
    outcome = sandbox.run(echo("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                               "import time\ntime.sleep(5)"))
    assert outcome.status == "crashed", outcome.summary()
    assert "supervisor" in outcome.error and "SIGKILL" in outcome.error
    assert outcome.resources["wall_s"] < 2, "the sleeping task must have been killed at once"
    after = sandbox.run(echo("", f"{PROCS}"))
    assert after.status == "ok" and len(after.result["value"]) == 3
    assert sandbox.worker_pids() == before, "the warm worker itself must survive"


def test_task_that_kills_everything_it_can(sandbox):
    outcome = sandbox.run(echo("import os, signal\nos.kill(-1, signal.SIGKILL)"))
    assert outcome.status == "crashed"
    assert sandbox.run(echo("", "1")).result == {"value": 1}


def test_the_warm_worker_ignores_signals_from_tasks(sandbox):
    before = sandbox.worker_pids()
    outcome = sandbox.run(echo("""
        import os, signal
        for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGINT):
            os.kill(1, sig)
    """, "'still here'"))
    assert outcome.status == "ok" and outcome.result == {"value": "still here"}
    assert sandbox.run(echo("", "1")).ok and sandbox.worker_pids() == before


def test_task_that_freezes_its_supervisor_times_out_and_the_sandbox_recovers(sandbox):
    before = sandbox.worker_pids()
    start = time.monotonic()
    outcome = sandbox.run(echo("import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)"),
                          limits=FAST.replace(timeout=1, grace=4))
    assert outcome.status == "timeout", outcome.summary()
    assert time.monotonic() - start < 4, "the in-sandbox backstop must act before the parent's"
    assert sandbox.run(echo("", "2")).result == {"value": 2}
    assert sandbox.worker_pids() == before


def test_no_state_leaks_from_one_task_to_the_next(sandbox):
    pids = sandbox.worker_pids()
    first = sandbox.run(echo("""
        import ctypes, os, sys, json
        import grader.sandbox.tasks.echo as task
        task.LEAK = "module global"
        json.LEAK = "stdlib module"
        sys.path.append("/leak")
        os.environ["LEAK"] = "env"
        for place in ("/scratch/leak", "/tmp/leak", "/dev/shm/leak", "leak_in_cwd",
                      os.path.expanduser("~/leak_in_home")):
            open(place, "w").write("leak")
        libc = ctypes.CDLL(None, use_errno=True)
        shm = libc.shmget(0x5EED, 4096, 0o1666)   # IPC_CREAT | 0666: a System V segment
    """, "shm"))
    assert first.status == "ok" and first.result["value"] >= 0, first.error
    second = sandbox.run(echo("""
        import ctypes, os, sys, json, glob
        import grader.sandbox.tasks.echo as task
        libc = ctypes.CDLL(None, use_errno=True)
        seen = {
            "module": hasattr(task, "LEAK"), "stdlib": hasattr(json, "LEAK"),
            "sys.path": "/leak" in sys.path, "env": "LEAK" in os.environ,
            "files": glob.glob("/scratch/**/leak*", recursive=True) + glob.glob("/tmp/*")
                     + glob.glob("/dev/shm/*") + glob.glob("*leak*"),
            "shm": libc.shmget(0x5EED, 4096, 0o666) != -1,
        }
    """, "seen"))
    assert second.status == "ok", second.error
    seen = second.result["value"]
    mounts = {f"/tmp/{name}" for name in tmp_mount_dirs()}
    seen["files"] = [f for f in seen["files"] if f not in mounts]
    assert seen == {"module": False, "stdlib": False, "sys.path": False, "env": False,
                    "files": [], "shm": False}
    assert sandbox.worker_pids() == pids, "both tasks must have run in the same warm worker"


SCAN_MEMORY = """
    import hashlib, re
    def occurrences(prefix, length, digest):
        found = 0
        with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if not perms.startswith("r") or "[v" in line:
                    continue
                lo, hi = (int(x, 16) for x in span.split("-"))
                try:
                    mem.seek(lo)
                    data = mem.read(hi - lo)
                except (OSError, OverflowError, ValueError):
                    continue
                for hit in re.finditer(re.escape(prefix), data):
                    if hashlib.sha256(data[hit.start():hit.start() + length]).hexdigest() == digest:
                        found += 1
        return found
"""


def test_a_task_cannot_find_the_previous_submission_in_its_memory(sandbox):
    """Each task forks from a zygote that never held task data: no remnants to scan for."""
    import hashlib

    secret = (token() + "-the-previous-students-solution-") * 50
    digest = hashlib.sha256(secret.encode()).hexdigest()
    # The scanning code only ever holds the first 12 characters and the hash, never the secret.
    scan = echo(SCAN_MEMORY, f"occurrences({secret[:12].encode()!r}, {len(secret)}, {digest!r})")
    first = sandbox.run(dict(scan, code=scan["code"] + "\nsource = open('a2.py').read()\n"
                             "print(source)\n(out_dir / 'copy.txt').write_text(source)"),
                        files={"a2.py": secret.encode()})
    assert first.status == "ok", first.error
    assert first.result["value"] >= 1, "the scanner must find the secret where it is"
    assert secret in first.stdout and first.artifacts["copy.txt"] == secret.encode()
    second = sandbox.run(scan)
    assert second.status == "ok", second.error
    assert second.result["value"] == 0, "the previous task's data is readable in memory"


def test_errors_carry_the_traceback(sandbox):
    outcome = sandbox.run(echo("def f():\n    raise ValueError('bad shape 3 vs 4')\nf()"))
    assert outcome.status == "error" and outcome.result is None
    assert "ValueError: bad shape 3 vs 4" in outcome.error
    assert 'File "<echo>", line 2, in f' in outcome.error
    exits = sandbox.run(echo("import sys\nsys.exit(3)"))
    assert exits.status == "error" and "SystemExit" in exits.error
    quits = sandbox.run(echo("import os\nos._exit(0)"))
    assert quits.status == "crashed" and "without a result" in quits.error
    segv = sandbox.run(echo("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"))
    assert segv.status == "crashed" and "SIGSEGV" in segv.error
    not_json = sandbox.run(echo("", "object()"))
    assert not_json.status == "error" and "not JSON" in not_json.error


def test_input_files_and_artifacts_round_trip(sandbox):
    weights = bytes(range(256)) * 40
    outcome = sandbox.run(echo("""
        import os
        data = open("sub/model.py").read()
        (out_dir / "w_Net_0.npz").write_bytes(open("blob.bin", "rb").read())
        (out_dir / "figs").mkdir()
        (out_dir / "figs" / "loss.txt").write_text(data.upper())
        os.symlink("/etc/passwd", out_dir / "link")
        os.mkfifo(out_dir / "fifo")
    """, "data"), files={"sub/model.py": b"class Net: pass\n", "blob.bin": weights})
    assert outcome.status == "ok", outcome.error
    assert outcome.result == {"value": "class Net: pass\n"}
    assert outcome.artifacts == {"w_Net_0.npz": weights, "figs/loss.txt": b"CLASS NET: PASS\n"}
    assert any("link" in w for w in outcome.isolation["warnings"])
    assert any("fifo" in w for w in outcome.isolation["warnings"])


def test_requests_are_checked_before_anything_runs(sandbox):
    with pytest.raises(UnknownTask):
        sandbox.run({"task": "os.system"})
    with pytest.raises(ValueError):
        sandbox.run(echo("1"), files={"../escape.py": b""})
    with pytest.raises(TypeError):
        sandbox.run({"task": "echo", "code": object()})


def test_two_workers_run_four_tasks_concurrently():
    with Sandbox(FAST, workers=2, preload=()) as sb:
        start = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(
                lambda i: sb.run(echo(f"import time\ntime.sleep(1)\nv = {i} * {i}", "v")),
                range(4)))
        took = time.monotonic() - start
    assert [o.result["value"] for o in outcomes] == [0, 1, 4, 9]
    assert 2 <= took < 3.5, f"4 one-second tasks on 2 workers took {took:.1f}s"


def test_pool_survives_the_thread_that_started_it():
    """bwrap --die-with-parent follows the starting *thread*; workers must outlive it."""
    holder: list[Sandbox] = []
    thread = threading.Thread(target=lambda: holder.append(
        Sandbox(FAST, workers=1, preload=()).__enter__()))
    thread.start()
    thread.join()
    sb = holder[0]
    try:
        time.sleep(0.3)
        assert sb.run(echo("", "'alive'")).result == {"value": "alive"}
    finally:
        sb.close()


def test_run_once_kills_every_process_of_the_task():
    word = token()
    outcome = run_once(echo(daemon_code(word, "/tmp/marker", delay=30) + f"""
        import subprocess
        subprocess.Popen(["/bin/sh", "-c", "sleep 30", "{word}"])
    """, "'started'"), FAST)
    assert outcome.status == "ok", outcome.error
    assert outcome.isolation["pid_namespace"] is True and outcome.isolation["warnings"] == []
    assert wait_until(lambda: host_processes_with(word) == [], 0.5)


def test_closing_the_pool_leaves_nothing_behind():
    sb = Sandbox(FAST, workers=2, preload=())
    sb.start()
    pids = [p for p in sb.worker_pids() if p]
    word = token()
    sb.run(echo(daemon_code(word, "/tmp/x", delay=30)))
    sb.close()
    import os

    assert all(not os.path.exists(f"/proc/{pid}") for pid in pids)
    assert host_processes_with(word) == []


def _grade_in_forked_process(results) -> None:
    with Sandbox(FAST, workers=1, preload=()) as sb:
        results.put(sb.run(echo("", "'from a forked grader'")).result)


def test_a_forked_grader_process_can_start_its_own_pool(sandbox):
    """batch workers fork from a parent that may already have used a sandbox."""
    import multiprocessing

    assert sandbox.run(echo("", "0")).ok  # the spawner thread exists in this process now
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    proc = ctx.Process(target=_grade_in_forked_process, args=(results,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert results.get(timeout=1) == {"value": "from a forked grader"}


def test_a_dropped_pool_ends_its_workers():
    import gc
    import os

    sb = Sandbox(FAST, workers=1, preload=())
    sb.start()
    pid = sb.worker_pids()[0]
    assert sb.run(echo("", "1")).ok
    del sb
    gc.collect()
    assert wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 3)


VENV_SCRIPT = """
import json, sys
from grader.sandbox import Sandbox
from tests.sandbox_factory import FAST, echo
with Sandbox(FAST, workers=1, preload=()) as sb:
    pids = sb.worker_pids()
    first = sb.run(echo("import os, sys\\nopen('/tmp/junk', 'w').write('x')\\n"
                        "x = [sys.prefix, os.path.isdir(sys.prefix)]", "x"))
    second = sb.run(echo("import os, sys\\nx = [os.path.exists('/tmp/junk'), "
                         "os.path.isdir(sys.prefix)]", "x"))
    print(json.dumps({"first": [first.status, first.result, first.error],
                      "second": [second.status, second.result, second.error],
                      "same_worker": sb.worker_pids() == pids}))
"""


def test_a_venv_under_tmp_is_visible_inside_and_survives_the_wipe(tmp_path):
    """The sandbox's private /tmp must not hide an interpreter that lives under the host's /tmp
    (a clone in /tmp with its .venv), and wiping /tmp after a task must leave it alone."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "project.pth").write_text(f"{root}\n{Path(sys.prefix).resolve()}/lib/"
                                      f"python{sys.version_info.major}.{sys.version_info.minor}"
                                      f"/site-packages\n")
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", VENV_SCRIPT], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["first"][0] == "ok", seen
    assert seen["first"][1]["value"] == [str(venv), True]
    assert seen["second"][0] == "ok", seen
    assert seen["second"][1]["value"] == [False, True], "junk wiped, the venv still there"
    assert seen["same_worker"], "the wipe must not fail and retire the worker"
