"""A dataset: one Delta table whose every commit is a version with metadata."""

from __future__ import annotations

import getpass
import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import pyarrow as pa

from lakehouse import _arrow, state, storage
from lakehouse.catalog import datasets_catalog
from lakehouse.catalog import tags as tag_store
from lakehouse.catalog.tables import table_properties
from lakehouse.datasets import diff as diffing
from lakehouse.datasets import files as file_rows
from lakehouse.datasets import folder as folders
from lakehouse.datasets import retention, spark_leftovers, write_plan
from lakehouse.datasets import schema as schemas
from lakehouse.datasets.schema import SchemaMode
from lakehouse.datasets.versions import (
    SECTION,
    DatasetInfo,
    DatasetVersion,
    is_data_change,
    make_version,
    write_id,
)
from lakehouse.datasets.write_plan import WriteMode
from lakehouse.errors import (
    CommitConflict,
    DatasetNotFound,
    InvalidArgument,
    InvalidData,
    LakehouseError,
    TagExists,
    TagNotFound,
    VersionNotFound,
    closest,
)
from lakehouse.location import Location
from lakehouse.refs import as_utc, parse_ref, validate_name, validate_tag

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

_TAG_ATTEMPTS = 50
_CDF = "delta.enableChangeDataFeed"
_INFO_LOOKBACK = 50  # commits read to find the last data change and description for listings
_MAINTENANCE = {"OPTIMIZE", "VACUUM START", "VACUUM END"}
_SNAPSHOT_CACHE_SIZE = 20_000
Selector = int | str | None


class _Snapshots:
    """Snapshot facts of a root's dataset versions, newest use last (held by the root's ``RootState``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_version: OrderedDict[tuple[str, int, datetime], storage.Snapshot] = OrderedDict()


def _snapshot(path: Location, version: int, committed_at: datetime) -> storage.Snapshot:
    """Snapshot facts of one version, cached: a version's files never change once committed."""
    snapshots = state.owner(path).cache(_Snapshots)
    with snapshots.lock:
        found = snapshots.by_version.get((str(path), version, committed_at))
    if found is None:
        found = _remember_snapshot(path, version, committed_at, storage.snapshot(path, version))
    return found


def _remember_snapshot(
    path: Location, version: int, committed_at: datetime, snapshot: storage.Snapshot
) -> storage.Snapshot:
    snapshots = state.owner(path).cache(_Snapshots)
    with snapshots.lock:
        snapshots.by_version[(str(path), version, committed_at)] = snapshot
        if len(snapshots.by_version) > _SNAPSHOT_CACHE_SIZE:
            snapshots.by_version.popitem(last=False)
    return snapshot


