"""How a worker is started: bubblewrap when it works, else a loud, plainly reported fallback.

The bwrap sandbox sees only: /usr (and the /bin, /lib symlinks), a short list of harmless /etc
files, the Python installation and the venv read-only, the installed `grader` package read-only,
and private tmpfs mounts (/scratch, /tmp, /dev/shm) that vanish with it. It has its own user,
pid, network, IPC, UTS and cgroup namespaces, no capabilities, no nested user namespaces, and
dies with the process that started it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grader

log = logging.getLogger("grader.sandbox")

SCRATCH = "/scratch"
# /etc files a Python/torch process needs (dynamic linker, names, time zone, MIME types); the rest
# of /etc stays out (ssh host keys, shadow, credentials of other services).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd",
             "group", "nsswitch.conf", "hosts", "host.conf", "mime.types", "os-release",
             "debian_version", "fonts", "alternatives", "matplotlibrc", "locale.alias")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class SandboxUnavailable(RuntimeError):
    """Isolation was required (or bwrap was asked for) but cannot be had here."""


@dataclass(frozen=True)
class BwrapInfo:
    path: str | None
    version: str | None
    works: bool
    reason: str | None = None


@dataclass
class LaunchPlan:
    """Everything needed to start one worker, plus the static part of the isolation report."""

    mechanism: str                     # "bwrap" | "none"
    argv: list[str]
    scratch: str                       # scratch root as the worker sees it
    wipe: list[str]                    # writable places the worker empties after each task
    private: bool                      # private pid (and IPC) namespace: kill(-1) is safe
    host_scratch: str | None = None    # fallback only: a private temp dir on the host
    report: dict[str, Any] = field(default_factory=dict)


def grader_package_dir() -> Path:
    return Path(grader.__file__).resolve().parent


def python_roots() -> list[Path]:
    """Read-only roots that make this interpreter and its venv work at the same paths inside."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(os.path.realpath(sys.executable)).parent.parent}
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        roots.add(Path(sys.prefix))
    return sorted(roots)


def _forbidden_roots() -> list[Path]:
    """Paths that must never be bound because they hold secrets or other students' work."""
    home = Path(os.path.expanduser("~"))
    repo = grader_package_dir().parent
    return [Path(p).resolve() for p in (home, "/root", "/home", tempfile.gettempdir(), repo, "/")]


def _check_bind(path: Path) -> None:
    resolved = path.resolve()
    for secret in _forbidden_roots():
        if resolved == secret or resolved in secret.parents:
            raise SandboxUnavailable(f"refusing to expose {path}: it contains {secret}")


def read_only_binds() -> list[Path]:
    binds = list(python_roots())
    package = grader_package_dir()
    if not any(package.is_relative_to(root) for root in binds):
        binds.append(package)
    for path in binds:
        _check_bind(path)
    return binds


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for name in ETC_FILES:
        path = f"/etc/{name}"
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
               "/dev/nvidia-modeset")


def gpu_devices() -> list[str]:
    """NVIDIA device nodes to pass into the sandbox so training checks can use the GPU.

    Only device nodes cross (never a network or a file system); `GRADER_SANDBOX_GPU=0` keeps
    the sandbox CPU-only on a GPU machine.
    """
    if os.environ.get("GRADER_SANDBOX_GPU", "1") == "0":
        return []
    cards = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))
    return [*cards, *(d for d in GPU_DEVICES if os.path.exists(d))] if cards else []


