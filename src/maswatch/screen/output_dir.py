"""The output directory of a screen: checked before any work, written aside, swapped in whole.

Commit protocol (docs/screening.md, "Output directory"):

1. ``--out`` is checked first: not empty, not a file, not a symlink, not a filesystem root,
   not the source nor a directory containing it, and — if it exists — empty or a complete earlier
   screen (its ``manifest.json`` says so). Nothing else is ever replaced.
2. Every file is written into a staging directory that this process creates with
   ``tempfile.mkdtemp`` beside ``--out`` (an unpredictable name, created with mode 0700 by
   ``mkdir``, which never follows an existing path or symlink).
3. ``manifest.json`` (every file with its size) is written last, into the staging directory.
4. The staging directory replaces ``--out`` by one atomic exchange of the two directories
   (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, between which ``--out`` is
   briefly absent — never mixed). The previous run is then deleted.

So a reader sees either the previous complete run or the new one, never a mix; a run that
fails or is killed leaves ``--out`` as it was (a killed run may leave its hidden staging
directory ``.<out>.*.maswatch-staging`` beside it, which nothing reads).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError
from ..sources._files import printable

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "maswatch-screen-output/1"
STAGING_SUFFIX = ".maswatch-staging"
UNSIZED = frozenset({"report.html", "summary.json"})
OUTPUT_NAMES = frozenset({"points.parquet", "episodes.parquet", "episodes.csv", "evidence.parquet", "evidence.csv",
                          "summary.json", "unit_report.csv", "metrics.json", "report.html", MANIFEST})
"""Every file a screen writes: a directory holding only these (a run from before manifests) may be replaced."""


def check_out(out: str | Path, source: str | Path | None = None) -> Path:
    """``--out`` as an absolute path, or an :class:`InputError` saying why it cannot be used."""
    if out is None or not str(out).strip():
        raise InputError("--out", "empty path: give the directory to write the screen's outputs into")
    raw = Path(out)
    p = Path(os.path.abspath(raw))
    name = printable(out)
    if p.parent == p:
        raise InputError("--out", f"{name} is a filesystem root; give a directory of its own for the outputs")
    if raw.is_symlink():
        raise InputError("--out", f"{name} is a symbolic link; give the real directory (outputs replace --out whole)")
    if p.exists() and not p.is_dir():
        raise InputError("--out", f"{name} exists and is not a directory")
    if p.is_dir() and not is_complete_output(p) and not all(e.name in OUTPUT_NAMES and e.is_file()
                                                            for e in p.iterdir()):
        raise InputError("--out", f"{name} is a directory that holds other files and no maswatch screen "
                                  f"{MANIFEST}: the screen replaces --out whole, so give a new or empty directory")
    if source is not None:
        src = Path(os.path.realpath(source))
        real = Path(os.path.realpath(p))
        # replacing --out must never move the source away (a directory inside the source is
        # fine: readers read only their named tables)
        if real == src or real in src.parents:
            raise InputError("--out", f"{name} is or contains the source {printable(source)}: write the outputs elsewhere")
    parent = p.parent
    if parent.exists() and not parent.is_dir():
        raise InputError("--out", f"{printable(parent)} is not a directory")
    return p


def is_complete_output(d: Path) -> bool:
    """Whether ``d`` holds a complete screen: a manifest of this format whose files all exist
    with their recorded sizes."""
    try:
        m = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        files = m["files"]
        return m.get("format") == MANIFEST_FORMAT and all(
            (d / f).is_file() and (size is None or (d / f).stat().st_size == size) for f, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def make_staging(out: Path) -> Path:
    """A new private directory beside ``out`` (same filesystem, so the swap is a rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=STAGING_SUFFIX, dir=out.parent))


def write_manifest(staging: Path, synthetic: bool) -> None:
    """Written last: the list of files (with sizes) that make the run complete. The data
    files are the same whatever the engine, so is the manifest: report.html (run time) and
    summary.json (engine name) are listed without a size."""
    files = {f.name: (None if f.name in UNSIZED else f.stat().st_size)
             for f in sorted(staging.iterdir()) if f.is_file() and f.name != MANIFEST}
    write_json(staging / MANIFEST, {"format": MANIFEST_FORMAT, "complete": True, "synthetic": synthetic,
                                    "files": files})


def commit(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` in one step; delete the previous run."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 -> the usual directory mode
    if not out.exists():
        os.rename(staging, out)  # fails, rather than merging, if --out appeared meanwhile with files
        return
    if _exchange(staging, out):
        shutil.rmtree(staging)  # now the previous run
        return
    previous = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".maswatch-previous", dir=out.parent))
    os.rename(out, previous / "run")
    os.rename(staging, out)
    shutil.rmtree(previous)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def finite_or_none(obj):
    """``obj`` with every NaN/±Infinity float replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json(path: Path, obj) -> None:
    """Strict JSON (no NaN/Infinity), sorted keys, UTF-8."""
    path.write_text(json.dumps(finite_or_none(obj), indent=2, sort_keys=True, allow_nan=False) + "\n",
                    encoding="utf-8")