class Dataset:
    """Handle on one dataset. Nothing exists on disk until the first :meth:`write`."""

    def __init__(self, lakehouse: Lakehouse, name: str) -> None:
        self.name = validate_name(name)
        self._lh = lakehouse
        self.path = lakehouse.layout.dataset(self.name)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, root={str(self._lh.root)!r})"

    # --- existence and versions --------------------------------------------------------------------------

    def exists(self) -> bool:
        return storage.exists(self.path)

    def _require(self) -> None:
        if not self.exists():
            known = datasets_catalog.dataset_names(self._lh.layout)
            msg = f"dataset {self.name!r} does not exist under {str(self._lh.root)!r}{closest(self.name, known)}"
            raise DatasetNotFound(msg)

    @property
    def latest_version(self) -> int:
        self._require()
        return storage.latest_version(self.path)

    def resolve(self, version: Selector = None, *, tag: str | None = None, as_of: datetime | None = None) -> int:
        """The version number a selector names: a number, ``"v3"``, ``"latest"``, a tag, or a time."""
        return self._locate(version, tag=tag, as_of=as_of)[0]

    def _locate(
        self, version: Selector = None, *, tag: str | None = None, as_of: datetime | None = None
    ) -> tuple[int, int]:
        """``(version a selector names, latest version)``, reading the table's log once."""
        given = [x for x in (version, tag, as_of) if x is not None]
        if len(given) > 1:
            msg = f"select a version of {self.name!r} by version, tag or as_of, not several at once"
            raise InvalidArgument(msg)
        if isinstance(version, str):
            ref = parse_ref(f"{self.name}:{version}")
            version, tag = ref.version, ref.tag
        self._require()
        latest = storage.latest_version(self.path)
        if tag is not None:
            return self._resolve_tag(tag), latest
        if as_of is not None:
            return self._resolve_time(as_of, latest), latest
        if version is None:
            return latest, latest
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= latest:
            msg = f"dataset {self.name!r} has no version {version!r}; its versions are 0..{latest}"
            raise VersionNotFound(msg)
        return version, latest

    def _resolve_tag(self, tag: str) -> int:
        live = self.tags()
        if tag not in live:
            msg = f"dataset {self.name!r} has no tag {tag!r}{closest(tag, live)}"
            raise TagNotFound(msg)
        return live[tag]

    def _resolve_time(self, when: datetime, latest: int) -> int:
        """The newest version whose commit time (as ``history()`` shows it) is at or before ``when``.

        Commit times are read from the log entries, not from the log files' modification times that
        ``DeltaTable.load_as_version`` uses: those are written a moment after the commit time (so a version
        would not be found at its own ``created_at``) and are reset by tools that copy tables.
        """
        when = as_utc(when)
        oldest: storage.Commit | None = None
        for version in range(latest, -1, -1):
            commit = storage.commit_at(self.path, version)
            if commit is None:
                break
            if commit.timestamp <= when:
                return version
            oldest = commit
        first = (
            "it has no versions left in its log"
            if oldest is None
            else f"its {'first' if oldest.version == 0 else 'oldest readable'} version (v{oldest.version}) "
            f"was created at {oldest.timestamp.isoformat()}"
        )
        msg = f"dataset {self.name!r} has no version at or before {when.isoformat()}; {first}"
        raise VersionNotFound(msg)

    def _commit(self, version: int) -> storage.Commit:
        found = storage.commit_at(self.path, version)
        if found is None:
            msg = f"the log of dataset {self.name!r} no longer holds version {version}"
            raise VersionNotFound(msg)
        return found

    # --- writing -----------------------------------------------------------------------------------------

    def write(
        self,
        data: Any,
        *,
        mode: WriteMode = "append",
        key: str | Sequence[str] | None = None,
        schema_mode: SchemaMode | None = None,
        partition_by: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_by: str | None = None,
        description: str | None = None,
        labelled_by: str | None = None,
    ) -> DatasetVersion:
        """Write ``data`` as a new version and return it.

        Args:
            data: pyarrow Table/RecordBatchReader, polars or pandas DataFrame, or a list of row dicts.
            mode: ``append`` adds rows; ``overwrite`` replaces all rows; ``upsert`` updates rows whose
                ``key`` matches and inserts the rest.
            key: key column(s), required for ``upsert``.
            schema_mode: ``merge`` to add new columns; ``overwrite`` (with mode overwrite) to replace the schema.
            partition_by: partition columns, only when the write creates the dataset.
            metadata: dataset-card fields and any JSON-serialisable user keys, stored in the commit.

        Raises:
            SchemaMismatch: the data's schema differs and evolution was not asked for. Nothing is written.
            InvalidData / InvalidArgument / InvalidMetadata: bad input. Nothing is written.
        """
        asked = write_plan.request(
            self.name,
            mode=mode,
            key=key,
            schema_mode=schema_mode,
            partition_by=partition_by,
            metadata=metadata,
            created_by=created_by,
            actor=self._lh.actor,
            description=description,
            labelled_by=labelled_by,
        )
        incoming = _arrow.to_arrow(data)
        incoming_schema = _arrow.canonical_schema(incoming.schema)
        consumed = False
        if isinstance(incoming, pa.RecordBatchReader):
            if mode == "upsert":
                incoming = incoming.read_all()  # keys are checked over the whole input before anything is written
            else:
                stream = incoming

                def batches() -> Iterator[pa.RecordBatch]:
                    nonlocal consumed
                    for batch in stream:
                        consumed = True
                        yield batch

                incoming = pa.RecordBatchReader.from_batches(stream.schema, batches())
        for attempt in range(write_plan.CREATE_ATTEMPTS):
            try:
                return self._write_once(asked, incoming, incoming_schema)
            except CommitConflict as e:
                if not write_plan.replan_after_lost_create(attempt, exists=self.exists()):
                    raise
                if consumed:  # a stream already read cannot be replayed
                    msg = (
                        f"dataset {self.name!r} was created by another writer while this write was streaming its "
                        "data; nothing was written, run the write again to add to it"
                    )
                    raise CommitConflict(msg) from e
        msg = "unreachable"
        raise AssertionError(msg)  # pragma: no cover

    def _write_once(
        self,
        asked: write_plan.WriteRequest,
        incoming: pa.Table | pa.RecordBatchReader,
        incoming_schema: pa.Schema,
        *,
        deleted: Sequence[str] = (),
    ) -> DatasetVersion:
        """Plan ``asked`` against the table as it is now and execute the plan with delta-rs.

        ``deleted``: keys whose rows the same commit removes (an upsert that makes a file dataset equal a folder).
        """
        loaded = storage.load(self.path) if self.exists() else None  # one load serves the plan and the write
        plan = write_plan.plan(asked, incoming_schema, loaded)
        blobs = file_rows.blob_layout(plan.target)
        common: dict[str, Any] = {
            "user_metadata": plan.user_metadata,
            "max_commit_retries": self._lh.settings.max_commit_retries,
            "blobs": blobs,
        }
        if isinstance(incoming, pa.Table):
            rows = _arrow.conform_table(incoming, plan.target)
            if plan.mode == "upsert":
                _check_keys(rows, list(plan.keys), self.name)
        else:
            rows = _arrow.conform_reader(incoming, plan.target)
        written: storage.Snapshot | None = None
        if plan.merges and isinstance(rows, pa.Table) and (rows.num_rows or deleted):
            storage.merge(
                self.path,
                rows,
                key=list(plan.keys),
                merge_schema=plan.schema_mode == "merge",
                deleted=deleted,
                **common,
            )
        else:
            # An empty upsert is committed as an empty append: delta-rs commits nothing for an empty merge,
            # and every write is a version.
            configuration = table_properties(self._lh.settings, change_data_feed=True)
            if blobs is not None:
                configuration.update(file_rows.FILE_TABLE_PROPERTIES)
            written = storage.write(
                self.path,
                rows,
                mode=plan.commit_mode,
                schema_mode=plan.evolution,
                partition_by=plan.partition_columns or None,
                configuration=configuration,
                loaded=loaded,
                **common,
            )
        version = self.find_write(plan.write_id)
        if written is not None and written.version == version:  # saves loading the new version again
            _remember_snapshot(self.path, version, self._commit(version).timestamp, written)
        if plan.creating:
            self.register(plan.user_metadata)
        return self.version(version)

    def find_write(self, wanted: str) -> int:
        """The version the write with ``write_id`` landed at (other writers may have committed after it).

        Also used by the Spark writer, whose commits carry the same ``userMetadata`` convention.
        """
        for limit in (10, 1000, None):
            for commit in storage.history(self.path, limit=limit):
                if write_id(commit) == wanted:
                    return commit.version
        msg = f"write to {self.name!r} committed but its version could not be found in the log"
        raise LakehouseError(msg)

    def register(self, user_metadata: Mapping[str, Any]) -> None:
        """Record the dataset's creation in the datasets catalog (called by whichever engine created it)."""
        try:
            datasets_catalog.record(
                self._lh.layout,
                self._lh.settings,
                self.name,
                "created",
                self._lh.actor,
                created_by=user_metadata.get("created_by"),
                description=user_metadata.get("description"),
            )
        except LakehouseError as e:  # the dataset itself is written; the catalog is a convenience
            warnings.warn(f"dataset {self.name!r} was created but not registered: {e}", stacklevel=3)

    # --- reading -----------------------------------------------------------------------------------------

    def scan(self, version: Selector = None, *, tag: str | None = None, as_of: datetime | None = None) -> pl.LazyFrame:
        """A lazy polars scan of one version (latest by default); filters are pushed down to the files."""
        return self._scan(*self._locate(version, tag=tag, as_of=as_of))

    def _scan(self, number: int, latest: int, *, check_files: bool = True) -> pl.LazyFrame:
        try:
            # The latest version's files are never vacuumed; an older one's are checked so a removed file
            # gives a clear error here rather than an engine error when the frame is collected.
            return storage.scan(self.path, number, check_files=check_files and number != latest)
        except VersionNotFound as e:
            raise self._unreadable(number, e.args[0]) from e

    def _unreadable(self, number: int, why: str) -> VersionNotFound:
        msg = (
            f"version {number} of dataset {self.name!r} is no longer readable: {why} "
            "(tagged versions and versions used by runs are always kept)"
        )
        return VersionNotFound(msg)

    def read(
        self,
        version: Selector = None,
        *,
        tag: str | None = None,
        as_of: datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Read one version (latest by default) into a polars DataFrame."""
        number, latest = self._locate(version, tag=tag, as_of=as_of)
        # Files are only checked if reading fails: no per-file check on the happy path.
        frame = self._scan(number, latest, check_files=False)
        if columns:
            write_plan.check_columns(columns, frame.collect_schema().names(), "column")
            frame = frame.select(columns)
        try:
            return frame.collect()
        except Exception as e:  # a file vacuum removed surfaces as an engine error of any type
            missing = storage.missing_files(self.path, number) if number != latest else []
            if missing:
                verb = "was" if len(missing) == 1 else "were"
                raise self._unreadable(number, f"{len(missing)} of its data files {verb} removed by vacuum") from e
            raise

    def schema(self, version: Selector = None) -> pa.Schema:
        return storage.arrow_schema(self.path, self.resolve(version))

    def history(self, limit: int | None = None) -> list[DatasetVersion]:
        """Versions newest first (at most ``limit``)."""
        self._require()
        commits = storage.history(self.path, limit=limit)
        return [self._version_from(c) for c in commits]

    def version(self, version: Selector = None) -> DatasetVersion:
        """The :class:`DatasetVersion` a selector names (latest by default)."""
        return self._version_from(self._commit(self.resolve(version)))

    def _version_from(self, commit: storage.Commit) -> DatasetVersion:
        snap = _snapshot(self.path, commit.version, commit.timestamp)
        previous = None
        if commit.version > 0:
            before = self._commit_time(commit.version - 1)
            previous = _snapshot(self.path, commit.version - 1, before) if before else None
        return make_version(self.name, commit, snap, previous)

    def info(self) -> DatasetInfo:
        """A summary for listings: latest version, rows, and who changed the data last and when.

        Maintenance commits (vacuum, optimize, property changes) are versions too, but the "updated" time
        and "last writer" come from the newest version that changed data.
        """
        self._require()
        commits = storage.history(self.path, limit=_INFO_LOOKBACK)
        if not any(is_data_change(c) for c in commits):
            commits = storage.history(self.path)
        last = next((c for c in commits if is_data_change(c)), commits[-1])
        changed = self._version_from(last)
        described = next((c for c in commits if c.user_metadata.get("description")), None)
        return DatasetInfo(
            name=self.name,
            latest_version=commits[0].version,
            num_rows=changed.num_rows,
            updated_at=changed.created_at,
            last_writer=changed.created_by,
            description=str(described.user_metadata["description"]) if described else None,
            tags=self.tags(),
        )

    def _commit_time(self, version: int) -> datetime | None:
        try:
            return self._commit(version).timestamp
        except VersionNotFound:
            return None

    # --- files (file datasets: lakehouse.datasets.files) --------------------------------------------------

    def add_files(
        self,
        folder: str | Path,
        *,
        pattern: str = "**/*",
        labels: file_rows.Labels = None,
        created_by: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        labelled_by: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> DatasetVersion:
        """Add the files of ``folder`` matching ``pattern`` as a new version (a file replaces one at its path).

        Args:
            folder: a local folder; symbolic links are followed only when they stay inside it.
            pattern: a glob over paths relative to ``folder`` (``**/*.png``, ``cats/*``).
            labels: a function of the relative path (returning a label, stored as ``label``, or a mapping of
                columns), a CSV/Parquet sidecar with a ``path`` column, or a polars DataFrame like one.
            progress: called with 1 per file read.

        Raises:
            InvalidArgument: a missing folder, a link leaving it, a name that is not UTF-8, an unreadable file,
                labels naming paths that are not files of the folder. Nothing is written.
        """
        root = folders.check_folder(folder)
        listing = folders.list_folder(root, pattern=pattern)
        if not listing:
            msg = f"folder {str(folder)!r} has no files matching {pattern!r}; nothing was written"
            raise InvalidArgument(msg)
        label_frame = file_rows.resolve_labels(labels, listing, root)
        asked = self._files_request(created_by, metadata, description, labelled_by)
        existing = set(self._file_listing(None).get_column("path").to_list()) if self.exists() else set()
        planned = file_rows.plan_add(
            listing,
            label_frame,
            inline_limit=self._lh.settings.inline_file_bytes,
            existing=existing,
            progress=progress,
        )
        return self._commit_files(asked, planned)

    def sync_files(
        self,
        folder: str | Path,
        *,
        pattern: str = "**/*",
        labels: file_rows.Labels = None,
        created_by: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        labelled_by: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> DatasetVersion | None:
        """Make the next version equal the folder: new files added, changed replaced, deleted removed.

        Only changed rows are written, in one commit. Files whose size and modification time equal the last
        version's are not read. Returns None (and writes nothing) when the folder is unchanged. Arguments and
        errors as :meth:`add_files`; the first sync of a new dataset is an add.
        """
        root = folders.check_folder(folder)
        listing = folders.list_folder(root, pattern=pattern)
        label_frame = file_rows.resolve_labels(labels, listing, root)
        asked = self._files_request(created_by, metadata, description, labelled_by)
        limit = self._lh.settings.inline_file_bytes
        if not self.exists():
            if not listing:
                msg = f"folder {str(folder)!r} has no files matching {pattern!r}; nothing was written"
                raise InvalidArgument(msg)
            planned = file_rows.plan_add(listing, label_frame, inline_limit=limit, existing=set(), progress=progress)
        else:
            previous = self._file_listing(None)
            planned = file_rows.plan_sync(listing, label_frame, previous, inline_limit=limit, progress=progress)
            if planned.is_empty:
                return None
        return self._commit_files(asked, planned)

    def _files_request(
        self,
        created_by: str | None,
        metadata: Mapping[str, Any] | None,
        description: str | None,
        labelled_by: str | None,
    ) -> write_plan.WriteRequest:
        return write_plan.request(
            self.name,
            mode="upsert",
            key=file_rows.KEY,
            schema_mode="merge",
            metadata=metadata,
            created_by=created_by,
            actor=self._lh.actor,
            description=description,
            labelled_by=labelled_by,
        )

    def _commit_files(self, asked: write_plan.WriteRequest, planned: file_rows.FileRows) -> DatasetVersion:
        """Store the large files, then commit the rows (and removals) as one version."""
        file_rows.store_large(self._lh.layout.objects, planned.large, planned.rows)
        schema = _arrow.canonical_schema(planned.rows.schema)
        for attempt in range(write_plan.CREATE_ATTEMPTS):
            try:
                return self._write_once(asked, planned.rows, schema, deleted=planned.removed)
            except CommitConflict:
                if not write_plan.replan_after_lost_create(attempt, exists=self.exists()):
                    raise
        msg = "unreachable"
        raise AssertionError(msg)  # pragma: no cover

    def _require_files(self, number: int) -> None:
        if not file_rows.is_file_schema(storage.arrow_schema(self.path, number)):
            msg = f"dataset {self.name!r} is not a file dataset (it has no path/content/object/sha256 columns)"
            raise InvalidArgument(msg)

    def _file_listing(self, version: Selector) -> pl.DataFrame:
        number, latest = self._locate(version)
        self._require_files(number)
        return file_rows.listing(self._scan(number, latest))

    def files(self, version: Selector = None, *, tag: str | None = None, as_of: datetime | None = None) -> pl.DataFrame:
        """The files of a version (latest by default) as a frame, sorted by path; no file bytes are read."""
        number, latest = self._locate(version, tag=tag, as_of=as_of)
        self._require_files(number)
        return file_rows.listing(self._scan(number, latest))

    def read_file(self, path: str, version: Selector = None) -> bytes:
        """The bytes of the file at ``path`` in a version, verified against its sha256."""
        number, latest = self._locate(version)
        self._require_files(number)
        row = file_rows.find_row(self._scan(number, latest), path, dataset=self.name, version=number)
        return file_rows.read_row_bytes(self._lh.layout.objects, row, dataset=self.name)

    def open_file(self, path: str, version: Selector = None) -> io.BufferedIOBase:
        """A binary reader of the file at ``path`` in a version (verified before it is returned)."""
        return io.BytesIO(self.read_file(path, version))

    def download(
        self,
        dest: str | Path,
        *,
        ref: Selector = None,
        overwrite: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> file_rows.DownloadReport:
        """Write the exact files of a version (latest by default) under the local folder ``dest``.

        Every file is verified against its sha256 before it is written. Files already in ``dest`` with the
        right digest are skipped. ``dest`` holding other files at the same paths is refused unless
        ``overwrite=True``; nothing is ever written outside ``dest``. An empty ``dest`` holds the marker
        ``.lakehouse-download`` while files are written straight under their names; a download killed midway
        leaves it, and running the same download again finishes the job (docs/DATASETS.md, "Downloads").

        Raises:
            InvalidArgument: ``dest`` is a file, or holds conflicting files and ``overwrite`` is False.
            StorageError: ``dest`` cannot be written. CorruptObject: a stored file does not match its digest.
        """
        number, latest = self._locate(ref)
        self._require_files(number)
        scan = self._scan(number, latest)
        fileset = storage.files_at(self.path, number)
        plain = fileset.plain_parquet and not fileset.partition_columns
        return file_rows.download(
            self._lh.layout.objects,
            scan,
            [f.path for f in fileset.files] if plain else None,
            file_rows.listing(scan),
            dest,
            overwrite=overwrite,
            dataset=self.name,
            version=number,
            progress=progress,
        )

    # --- tags --------------------------------------------------------------------------------------------

    def tags(self) -> dict[str, int]:
        """Live tags: ``{tag: version}``."""
        return dict(sorted(tag_store.read_state(self._lh.layout, self.name).live().items()))

    def tag_history(self, tag: str | None = None) -> list[tag_store.TagEvent]:
        """Every change of this dataset's tags (or of one tag), oldest first: who, when, from, to."""
        return tag_store.history(self._lh.layout, self.name, tag)

    def tag(self, tag: str, version: Selector = None, *, force: bool = False) -> tag_store.TagEvent:
        """Point ``tag`` at ``version`` (latest by default). Moving an existing tag needs ``force=True``."""
        validate_tag(tag)
        number, latest = self._locate(version)
        if number != latest and storage.missing_files(self.path, number):
            msg = f"cannot tag version {number} of {self.name!r}: its files were removed by vacuum"
            raise VersionNotFound(msg)
        for _ in range(_TAG_ATTEMPTS):
            state = tag_store.read_state(self._lh.layout, self.name)
            current = state.latest(tag)
            live = current is not None and current.event != "deleted"
            if live and current is not None and current.version == number:
                return current
            if live and not force and current is not None:
                msg = (
                    f"tag {tag!r} of dataset {self.name!r} already points at version {current.version}; "
                    f"pass force=True (--force) to move it to version {number}"
                )
                raise TagExists(msg)
            try:
                event = tag_store.commit_event(
                    self._lh.layout,
                    self._lh.settings,
                    state,
                    dataset=self.name,
                    tag=tag,
                    event="moved" if live else "set",
                    version=number,
                    actor=self._lh.actor,
                )
            except CommitConflict:
                continue  # someone changed this tag meanwhile: re-read and decide again
            self._protect_log(number)
            return event
        msg = f"could not set tag {tag!r} of {self.name!r}: it kept changing under concurrent writers"
        raise CommitConflict(msg)

    def untag(self, tag: str) -> tag_store.TagEvent:
        """Delete ``tag`` (its history is kept)."""
        validate_name(tag, kind="tag")
        self._require()
        for _ in range(_TAG_ATTEMPTS):
            state = tag_store.read_state(self._lh.layout, self.name)
            current = state.latest(tag)
            if current is None or current.event == "deleted":
                msg = f"dataset {self.name!r} has no tag {tag!r}{closest(tag, state.live())}"
                raise TagNotFound(msg)
            try:
                return tag_store.commit_event(
                    self._lh.layout,
                    self._lh.settings,
                    state,
                    dataset=self.name,
                    tag=tag,
                    event="deleted",
                    version=None,
                    actor=self._lh.actor,
                )
            except CommitConflict:
                continue
        msg = f"could not delete tag {tag!r} of {self.name!r}: it kept changing under concurrent writers"
        raise CommitConflict(msg)

    # --- diff --------------------------------------------------------------------------------------------

    def diff(
        self,
        a: Selector,
        b: Selector = None,
        *,
        key: str | Sequence[str] | None = None,
        method: Literal["auto", "cdf", "join"] = "auto",
    ) -> diffing.DatasetDiff:
        """Rows added, removed and (with ``key``) changed going from version ``a`` to ``b`` (latest).

        ``method="auto"`` uses the change data feed when it covers the range and reads both versions
        otherwise; ``"cdf"`` and ``"join"`` force one strategy (both give identical results).
        """
        if method not in ("auto", "cdf", "join"):
            msg = f"method must be 'auto', 'cdf' or 'join'; got {method!r}"
            raise InvalidArgument(msg)
        (va, latest), (vb, _) = self._locate(a), self._locate(b)
        old, new = self._scan(va, latest), self._scan(vb, latest)  # refuses versions whose files were vacuumed
        arrow_a, arrow_b = storage.arrow_schema(self.path, va), storage.arrow_schema(self.path, vb)
        if file_rows.is_file_schema(arrow_a) and file_rows.is_file_schema(arrow_b):
            return self._diff_files(va, vb, old, new, arrow_a, arrow_b, key)
        types_a, types_b = ({f.name: str(f.type) for f in s} for s in (arrow_a, arrow_b))
        keys = diffing.check_key(key, types_a, types_b) if key is not None else None
        changes = tuple(schemas.compare(arrow_a, arrow_b))
        net: tuple[pl.DataFrame, pl.DataFrame] | None = None
        used: diffing.Method = "join"
        if method != "join":
            net = self._net_from_changes(va, vb, new.collect_schema(), keys) if va < vb and not changes else None
            used = "cdf"
            if net is None and method == "cdf":
                msg = (
                    f"the change data feed of {self.name!r} cannot diff version {va} against {vb}: it needs an older "
                    "version first, the same schema throughout, and change files vacuum has not removed; "
                    "use method='join' or 'auto'"
                )
                raise InvalidArgument(msg)
        if net is None:
            used = "join"
            net = diffing.net_rows(old.collect(), new.collect(), ordered=keys is None)
        added, removed = net
        if keys:
            added, removed, changed = diffing.pair_by_key(added, removed, keys, va, vb)
        else:
            changed = diffing.empty_changed(added)
        return diffing.DatasetDiff(self.name, va, vb, keys, changes, added, removed, changed, used)

    def _diff_files(
        self,
        va: int,
        vb: int,
        old: pl.LazyFrame,
        new: pl.LazyFrame,
        arrow_a: pa.Schema,
        arrow_b: pa.Schema,
        key: str | Sequence[str] | None,
    ) -> diffing.DatasetDiff:
        """The diff of two versions of a file dataset: by ``path``, files compared by digest, no bytes read."""
        listed_a = arrow_a.remove(arrow_a.get_field_index(file_rows.CONTENT))
        listed_b = arrow_b.remove(arrow_b.get_field_index(file_rows.CONTENT))
        types_a, types_b = ({f.name: str(f.type) for f in s} for s in (listed_a, listed_b))
        keys = diffing.check_key(key if key is not None else file_rows.KEY, types_a, types_b)
        added, removed = diffing.net_rows(file_rows.listing(old), file_rows.listing(new), ordered=False)
        added, removed, changed = diffing.pair_by_key(added, removed, keys, va, vb)
        changes = tuple(schemas.compare(listed_a, listed_b))
        return diffing.DatasetDiff(self.name, va, vb, keys, changes, added, removed, changed, "join")

    def _net_from_changes(
        self, a: int, b: int, schema: pl.Schema, keys: tuple[str, ...] | None
    ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Net rows from the change data feed of ``a+1..b``, or None where the feed cannot be trusted."""
        if not self._feed_covers(a, b):
            return None
        try:
            raw = storage.changes(self.path, a + 1, b)
        except LakehouseError:
            return None  # e.g. change files removed by vacuum: read both versions instead
        frame = pl.from_arrow(raw)
        assert isinstance(frame, pl.DataFrame)
        columns = list(schema.names())
        # The feed may use other physical types (string views, ms timestamps): compare in the table's types.
        frame = frame.with_columns([pl.col(c).cast(t) for c, t in schema.items()])
        return diffing.net_rows_from_changes(frame, columns, ordered=keys is None)

    def _feed_covers(self, a: int, b: int) -> bool:
        """True if every commit in ``a+1..b`` kept the change feed on and the schema as it was."""
        if storage.properties_at(self.path, a).get(_CDF, "false").lower() != "true":
            return False
        expected = storage.arrow_schema(self.path, a)
        latest = storage.latest_version(self.path)
        for commit in storage.history(self.path, limit=latest - a):
            if not a < commit.version <= b:
                continue
            section = commit.user_metadata.get(SECTION)
            if isinstance(section, Mapping) and "schema_changes" in section:
                if section["schema_changes"] or section.get("schema_mode") == "overwrite":
                    return False
                continue  # a lakehouse write that recorded no schema change
            if commit.operation.upper() in _MAINTENANCE:
                continue  # rewrites or deletes files without changing rows or schema
            # Another engine's commit: look at the version itself.
            if storage.properties_at(self.path, commit.version).get(_CDF, "false").lower() != "true":
                return False
            if not storage.arrow_schema(self.path, commit.version).equals(expected):
                return False
        return True

    # --- retention ---------------------------------------------------------------------------------------

    def pinned_versions(self) -> dict[int, list[str]]:
        """Versions vacuum must keep readable, with why: ``{version: ["tag:prod", "run"]}``."""
        self._require()
        pins: dict[int, list[str]] = {}
        for tag, version in self.tags().items():
            pins.setdefault(version, []).append(f"tag:{tag}")
        for version in retention.used_versions(self._lh.layout, self.name):
            pins.setdefault(version, []).append("run")
        return dict(sorted(pins.items()))

    def vacuum(self, *, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        """Delete data files no version still needs, except those of pinned versions; returns the files.

        ``retention_hours`` (default from settings, 168) protects files removed recently, so readers of
        unpinned older versions keep working for that long. Tagged versions and versions used by runs stay
        readable regardless. What a killed Spark write left (its ``part-<id>/_temporary/`` staging folder) goes
        too, once as old as the retention.
        """
        hours = retention.vacuum_hours(self._lh.settings, retention_hours)
        pins = self.pinned_versions()
        if pins:
            self._protect_log(min(pins))
        removed = storage.vacuum(self.path, retention_hours=hours, dry_run=dry_run, keep_versions=list(pins))
        return removed + spark_leftovers.remove_leftovers(self.path, retention_hours=hours, dry_run=dry_run)

    def _protect_log(self, version: int) -> None:
        retention.ensure_log_covers(str(self.path), self._commit(version).timestamp)


def _check_keys(rows: pa.Table, keys: list[str], name: str) -> None:
    frame = pl.from_arrow(rows.select(keys))
    assert isinstance(frame, pl.DataFrame)
    nulls = [k for k in keys if frame.get_column(k).null_count()]
    if nulls:
        msg = f"upsert into {name!r}: key column(s) {nulls} contain nulls; every row needs a key"
        raise InvalidData(msg)
    dup = frame.group_by(keys).len().filter(pl.col("len") > 1)
    if dup.height:
        msg = (
            f"upsert into {name!r}: {dup.height} key(s) appear more than once in the input, "
            f"e.g. {dup.drop('len').head(3).to_dicts()}; each key may appear once"
        )
        raise InvalidData(msg)


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


__all__ = ["Dataset", "DatasetVersion", "default_actor"]
