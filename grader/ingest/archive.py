"""Reading code files out of a student's zip or folder without trusting it.

Zips are read member by member into memory (never extracted), so a hostile archive cannot write
outside anything; path escapes, symlinks, encrypted members and zip bombs are refused before a
single byte is decompressed beyond the limits.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.ingest.problems import IngestError, Problem

CODE_SUFFIXES = (".ipynb", ".py")
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git", ".venv", "venv",
             "site-packages", "node_modules"}


@dataclass(frozen=True)
class IngestLimits:
    """Caps on what ingest reads from one submission (all sizes in bytes)."""

    max_members: int = 2000            # zip entries (listed, not read)
    max_files: int = 200               # code files read from a zip or folder
    max_file_bytes: int = 50_000_000   # one notebook/module (notebooks embed output images)
    max_total_bytes: int = 200_000_000  # everything read from one submission
    max_ratio: float = 200.0           # uncompressed / compressed, per zip member
    max_cells: int = 5000              # cells in one notebook
    max_depth: int = 8                 # folder nesting in a folder submission


def limit_error(message: str) -> IngestError:
    return IngestError(Problem("limit", message))


def corrupt_error(message: str) -> IngestError:
    return IngestError(Problem("corrupt", message))


def skip_reason(parts: tuple[str, ...]) -> str | None:
    """Why a relative path is not a code file of the submission, or None to read it."""
    for part in parts[:-1]:
        if part in SKIP_DIRS or part.startswith("."):
            return f"inside {part}/"
    name = parts[-1]
    if name.startswith(".") or name.startswith("._"):
        return "hidden file"
    if not name.endswith(CODE_SUFFIXES):
        return "not a notebook or Python file"
    return None


def unsafe_name(name: str) -> str | None:
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "path escapes the archive ('..')"
    return None


def read_zip(path: Path, limits: IngestLimits) -> tuple[dict[str, bytes], list[str]]:
    """The code files of a zip (relative name -> bytes) and the entries ignored, with reasons."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise corrupt_error(f"{path.name}: not a readable zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise limit_error(f"{path.name}: {len(infos)} entries in the archive "
                              f"(limit {limits.max_members})")
        for info in infos:
            reason = unsafe_name(info.filename)
            if reason:
                raise corrupt_error(f"{path.name}: unsafe entry {info.filename!r}: {reason}")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise corrupt_error(f"{path.name}: entry {info.filename!r} is a symbolic link")
        names = [i.filename.replace("\\", "/") for i in infos if not i.is_dir()]
        prefix = _single_top_folder(names)
        files: dict[str, bytes] = {}
        ignored: list[str] = []
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename.replace("\\", "/")[len(prefix):]
            reason = skip_reason(PurePosixPath(name).parts)
            if reason:
                ignored.append(f"{name} ({reason})")
                continue
            if info.flag_bits & 0x1:
                raise corrupt_error(f"{path.name}: {name} is encrypted")
            if len(files) >= limits.max_files:
                raise limit_error(f"{path.name}: more than {limits.max_files} code files")
            if info.file_size > limits.max_file_bytes:
                raise limit_error(f"{path.name}: {name} is {info.file_size} bytes uncompressed "
                                  f"(limit {limits.max_file_bytes})")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1_000_000 and ratio > limits.max_ratio:
                raise limit_error(f"{path.name}: {name} expands {ratio:.0f}x "
                                  f"(limit {limits.max_ratio:.0f}x): refusing a likely zip bomb")
            data = _read_member(archive, info, limits, limits.max_total_bytes - total,
                                path.name)
            total += len(data)
            files[name] = data
        return files, ignored


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: IngestLimits,
                 room: int, label: str) -> bytes:
    """Read one member, counting what actually comes out: declared sizes can lie."""
    cap = min(limits.max_file_bytes, room)
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as handle:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise limit_error(f"{label}: {info.filename} decompresses past the size "
                                      f"limit ({cap} bytes)")
                if size > 1_000_000 and size / max(info.compress_size, 1) > limits.max_ratio:
                    raise limit_error(f"{label}: {info.filename} expands more than "
                                      f"{limits.max_ratio:.0f}x: refusing a likely zip bomb")
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise corrupt_error(f"{label}: cannot read {info.filename} ({exc})") from None
    return b"".join(chunks)


def _single_top_folder(names: list[str]) -> str:
    """'top/' when every entry lives under one folder (a zipped folder), else ''."""
    kept = [n for n in names if not n.startswith("__MACOSX/")]
    tops = {n.split("/", 1)[0] for n in kept}
    if len(tops) == 1 and all("/" in n for n in kept):
        return next(iter(tops)) + "/"
    return ""


def read_folder(path: Path, limits: IngestLimits) -> tuple[dict[str, bytes], list[str]]:
    """The code files under a folder (relative posix name -> bytes), never following links."""
    files: dict[str, bytes] = {}
    ignored: list[str] = []
    total = 0

    def walk(folder: Path, depth: int) -> None:
        nonlocal total
        if depth > limits.max_depth:
            raise limit_error(f"{path.name}: folders nested deeper than {limits.max_depth}")
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            rel = entry.relative_to(path).as_posix()
            if entry.is_symlink():
                ignored.append(f"{rel} (symbolic link)")
                continue
            if entry.is_dir():
                if entry.name in SKIP_DIRS or entry.name.startswith("."):
                    ignored.append(f"{rel}/ (skipped folder)")
                    continue
                walk(entry, depth + 1)
                continue
            reason = skip_reason(PurePosixPath(rel).parts)
            if reason:
                ignored.append(f"{rel} ({reason})")
                continue
            size = entry.stat().st_size
            if size > limits.max_file_bytes:
                raise limit_error(f"{rel} is {size} bytes (limit {limits.max_file_bytes})")
            if len(files) >= limits.max_files:
                raise limit_error(f"{path.name}: more than {limits.max_files} code files")
            total += size
            if total > limits.max_total_bytes:
                raise limit_error(f"{path.name}: more than {limits.max_total_bytes} bytes of code")
            files[rel] = entry.read_bytes()

    walk(path, 0)
    return files, ignored
