"""The embedded storage engine: the only module that imports ``deltalake`` (delta-rs).

Everything above this layer speaks in paths, Arrow data, polars frames and lakehouse errors; engine
exceptions are translated here, once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import (
    CommitFailedError,
    DeltaError,
    DeltaProtocolError,
    SchemaMismatchError,
    TableNotFoundError,
)

from lakehouse import state
from lakehouse._arrow import canonical_type
from lakehouse.errors import (
    CommitConflict,
    InvalidArgument,
    LakehouseError,
    SchemaMismatch,
    StorageError,
    TableNotFound,
    VersionNotFound,
)

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
def _translated(path: str | Path, what: str) -> Iterator[None]:
    """Translate delta-rs exceptions raised inside the block into lakehouse errors (see :func:`translate`)."""
    try:
        yield
    except LakehouseError:
        raise
    except (DeltaError, OSError) as e:
        raise translate(e, path, what) from e


def translate(error: DeltaError | OSError, path: str | Path, what: str) -> LakehouseError:
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


def exists(path: str | Path) -> bool:
    """True if a Delta table lives at ``path``."""
    return DeltaTable.is_deltatable(str(path))


def open_table(path: str | Path, version: int | None = None) -> DeltaTable:
    """Load a table (at ``version`` if given)."""
    with _translated(path, f"loading version {version}" if version is not None else "loading"):
        if not exists(path):
            msg = f"no Delta table at {str(path)!r}"
            raise TableNotFound(msg)
        try:
            return DeltaTable(str(path), version=version)
        except DeltaError as e:
            if version is None:
                raise
            newest = peek_version(path)
            if newest is not None and version > newest:
                msg = f"loading version {version} on {str(path)!r}: no such version (the latest is {newest})"
                raise VersionNotFound(msg) from e
            if not isinstance(e, TableNotFoundError):
                raise
            # The table exists, so the version's log entries are gone (cleaned up after the log retention).
            oldest = min(int(c["version"]) for c in DeltaTable(str(path)).history())
            msg = (
                f"version {version} of the table at {str(path)!r} is no longer in its log: log entries older than "
                f"the log retention period were cleaned up; versions from {oldest} on can be read"
            )
            raise VersionNotFound(msg) from e


def latest_version(path: str | Path) -> int:
    """The newest committed version (from a listing of the log; loading the table would cost milliseconds)."""
    newest = peek_version(path)
    if newest is None:
        return int(open_table(path).version())  # raises TableNotFound
    return newest


def peek_version(path: str | Path) -> int | None:
    """The newest committed version from a listing of ``_delta_log`` alone (None if no table).

    Much cheaper than loading the table: readers that cache by version (the app) call it on every request.
    Each commit N leaves ``<N:020d>.json`` in the log, and log clean-up never removes the newest one.
    """
    log = Path(path) / "_delta_log"
    newest = -1
    try:
        with os.scandir(log) as entries:
            for entry in entries:
                stem, dot, ext = entry.name.partition(".")
                if ext == "json" and dot and stem.isdigit():
                    newest = max(newest, int(stem))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        msg = f"listing the log of {str(path)!r} failed: {e}"
        raise StorageError(msg) from e
    return newest if newest >= 0 else None


def arrow_schema(path: str | Path, version: int | None = None) -> pa.Schema:
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


def load(path: str | Path) -> Loaded:
    """The table at its latest version, for a write that first looks at its schema (one load, not two)."""
    return Loaded(str(path), open_table(path))


def partition_columns(path: str | Path) -> list[str]:
    return list(open_table(path).metadata().partition_columns)


def properties(path: str | Path) -> dict[str, str]:
    return dict(open_table(path).metadata().configuration)


def properties_at(path: str | Path, version: int) -> dict[str, str]:
    return dict(open_table(path, version).metadata().configuration)


def protocol(path: str | Path) -> dict[str, Any]:
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


def _refuse_existing(path: str | Path) -> None:
    """A create makes version 0 or nothing: the table must not be there yet."""
    if exists(path):
        msg = f"cannot create {str(path)!r}: another writer created it first"
        raise CommitConflict(msg)


def _raise_if_created_concurrently(path: str | Path, error: DeltaError) -> None:
    """A create that failed while the table now exists lost to another writer's create.

    delta-rs reports a table found at create time as a generic DeltaError ("A table already exists"), so
    the table's existence is what tells this case apart.
    """
    if exists(path):
        msg = f"another writer created the table at {str(path)!r} concurrently"
        raise CommitConflict(msg) from error


def write(
    path: str | Path,
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
    if mode == "create":
        _refuse_existing(path)
    elif loaded is not None:
        target = loaded.table
        configuration = None
    elif read_version is not None or exists(path):
        target = open_table(path, read_version)
        configuration = None  # table properties are set once, at creation
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


def commit_files(
    path: str | Path,
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
                )
            except DeltaError as e:
                _raise_if_created_concurrently(path, e)
                raise
            return True
        table = open_table(path)
        if app_transaction is not None:
            done = table.transaction_version(app_transaction[0])
            if done is not None and int(done) >= app_transaction[1]:
                return False
        actions: list[AddAction | RemoveAction] = list(adds)  # overwrite: delta-rs adds the removes itself
        table.create_write_transaction(actions, mode, Schema.from_arrow(schema), commit_properties=props)
    return True


def append(
    path: str | Path,
    data: pa.Table,
    *,
    partition_by: Sequence[str] | None = None,
    configuration: Mapping[str, str] | None = None,
    app_transaction: tuple[str, int] | None = None,
    max_commit_retries: int = 100,
) -> int:
    """Append ``data`` (creating the table on first use) and return the committed version.

    For processes that append to the same table again and again (the metrics writer): the table stays loaded
    between appends and is brought up to date incrementally before each one, instead of being read from its
    last checkpoint every time. Raises :class:`CommitConflict` like :func:`write`.
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
            slot.append(open_table(path))
        table = slot[0]
        props = _commit_properties(None, app_transaction, max_commit_retries)
        with _translated(path, "append"):
            try:
                table.update_incremental()
            except DeltaError:
                # The log was cleaned past our version: load afresh from the newest checkpoint.
                table = slot[0] = open_table(path)
            write_deltalake(
                table,
                data,
                mode="append",
                partition_by=list(partition_by) if partition_by else None,
                commit_properties=props,
            )
            return int(table.version())


