"""Warm, incrementally refreshed reads of the tracking tables.

Queries ask the same small tables (run events, inputs, metric summaries) over and over — the app on every
rerun, the MLflow plugin on every request. :func:`table_frame` keeps each table in memory as one frame per
data file: a refresh lists the table's live files (from a warm Delta log, see ``storage.live_files``), reads
only the files that appeared since, and drops those that compaction removed. Nothing is re-read when the
table did not change. :func:`partition_scan` reads only the partitions asked for (a run's points).
The frames belong to the state of their root (:mod:`lakehouse.state`); ``Lakehouse.forget()`` drops them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl

from lakehouse import state, storage
from lakehouse.catalog.tables import TableSpec
from lakehouse.errors import TableNotFound
from lakehouse.location import Location
from lakehouse.query.events import Frame

_FILE_COLUMN = "__lakehouse_file"
_HISTORY = 256  # refreshes remembered for incremental readers (see Change)
_SEPARATE_READS = 16  # up to this many new files are read one by one; more in one parallel scan


@dataclass(frozen=True)
class Change:
    """One refresh of a cached table: from which version to which, what it added, whether rows may be gone.

    ``added`` holds the rows of the files that appeared; ``removed`` is True when files disappeared
    (compaction, a delete): readers that fold the table incrementally must then start over.
    """

    before: int | None
    after: int
    added: pl.DataFrame
    removed: bool


class _TableFrame:
    def __init__(self, path: Location, spec: TableSpec, categorical: tuple[str, ...]) -> None:
        self.path = path
        self.spec = spec
        # Identifier columns are categorical in memory: every group-by and join of a fold hashes them.
        self.schema = pl.Schema(
            {c: (pl.Categorical() if c in categorical else t) for c, t in spec.polars_schema.items()}
        )
        self.lock = threading.Lock()
        self.version: int | None = None
        self.empty = self.schema.to_frame()  # what a table that does not exist yet reads as
        self.frame = self.empty
        self.files: dict[str, pl.DataFrame] = {}
        self.changes: deque[Change] = deque(maxlen=_HISTORY)

    def get(self) -> tuple[pl.DataFrame, int | None]:
        """The frame at the table's latest version, and the version it was refreshed to last."""
        try:
            files = storage.live_files(self.path)
        except TableNotFound:
            with self.lock:
                return self.empty, self.version
        with self.lock:
            if files.version == self.version:
                return self.frame, self.version
            if not files.plain_parquet:
                frame = _conform(storage.scan(self.path), self.schema).collect()
                self.files = {}
                change = Change(self.version, files.version, frame, removed=True)
            else:
                current = {f.path: f for f in files.files}
                kept = {p: df for p, df in self.files.items() if p in current}
                removed = len(kept) < len(self.files)
                fresh = _read_files([f for p, f in current.items() if p not in kept], self.schema)
                kept.update(fresh)
                self.files = kept
                frames = [kept[p] for p in current]
                frame = pl.concat(frames, rechunk=False) if frames else self.empty
                added = pl.concat(list(fresh.values()), rechunk=False) if fresh else self.empty
                change = Change(self.version, files.version, added, removed=removed)
            self.changes.append(change)
            self.version, self.frame = files.version, frame
            return frame, files.version

    def unchanged(self) -> tuple[pl.DataFrame, int | None] | None:
        """The frame and its version when the table certainly has no commit since (no refresh); else None."""
        version = storage.unchanged_version(self.path)
        with self.lock:
            if version is None or version != self.version:
                return None
            return self.frame, self.version

    def changes_since(self, version: int | None) -> list[Change] | None:
        """The refreshes that led from ``version`` to the cached version, or None if they are not all known."""
        with self.lock:
            if version == self.version:
                return []
            chain: list[Change] = []
            for change in reversed(self.changes):
                chain.append(change)
                if change.before == version:
                    return list(reversed(chain))
            return None


