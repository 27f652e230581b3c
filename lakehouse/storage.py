"""The embedded storage engine: the only module that imports ``deltalake`` (delta-rs).

Everything above this layer speaks in paths, Arrow data, polars frames and lakehouse errors; engine
exceptions are translated here, once.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import (
    CommitFailedError,
    DeltaError,
    DeltaProtocolError,
    SchemaMismatchError,
    TableNotFoundError,
)

from lakehouse import _buffers, commit_rule, state
from lakehouse._arrow import canonical_type
from lakehouse._delta_stats import file_stats
from lakehouse.errors import (
    CommitConflict,
    InvalidArgument,
    LakehouseError,
    NotFound,
    SchemaMismatch,
    StorageError,
    TableNotFound,
    VersionNotFound,
)
from lakehouse.fileio import Files, remote_filesystem
from lakehouse.location import Location, Where

CommitMode = Literal["append", "overwrite", "create"]  # a table-level commit, not a dataset write mode
USER_METADATA = "userMetadata"


@dataclass(frozen=True)
class Commit:
    """One entry of a table's history, engine-neutral."""

    version: int
    timestamp: datetime
    operation: str
    parameters: Mapping[str, Any]
    metrics: Mapping[str, Any]
    user_metadata: Mapping[str, Any]
    engine: str


@dataclass(frozen=True)
class Snapshot:
    """Facts about the files of one table version, read from the log alone."""

    version: int
    num_rows: int
    num_files: int
    size_bytes: int
    digest: str
    files: tuple[str, ...] = field(repr=False)


@contextmanager
def _translated(path: Where, what: str) -> Iterator[None]:
    """Translate delta-rs exceptions raised inside the block into lakehouse errors (see :func:`translate`)."""
    try:
        yield
    except LakehouseError:
        raise
    except (DeltaError, OSError) as e:
        raise translate(e, path, what) from e


def translate(error: DeltaError | OSError, path: Where, what: str) -> LakehouseError:
    """The lakehouse error for a delta-rs exception, chosen by the exception's type.

    delta-rs 1.6 has five: TableNotFoundError, CommitFailedError, SchemaMismatchError, DeltaProtocolError and
    the generic DeltaError (its base). Cases it reports only as a generic error (a create that finds the
    table, a version beyond the log) are told apart by their callers from facts of the table, never by text.
    """
    where = f"{what} on {str(path)!r}"
    if isinstance(error, TableNotFoundError):
        return TableNotFound(f"no Delta table at {str(path)!r}")
    if isinstance(error, CommitFailedError):
        # delta-rs raises it when a concurrent commit won and when the table needs a writer feature it lacks.
        return CommitConflict(
            f"{where} did not commit (a concurrent commit won, or the table needs a writer "
            f"feature delta-rs does not support): {error}"
        )
    if isinstance(error, SchemaMismatchError):
        return SchemaMismatch(f"{where}: {error}")
    if isinstance(error, DeltaProtocolError):
        return StorageError(f"{where}: the table uses a protocol feature this engine cannot handle: {error}")
    return StorageError(f"{where} failed: {error}")


def exists(path: Where) -> bool:
    """True if a Delta table lives at ``path``."""
    remote = _remote(path)
    if remote is not None:
        # Not delta-rs' is_deltatable: it holds the GIL while it waits for the network, so a store that is away
        # would stall every thread of the process (training's run.log() included) for the object store's
        # retries. pyarrow's file system releases it. A table has a checkpoint, or else its first commit.
        return remote.exists("_delta_log/_last_checkpoint") or remote.exists(f"_delta_log/{0:020d}.json")
    with _translated(path, "looking for a table"):
        return DeltaTable.is_deltatable(str(path), storage_options=_options(path))


def _options(path: Where) -> dict[str, str] | None:
    """The storage options of the root holding ``path`` (None: a local table, or the engines' AWS chain)."""
    if "://" not in str(path):
        return None
    return dict(state.owner(path).storage_options) or None


def tables_in(folder: Where) -> list[Location]:
    """The Delta tables directly in ``folder`` (each a subfolder holding a table), sorted by name."""
    where = Location.of(folder)
    names = Files(where.uri).folders()
    return [where / n for n in names if exists(where / n)]


def open_table(path: Where, version: int | None = None) -> DeltaTable:
    """Load a table (at ``version`` if given)."""
    with _translated(path, f"loading version {version}" if version is not None else "loading"):
        try:
            return DeltaTable(str(path), version=version, storage_options=_options(path))
        except DeltaError as e:
            # Asked only now (a first read of a table pays for one load, not a look and a load).
            if not exists(path):
                msg = f"no Delta table at {str(path)!r}"
                raise TableNotFound(msg) from e
            if version is None:
                raise
            newest = peek_version(path)
            if newest is not None and version > newest:
                msg = f"loading version {version} on {str(path)!r}: no such version (the latest is {newest})"
                raise VersionNotFound(msg) from e
            if not isinstance(e, TableNotFoundError):
                raise
            # The table exists, so the version's log entries are gone (cleaned up after the log retention).
            oldest = min(int(c["version"]) for c in DeltaTable(str(path), storage_options=_options(path)).history())
            msg = (
                f"version {version} of the table at {str(path)!r} is no longer in its log: log entries older than "
                f"the log retention period were cleaned up; versions from {oldest} on can be read"
            )
            raise VersionNotFound(msg) from e


def open_for_commit(path: Where) -> DeltaTable:
    """Load a table delta-rs is about to commit to, refusing one another engine owns on object storage.

    Raises:
        CommitRefused: see :mod:`lakehouse.commit_rule`.
    """
    table = open_table(path)
    commit_rule.check(path, table.metadata().configuration, committer="delta-rs")
    return table


def latest_version(path: Where) -> int:
    """The newest committed version (from a listing of the log; loading the table would cost milliseconds)."""
    newest = peek_version(path)
    if newest is None:
        return int(open_table(path).version())  # raises TableNotFound
    return newest


def peek_version(path: Where) -> int | None:
    """The newest committed version from a listing of ``_delta_log`` alone (None if no table).

    Much cheaper than loading the table: readers that cache by version (the app) call it on every request.
    Each commit N leaves ``<N:020d>.json`` in the log, and log clean-up never removes the newest one.
    """
    newest = -1
    for name in _log_names(path):
        stem, dot, ext = name.partition(".")
        if ext == "json" and dot and stem.isdigit():
            newest = max(newest, int(stem))
    return newest if newest >= 0 else None


def _remote(path: Where) -> Files | None:
    """The file seam of a remote table (None for a local one, which is read with plain, faster calls)."""
    return Files(str(Location.of(path))) if "://" in str(path) else None


def _log_names(path: Where) -> list[str]:
    """The names of the files in the table's ``_delta_log`` (none if there is no log)."""
    remote = _remote(path)
    if remote is not None:
        return [f.path.partition("/")[2] for f in remote.list("_delta_log") if f.path.count("/") == 1]
    try:
        with os.scandir(Path(path) / "_delta_log") as entries:
            return [e.name for e in entries]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        msg = f"listing the log of {str(path)!r} failed: {e}"
        raise StorageError(msg) from e