def bwrap_argv(bwrap: str, command: list[str], tmpfs_bytes: int, env: dict[str, str]) -> list[str]:
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--hostname", "grader-sandbox", "--as-pid-1"]
    args += _system_args()
    size = str(tmpfs_bytes)
    # The private /tmp and scratch come first, so that an interpreter or venv that lives under
    # /tmp is bound on top of them (and kept by the wipe) instead of being hidden by them.
    args += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", SCRATCH]
    for root in read_only_binds():
        args += ["--ro-bind", str(root), str(root)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in gpu_devices():
        args += ["--dev-bind", device, device]
    args += ["--size", size, "--tmpfs", "/dev/shm", "--mqueue", "/dev/mqueue",
             "--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--chdir", SCRATCH, "--"] + command


def worker_env(threads: int, home: str, tmp: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
            "HOME": home, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


@functools.lru_cache(maxsize=1)
def probe_bwrap() -> BwrapInfo:
    """Is bwrap installed, and does a sandbox with our exact namespace and mount set start?"""
    path = shutil.which("bwrap")
    if path is None:
        return BwrapInfo(None, None, False, "bubblewrap (bwrap) is not installed")
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip() or None
        probe = bwrap_argv(path, ["/usr/bin/true"], 1 << 20, {"PATH": "/usr/bin"})
        run = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable) as exc:
        return BwrapInfo(path, None, False, f"bwrap cannot start: {exc}")
    if run.returncode != 0:
        return BwrapInfo(path, version, False,
                         f"bwrap cannot create the sandbox here: {run.stderr.strip()[:300]}")
    return BwrapInfo(path, version, True)


def worker_command(config: dict[str, Any]) -> list[str]:
    import json

    return [sys.executable, "-I", "-m", "grader.sandbox.worker", json.dumps(config)]


def plan(mechanism: str, require_isolation: bool, threads: int, tmpfs_bytes: int,
         config: dict[str, Any]) -> LaunchPlan:
    """Decide how to start a worker. `config` is completed with where it runs and is passed on.

    Falls back to mechanism "none" only when allowed, and then says so in the report's
    warnings and in the log, every time a worker starts.
    """
    if mechanism not in ("auto", "bwrap", "none"):
        raise ValueError(f"unknown sandbox mechanism {mechanism!r}")
    info = probe_bwrap() if mechanism != "none" else BwrapInfo(None, None, False, "forced")
    if info.works:
        wipe = [SCRATCH, "/tmp", "/dev/shm", "/dev/mqueue"]
        config = dict(config, private=True, scratch=SCRATCH, wipe=wipe,
                      keep=[str(b) for b in read_only_binds()
                            if any(b.is_relative_to(w) for w in wipe)])
        env = worker_env(threads, SCRATCH, "/tmp")
        argv = bwrap_argv(info.path or "bwrap", worker_command(config), tmpfs_bytes, env)
        binds = [str(p) for p in read_only_binds()]
        report = {
            "mechanism": "bwrap", "bwrap": info.version,
            "network": "isolated: private network namespace, only its own loopback",
            "filesystem": {
                "read_only": ["/usr"] + [f"/etc/{n}" for n in ETC_FILES
                                         if os.path.exists(f"/etc/{n}")] + binds,
                "writable": [f"{p} (private tmpfs, {tmpfs_bytes} bytes, wiped after each task)"
                             for p in (SCRATCH, "/tmp", "/dev/shm")] + ["/dev/mqueue"],
                "everything_else": "not visible"},
            "pid_namespace": True, "user_namespace": True, "ipc_namespace": True,
            "nested_user_namespaces": False, "capabilities": "all dropped",
            "no_new_privs": True, "worker_dumpable": False,
            "worker": "zygote is pid 1 (tasks cannot signal it) and never holds task data; "
                      "each task gets a fresh handler fork and a fresh task fork",
            "dies_with_grader": True, "warnings": []}
        return LaunchPlan("bwrap", argv, SCRATCH, config["wipe"], True, report=report)
    why = info.reason or "unknown"
    if require_isolation or mechanism == "bwrap":
        raise SandboxUnavailable(f"bubblewrap isolation required but unavailable: {why}")
    host_scratch = tempfile.mkdtemp(prefix="grader-sbx-")
    os.chmod(host_scratch, 0o700)
    config = dict(config, private=False, scratch=host_scratch, wipe=[host_scratch])
    cause = "mechanism none was requested" if why == "forced" else why
    warning = (f"NO SANDBOX ISOLATION ({cause})"
               ": student code runs as this user with full network and file-system access; only "
               "rlimits, cgroups (if writable) and process-tree cleanup apply")
    log.warning("grader sandbox: %s", warning)
    report = {"mechanism": "none", "bwrap": info.version,
              "network": "NOT isolated (host network)",
              "filesystem": {"read_only": [], "writable": ["everything this user may write"],
                             "scratch": host_scratch, "everything_else": "visible"},
              "pid_namespace": False, "user_namespace": False, "ipc_namespace": False,
              "nested_user_namespaces": True, "capabilities": "those of the grader",
              "no_new_privs": True, "worker_dumpable": False, "dies_with_grader": True,
              "warnings": [warning]}
    argv = worker_command(config)
    return LaunchPlan("none", argv, host_scratch, [host_scratch], False, host_scratch, report)
