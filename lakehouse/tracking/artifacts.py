"""Run artifacts: the files a run produced, stored once in the object store and indexed in ``tracking/artifacts``.

The index is append-only events, one row per (run, path) change: a file logged (its digest and size) or a path
deleted. **The fold** (:func:`fold`) is the one rule for the current state: for each (run_id, path) the newest
event by ``logged_at`` wins, and a path whose newest event is a deletion is gone.

Logging is synchronous and ordered so that a crash leaves nothing half-done that a reader could see: every
input is checked first (nothing is written for bad input), then every file is stored as an object
(:meth:`lakehouse.objects.ObjectStore.put_file`), and only then one Delta commit adds the index rows of the
whole call. A kill -9 before that commit leaves unreferenced objects, which vacuum removes; never a row
without its object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import ARTIFACT_EVENTS, append_rows
from lakehouse.config import Settings
from lakehouse.errors import ArtifactNotFound, CorruptObject, InvalidArgument, closest
from lakehouse.objects import Progress
from lakehouse.query import frames

#: Longest artifact path accepted (characters); object stores and file systems take 1024-byte keys.
MAX_PATH = 1000
#: Columns of :func:`listing`, in order.
LISTING_COLUMNS = ("path", "size", "digest", "logged_at")


@dataclass(frozen=True)
class Artifact:
    """One file of a run, as the index says now; read it with :meth:`download`, :meth:`open`, :meth:`read_bytes`.

    The bytes are checked against ``digest`` on every read: a corrupt object raises
    :class:`~lakehouse.errors.CorruptObject` naming the object and this artifact.
    """

    run_id: str
    path: str
    digest: str
    size: int
    logged_at: datetime
    layout: Layout

    def __repr__(self) -> str:
        return f"Artifact(run_id={self.run_id!r}, path={self.path!r}, size={self.size}, digest={self.digest[:12]!r})"

    @property
    def name(self) -> str:
        """The file name (last part of the path)."""
        return PurePosixPath(self.path).name

    def download(self, dest: str | Path, *, progress: Progress | None = None) -> Path:
        """Write the file to ``dest`` (a file path, or an existing folder to put it in under its name).

        Missing parent folders are created. ``dest`` appears only once every byte is verified.
        Returns the path written.
        """
        target = Path(dest)
        if target.is_dir():
            target = target / self.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._naming():
            return self.layout.objects.download(self.digest, target, progress=progress)

    @contextmanager
    def open(self) -> Iterator[Any]:
        """A binary reader of the file; reaching its end checks the digest (see :meth:`ObjectStore.open`)."""
        with self._naming(), self.layout.objects.open(self.digest) as reader:
            yield reader

    def read_bytes(self) -> bytes:
        """The file's bytes, verified before they are returned."""
        with self._naming():
            return self.layout.objects.read_bytes(self.digest)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["layout"]
        out["logged_at"] = self.logged_at.isoformat()
        return out

    @contextmanager
    def _naming(self) -> Iterator[None]:
        try:
            yield
        except CorruptObject as e:
            msg = f"artifact {self.path!r} of run {self.run_id}: {e}"
            raise CorruptObject(msg) from e


# --- checking input ---------------------------------------------------------------------------------------


def check_path(path: object, *, what: str = "artifact path") -> str:
    """``path`` as a clean relative POSIX path inside the run, or :class:`InvalidArgument` naming it.

    Refused: empty, absolute (``/x``, ``C:\\x``), backslashes, ``.`` or ``..`` parts, empty parts, control
    characters, more than :data:`MAX_PATH` characters.
    """
    if not isinstance(path, str) or not path:
        msg = f"{what} must be a non-empty string, got {path!r}"
        raise InvalidArgument(msg)
    if path.startswith("/") or "\\" in path or (len(path) > 1 and path[1] == ":"):
        msg = f"{what} {path!r} must be relative to the run (no leading '/', drive or backslash)"
        raise InvalidArgument(msg)
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        msg = f"{what} {path!r} leaves the run or has empty parts ('..', '.', '//' are not allowed)"
        raise InvalidArgument(msg)
    if any(ord(ch) < 32 or ch == "\x7f" for ch in path) or len(path) > MAX_PATH:
        msg = f"{what} {path[:80]!r} has control characters or is longer than {MAX_PATH} characters"
        raise InvalidArgument(msg)
    return path


def check_local(path: str | Path, *, kind: Literal["file", "folder"], hint: str) -> Path:
    """``path`` if it is an existing local file (or folder), else :class:`InvalidArgument` naming it and adding
    ``hint`` (what to call instead)."""
    local = Path(path)
    if not local.exists():
        msg = f"{kind} {str(local)!r} does not exist"
        raise InvalidArgument(msg)
    if not (local.is_file() if kind == "file" else local.is_dir()):
        other = "folder" if kind == "file" else "file"
        msg = f"{str(local)!r} is a {other}, not a {kind}; {hint}"
        raise InvalidArgument(msg)
    return local


def plan_file(local: str | Path, *, name: str | None = None) -> list[tuple[Path, str]]:
    """The one (source, artifact path) pair of ``log_artifact``, under a valid path.

    That the source is a readable file is the object store's check, the first thing its put does (before
    anything is written): :meth:`lakehouse.objects.ObjectStore.put_file`.
    """
    source = Path(local)
    return [(source, check_path(name if name is not None else source.name))]