def arrow_schema(path: Where, version: int | None = None) -> pa.Schema:
    """The table's schema as canonical Arrow types (strings as ``string``, timestamps as us/UTC)."""
    return _canonical_schema(open_table(path, version))


def _canonical_schema(table: DeltaTable) -> pa.Schema:
    raw = pa.schema(table.schema().to_arrow())
    return pa.schema([pa.field(f.name, canonical_type(f.type, f.name), nullable=f.nullable) for f in raw])


@dataclass(frozen=True)
class Loaded:
    """A table loaded once for one write: the writer plans with its schema and commits on top of it."""

    path: str
    table: DeltaTable = field(repr=False)

    @property
    def schema(self) -> pa.Schema:
        return _canonical_schema(self.table)

    @property
    def partition_columns(self) -> list[str]:
        return list(self.table.metadata().partition_columns)

    @property
    def properties(self) -> dict[str, str]:
        return dict(self.table.metadata().configuration)


def load(path: Where) -> Loaded:
    """The table at its latest version, for a write that first looks at its schema (one load, not two)."""
    return Loaded(str(path), open_table(path))


def partition_columns(path: Where) -> list[str]:
    return list(open_table(path).metadata().partition_columns)


def properties(path: Where) -> dict[str, str]:
    return dict(open_table(path).metadata().configuration)


def properties_at(path: Where, version: int) -> dict[str, str]:
    return dict(open_table(path, version).metadata().configuration)


def protocol(path: Where) -> dict[str, Any]:
    p = open_table(path).protocol()
    return {
        "min_reader_version": p.min_reader_version,
        "min_writer_version": p.min_writer_version,
        "reader_features": list(p.reader_features or []),
        "writer_features": list(p.writer_features or []),
    }


def _commit_properties(
    user_metadata: Mapping[str, Any] | None,
    app_transaction: tuple[str, int] | None,
    max_commit_retries: int,
) -> CommitProperties:
    custom = {USER_METADATA: json.dumps(user_metadata, sort_keys=True)} if user_metadata else None
    # lastUpdated lets a table with delta.setTransactionRetentionDuration expire the transaction (the tracking
    # tables do: one per writer process would otherwise stay in every checkpoint forever).
    now_ms = int(time.time() * 1000)
    txns = [Transaction(app_transaction[0], app_transaction[1], now_ms)] if app_transaction else None
    return CommitProperties(custom_metadata=custom, max_commit_retries=max_commit_retries, app_transactions=txns)


def _refuse_existing(path: Where) -> None:
    """A create makes version 0 or nothing: the table must not be there yet."""
    if exists(path):
        msg = f"cannot create {str(path)!r}: another writer created it first"
        raise CommitConflict(msg)


def _raise_if_created_concurrently(path: Where, error: DeltaError) -> None:
    """A create that failed while the table now exists lost to another writer's create.

    delta-rs reports a table found at create time as a generic DeltaError ("A table already exists"), so
    the table's existence is what tells this case apart.
    """
    if exists(path):
        msg = f"another writer created the table at {str(path)!r} concurrently"
        raise CommitConflict(msg) from error


def write(
    path: Where,
    data: pa.Table | pa.RecordBatchReader,
    *,
    mode: CommitMode,
    schema_mode: Literal["merge", "overwrite"] | None = None,
    partition_by: Sequence[str] | None = None,
    configuration: Mapping[str, str] | None = None,
    user_metadata: Mapping[str, Any] | None = None,
    app_transaction: tuple[str, int] | None = None,
    max_commit_retries: int = 100,
    read_version: int | None = None,
    loaded: Loaded | None = None,
    blobs: BlobLayout | None = None,
) -> Snapshot | None:
    """Append or overwrite; creates the table (with ``configuration``) if it does not exist.

    Returns the :class:`Snapshot` of the version the write made when it is known without loading the table
    again (appends and overwrites of an existing table), else None. ``loaded``: the table as the caller
    loaded it to plan the write (its version is then the read version). ``blobs``: the Parquet layout of a
    table holding file bytes.

    ``mode="create"`` only creates: it raises :class:`CommitConflict` if the table exists already.

    ``read_version`` is the version the caller based its decision on: conflicts (same app transaction id)
    are checked against commits made after it. Raises :class:`CommitConflict` when the commit cannot land,
    including when another writer created the table first (the caller decides whether to retry).
    """
    target: str | DeltaTable = str(path)
    location_options = _options(path)  # for a table not loaded yet (a create); a loaded table carries them
    if mode == "create":
        _refuse_existing(path)
    elif loaded is not None:
        target = loaded.table
        configuration = None
    elif read_version is not None or exists(path):
        target = open_table(path, read_version)
        configuration = None  # table properties are set once, at creation
    if isinstance(target, DeltaTable):
        commit_rule.check(path, target.metadata().configuration, committer="delta-rs")
    # delta-rs retries a lost create as a later version that carries a second table definition (new id,
    # possibly another schema); a create must land as version 0 or fail.
    retries = 0 if mode == "create" else max_commit_retries
    props = _commit_properties(user_metadata, app_transaction, retries)
    read_from = target.version() if isinstance(target, DeltaTable) else -2
    layout: dict[str, Any] = {"writer_properties": blobs.writer_properties()} if blobs else {}
    with _translated(path, f"{mode} write"):
        try:
            write_deltalake(
                target,
                data,
                mode="error" if mode == "create" else mode,
                schema_mode=schema_mode,
                partition_by=list(partition_by) if partition_by else None,
                configuration=dict(configuration) if configuration else None,
                commit_properties=props,
                storage_options=location_options if isinstance(target, str) else None,
                **layout,
            )
        except DeltaError as e:
            if isinstance(target, str):
                _raise_if_created_concurrently(path, e)
            raise
    # delta-rs moves the table object to the version it committed; its files are that version's only if no
    # other commit landed in between (otherwise the caller loads the version as usual).
    if isinstance(target, DeltaTable) and target.version() == read_from + 1:
        return _snapshot_of(path, target, target.version())
    return None


@dataclass(frozen=True)
class BlobLayout:
    """How a table whose column ``column`` holds file bytes is written: small row groups, no blob statistics.

    Small row groups let a reader of one file read a few hundred KB rather than a whole data file; min/max
    statistics of bytes are useless to a reader and would bloat every log entry (delta-rs #1792, #2709).
    """

    column: str
    rows_per_group: int

    def writer_properties(self) -> WriterProperties:
        from deltalake import ColumnProperties

        blob = ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
        return WriterProperties(max_row_group_size=self.rows_per_group, column_properties={self.column: blob})


@dataclass(frozen=True)
class NewFile:
    """A Parquet file already written inside a table's folder, to be added by :func:`commit_files`."""

    path: str  # relative to the table root, with forward slashes
    size: int
    modified_ms: int
    stats: str  # Delta's per-file statistics JSON
    partition: Mapping[str, str | None] = field(default_factory=dict)