def _read_files(files: list[storage.DataFile], schema: pl.Schema) -> dict[str, pl.DataFrame]:
    """Read many data files, each cast to ``schema`` with its partition values: a few in one ``collect_all``
    of a plan per file, many in one parallel scan split back by file afterwards."""
    if not files:
        return {}
    partition_columns = [c for c in files[0].partition if c in schema]
    # As stored (categoricals are strings in the files), without the partition columns (not in the files).
    file_schema = pl.Schema(
        {c: (pl.String() if t == pl.Categorical else t) for c, t in schema.items() if c not in partition_columns}
    )
    options: dict[str, Any] = {
        "schema": file_schema,
        "missing_columns": "insert",
        "extra_columns": "ignore",
        "hive_partitioning": False,
        "storage_options": storage.scan_options(files[0].path),
    }
    if len(files) <= _SEPARATE_READS:
        # A few files (a refresh, or a compacted table): a plan each, run together; no splitting afterwards.
        plans = [_conform(_with_partition_values(pl.scan_parquet(f.path, **options), f, schema), schema) for f in files]
        return {f.path: frame for f, frame in zip(files, pl.collect_all(plans), strict=True)}
    scan = pl.scan_parquet([f.path for f in files], include_file_paths=_FILE_COLUMN, **options)
    split = scan.collect().partition_by(_FILE_COLUMN, as_dict=True, include_key=False)
    plans = [
        _conform(_with_partition_values(split.get((f.path,), file_schema.to_frame()).lazy(), f, schema), schema)
        for f in files
    ]
    return {f.path: frame for f, frame in zip(files, pl.collect_all(plans), strict=True)}


def _with_partition_values(frame: Frame, f: storage.DataFile, schema: pl.Schema) -> Frame:
    extra = [pl.lit(v).cast(schema[c]).alias(c) for c, v in f.partition.items() if c in schema]
    return frame.with_columns(extra) if extra else frame


def _conform(frame: Frame, schema: pl.Schema) -> Frame:
    """Columns in schema order and types; absent columns (older files) are null."""
    present = frame.collect_schema().names()
    return frame.select(
        [pl.col(c).cast(t) if c in present else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()]
    )