def merge(
    path: str | Path,
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
    table = open_table(path)
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
    rows = data.cast(schema).append_column(_DELETE_FLAG, pa.array([False] * data.num_rows, pa.bool_()))
    gone = {
        f.name: pa.array(list(deleted), f.type) if f.name == key else pa.nulls(len(deleted), f.type) for f in schema
    }
    tombstones = pa.table({**gone, _DELETE_FLAG: pa.array([True] * len(deleted), pa.bool_())})
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


def history(path: str | Path, limit: int | None = None) -> list[Commit]:
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


def commit_at(path: str | Path, version: int) -> Commit | None:
    """The commit that made ``version``, or None if its log entry is gone."""
    log_file = Path(path) / "_delta_log" / f"{version:020d}.json"
    try:
        with log_file.open(encoding="utf-8") as handle:
            # Both engines write commitInfo first; reading stops there instead of parsing every file action.
            for line in handle:
                action = json.loads(line) if line.strip() else {}
                if "commitInfo" in action:
                    return _commit_from_entry({**action["commitInfo"], "version": version})
        when = int(log_file.stat().st_mtime * 1000)  # commitInfo is optional in the protocol
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        msg = f"cannot read the log entry of version {version} in {str(path)!r}: {e}"
        raise StorageError(msg) from e
    return _commit_from_entry({"version": version, "timestamp": when})


def snapshot(path: str | Path, version: int) -> Snapshot:
    """Row count, file count, size and a digest of the exact files version ``version`` reads."""
    return _snapshot_of(path, open_table(path, version), version)


def _snapshot_of(path: str | Path, table: DeltaTable, version: int) -> Snapshot:
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


def missing_files(path: str | Path, version: int) -> list[str]:
    """Data files that ``version`` needs but that are no longer on disk (removed by vacuum)."""
    return _missing(path, open_table(path, version))


def _missing(path: str | Path, table: DeltaTable) -> list[str]:
    with _translated(path, f"listing files of version {table.version()}"):
        files = _arrow_table(table.get_add_actions(flatten=True)).column("path").to_pylist()
    root = Path(path)
    # Paths in the log are URIs: a Hive-escaped partition folder such as "x=a%20b" is logged as "x=a%2520b".
    return [f for f in files if not (root / unquote(f)).exists()]


def scan(path: str | Path, version: int | None = None, *, check_files: bool = False) -> pl.LazyFrame:
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


def read_arrow(path: str | Path, version: int | None = None, columns: Sequence[str] | None = None) -> pa.Table:
    table = open_table(path, version)
    with _translated(path, "reading"):
        return table.to_pyarrow_table(columns=list(columns) if columns else None)


def changes(path: str | Path, start: int, end: int) -> pa.Table:
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


def transaction_version(path: str | Path, app_id: str) -> int | None:
    """The last version recorded for ``app_id`` by an app transaction, or None."""
    if not exists(path):
        return None
    table = open_table(path)
    with _translated(path, "reading app transaction"):
        found = table.transaction_version(app_id)
    return None if found is None else int(found)


def vacuum(
    path: str | Path,
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
    table = open_table(path)
    root = Path(path).absolute()
    options: dict[str, Any] = {
        "retention_hours": retention_hours,
        "enforce_retention_duration": enforce_retention_duration,
        "keep_versions": sorted(set(keep_versions)) or None,
    }
    with _translated(path, "vacuum"):
        listed = {_relative(root, str(f)) for f in table.vacuum(dry_run=True, **options)}
        present = sorted(f for f in listed if (root / f).exists())
        if dry_run or not present:
            return present
        removed = {_relative(root, str(f)) for f in table.vacuum(dry_run=False, **options)}
    return [f for f in present if f in removed]


def _relative(root: Path, file: str) -> str:
    candidate = Path(file)
    return candidate.relative_to(root).as_posix() if candidate.is_absolute() else file


def compact(
    path: str | Path,
    *,
    z_order: Sequence[str] | None = None,
    target_size: int | None = None,
    max_commit_retries: int = 100,
) -> dict[str, Any]:
    """Rewrite small files into larger ones (clustered by ``z_order`` columns when given)."""
    table = open_table(path)
    props = CommitProperties(max_commit_retries=max_commit_retries)
    with _translated(path, "optimize"):
        if z_order:
            return dict(table.optimize.z_order(list(z_order), target_size=target_size, commit_properties=props))
        return dict(table.optimize.compact(target_size=target_size, commit_properties=props))


def checkpoint(path: str | Path) -> None:
    """Write a checkpoint at the latest version so readers skip replaying old commits."""
    table = open_table(path)
    with _translated(path, "checkpoint"):
        table.create_checkpoint()


def set_properties(path: str | Path, values: Mapping[str, str]) -> None:
    table = open_table(path)
    with _translated(path, "setting table properties"):
        table.alter.set_table_properties(dict(values), raise_if_not_exists=False)


def delete(path: str | Path, predicate: str, *, max_commit_retries: int = 100) -> dict[str, Any]:
    """Delete the rows matching a SQL ``predicate`` (files holding them are rewritten without them).

    Deletes conflict with concurrent commits that remove the same files or add matching rows (then this
    raises :class:`CommitConflict`); blind appends of other rows never fail because of a delete.
    """
    table = open_table(path)
    props = CommitProperties(max_commit_retries=max_commit_retries)
    with _translated(path, "delete"):
        return dict(table.delete(predicate, commit_properties=props))


def files_at(path: str | Path, version: int) -> FileSet:
    """The data files of ``version`` of the table, from its log."""
    table = open_table(path, version)
    with _translated(path, f"listing the files of version {version}"):
        return _fileset(path, table, version)


def row_groups(data_file: str) -> list[int]:
    """Rows per row group of one Parquet data file (read from its footer only)."""
    import pyarrow.parquet as pq

    with _translated(data_file, "reading the footer of"):
        meta = pq.read_metadata(data_file)
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def read_data_file(data_file: str, columns: Sequence[str], *, row_group: int | None = None) -> pa.Table:
    """``columns`` of one Parquet data file (or of one of its row groups); a column the file predates is null.

    For readers that address rows by position (a training loader): they read one small row group, never a
    whole table version.
    """
    import pyarrow.parquet as pq

    with _translated(data_file, "reading"):
        parquet = pq.ParquetFile(data_file)
        names = parquet.schema_arrow.names
        present = [c for c in columns if c in names]
        if row_group is None:
            table = parquet.read(columns=present)
        else:
            table = parquet.read_row_group(row_group, columns=present)
    for c in columns:
        if c not in present:
            table = table.append_column(c, pa.nulls(table.num_rows))
    return table.select(list(columns))


def values_in_data_files(path: str | Path, column: str) -> set[Any]:
    """The non-null values of ``column`` in every Parquet file in the table's folder, live or not.

    Removed files stay on disk until vacuum deletes them, and any still-readable version may read them: what
    they refer to (a file dataset's objects) must stay as long as they do. Files without ``column`` count
    for nothing, and so do the change data files (``_change_data``): they hold no version's rows.
    """
    import pyarrow.parquet as pq

    root = Path(path)
    found: set[Any] = set()
    for data_file in sorted(root.rglob("*.parquet")):
        if data_file.relative_to(root).parts[0].startswith("_"):  # the log, change data: no version's rows
            continue
        try:
            if column not in pq.read_schema(data_file).names:
                continue
            values = pq.read_table(data_file, columns=[column]).column(column)
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

    path: str  # absolute local path
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
    def __init__(self, table: DeltaTable) -> None:
        self.table = table
        self.lock = threading.Lock()
        self.fileset: FileSet | None = None


class _LoadedTables:
    """The tables a root keeps loaded: warm readers and appenders, by table path (held by its ``RootState``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.warm: dict[str, _Warm] = {}
        self.appenders: dict[str, tuple[threading.Lock, list[DeltaTable]]] = {}

    def appender(self, path: str | Path) -> tuple[threading.Lock, list[DeltaTable]]:
        """The lock and (empty until the first append) slot of the appending table at ``path``."""
        with self.lock:
            return self.appenders.setdefault(str(Path(path).absolute()), (threading.Lock(), []))


def _loaded(path: str | Path) -> _LoadedTables:
    return state.owner(path).cache(_LoadedTables)


def _warm_table(path: str | Path) -> _Warm:
    key = str(Path(path).absolute())
    tables = _loaded(path)
    with tables.lock:
        found = tables.warm.get(key)
    if found is None:
        found = _Warm(open_table(path))
        with tables.lock:
            found = tables.warm.setdefault(key, found)
    return found


def live_files(path: str | Path) -> FileSet:
    """The data files of the latest version, from a warm table brought up to date incrementally."""
    warm = _warm_table(path)
    with warm.lock, _translated(path, "listing files"):
        try:
            warm.table.update_incremental()
        except DeltaError:
            # The log was cleaned past our version (or rewritten): reload from the newest checkpoint.
            warm.table = open_table(path)
            warm.fileset = None
        version = int(warm.table.version())
        if warm.fileset is not None and warm.fileset.version == version:
            return warm.fileset
        warm.fileset = _fileset(path, warm.table, version)
        return warm.fileset


def _fileset(path: str | Path, table: DeltaTable, version: int) -> FileSet:
    # Through the C stream interface: pa.table() would import pandas (seconds) just to rule it out.
    actions = pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=True)).read_all()
    partition_columns = tuple(table.metadata().partition_columns)
    root = Path(path).absolute()
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