def plan_folder(folder: str | Path, *, prefix: str | None = None) -> list[tuple[Path, str]]:
    """Every file under ``folder`` with its artifact path (``prefix/relative path``), checked before anything
    is written.

    Symbolic links are followed only inside ``folder``: a link (to a file or a folder) whose target lies
    outside it is refused, naming the link; a linked folder inside is not descended (its files are logged
    under their own paths).
    """
    base = check_local(folder, kind="folder", hint="log a file with log_artifact")
    if prefix is not None:
        prefix = check_path(prefix.rstrip("/") or prefix, what="artifact prefix")
    real_base = base.resolve()
    planned: list[tuple[Path, str]] = []
    for current, dirs, names in os.walk(base, followlinks=False):
        here = Path(current)
        for entry in sorted([*dirs, *names]):
            candidate = here / entry
            if candidate.is_symlink():
                target = candidate.resolve()
                if not target.is_relative_to(real_base):
                    msg = f"{str(candidate)!r} is a symbolic link to {str(target)!r}, outside {str(base)!r}"
                    raise InvalidArgument(msg)
        for entry in sorted(names):
            candidate = here / entry
            if candidate.is_dir() or not candidate.exists():  # a link to a folder inside, or a dangling link
                continue
            relative = candidate.relative_to(base).as_posix()
            planned.append((candidate, check_path(f"{prefix}/{relative}" if prefix else relative)))
        dirs.sort()
    return planned


# --- writing ----------------------------------------------------------------------------------------------


def log_files(
    layout: Layout,
    settings: Settings,
    run_id: str,
    planned: Sequence[tuple[Path, str]],
    *,
    actor: str | None = None,
    progress: Progress | None = None,
) -> list[Artifact]:
    """Store each planned file as an object, then add their index rows in one commit; returns the artifacts."""
    paths = [p for _, p in planned]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        msg = f"artifact path {twice[0]!r} is given twice in one call"
        raise InvalidArgument(msg)
    store = layout.objects
    refs = [store.put_file(source, progress=progress) for source, _ in planned]
    if not refs:
        return []
    now = datetime.now(UTC)
    rows: list[Mapping[str, Any]] = [
        {
            "run_id": run_id,
            "path": path,
            "digest": ref.digest,
            "size": ref.size,
            "logged_at": now,
            "deleted": False,
            "actor": actor,
        }
        for (_, path), ref in zip(planned, refs, strict=True)
    ]
    append_rows(layout.artifacts, ARTIFACT_EVENTS, rows, settings)
    return [
        Artifact(run_id, path, ref.digest, ref.size, now, layout) for (_, path), ref in zip(planned, refs, strict=True)
    ]


def delete(layout: Layout, settings: Settings, run_id: str, path: str, *, actor: str | None = None) -> None:
    """Record that the run no longer holds ``path`` (its object stays until vacuum finds it unreferenced)."""
    get(layout, run_id, path)  # ArtifactNotFound for a path the run does not hold
    row = {
        "run_id": run_id,
        "path": path,
        "digest": None,
        "size": None,
        "logged_at": datetime.now(UTC),
        "deleted": True,
        "actor": actor,
    }
    append_rows(layout.artifacts, ARTIFACT_EVENTS, [row], settings)


# --- reading ----------------------------------------------------------------------------------------------


def fold(events: pl.DataFrame) -> pl.DataFrame:
    """The current artifacts from index events: the newest event per (run_id, path), deletions dropped.

    Returns ``run_id, path, size, digest, logged_at`` sorted by run and path.
    """
    return (
        events.sort("logged_at", maintain_order=True)
        .unique(["run_id", "path"], keep="last", maintain_order=True)
        .filter(~pl.col("deleted"))
        .select(
            pl.col("run_id").cast(pl.String),
            pl.col("path").cast(pl.String),
            "size",
            "digest",
            "logged_at",
        )
        .sort("run_id", "path")
    )


def current(layout: Layout) -> pl.DataFrame:
    """Every run's current artifacts (see :func:`fold`), from a warm read of the index."""
    return fold(frames.table_frame(layout.artifacts, ARTIFACT_EVENTS))


def listing(layout: Layout, run_id: str) -> pl.DataFrame:
    """One run's artifacts: ``path, size, digest, logged_at``, by path."""
    return current(layout).filter(pl.col("run_id") == run_id).select(LISTING_COLUMNS)


def get(layout: Layout, run_id: str, path: str) -> Artifact:
    """The artifact at ``path`` of the run; :class:`ArtifactNotFound` (with the nearest paths) if none."""
    check_path(path)
    found = listing(layout, run_id)
    row = found.filter(pl.col("path") == path)
    if row.height == 0:
        names = found.get_column("path").to_list()
        hint = closest(path, names) if names else "; the run has no artifacts"
        msg = f"run {run_id} has no artifact {path!r}{hint}"
        raise ArtifactNotFound(msg)
    r = row.row(0, named=True)
    return Artifact(run_id, r["path"], r["digest"], int(r["size"]), r["logged_at"], layout)


def referenced_digests(layout: Layout) -> set[str]:
    """Digests of every object a run's current artifacts refer to (what object vacuum must keep)."""
    return set(current(layout).get_column("digest").to_list())