class _Frames:
    """The table frames a root keeps warm, by table path (held by its ``RootState``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: dict[str, _TableFrame] = {}
        self.partitions: dict[str, tuple[int, dict[str, list[str]]]] = {}  # "<path>#<column>" -> index


def _frames_state(path: Location) -> state.RootState:
    return state.owner(path)


def _frames(path: Location) -> _Frames:
    return _frames_state(path).cache(_Frames)


def _table(path: Location, spec: TableSpec, categorical: tuple[str, ...]) -> _TableFrame:
    key = str(path)
    frames = _frames(path)
    with frames.lock:
        cached = frames.tables.get(key)
        if cached is None or cached.spec is not spec:
            cached = frames.tables[key] = _TableFrame(path, spec, categorical)
    return cached


def table_frame(path: Location, spec: TableSpec, *, categorical: tuple[str, ...] = ()) -> pl.DataFrame:
    """The whole table at its latest version, kept warm between calls (empty if it does not exist yet).

    ``categorical`` columns are held as polars categoricals (fixed by the first call for a table).
    """
    return _table(path, spec, categorical).get()[0]


def versioned_frame(
    path: Location, spec: TableSpec, *, categorical: tuple[str, ...] = ()
) -> tuple[pl.DataFrame, int | None]:
    """:func:`table_frame` and the version the cache holds (as :func:`table_version`), read together."""
    return _table(path, spec, categorical).get()


def versioned_frames(
    requests: Sequence[tuple[Location, TableSpec, tuple[str, ...]]],
) -> list[tuple[pl.DataFrame, int | None]]:
    """:func:`versioned_frame` of several tables (``(path, spec, categorical)`` each), in order.

    Tables to read or refresh (a first read, one after ``Lakehouse.forget()``, or a table with new commits) are
    read side by side: opening or refreshing a Delta log and reading Parquet happen outside the GIL, so a
    cold or incremental ``lh.runs()`` waits for the slowest of its three tables instead of their sum. Tables
    that certainly did not change answer from memory on the calling thread (a thread would cost more).
    """
    tables = [_table(path, spec, categorical) for path, spec, categorical in requests]
    results: list[tuple[pl.DataFrame, int | None] | None] = [t.unchanged() for t in tables]
    stale = [i for i, found in enumerate(results) if found is None]
    if len(stale) > 1:
        with ThreadPoolExecutor(max_workers=len(stale) - 1, thread_name_prefix="lakehouse-load") as pool:
            # The first stale table is read here while the pool reads the others.
            futures = {i: pool.submit(tables[i].get) for i in stale[1:]}
            results[stale[0]] = tables[stale[0]].get()
            for i, future in futures.items():
                results[i] = future.result()
    return [found if found is not None else t.get() for found, t in zip(results, tables, strict=True)]


T = TypeVar("T")


class _Folds:
    """Values folded from table frames, each with the frame and table version it was folded from (held by the
    root's state)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[tuple[str, Callable[..., Any]], tuple[pl.DataFrame, int | None, Any]] = {}


def folded(path: Location, spec: TableSpec, fold: Callable[[pl.DataFrame], T]) -> T:
    """``fold`` of the whole table at its latest version, computed once per table version and dropped with the
    root's caches.

    An unchanged local table is told from two file look-ups (:func:`lakehouse.storage.live_files`), so a warm
    look-up (``models:/name@production``) costs microseconds, not a listing of the log.
    """
    cache = _frames_state(path).cache(_Folds)
    key = (str(path), fold)
    frame, version = _table(path, spec, ()).get()
    with cache.lock:
        found = cache.last.get(key)
    if found is not None and found[0] is frame:
        return found[2]  # type: ignore[no-any-return]
    value = fold(frame)
    with cache.lock:
        cache.last[key] = (frame, version, value)
    return value


def table_version(path: Location) -> int | None:
    """The version the cached frame of ``path`` holds (None before the first read)."""
    frames = _frames(path)
    with frames.lock:
        cached = frames.tables.get(str(path))
    return None if cached is None else cached.version


def changes_since(path: Location, version: int | None) -> list[Change] | None:
    """Refreshes of the cached ``path`` since ``version`` (see :class:`Change`); None if unknown."""
    frames = _frames(path)
    with frames.lock:
        cached = frames.tables.get(str(path))
    return None if cached is None else cached.changes_since(version)


def partition_scan(path: Location, spec: TableSpec, column: str, values: Iterable[str]) -> pl.LazyFrame:
    """A lazy scan of only the partitions ``column in values`` (e.g. the points of some runs)."""
    schema = spec.polars_schema
    wanted = list(dict.fromkeys(values))
    try:
        files = storage.live_files(path)
    except TableNotFound:
        return spec.empty().lazy()
    if not files.plain_parquet:
        return storage.scan(path).filter(pl.col(column).is_in(wanted)).select(list(schema))
    by_value = _by_partition(path, files, column)
    file_schema = {c: t for c, t in schema.items() if c != column}
    scans = []
    for value in wanted:
        paths = by_value.get(value)
        if not paths:
            continue
        scans.append(
            pl.scan_parquet(
                paths,
                schema=file_schema,
                missing_columns="insert",
                extra_columns="ignore",
                hive_partitioning=False,
                storage_options=storage.scan_options(path),
            )
            .with_columns(pl.lit(value, dtype=schema[column]).alias(column))
            .select([pl.col(c).cast(t) for c, t in schema.items()])
        )
    if not scans:
        return spec.empty().lazy()
    return pl.concat(scans, how="vertical") if len(scans) > 1 else scans[0]


def _by_partition(path: Location, files: storage.FileSet, column: str) -> dict[str, list[str]]:
    key = f"{path}#{column}"
    frames = _frames(path)
    with frames.lock:
        found = frames.partitions.get(key)
    if found is not None and found[0] == files.version:
        return found[1]
    index: dict[str, list[str]] = {}
    for f in files.files:
        value = f.partition.get(column)
        if value is not None:
            index.setdefault(value, []).append(f.path)
    with frames.lock:
        frames.partitions[key] = (files.version, index)
    return index
