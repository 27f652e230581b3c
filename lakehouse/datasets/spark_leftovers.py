"""What a Spark write killed before its commit leaves in a table folder; vacuum removes it.

A dataset version written by Spark gets its files in ``part-<write id>/`` (:func:`lakehouse.spark.io.execute`),
staged by Hadoop's committer under ``part-<write id>/_temporary/`` until the job commits. A job killed in
between leaves that staging folder behind, and Delta's vacuum (either engine) never looks into folders whose
names start with ``_``: without this module it would stay forever. Vacuum removes it with the same retention
as data files (a staging folder nothing has written to for ``retention_hours`` belongs to no running write),
and then what the data files' own vacuum leaves: Hadoop's ``.crc`` side files whose data file is gone, and
``part-*`` folders left empty.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

WRITE_FOLDERS = "part-*"
STAGING = "_temporary"


def _files(folder: Path) -> list[Path]:
    return [Path(parent) / name for parent, _, names in os.walk(folder) for name in names]


def _last_written(folder: Path, files: list[Path]) -> float:
    """When anything under ``folder`` was last written: its newest file, or (no files) its newest folder.

    Files decide where there are any, because a vacuum that deletes files touches their folder's time too.
    """
    stamps = []
    for path in files or [Path(parent) for parent, _, _ in os.walk(folder)]:
        try:
            stamps.append(path.stat().st_mtime)
        except FileNotFoundError:  # removed while we looked: a write or a vacuum is at work here
            return time.time()
    return max(stamps, default=time.time())


def _is_leftover(path: Path, folder: Path) -> bool:
    """Staged by a write that never committed, or a ``.<file>.crc`` side file whose ``<file>`` is gone."""
    relative = path.relative_to(folder).parts
    if relative[0] == STAGING:
        return True
    name = path.name
    return name.startswith(".") and name.endswith(".crc") and not path.with_name(name[1:-4]).exists()


def leftovers(table: Path, *, retention_hours: int) -> list[Path]:
    """What to delete: whole ``part-*`` folders holding only leftovers, else their staging folders and orphaned
    checksum files; only in write folders nothing has been written to for ``retention_hours``."""
    cutoff = time.time() - retention_hours * 3600
    found: list[Path] = []
    for folder in sorted(table.glob(WRITE_FOLDERS)):
        if not folder.is_dir():
            continue
        files = _files(folder)
        if _last_written(folder, files) > cutoff:
            continue
        waste = [f for f in files if _is_leftover(f, folder)]
        if len(waste) == len(files):
            found.append(folder)
            continue
        staging = folder / STAGING
        found.extend([staging] if staging.is_dir() else [])
        found.extend(sorted(f for f in waste if f.relative_to(folder).parts[0] != STAGING))
    return found


def remove_leftovers(table: str | os.PathLike[str], *, retention_hours: int, dry_run: bool = False) -> list[str]:
    """Delete (or, with ``dry_run``, list) the :func:`leftovers` of a table; paths relative to the table,
    folders ending in ``/``. A table in a bucket has none to remove: S3A writes each object whole, with no
    staging folder beside the table's files."""
    if "://" in str(table):
        return []
    root = Path(table)
    if not root.is_dir():
        return []
    found = leftovers(root, retention_hours=retention_hours)
    removed = [p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in found]
    if not dry_run:
        for path in found:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return removed