def commit_files(
    path: Where,
    files: Sequence[NewFile],
    *,
    mode: CommitMode,
    schema: pa.Schema,
    configuration: Mapping[str, str] | None = None,
    user_metadata: Mapping[str, Any] | None = None,
    app_transaction: tuple[str, int] | None = None,
    max_commit_retries: int = 100,
) -> bool:
    """Commit data files another engine wrote into the table folder: create, append or overwrite.

    The same commit as :func:`write` would make for those rows, without writing them again: ``create`` makes
    version 0 with ``configuration`` (and raises :class:`CommitConflict` if the table exists), ``overwrite``
    removes every current file. ``schema`` must be the table's (nothing here evolves a schema).
    Returns False, committing nothing, if the table already records ``app_transaction`` at that version or
    later (a retried job); a concurrent commit of the same app transaction raises :class:`CommitConflict`.
    """
    from deltalake import Schema
    from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

    adds = [AddAction(f.path, f.size, {}, f.modified_ms, True, f.stats) for f in files]
    retries = 0 if mode == "create" else max_commit_retries
    props = _commit_properties(user_metadata, app_transaction, retries)
    with _translated(path, f"{mode} commit"):
        if mode == "create":
            _refuse_existing(path)
            try:
                create_table_with_add_actions(
                    str(path),
                    Schema.from_arrow(schema),
                    adds,
                    mode="error",
                    configuration=dict(configuration) if configuration else None,
                    commit_properties=props,
                    storage_options=_options(path),
                )
            except DeltaError as e:
                _raise_if_created_concurrently(path, e)
                raise
            return True
        table = open_for_commit(path)
        if app_transaction is not None:
            done = table.transaction_version(app_transaction[0])
            if done is not None and int(done) >= app_transaction[1]:
                return False
        actions: list[AddAction | RemoveAction] = list(adds)  # overwrite: delta-rs adds the removes itself
        table.create_write_transaction(actions, mode, Schema.from_arrow(schema), commit_properties=props)
    return True


def append(
    path: Where,
    data: pa.Table,
    *,
    partition_by: Sequence[str] | None = None,
    configuration: Mapping[str, str] | None = None,
    app_transaction: tuple[str, int] | None = None,
    max_commit_retries: int = 100,
) -> int:
    """Append ``data`` (creating the table on first use) and return the committed version.

    For processes that append to the same table again and again (the metrics writer). The first append
    creates or loads the table; later ones write their Parquet files and the commit entry themselves
    (:class:`_Appender`), which costs about a millisecond whatever the table's size, where a delta-rs
    commit rebuilds the table's file list (tens of milliseconds once a table holds a few hundred files).
    Tables that need more than such a blind append can give (writer features, column invariants, remote
    storage) are appended to by delta-rs. Raises :class:`CommitConflict` like :func:`write`.
    """
    lock, slot = _loaded(path).appender(path)
    with lock:
        if not slot:
            if not exists(path):
                write(
                    path,
                    data,
                    mode="append",
                    partition_by=partition_by,
                    configuration=configuration,
                    app_transaction=app_transaction,
                    max_commit_retries=max_commit_retries,
                )
                return latest_version(path)
            slot.append(_Appender(path, open_for_commit(path)))
        return slot[0].append(data, app_transaction=app_transaction, max_commit_retries=max_commit_retries)


# A blind append written by lakehouse itself: what makes a table eligible, and the commit entry's shape.
log = logging.getLogger(__name__)
_PLAIN_PARTITION_VALUE = re.compile(r"[A-Za-z0-9_.-]+")
_RESYNC_AFTER_S = 60.0  # an appender idle longer than this reloads the table before appending


