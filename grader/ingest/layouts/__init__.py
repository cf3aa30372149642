"""Download layouts: how the folder an LMS gives staff ("download all submissions") maps to
students, submission times and earlier attempts.

Each layout is a small module registering a reader with `@layout(...)`: a `detect` function
that says why a folder looks like its layout (or None), and a `read` function that turns the
folder into `Entry`s, one per student, the latest submission of each. Adding a layout is one
module and its name in `LAYOUT_MODULES`; `grader grade --layout NAME` appears from the registry.

`read_download` is what the batch calls: it unpacks a downloaded zip when it is a whole class's
export, picks the layout (`auto`: the first registered layout whose `detect` matches, else
`folder`), and says what it chose and why.
"""

from __future__ import annotations

import importlib
import shutil
import stat
import zipfile
from pathlib import Path

from grader.ingest.archive import IngestLimits, unsafe_name
from grader.ingest.layouts.base import Entry, Found, Layout, registered
from grader.ingest.layouts.canvas import CANVAS_NAME
from grader.ingest.layouts.folder import read_paths
from grader.ingest.layouts.gradescope import METADATA
from grader.ingest.problems import IngestError, Problem

LAYOUT_MODULES = ("grader.ingest.layouts.gradescope", "grader.ingest.layouts.canvas",
                  "grader.ingest.layouts.markus", "grader.ingest.layouts.folder")
DOWNLOAD_LIMITS = IngestLimits(max_members=100_000, max_total_bytes=20_000_000_000)


def layouts() -> dict[str, Layout]:
    """Every registered layout, in detection order (the plain folder last)."""
    for module in LAYOUT_MODULES:
        importlib.import_module(module)
    found = registered()
    order = [m.rsplit(".", 1)[1] for m in LAYOUT_MODULES]
    return {name: found[name] for name in sorted(found, key=order.index)}


def layout_names() -> list[str]:
    """What `--layout` accepts: auto, then every registered layout."""
    return ["auto", *layouts()]


def unpack_download(archive_path: Path, dest: Path,
                    limits: IngestLimits = DOWNLOAD_LIMITS) -> Path:
    """Extract a downloaded class zip into `dest`, refusing unsafe names, links and bombs."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(Problem("corrupt", f"{archive_path.name}: not a readable zip "
                                             f"archive ({exc})")) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise IngestError(Problem("limit", f"{archive_path.name}: {len(infos)} entries"))
        total = sum(i.file_size for i in infos)
        if total > limits.max_total_bytes:
            raise IngestError(Problem("limit", f"{archive_path.name} expands to {total} bytes "
                                               f"(limit {limits.max_total_bytes})"))
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for info in infos:
            name = info.filename.replace("\\", "/")
            reason = unsafe_name(name)
            if reason or stat.S_ISLNK(info.external_attr >> 16):
                raise IngestError(Problem("corrupt", f"{archive_path.name}: unsafe entry "
                                                     f"{name!r}: {reason or 'symbolic link'}"))
            target = dest / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    return dest


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [i.filename for i in archive.infolist()]
    except (zipfile.BadZipFile, OSError):
        return []


def _looks_like_export(path: Path) -> bool:
    """A zip whose names look like a whole class's download (not one student's zip)."""
    names = _zip_names(path)
    leaves = [n.rstrip("/").rsplit("/", 1)[-1] for n in names if not n.endswith("/")]
    if any(leaf == METADATA for leaf in leaves):
        return True
    canvas = sum(bool(CANVAS_NAME.match(leaf)) for leaf in leaves)
    return canvas >= 2 and canvas >= len(leaves) / 2


def read_download(paths: list[Path], layout_name: str = "auto",
                  student_pattern: str | None = None, scratch: Path | None = None) -> Found:
    """The submissions under `paths`, read by the named layout (or the detected one)."""
    registry = layouts()
    if layout_name not in layout_names():
        raise ValueError(f"unknown layout {layout_name!r}; known: {', '.join(layout_names())}")
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() == ".zip" and (
            layout_name not in ("auto", "folder") or _looks_like_export(paths[0])):
        where = scratch or paths[0].with_suffix("")
        root = unpack_download(paths[0], where / paths[0].stem)
        found = read_download([root], layout_name, student_pattern)
        found.notes.insert(0, f"unpacked {paths[0].name} into {root}")
        return found
    if len(paths) != 1 or not paths[0].is_dir():
        if layout_name not in ("auto", "folder"):
            raise ValueError(f"--layout {layout_name} reads one download folder (or its zip), "
                             f"not {len(paths)} path(s)")
        found = read_paths(paths, student_pattern)
        found.why = "files and folders given one by one"
        return found
    root = paths[0]
    if layout_name != "auto":
        chosen = registry[layout_name]
        found = chosen.read(root, student_pattern)
        found.why = f"--layout {layout_name}"
        return found
    for candidate in registry.values():
        reason = candidate.detect(root)
        if reason:
            found = candidate.read(root, student_pattern)
            found.why = f"detected: {reason}"
            return found
    raise AssertionError("the folder layout always matches")


__all__ = ["Entry", "Found", "Layout", "layout_names", "layouts", "read_download",
           "unpack_download"]