class _Appender:
    """Appends to one table as a Delta writer of protocol (1, 2) without any writer feature.

    An append adds files and conflicts with nothing but a concurrent commit of its own app transaction, so
    it needs none of the table's file list: it writes the data files (one per partition, with their
    statistics, :mod:`lakehouse._delta_stats`), then the commit entry as ``_delta_log/<version>.json``,
    created only if absent (a hard link from a temporary file: the atomic put-if-absent of a local file
    system, as Spark's local log store and delta-rs do). When another writer took that version, its entry is
    read: a change of protocol or metadata reloads the table and checks again (falling back to delta-rs),
    the same app transaction is a :class:`CommitConflict`, anything else (appends, compactions) moves on to
    the next version. Checkpoints and expired-log clean-up follow every ``delta.checkpointInterval``
    versions, as delta-rs does after its own commits. The caller holds the table's appender lock.
    """

    def __init__(self, path: Where, table: DeltaTable) -> None:
        self.uri = Location.of(path).uri  # what delta-rs is handed
        self.path = Path(self.uri)  # the local folder the appends write into (only when eligible: a local table)
        self.log = self.path / "_delta_log"
        self.table = table
        self._sync(reload=False)

    def _sync(self, *, reload: bool) -> None:
        """Bring the loaded table up to date and take what appending needs from it."""
        if reload:
            try:
                self.table.update_incremental()
            except DeltaError:
                self.table = open_table(self.uri)
        self.next_version = int(self.table.version()) + 1
        self.synced_at = time.monotonic()
        metadata = self.table.metadata()
        self.partition_columns = tuple(metadata.partition_columns)
        self.config = dict(metadata.configuration)
        self.schema = _canonical_schema(self.table)
        self.ineligible = self._ineligible()

    def _ineligible(self) -> str | None:
        """Why this table is appended to by delta-rs instead (None: lakehouse writes its appends)."""
        if "://" in self.uri:
            return "not on a local file system"
        protocol = self.table.protocol()
        if protocol.min_writer_version > 2 or protocol.writer_features:
            return "the table needs writer features"
        if "delta.invariants" in self.table.schema().to_json():
            return "the table has column invariants"
        if any(k in self.config for k in ("delta.dataSkippingNumIndexedCols", "delta.dataSkippingStatsColumns")):
            return "the table chooses its statistics columns"
        if any(self.schema.field(c).type != pa.string() for c in self.partition_columns):
            return "a partition column that is not a string"
        return None

    def append(self, data: pa.Table, *, app_transaction: tuple[str, int] | None, max_commit_retries: int) -> int:
        if time.monotonic() - self.synced_at > _RESYNC_AFTER_S:
            self._sync(reload=True)
        files = None if self.ineligible else self._write_files(data)
        if files is None:
            return self._append_with_delta_rs(data, None, app_transaction, max_commit_retries)
        props = _commit_properties(None, app_transaction, max_commit_retries)
        entry = self._entry(files, app_transaction)
        planned = (self.schema, self.partition_columns)
        for _ in range(max(max_commit_retries, 0) + 1):
            version = self.next_version
            if self._put_if_absent(version, entry):
                self.next_version = version + 1
                self._after_commit(version)
                return version
            self._check_winner(version, app_transaction)
            if (self.schema, self.partition_columns) != planned:
                # Another writer changed the schema: plan again (the files written are never committed).
                return self.append(data, app_transaction=app_transaction, max_commit_retries=max_commit_retries)
            if self.ineligible:
                return self._append_with_delta_rs(data, files, app_transaction, max_commit_retries, props)
        msg = f"append on {self.uri!r} did not commit: {max_commit_retries} commits of others came first"
        raise CommitConflict(msg)

    def _write_files(self, data: pa.Table) -> list[NewFile] | None:
        """One Parquet file per partition value, with its statistics; None if delta-rs must write ``data``."""
        if {f.name for f in data.schema} != set(self.schema.names) or any(
            canonical_type(f.type, f.name) != self.schema.field(f.name).type for f in data.schema
        ):
            return None  # delta-rs reports the mismatch (SchemaMismatch)
        if any(not f.nullable and data.column(f.name).null_count for f in self.schema):
            return None  # delta-rs refuses nulls in a non-nullable column
        # The table's own types (string for string_view, as polars hands over): Arrow's take and Parquet's
        # writer then see the types the statistics and the log describe.
        data = _with_schema(data, pa.schema([self.schema.field(f.name) for f in data.schema]))
        columns = [f.name for f in self.schema if f.name not in self.partition_columns]
        file_schema = pa.schema([self.schema.field(c) for c in columns])
        groups = _partitions(data, self.partition_columns)
        if groups is None:
            return None
        files = []
        for values, rows in groups:
            if rows.num_rows == 0:
                continue
            body = _with_schema(rows.select(columns), file_schema)
            folder = "".join(f"{c}={v}/" for c, v in values.items())
            relative = f"{folder}part-00000-{uuid.uuid4()}-c000.snappy.parquet"
            target = self.path / relative
            with _translated(self.uri, "append"):
                if folder:
                    target.parent.mkdir(parents=True, exist_ok=True)
                size, modified_ms = _write_parquet(body, target)
            files.append(NewFile(relative, size, modified_ms, file_stats(body), values))
        return files

    def _entry(self, files: list[NewFile], app_transaction: tuple[str, int] | None) -> bytes:
        """The commit entry: commitInfo first (readers of the history stop there), the transaction, the files."""
        now_ms = int(time.time() * 1000)
        info = {
            "timestamp": now_ms,
            "operation": "WRITE",
            "operationParameters": {"mode": "Append", "partitionBy": json.dumps(list(self.partition_columns))},
            "isBlindAppend": True,
            "operationMetrics": {
                "numFiles": str(len(files)),
                "numOutputRows": str(sum(json.loads(f.stats)["numRecords"] for f in files)),
                "numOutputBytes": str(sum(f.size for f in files)),
            },
            "engineInfo": f"lakehouse/{_lakehouse_version()}",
            "clientVersion": f"lakehouse-{_lakehouse_version()}",
        }
        actions: list[dict[str, Any]] = [{"commitInfo": info}]
        if app_transaction is not None:
            app_id, version = app_transaction
            actions.append({"txn": {"appId": app_id, "version": version, "lastUpdated": now_ms}})
        actions.extend(
            {
                "add": {
                    "path": f.path,
                    "partitionValues": dict(f.partition),
                    "size": f.size,
                    "modificationTime": f.modified_ms,
                    "dataChange": True,
                    "stats": f.stats,
                }
            }
            for f in files
        )
        return "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions).encode()

    def _put_if_absent(self, version: int, entry: bytes) -> bool:
        """Create the commit entry of ``version``; False if it exists (another writer committed it)."""
        temporary = self.log / f"_commit_{uuid.uuid4()}.json.tmp"
        with _translated(self.uri, "append"):
            if version > 0 and not (self.log / f"{version - 1:020d}.json").exists():
                # Our idea of the table is older than its log (cleaned up since): start again from the table.
                self._sync(reload=True)
                return False
            temporary.write_bytes(entry)
            final = self.log / f"{version:020d}.json"
            try:
                if _rename_noreplace(temporary, final):
                    return True
                os.link(temporary, final)
            except FileExistsError:
                temporary.unlink()
                return False
            temporary.unlink()
        return True

    def _check_winner(self, version: int, app_transaction: tuple[str, int] | None) -> None:
        """Look at the commit that took ``version`` before trying the next one."""
        entry = self.log / f"{version:020d}.json"
        if self.next_version != version or not entry.exists():
            return  # _put_if_absent reloaded the table
        with _translated(self.uri, "append"):
            lines = entry.read_bytes().splitlines()
        actions = [json.loads(line) for line in lines if line.strip()]
        self.next_version = version + 1
        if app_transaction is not None and any(a.get("txn", {}).get("appId") == app_transaction[0] for a in actions):
            msg = (
                f"append on {self.uri!r} did not commit: a concurrent commit of the same app transaction "
                f"{app_transaction[0]!r} came first"
            )
            raise CommitConflict(msg)
        if any("metaData" in a or "protocol" in a for a in actions):
            self._sync(reload=True)

    def _after_commit(self, version: int) -> None:
        interval = int(self.config.get("delta.checkpointInterval", "100") or 100)
        if interval <= 0 or version % interval:
            return
        cleanup = self.config.get("delta.enableExpiredLogCleanup", "true").lower() != "false"
        _checkpoints.request(self.uri, cleanup=cleanup)

    def _append_with_delta_rs(
        self,
        data: pa.Table,
        files: list[NewFile] | None,
        app_transaction: tuple[str, int] | None,
        max_commit_retries: int,
        props: CommitProperties | None = None,
    ) -> int:
        """Append through delta-rs: ``files`` already written (committed as they are), or ``data``."""
        props = props or _commit_properties(None, app_transaction, max_commit_retries)
        with _translated(self.uri, "append"):
            self._sync(reload=True)
            if files is not None:
                from deltalake import Schema
                from deltalake.transaction import AddAction

                adds = [AddAction(f.path, f.size, dict(f.partition), f.modified_ms, True, f.stats) for f in files]
                self.table.create_write_transaction(
                    list(adds),
                    "append",
                    Schema.from_arrow(self.schema),
                    partition_by=list(self.partition_columns) or None,
                    commit_properties=props,
                )
            else:
                write_deltalake(
                    self.table,
                    data,
                    mode="append",
                    partition_by=list(self.partition_columns) or None,
                    commit_properties=props,
                )
            version = int(self.table.version())
        self.next_version = version + 1
        return version


class _Checkpointer:
    """Writes the checkpoints that appends fall due for, on a thread of its own.

    A checkpoint rewrites the table's whole file list (tens of milliseconds for a tracking table), and the
    append that crosses a ``delta.checkpointInterval`` is often a short run's ``finish``: it returns as fast as
    any other append, and the checkpoint follows within milliseconds. A checkpoint is an optimisation that
    never changes what a reader sees, so a failed one is logged and left to the next interval; an exiting
    process waits for the pending ones (:func:`wait_for_checkpoints` at exit), so a sweep of short processes
    still leaves its tables checkpointed. Requests for one table while its checkpoint is pending collapse
    into one (the checkpoint is taken at the newest version).
    """

    _IDLE_EXIT_S = 5.0

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._due: dict[str, bool] = {}
        self._busy = False
        self._thread: threading.Thread | None = None

    def request(self, path: str, *, cleanup: bool) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread is not here
                self._pid, self._due, self._busy, self._thread = os.getpid(), {}, False, None
            self._due[path] = self._due.get(path, False) or cleanup
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="lakehouse-checkpoints", daemon=True)
                try:
                    self._thread.start()
                except RuntimeError:  # no new threads at interpreter shutdown: checkpoint here instead
                    self._thread = None
                    self._due.pop(path)
                    _write_checkpoint(path, cleanup=cleanup)
                    return
            self._wake.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._due and not self._wake.wait_for(lambda: bool(self._due), self._IDLE_EXIT_S):
                    self._thread = None
                    self._wake.notify_all()
                    return
                path, cleanup = self._due.popitem()
                self._busy = True
            try:
                _write_checkpoint(path, cleanup=cleanup)
            except Exception as e:  # noqa: BLE001 - an optimisation: the next interval tries again
                log.info("checkpoint of %s skipped: %s", path, e)
            finally:
                with self._lock:
                    self._busy = False
                    self._wake.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait until every requested checkpoint is written; False if ``timeout`` seconds passed first."""
        with self._lock:
            if self._pid != os.getpid():
                return True
            return self._wake.wait_for(lambda: not self._due and not self._busy, timeout)


def _write_checkpoint(path: str, *, cleanup: bool) -> None:
    table = open_table(path)
    with _translated(path, "checkpoint"):
        table.create_checkpoint()
        if cleanup:
            table.cleanup_metadata()


_checkpoints = _Checkpointer()


def wait_for_checkpoints(timeout: float = 30.0) -> bool:
    """Wait for the checkpoints that this process's appends fell due for; False if ``timeout`` passed first."""
    return _checkpoints.wait(timeout)


atexit.register(wait_for_checkpoints)


# renameat2(2) with RENAME_NOREPLACE: the temporary entry takes its final name only if that name is free, in one
# step (a hard link and an unlink of the temporary name otherwise: two metadata operations where one does).
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_renameat2: Any = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if sys.platform == "linux" else None
if _renameat2 is not None:
    _renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    _renameat2.restype = ctypes.c_int


def _rename_noreplace(source: Path, target: Path) -> bool:
    """Rename ``source`` to ``target`` unless ``target`` exists (:class:`FileExistsError`); False if the system
    or file system cannot (the caller falls back to a hard link)."""
    global _renameat2
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise FileExistsError(code, os.strerror(code), str(target))
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        _renameat2 = None  # not here: hard links from now on
        return False
    raise OSError(code, os.strerror(code), str(target))


@cache
def _lakehouse_version() -> str:
    try:
        return package_version("lakehouse")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "dev"


def _with_schema(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` as ``schema``: relabelled when the types already match (a cast costs microseconds per column,
    which a small append pays on every column), cast otherwise."""
    if data.schema.equals(schema):
        return data
    if all(have.type == want.type for have, want in zip(data.schema, schema, strict=True)):
        return pa.Table.from_arrays(data.columns, schema=schema)
    return data.cast(schema)


_BUFFERED_ROWS = 10_000  # a data file this small is written from memory in one call


def _write_parquet(body: pa.Table, target: Path) -> tuple[int, int]:
    """Write a new data file (never over an existing one); its size and modification time in ms.

    A small file is encoded in memory and written with one system call, which saves Arrow's file-system
    set-up for each of the several files a short run's finish writes; a large one is streamed.
    """
    if body.num_rows > _BUFFERED_ROWS:
        pq.write_table(body, target, compression="snappy")
        written = target.stat()
        return written.st_size, int(written.st_mtime * 1000)
    sink = pa.BufferOutputStream()
    pq.write_table(body, sink, compression="snappy")
    payload = memoryview(sink.getvalue())
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        while payload:
            payload = payload[os.write(fd, payload) :]
        written = os.fstat(fd)
    finally:
        os.close(fd)
    return written.st_size, int(written.st_mtime * 1000)


def _partitions(data: pa.Table, columns: Sequence[str]) -> list[tuple[dict[str, str | None], pa.Table]] | None:
    """``data`` split by the values of its partition ``columns`` (None if one is empty, null or not plain)."""
    if not columns:
        return [({}, data)]
    if len(columns) > 1:
        return None
    (column,) = columns
    values = data.column(column)
    if values.null_count:
        return None
    distinct = pc.unique(values)
    if len(distinct) == 1:
        groups = [(distinct[0].as_py(), data)]
    else:
        order = pc.sort_indices(values)  # a stable sort: each partition keeps its rows' order
        ordered, keys = data.take(order), values.take(order).combine_chunks()
        groups, start = [], 0
        for end in pc.run_end_encode(keys).run_ends.to_pylist():
            groups.append((keys[start].as_py(), ordered.slice(start, end - start)))
            start = end
    if not all(isinstance(v, str) and _PLAIN_PARTITION_VALUE.fullmatch(v) for v, _ in groups):
        return None  # folder names that would need escaping: delta-rs writes those
    return [({column: v}, rows) for v, rows in groups]


def merge(
    path: Where,
    data: pa.Table,
    *,
    key: Sequence[str],
    merge_schema: bool = False,
    user_metadata: Mapping[str, Any] | None = None,
    max_commit_retries: int = 100,
    deleted: Sequence[Any] = (),
    blobs: BlobLayout | None = None,
) -> dict[str, Any]:
    """Upsert ``data`` by ``key``: update matching rows, insert the others. Returns engine metrics.

    ``deleted``: values of the (single) key whose rows the same commit removes, so that making a table equal
    to a new state is one version however many rows are added, changed and removed.
    """
    table = open_for_commit(path)
    predicate = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in key)
    props = _commit_properties(user_metadata, None, max_commit_retries)
    if deleted and len(key) != 1:
        msg = "deleting rows in an upsert needs a single key column"
        raise InvalidArgument(msg)
    source, flag = _with_deletions(data, key[0], deleted) if deleted else (data, None)
    with _translated(path, "upsert"):
        merger = table.merge(
            source,
            predicate=predicate,
            source_alias="s",
            target_alias="t",
            merge_schema=merge_schema,
            writer_properties=blobs.writer_properties() if blobs else None,
            commit_properties=props,
        )
        if flag is None:
            return dict(merger.when_matched_update_all().when_not_matched_insert_all().execute())
        columns = {quote(c): f"s.{quote(c)}" for c in data.schema.names}
        merger = merger.when_matched_delete(predicate=f"s.{flag}")
        merger = merger.when_matched_update(columns, predicate=f"NOT s.{flag}")
        return dict(merger.when_not_matched_insert(columns, predicate=f"NOT s.{flag}").execute())


_DELETE_FLAG = "__lakehouse_delete"


def _with_deletions(data: pa.Table, key: str, deleted: Sequence[Any]) -> tuple[pa.Table, str]:
    """``data`` plus one row per deleted key (other columns null), with a boolean column telling them apart."""
    schema = pa.schema([f.with_nullable(True) for f in data.schema])
    rows = data.cast(schema).append_column(_DELETE_FLAG, _buffers.repeated(pa.bool_(), False, data.num_rows))
    gone = {
        f.name: _buffers.converted(f.type, list(deleted)) if f.name == key else pa.nulls(len(deleted), f.type)
        for f in schema
    }
    tombstones = pa.table({**gone, _DELETE_FLAG: _buffers.repeated(pa.bool_(), True, len(deleted))})
    return pa.concat_tables([rows, tombstones.cast(rows.schema)]), _DELETE_FLAG


def quote(column: str) -> str:
    """Quote a column name for a delta-rs (DataFusion) SQL predicate."""
    return "`" + column.replace("`", "``") + "`"


def _parse_user_metadata(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"userMetadata": raw}
    return parsed if isinstance(parsed, dict) else {"userMetadata": parsed}


def _commit_from_entry(entry: Mapping[str, Any]) -> Commit:
    engine = str(entry.get("engineInfo") or entry.get("clientVersion") or "")
    metrics = entry.get("operationMetrics") or {}
    return Commit(
        version=int(entry["version"]),
        timestamp=datetime.fromtimestamp(int(entry["timestamp"]) / 1000, tz=UTC),
        operation=str(entry.get("operation", "")),
        parameters=dict(entry.get("operationParameters") or {}),
        metrics={str(k): _number(v) for k, v in dict(metrics).items()},
        user_metadata=_parse_user_metadata(entry.get(USER_METADATA)),
        engine=engine,
    )


def _number(value: Any) -> Any:
    # Spark records operation metrics as strings; delta-rs as numbers.
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def history(path: Where, limit: int | None = None) -> list[Commit]:
    """Commits newest first, from the table's current version back to the oldest one still in the log.

    The commit files are read by version number. ``DeltaTable.history()`` is not used: delta-rs numbers
    its entries by counting back from the version it loaded while listing every commit file, so a commit
    that lands in between shifts every number by one (seen with two concurrent writers).
    """
    latest = latest_version(path)
    commits: list[Commit] = []
    for version in range(latest, -1, -1):
        if limit is not None and len(commits) >= limit:
            break
        found = commit_at(path, version)
        if found is None:  # cleaned up after the log retention, and every older entry with it
            break
        commits.append(found)
    return commits


def commit_at(path: Where, version: int) -> Commit | None:
    """The commit that made ``version``, or None if its log entry is gone."""
    name = f"_delta_log/{version:020d}.json"
    remote = _remote(path)
    try:
        if remote is not None:
            try:
                with remote.open_read(name) as stream:
                    lines: Iterable[bytes | str] = stream.read().splitlines()
            except NotFound:
                return None
        else:
            lines = (Path(path) / name).read_bytes().splitlines()
        # Both engines write commitInfo first; reading stops there instead of parsing every file action.
        for line in lines:
            action = json.loads(line) if line.strip() else {}
            if "commitInfo" in action:
                return _commit_from_entry({**action["commitInfo"], "version": version})
        # commitInfo is optional in the protocol: the entry's modification time then tells when.
        info = remote.info(name) if remote is not None else None
        when = int(info.modified.timestamp() * 1000) if info else int((Path(path) / name).stat().st_mtime * 1000)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        msg = f"cannot read the log entry of version {version} in {str(path)!r}: {e}"
        raise StorageError(msg) from e
    return _commit_from_entry({"version": version, "timestamp": when})


def snapshot(path: Where, version: int) -> Snapshot:
    """Row count, file count, size and a digest of the exact files version ``version`` reads."""
    return _snapshot_of(path, open_table(path, version), version)


def _snapshot_of(path: Where, table: DeltaTable, version: int) -> Snapshot:
    with _translated(path, f"reading version {version}"):
        actions = _arrow_table(table.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    records = (
        actions.column("num_records").to_pylist() if "num_records" in actions.column_names else [None] * len(paths)
    )
    if any(r is None for r in records):
        num_rows = pl.scan_delta(table).select(pl.len()).collect().item() if paths else 0
    else:
        num_rows = int(sum(records))
    digest = hashlib.sha256()
    for p, s in sorted(zip(paths, sizes, strict=True)):
        digest.update(f"{p}\t{s}\n".encode())
    return Snapshot(
        version=version,
        num_rows=int(num_rows),
        num_files=len(paths),
        size_bytes=int(sum(sizes)),
        digest="sha256:" + digest.hexdigest(),
        files=tuple(paths),
    )


def missing_files(path: Where, version: int) -> list[str]:
    """Data files that ``version`` needs but that are no longer on disk (removed by vacuum)."""
    return _missing(path, open_table(path, version))


def _missing(path: Where, table: DeltaTable) -> list[str]:
    with _translated(path, f"listing files of version {table.version()}"):
        files = _arrow_table(table.get_add_actions(flatten=True)).column("path").to_pylist()
    # Paths in the log are URIs: a Hive-escaped partition folder such as "x=a%20b" is logged as "x=a%2520b".
    return [f for f in files if not _file_exists(path, unquote(f))]


def scan(path: Where, version: int | None = None, *, check_files: bool = False) -> pl.LazyFrame:
    """A lazy polars scan of the table at ``version`` (latest if None).

    With ``check_files`` a version whose data files vacuum removed raises :class:`VersionNotFound`.
    """
    table = open_table(path, version)
    if check_files:
        missing = _missing(path, table)
        if missing:
            verb = "was" if len(missing) == 1 else "were"
            msg = f"{len(missing)} of its data files {verb} removed by vacuum"
            raise VersionNotFound(msg)
    with _translated(path, "scanning"):
        return pl.scan_delta(table)


def read_arrow(path: Where, version: int | None = None, columns: Sequence[str] | None = None) -> pa.Table:
    table = open_table(path, version)
    with _translated(path, "reading"):
        return table.to_pyarrow_table(columns=list(columns) if columns else None)


def changes(path: Where, start: int, end: int) -> pa.Table:
    """The change data feed for versions ``start..end`` inclusive."""
    table = open_table(path)
    with _translated(path, f"reading changes {start}..{end}"):
        feed = table.load_cdf(starting_version=start, ending_version=end)
        try:
            return _arrow_table(feed)
        except Exception as e:  # delta-rs reports a missing change file as a bare Exception from the stream
            if isinstance(e, DeltaError | OSError):
                raise
            msg = f"reading changes {start}..{end} of {str(path)!r} failed: {e}"
            raise StorageError(msg) from e


def _arrow_table(stream: Any) -> pa.Table:
    """A pyarrow Table from any Arrow C stream (``pa.table`` would import pandas to check the type)."""
    return pa.RecordBatchReader.from_stream(stream).read_all()


def transaction_version(path: Where, app_id: str) -> int | None:
    """The last version recorded for ``app_id`` by an app transaction, or None."""
    if not exists(path):
        return None
    table = open_table(path)
    with _translated(path, "reading app transaction"):
        found = table.transaction_version(app_id)
    return None if found is None else int(found)


def vacuum(
    path: Where,
    *,
    retention_hours: int,
    dry_run: bool,
    keep_versions: Sequence[int] = (),
    enforce_retention_duration: bool = False,
) -> list[str]:
    """Delete (or list, with ``dry_run``) files no longer needed by the latest or any ``keep_versions``.

    Returns the deleted files' paths relative to the table root. delta-rs lists every tombstone that is old
    enough, including files an earlier vacuum already deleted, so only files still on disk are reported,
    and no vacuum is committed when none are left.
    """
    table = open_for_commit(path)
    root = _table_uri(path)
    options: dict[str, Any] = {
        "retention_hours": retention_hours,
        "enforce_retention_duration": enforce_retention_duration,
        "keep_versions": sorted(set(keep_versions)) or None,
    }
    with _translated(path, "vacuum"):
        listed = {_relative(root, str(f)) for f in table.vacuum(dry_run=True, **options)}
        present = sorted(f for f in listed if _file_exists(path, f))
        if dry_run or not present:
            return present
        removed = {_relative(root, str(f)) for f in table.vacuum(dry_run=False, **options)}
    return [f for f in present if f in removed]


def _table_uri(path: Where) -> str:
    """The table's location as delta-rs reports file paths under it (an absolute path, or the URI)."""
    return Location.of(path).uri


def _relative(root: str, file: str) -> str:
    """A file path delta-rs reports (relative, absolute, or a URI under the table) relative to the table."""
    if file.startswith(root.rstrip("/") + "/"):
        return file[len(root.rstrip("/")) + 1 :]
    return file


def _file_exists(path: Where, relative: str) -> bool:
    """True if the table's file ``relative`` (a path as the log writes it, unescaped) is there."""
    remote = _remote(path)
    if remote is not None:
        return remote.exists(relative)
    return (Path(path) / relative).exists()


def compact(
    path: Where,
    *,
    z_order: Sequence[str] | None = None,
    target_size: int | None = None,
    max_commit_retries: int = 100,
) -> dict[str, Any]:
    """Rewrite small files into larger ones (clustered by ``z_order`` columns when given)."""
    table = open_for_commit(path)
    props = CommitProperties(max_commit_retries=max_commit_retries)
    with _translated(path, "optimize"):
        if z_order:
            return dict(table.optimize.z_order(list(z_order), target_size=target_size, commit_properties=props))
        return dict(table.optimize.compact(target_size=target_size, commit_properties=props))


def checkpoint(path: Where) -> None:
    """Write a checkpoint at the latest version so readers skip replaying old commits."""
    table = open_table(path)
    with _translated(path, "checkpoint"):
        table.create_checkpoint()


def set_properties(path: Where, values: Mapping[str, str]) -> None:
    table = open_for_commit(path)
    with _translated(path, "setting table properties"):
        table.alter.set_table_properties(dict(values), raise_if_not_exists=False)


def delete(path: Where, predicate: str, *, max_commit_retries: int = 100) -> dict[str, Any]:
    """Delete the rows matching a SQL ``predicate`` (files holding them are rewritten without them).

    Deletes conflict with concurrent commits that remove the same files or add matching rows (then this
    raises :class:`CommitConflict`); blind appends of other rows never fail because of a delete.
    """
    table = open_for_commit(path)
    props = CommitProperties(max_commit_retries=max_commit_retries)
    with _translated(path, "delete"):
        return dict(table.delete(predicate, commit_properties=props))


def files_at(path: Where, version: int) -> FileSet:
    """The data files of ``version`` of the table, from its log."""
    table = open_table(path, version)
    with _translated(path, f"listing the files of version {version}"):
        return _fileset(path, table, version)


def row_groups(data_file: str) -> list[int]:
    """Rows per row group of one Parquet data file (read from its footer only)."""
    return open_data_file(data_file).row_groups


def read_data_file(data_file: str, columns: Sequence[str], *, row_group: int | None = None) -> pa.Table:
    """``columns`` of one Parquet data file (or of one of its row groups); a column the file predates is null.

    For readers that address rows by position (a training loader): they read one small row group, never a
    whole table version. A reader of many row groups of one file keeps it open with :func:`open_data_file`.
    """
    opened = open_data_file(data_file)
    return opened.read(columns) if row_group is None else opened.read_row_group(row_group, columns)


class OpenDataFile:
    """One Parquet data file held open: its footer is parsed once, however many row groups are then read.

    A data file of a file dataset holds a thousand row groups or more; reopening it for each one parses that
    whole footer again each time. Data files never change once written, so holding one open is safe.
    """

    def __init__(self, data_file: str) -> None:
        self.path = data_file
        with _translated(data_file, "reading the footer of"):
            self._parquet = pq.ParquetFile(_open_input(data_file))
            self._names = set(self._parquet.schema_arrow.names)
            meta = self._parquet.metadata
            self.row_groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]

    @property
    def metadata(self) -> pq.FileMetaData:
        """The file's Parquet footer (row groups, their statistics)."""
        return self._parquet.metadata

    def read(self, columns: Sequence[str]) -> pa.Table:
        """``columns`` of the whole file; a column the file predates is null."""
        with _translated(self.path, "reading"):
            table = self._parquet.read(columns=[c for c in columns if c in self._names])
        return self._complete(table, columns)

    def read_row_group(self, group: int, columns: Sequence[str]) -> pa.Table:
        """``columns`` of row group ``group``; a column the file predates is null."""
        with _translated(self.path, "reading"):
            table = self._parquet.read_row_group(group, columns=[c for c in columns if c in self._names])
        return self._complete(table, columns)

    def _complete(self, table: pa.Table, columns: Sequence[str]) -> pa.Table:
        for c in columns:
            if c not in self._names:
                table = table.append_column(c, pa.nulls(table.num_rows))
        return table.select(list(columns))


def _open_input(data_file: str) -> str | pa.NativeFile:
    """What pyarrow reads ``data_file`` from: the local path, or a random-access file of the bucket."""
    if "://" not in data_file:
        return data_file
    where = Location.of(data_file)
    fs = remote_filesystem(data_file)
    return fs.open_input_file(f"{where.bucket}/{where.key}")


def scan_options(path: Where) -> dict[str, str] | None:
    """The ``storage_options`` a polars scan of files under ``path`` takes (None for a local path)."""
    return _options(path)


def open_data_file(data_file: str) -> OpenDataFile:
    """``data_file`` held open for reading row groups (see :class:`OpenDataFile`)."""
    return OpenDataFile(data_file)


def values_in_data_files(path: Where, column: str) -> set[Any]:
    """The non-null values of ``column`` in every Parquet file in the table's folder, live or not.

    Removed files stay on disk until vacuum deletes them, and any still-readable version may read them: what
    they refer to (a file dataset's objects) must stay as long as they do. Files without ``column`` count
    for nothing, and so do the change data files (``_change_data``): they hold no version's rows.
    """
    import pyarrow.parquet as pq

    root = Location.of(path)
    remote = _remote(path)
    if remote is not None:
        listed = [f.path for f in remote.list_all() if f.path.endswith(".parquet")]
    else:
        local = Path(root.uri)
        listed = [p.relative_to(local).as_posix() for p in local.rglob("*.parquet")]
    found: set[Any] = set()
    for relative in sorted(listed):
        if relative.startswith("_"):  # the log, change data: no version's rows
            continue
        data_file = str(root / relative)
        try:
            parquet = pq.ParquetFile(_open_input(data_file))
            if column not in parquet.schema_arrow.names:
                continue
            values = parquet.read(columns=[column]).column(column)
        except (OSError, pa.ArrowInvalid) as e:
            msg = f"cannot read {str(data_file)!r} to find the values of {column!r}: {e}"
            raise StorageError(msg) from e
        found.update(v for v in values.to_pylist() if v is not None)
    return found


# --- warm reads -------------------------------------------------------------------------------------------
# Readers that ask the same table again and again (the query layer, the app) keep its DeltaTable loaded and
# bring it up to date incrementally: a refresh with no new commit costs one listing of the log folder instead
# of a checkpoint read, which is what keeps a one-run history read within milliseconds. The loaded tables belong
# to the state of their root (lakehouse.state): Lakehouse.forget() drops them, a forked child starts without.

# Reader features under which a data file alone does not give the table's rows.
_FILE_LEVEL_BREAKERS = frozenset({"deletionVectors", "columnMapping"})


@dataclass(frozen=True)
class DataFile:
    """One live data file of a table version."""

    path: str  # an absolute local path, or the file's URI in a bucket (read it with scan_options)
    partition: Mapping[str, str | None]
    size_bytes: int
    num_records: int | None


@dataclass(frozen=True)
class FileSet:
    """The live data files of one table version, from the log alone.

    ``plain_parquet`` is True when reading the files (plus the partition values) gives exactly the table's
    rows: no deletion vectors and no column mapping (which lakehouse tables never enable; see ARCHITECTURE).
    """

    version: int
    files: tuple[DataFile, ...] = field(repr=False)
    partition_columns: tuple[str, ...]
    schema: pa.Schema = field(repr=False)
    plain_parquet: bool = True

    def by_partition(self, column: str) -> dict[str | None, list[DataFile]]:
        out: dict[str | None, list[DataFile]] = {}
        for f in self.files:
            out.setdefault(f.partition.get(column), []).append(f)
        return out


class _Warm:
    def __init__(self, table: DeltaTable, checkpoint: _Stamp | None) -> None:
        self.table = table
        self.lock = threading.Lock()
        self.fileset: FileSet | None = None
        self.checkpoint: _Stamp | None = checkpoint  # of ``_last_checkpoint`` before the last load or refresh
        self.just_loaded = True  # loaded and not refreshed since: as fresh as a refresh would make it


_Stamp = tuple[int, int, int]  # a file's inode, size and modification time (ns)


class _LoadedTables:
    """The tables a root keeps loaded: warm readers and appenders, by table path (held by its ``RootState``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.warm: dict[str, _Warm] = {}
        self.appenders: dict[str, tuple[threading.Lock, list[_Appender]]] = {}

    def appender(self, path: Where) -> tuple[threading.Lock, list[_Appender]]:
        """The lock and (empty until the first append) slot of the appending table at ``path``."""
        with self.lock:
            return self.appenders.setdefault(state.root_key(path), (threading.Lock(), []))


def _loaded(path: Where) -> _LoadedTables:
    return state.owner(path).cache(_LoadedTables)


def _warm_table(path: Where) -> _Warm:
    key = state.root_key(path)
    tables = _loaded(path)
    with tables.lock:
        found = tables.warm.get(key)
    if found is None:
        checkpoint = _checkpoint_stamp(path)  # before the load: a checkpoint racing with it is seen next time
        found = _Warm(open_table(path), checkpoint)
        with tables.lock:
            found = tables.warm.setdefault(key, found)
    return found


def live_files(path: Where) -> FileSet:
    """The data files of the latest version, from a warm table brought up to date incrementally."""
    warm = _warm_table(path)
    with warm.lock, _translated(path, "listing files"):
        if warm.fileset is not None and _no_commit_since(path, warm.fileset.version, warm.checkpoint):
            return warm.fileset
        if warm.just_loaded:  # a table loaded a moment ago needs no refresh (a refresh lists the log again)
            warm.just_loaded = False
        else:
            checkpoint = _checkpoint_stamp(path)  # before the refresh: a checkpoint racing with it is seen next time
            try:
                warm.table.update_incremental()
            except DeltaError:
                # The log was cleaned past our version (or rewritten): reload from the newest checkpoint.
                warm.table = open_table(path)
                warm.fileset = None
            warm.checkpoint = checkpoint
        version = int(warm.table.version())
        if warm.fileset is not None and warm.fileset.version == version:
            return warm.fileset
        warm.fileset = _fileset(path, warm.table, version)
        return warm.fileset


def unchanged_version(path: Where) -> int | None:
    """The version of the table's warm file list when its log certainly has no newer commit, else None.

    The look-up :func:`live_files` starts with (two ``stat`` calls), without loading or refreshing anything: a
    reader of several tables asks it first and refreshes only the tables that answer None (side by side).
    None for a table not loaded yet, a remote one, or whenever unsure.
    """
    tables = _loaded(path)
    with tables.lock:
        warm = tables.warm.get(state.root_key(path))
    if warm is None:
        return None
    with warm.lock:
        fileset, checkpoint = warm.fileset, warm.checkpoint
    if fileset is None or not _no_commit_since(path, fileset.version, checkpoint):
        return None
    return fileset.version


def _no_commit_since(path: Where, version: int, checkpoint: _Stamp | None) -> bool:
    """True when the log of a local table certainly has no commit after ``version``: two ``stat`` calls, where
    ``update_incremental`` lists the log (a warm read of unchanged tables is then close to a dictionary lookup).

    Commit N+1 leaves ``<N+1:020d>.json``, written once and atomically. Log clean-up may remove it again, but
    only below a newer checkpoint, and writing a checkpoint rewrites ``_last_checkpoint``: so if the next
    commit's file is absent and ``_last_checkpoint`` is the file it was before the last refresh, no commit
    came since. False (look properly) when unsure: a remote table, or a ``stat`` that failed otherwise.
    """
    if "://" in str(path):
        return False
    try:
        os.stat(os.path.join(path, "_delta_log", f"{version + 1:020d}.json"))
    except FileNotFoundError:
        pass
    except OSError:
        return False
    else:
        return False
    try:
        return _checkpoint_stamp(path) == checkpoint
    except OSError:
        return False


def _checkpoint_stamp(path: Where) -> _Stamp | None:
    """The stamp of the table's ``_last_checkpoint`` file (None if it has none, or the table is remote)."""
    if "://" in str(path):
        return None
    try:
        st = os.stat(os.path.join(path, "_delta_log", "_last_checkpoint"))
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _fileset(path: Where, table: DeltaTable, version: int) -> FileSet:
    # Through the C stream interface: pa.table() would import pandas (seconds) just to rule it out.
    actions = pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=True)).read_all()
    partition_columns = tuple(table.metadata().partition_columns)
    root = Location.of(path)
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    records = (
        actions.column("num_records").to_pylist() if "num_records" in actions.column_names else [None] * len(paths)
    )
    parts = {c: actions.column(f"partition.{c}").to_pylist() for c in partition_columns}
    files = tuple(
        DataFile(
            path=str(root / unquote(p)),
            partition={c: None if parts[c][i] is None else str(parts[c][i]) for c in partition_columns},
            size_bytes=int(sizes[i] or 0),
            num_records=_optional_int(records[i]),
        )
        for i, p in enumerate(paths)
    )
    features = set(table.protocol().reader_features or [])
    config = table.metadata().configuration
    plain = not (features & _FILE_LEVEL_BREAKERS) and config.get("delta.columnMapping.mode", "none") == "none"
    schema = pa.schema(table.schema().to_arrow())
    return FileSet(
        version=version, files=files, partition_columns=partition_columns, schema=schema, plain_parquet=plain
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
