"""File datasets: a dataset whose rows are files (see docs/DATASETS.md, "File datasets").

A file dataset is an ordinary dataset with a fixed set of leading columns (:data:`FILE_COLUMNS`) keyed by
``path``: versions, tags, time travel, history, retention and lineage work on it unchanged. Small files are
stored inline in ``content``; a file larger than ``Settings.inline_file_bytes`` goes to the object store and its
row holds the digest in ``object`` (``content`` is then null). Readers never see the difference: every read
goes through :func:`read_row_bytes`, which verifies the sha256 of either.

A write of files is planned here and executed by :class:`~lakehouse.datasets.dataset.Dataset` through the one
write plan (``upsert`` by ``path``, schema ``merge`` so new label columns may appear, plus the paths a sync
removes). The protocol of an add or a sync, and what each step guarantees:

1. the folder is listed and checked (:mod:`lakehouse.datasets.folder`); the labels are resolved and checked
   against the listing. Any bad input raises here: nothing read, nothing written.
2. a sync compares the listing with the last version's (no bytes read): files whose size and modification time
   match are taken as unchanged without being read (DVC's state cache, kept in the table itself).
3. the remaining files are read and hashed; every unreadable file raises here: still nothing written.
4. only then are the large files put into the object store (each put is atomic and verified), and the rows
   committed as one version. Objects stored by a write whose commit then fails are unreferenced and go with the
   next object vacuum once older than the retention.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pyarrow as pa

from lakehouse import _buffers, _gc, storage
from lakehouse.catalog import datasets_catalog
from lakehouse.catalog.layout import Layout
from lakehouse.datasets import folder as folders
from lakehouse.datasets.folder import FolderFile
from lakehouse.errors import CorruptObject, InvalidArgument, InvalidData, NotFound, StorageError
from lakehouse.fileio import check_relative
from lakehouse.objects import ObjectStore, file_digest
from lakehouse.storage import BlobLayout

#: The columns every file dataset starts with, in this order; labels and user columns follow.
FILE_COLUMNS = pa.schema(
    [
        pa.field("path", pa.string()),
        pa.field("content", pa.binary()),
        pa.field("object", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("media_type", pa.string()),
        pa.field("modified", pa.timestamp("us", tz="UTC")),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("duration", pa.float64()),
    ]
)
KEY = "path"
CONTENT = "content"
#: Rows per Parquet row group for blobs (what Hugging Face uses for image datasets): a reader of one file
#: reads one small row group, and no page holds more than a few hundred files.
BLOB_ROW_GROUP = 100
#: The columns Delta keeps min/max statistics for: never the bytes, or every log entry would carry them.
STATS_COLUMNS = ("path", "size", "sha256", "media_type", "modified", "width", "height", "duration")
#: Table properties a file dataset is created with, on top of every dataset's.
FILE_TABLE_PROPERTIES = {"delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS)}
#: The listing's columns: everything but the bytes.
_LISTING_EXCLUDES = (CONTENT,)
#: Inline bytes per Arrow batch: far below the 2 GB a binary array can address.
_BATCH_BYTES = 256 << 20
#: Files read between two progress reports.
_READ_CHUNK = 256
#: Threads writing a download's files. Small files are bound by system calls and hashing, both outside the
#: GIL, but every call hands the GIL over: on two cores, 100,000 files took 5.0–5.3 s on two threads, 6.5 s on
#: one and 7.3 s on eight (docs/BENCHMARKS.md, 2026-12-07).
_WRITERS = 2
#: Rows a download has in flight at most (a few row groups): memory stays bounded by it.
_WRITE_CHUNK = 1000
#: Rows a writer thread takes at a time.
_WRITE_RUN = 50
#: The file an empty destination holds while a download writes straight into it (see :func:`download`).
MARKER = ".lakehouse-download"
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

#: A labeller: a function of the relative path returning a label (column ``label``) or a mapping of columns.
Labeller = Callable[[str], Any]
Labels = Labeller | str | Path | pl.DataFrame | None


def is_file_schema(schema: pa.Schema) -> bool:
    """True if a table with ``schema`` is a file dataset (it has the file columns)."""
    return all(name in schema.names for name in ("path", "content", "object", "sha256", "size"))


def blob_layout(schema: pa.Schema) -> BlobLayout | None:
    """How a table of ``schema`` is written: the blob layout for a file dataset, else None (the defaults)."""
    return BlobLayout(CONTENT, BLOB_ROW_GROUP) if is_file_schema(schema) else None


@dataclass(frozen=True)
class FileRows:
    """What a write of files commits: the rows to upsert, the paths to remove, the objects to store first."""

    rows: pa.Table
    removed: tuple[str, ...] = ()
    large: tuple[FolderFile, ...] = field(default=(), repr=False)
    added: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return self.rows.num_rows == 0 and not self.removed


def referenced_digests(layout: Layout) -> set[str]:
    """Digests of every object a file dataset's data files refer to (what object vacuum must keep).

    Every data file still on disk counts, so the objects of every version that is still readable stay; they
    become unreferenced once dataset vacuum has deleted the last data file naming them.
    """
    found: set[str] = set()
    for name in datasets_catalog.dataset_names(layout):
        found.update(str(d) for d in storage.values_in_data_files(layout.dataset(name), "object"))
    return found


# --- labels -------------------------------------------------------------------------------------------------


def resolve_labels(labels: Labels, listing: Sequence[FolderFile], folder: Path) -> pl.DataFrame | None:
    """The label columns of every listed file as a frame keyed by ``path`` (None without labels).

    Raises:
        InvalidArgument: a sidecar path that is absolute, has ``..`` or is not among the folder's files; a
            labeller that fails or returns something other than a scalar or a mapping; a label column that is
            one of the file columns.
    """
    if labels is None:
        return None
    paths = [f.path for f in listing]
    if callable(labels):
        frame = _call_labeller(labels, paths)
    else:
        given: object = _sidecar(labels) if isinstance(labels, str | Path) else labels
        if not isinstance(given, pl.DataFrame):
            msg = f"labels must be a function of the path, a CSV/Parquet sidecar or a polars DataFrame, got {labels!r}"
            raise InvalidArgument(msg)
        frame = _check_sidecar(given, set(paths), folder)
    clash = sorted(set(frame.columns) & set(FILE_COLUMNS.names) - {KEY})
    if clash:
        msg = f"label column(s) {clash} are file dataset columns; name them otherwise"
        raise InvalidArgument(msg)
    return frame


def _call_labeller(labeller: Labeller, paths: Sequence[str]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for path in paths:
        try:
            value = labeller(path)
        except Exception as e:  # the user's function: its error is reported with the path it failed on
            msg = f"the labels function failed on {path!r}: {type(e).__name__}: {e}"
            raise InvalidArgument(msg) from e
        if isinstance(value, Mapping):
            rows.append({KEY: path, **{str(k): v for k, v in value.items()}})
        elif value is None or isinstance(value, str | int | float | bool):
            rows.append({KEY: path, "label": value})
        else:
            msg = f"the labels function returned {type(value).__name__} for {path!r}; return a scalar or a mapping"
            raise InvalidArgument(msg)
    try:
        return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame({KEY: []}, {KEY: pl.Utf8})
    except (pl.exceptions.PolarsError, TypeError, ValueError) as e:
        msg = f"the labels function returned values that do not make columns: {e}"
        raise InvalidArgument(msg) from e


def _sidecar(source: str | Path) -> pl.DataFrame:
    path = Path(source)
    suffix = path.suffix.lower()
    if not path.is_file():
        msg = f"labels sidecar {str(source)!r} does not exist or is not a file"
        raise InvalidArgument(msg)
    try:
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema_length=10_000)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as e:
        msg = f"cannot read labels sidecar {str(source)!r}: {e}"
        raise InvalidArgument(msg) from e
    msg = f"labels sidecar {str(source)!r} must be a .csv or .parquet file"
    raise InvalidArgument(msg)


def _check_sidecar(frame: pl.DataFrame, paths: set[str], folder: Path) -> pl.DataFrame:
    if KEY not in frame.columns:
        msg = f"the labels have no {KEY!r} column; columns are {frame.columns}"
        raise InvalidArgument(msg)
    frame = frame.with_columns(pl.col(KEY).cast(pl.Utf8))
    for value in frame.get_column(KEY).to_list():
        if value is None or value.startswith("/"):
            msg = f"labels path {value!r} must be relative to the folder"
            raise InvalidArgument(msg)
        check_relative(value)
    repeated = frame.group_by(KEY).len().filter(pl.col("len") > 1).get_column(KEY).to_list()
    if repeated:
        msg = f"labels give path {sorted(repeated)[0]!r} more than once"
        raise InvalidArgument(msg)
    unknown = sorted(set(frame.get_column(KEY).to_list()) - paths)
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        msg = f"labels name {unknown[0]!r}{more}, which is not a file of {str(folder)!r}"
        raise InvalidArgument(msg)
    return frame


# --- rows ---------------------------------------------------------------------------------------------------


class _Read(NamedTuple):  # a tuple: one is made per file of a folder
    file: FolderFile
    block: bytearray | None  # the buffer holding the bytes, at ``offset``; None: a large file (an object)
    offset: int
    sha256: str
    probe: folders.Probe

    @property
    def content(self) -> memoryview | None:
        if self.block is None:
            return None
        return memoryview(self.block)[self.offset : self.offset + self.file.size]


def read_files(
    files: Sequence[FolderFile], *, inline_limit: int, progress: Callable[[int], None] | None
) -> list[_Read]:
    """Read and hash ``files`` (small ones into memory, large ones streamed): every read error raises here.

    Small files are read in order into blocks of at most :data:`_BATCH_BYTES`, laid end to end, each block
    becoming the data buffer of an Arrow column without a copy (:func:`build_rows`). A bytes object per file,
    joined afterwards, cost 0.5 s more for 100,000 files (the join, and the memory touched twice).

    One thread reads them all. Reader threads were measured slower, not faster: with the files in the page
    cache a small file's read is a few microseconds of system call, and eight threads handing the GIL to each
    other around every call doubled the add's time (system time 4 s → 11–15 s for 100,000 files); with the
    cache dropped they were no faster (docs/BENCHMARKS.md, "One reader").
    """
    out: list[_Read] = []
    done = 0
    with _gc.paused():
        for group in _blocks(files, inline_limit):
            block = bytearray(sum(f.size for f in group if f.size <= inline_limit))
            whole = memoryview(block)
            offset = 0
            for f in group:
                if f.size > inline_limit:  # streamed into its digest; stored as an object
                    out.append(_Read(f, None, 0, file_digest(f.local), folders.probe(f.path, local=f.local)))
                else:
                    view = whole[offset : offset + f.size]
                    folders.read_into(f, view)
                    out.append(_Read(f, block, offset, folders.digest(view), folders.probe(f.path, data=view)))
                    offset += f.size
                done += 1
                if progress is not None and done % _READ_CHUNK == 0:
                    progress(_READ_CHUNK)
    if progress is not None and done % _READ_CHUNK:
        progress(done % _READ_CHUNK)
    return out


def _blocks(files: Sequence[FolderFile], inline_limit: int) -> Iterator[Sequence[FolderFile]]:
    """``files`` in order, in groups whose small files share one block, cut as :func:`build_rows` cuts its
    batches: so each batch of an add is one block, end to end."""
    for run in _cuts([0 if f.size > inline_limit else f.size for f in files]):
        yield files[run.start : run.stop]


def _cuts(sizes: Sequence[int]) -> Iterator[range]:
    """Consecutive runs of ``sizes`` of at most :data:`_BATCH_BYTES` each (or one value alone, if larger): the
    rule both the reader's blocks and the rows' batches follow (a large file, stored as an object, weighs 0)."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > _BATCH_BYTES:
            yield range(start, i)
            start, total = i, 0
        total += size
    if start < len(sizes):
        yield range(start, len(sizes))


def build_rows(read: Sequence[_Read], labels: pl.DataFrame | None) -> pa.Table:
    """The Arrow rows of ``read`` (file columns, then labels), in batches far below 2 GB of bytes each."""
    sizes = [0 if r.block is None else r.file.size for r in read]
    batches = [_batch(read[run.start : run.stop]) for run in _cuts(sizes)]
    table = pa.Table.from_batches(batches, schema=FILE_COLUMNS)
    if labels is None or len(labels.columns) == 1:
        return table
    extra = labels.filter(pl.col(KEY).is_in(table.column(KEY).to_pylist()))
    keyed = pl.DataFrame({KEY: table.column(KEY).to_pylist()}, schema={KEY: pl.Utf8}).join(
        extra, on=KEY, how="left", maintain_order="left"
    )
    for name in keyed.columns[1:]:
        table = table.append_column(name, keyed.get_column(name).to_arrow())
    return table


def _batch(read: Sequence[_Read]) -> pa.RecordBatch:
    columns: dict[str, list[Any]] = {
        "path": [r.file.path for r in read],
        "object": [r.sha256 if r.block is None else None for r in read],
        "size": [r.file.size for r in read],
        "sha256": [r.sha256 for r in read],
        "media_type": [r.probe.media_type for r in read],
        # integer microseconds cast to the timestamp: a datetime object per file costs more than the whole row
        "modified": [r.file.mtime_us for r in read],
        "width": [r.probe.width for r in read],
        "height": [r.probe.height for r in read],
        "duration": [r.probe.duration for r in read],
    }
    arrays = [
        _content(read) if f.name == CONTENT else _buffers.converted(f.type, columns[f.name]) for f in FILE_COLUMNS
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=FILE_COLUMNS)


def _content(read: Sequence[_Read]) -> pa.Array:
    """The ``content`` column of ``read``: the block itself where it holds their bytes end to end."""
    joined = _end_to_end(read)
    if joined is None:
        return _buffers.binary([r.content for r in read])
    return _buffers.end_to_end([None if r.block is None else r.file.size for r in read], joined)


def _end_to_end(read: Sequence[_Read]) -> memoryview | None:
    """The bytes of the small files of ``read`` if one block holds them end to end, in order (what an add
    reads): that part of the block is the column's data as it is. None otherwise (a sync's changed files)."""
    small = [r for r in read if r.block is not None]
    block = small[0].block if small else None
    if block is None:
        return None
    start = offset = small[0].offset
    for r in small:
        if r.block is not block or r.offset != offset:
            return None
        offset += r.file.size
    return memoryview(block)[start:offset]


def plan_add(
    listing: Sequence[FolderFile],
    labels: pl.DataFrame | None,
    *,
    inline_limit: int,
    existing: set[str],
    progress: Callable[[int], None] | None = None,
) -> FileRows:
    """Every listed file as a row to upsert (``existing``: paths the dataset has, for the counts)."""
    read = read_files(listing, inline_limit=inline_limit, progress=progress)
    rows = build_rows(read, labels)
    changed = sum(1 for f in listing if f.path in existing)
    return FileRows(
        rows,
        large=tuple(r.file for r in read if r.block is None),
        added=len(listing) - changed,
        changed=changed,
    )


def plan_sync(
    listing: Sequence[FolderFile],
    labels: pl.DataFrame | None,
    previous: pl.DataFrame,
    *,
    inline_limit: int,
    progress: Callable[[int], None] | None = None,
) -> FileRows:
    """The rows that make the dataset equal the folder, given the last version's listing ``previous``.

    A file whose size and modification time equal its row's is unchanged and not read. A file that was read
    but hashes to its row's digest is rewritten only if its modification time (or, with ``labels``, a label)
    differs. Without ``labels``, a rewritten row keeps the label columns of its previous row.
    """
    # Which files differ from their row in size or modification time, and which rows lost their file: joins of
    # three plain columns, so an unchanged folder of 100,000 files is decided without a Python object per row.
    listed = pl.DataFrame(
        {KEY: [f.path for f in listing], "size": [f.size for f in listing], "mtime_us": [f.mtime_us for f in listing]},
        schema={KEY: pl.Utf8, "size": pl.Int64, "mtime_us": pl.Int64},
    )
    stamps = previous.select(KEY, "size", pl.col("modified").dt.epoch("us").alias("mtime_us"))
    unsure = set(listed.join(stamps, on=[KEY, "size", "mtime_us"], how="anti").get_column(KEY).to_list())
    new_paths = set(listed.join(stamps, on=KEY, how="anti").get_column(KEY).to_list())
    removed = tuple(sorted(stamps.join(listed, on=KEY, how="anti").get_column(KEY).to_list()))
    label_columns = [c for c in previous.columns if c not in FILE_COLUMNS.names]
    new_labels = _label_rows(labels)
    suspects = [f for f in listing if f.path in unsure]
    looked_up = previous if new_labels is not None else previous.filter(pl.col(KEY).is_in([f.path for f in suspects]))
    before = {row[KEY]: row for row in looked_up.iter_rows(named=True)}  # full rows: only those compared further
    relabelled: set[str] = set()
    if new_labels is not None:
        relabelled = {
            f.path
            for f in listing
            if f.path not in unsure and _labels_differ(before[f.path], new_labels.get(f.path, {}), label_columns)
        }
    read = read_files(suspects, inline_limit=inline_limit, progress=progress)
    written = [r for r in read if _differs(r, before.get(r.file.path), new_labels, label_columns)]
    if relabelled:  # content unchanged, labels changed: the row is rewritten from the folder
        by_path = {f.path: f for f in listing}
        written += read_files([by_path[p] for p in sorted(relabelled)], inline_limit=inline_limit, progress=None)
    written.sort(key=lambda r: r.file.path)
    if labels is None and label_columns:
        keep = previous.select([KEY, *label_columns]).filter(pl.col(KEY).is_in([r.file.path for r in written]))
        rows = build_rows(written, keep)
    else:
        rows = build_rows(written, labels)
    added = sum(1 for r in written if r.file.path in new_paths)
    return FileRows(
        rows,
        removed=removed,
        large=tuple(r.file for r in written if r.block is None),
        added=added,
        changed=len(written) - added,
        unchanged=len(listing) - len(written),
    )


def _label_rows(labels: pl.DataFrame | None) -> dict[str, dict[str, Any]] | None:
    if labels is None:
        return None
    return {row.pop(KEY): row for row in labels.iter_rows(named=True)}


def _labels_differ(old: Mapping[str, Any], new: Mapping[str, Any], columns: Sequence[str]) -> bool:
    names = set(columns) | set(new)
    return any(old.get(c) != new.get(c) for c in names)


def _differs(
    read: _Read, old: Mapping[str, Any] | None, labels: Mapping[str, Mapping[str, Any]] | None, columns: Sequence[str]
) -> bool:
    if old is None or old["sha256"] != read.sha256 or old["modified"] != read.file.modified:
        return True
    return labels is not None and _labels_differ(old, labels.get(read.file.path, {}), columns)


def store_large(store: ObjectStore, files: Sequence[FolderFile], rows: pa.Table) -> None:
    """Put the large files into the object store; each must still hash to the digest its row records."""
    digests = dict(zip(rows.column(KEY).to_pylist(), rows.column("sha256").to_pylist(), strict=True))
    for f in files:
        ref = store.put_file(f.local, expected=digests[f.path])  # an unchanged file is read, not copied again
        if ref.digest != digests[f.path]:
            msg = f"file {str(f.local)!r} changed while it was being added; nothing was written"
            raise InvalidArgument(msg)


# --- reading ------------------------------------------------------------------------------------------------


def listing(scan: pl.LazyFrame) -> pl.DataFrame:
    """The files of a version without their bytes: the ``content`` column is projected away, never read."""
    names = scan.collect_schema().names()
    return scan.select([c for c in names if c not in _LISTING_EXCLUDES]).sort(KEY).collect()


def find_row(scan: pl.LazyFrame, path: object, *, dataset: str, version: int) -> dict[str, Any]:
    """The row of ``path`` (with its bytes if inline); :class:`NotFound` naming the path otherwise."""
    if not isinstance(path, str):
        msg = f"a file path must be a string, got {path!r}"
        raise InvalidArgument(msg)
    rows = scan.filter(pl.col(KEY) == path).select([KEY, CONTENT, "object", "sha256", "size"]).collect()
    if rows.height == 0:
        msg = f"version {version} of file dataset {dataset!r} has no file {path!r}"
        raise NotFound(msg)
    return rows.row(0, named=True)


def read_row_bytes(store: ObjectStore, row: Mapping[str, Any], *, dataset: str) -> bytes:
    """The bytes of a file row, inline or from the object store, verified against its ``sha256``."""
    if row["object"] is not None:
        return store.read_bytes(row["object"])
    data = row[CONTENT]
    if data is None:
        msg = f"file {row[KEY]!r} of dataset {dataset!r} has neither inline bytes nor an object"
        raise InvalidData(msg)
    if folders.digest(data) != row["sha256"]:
        msg = f"file {row[KEY]!r} of dataset {dataset!r} is corrupt: its bytes do not hash to its sha256"
        raise CorruptObject(msg)
    return bytes(data)


def open_row(store: ObjectStore, row: Mapping[str, Any], *, dataset: str) -> io.BufferedIOBase:
    """A binary reader of a file row (verified before anything is returned)."""
    return io.BytesIO(read_row_bytes(store, row, dataset=dataset))


# --- download -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadReport:
    """What :func:`download` did: files written, files already there with the right digest, bytes written."""

    dest: str
    version: int
    written: int
    skipped: int
    bytes_written: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dest": self.dest,
            "version": self.version,
            "written": self.written,
            "skipped": self.skipped,
            "bytes_written": self.bytes_written,
        }


def target_path(dest: Path, path: str) -> Path:
    """Where ``path`` goes under ``dest``; :class:`InvalidData` if a stored path would leave it."""
    check_relative(path)
    target = (dest / path).resolve()
    if not target.is_relative_to(dest):
        msg = f"file path {path!r} would be written outside {str(dest)!r}; nothing was written"
        raise InvalidData(msg)
    return target


def check_dest(dest: str | Path) -> Path:
    """``dest`` resolved; :class:`InvalidArgument` if it exists and is not a folder."""
    path = Path(dest).expanduser()
    if path.exists() and not path.is_dir():
        msg = f"download destination {str(dest)!r} is not a folder"
        raise InvalidArgument(msg)
    return path.resolve()


def local_digest(path: Path) -> str | None:
    """The sha256 of the local file at ``path`` if it is a regular file, else None."""
    if not path.is_file():
        return None
    return file_digest(path)


def version_rows(
    data_files: Sequence[str] | None, scan: pl.LazyFrame, paths: Sequence[str]
) -> Iterator[dict[str, Any]]:
    """The rows of ``paths`` (bytes included), one row group at a time so memory stays bounded.

    ``data_files``: the version's Parquet files when they hold its rows as they are (one pass over them, a
    row group at a time); None: the rows are looked up through ``scan``, a few hundred paths at a time.
    """
    wanted = set(paths)
    columns = [KEY, CONTENT, "object", "sha256", "size"]
    if data_files is not None:
        for data_file in data_files:
            opened = storage.open_data_file(data_file)  # its footer parsed once, not once per row group
            for group in range(len(opened.row_groups)):
                table = opened.read_row_group(group, columns)
                for row in table.to_pylist():
                    if row[KEY] in wanted:
                        yield row
        return
    step = BLOB_ROW_GROUP * 4
    for start in range(0, len(paths), step):
        chunk = list(paths[start : start + step])
        yield from scan.filter(pl.col(KEY).is_in(chunk)).select(columns).collect().iter_rows(named=True)


def download(
    store: ObjectStore,
    scan: pl.LazyFrame,
    data_files: Sequence[str] | None,
    files: pl.DataFrame,
    dest: str | Path,
    *,
    overwrite: bool,
    dataset: str,
    version: int,
    progress: Callable[[int], None] | None,
) -> DownloadReport:
    """Materialise the files of one version under ``dest`` (see ``Dataset.download``).

    Every decision is taken before the first byte is written: where each file goes (never outside ``dest``),
    which files are there already with the right digest (skipped), and which conflict (refused without
    ``overwrite``). Every file's bytes are verified against its digest before it is written, by
    :data:`_WRITERS` threads at once (hashing and writing release the GIL). How a file is written depends on
    the destination:

    * empty (or new): :data:`MARKER` is created in it first, then each file is created under its own name
      (exclusively: nothing else can be there) and written; the marker goes once every file is written. A
      download killed midway leaves the marker, and perhaps a file cut short under its name;
    * holding the marker of an interrupted download of the same version: files with other bytes are the
      interrupted download's own and are replaced without ``overwrite``;
    * otherwise (or for the replacements above): each file is written to a hidden name beside its target and
      renamed over it, so a file appears (or is replaced) whole or not at all.
    """
    root = check_dest(dest)
    paths: list[str] = files.get_column(KEY).to_list()
    # An empty (or new) destination holds no links and no files: a checked relative path is its own target
    # there, without resolving each one on disk.
    fresh = _is_empty(root) and MARKER not in paths
    if fresh:  # every path checked before the marker is made: a bad one leaves the destination untouched
        targets = {path: os.path.join(root, check_relative(path)) for path in paths}
        fresh = _claim(root, dataset=dataset, version=version)
    resumed = False
    try:
        if fresh:
            todo, skipped = paths, 0
        else:
            resumed = _resumes(root, dataset=dataset, version=version) and MARKER not in paths
            todo, targets, skipped = _plan(
                root, paths, files.get_column("sha256").to_list(), overwrite=overwrite or resumed, progress=progress
            )
            _check_writable(root)
        written, written_bytes = _write_files(
            store,
            version_rows(data_files, scan, todo),
            {path: targets[path] for path in todo},
            create=fresh,
            dataset=dataset,
            progress=progress,
        )
        if resumed:
            (root / MARKER).unlink(missing_ok=True)  # the interrupted download is finished
    finally:
        if fresh:  # written in full, or stopped by an error that left no file cut short: the marker goes
            (root / MARKER).unlink(missing_ok=True)
    return DownloadReport(str(root), version, written, skipped, written_bytes)


def _plan(
    root: Path,
    paths: Sequence[str],
    digests: Sequence[str],
    *,
    overwrite: bool,
    progress: Callable[[int], None] | None,
) -> tuple[list[str], dict[str, str], int]:
    """The paths to write into the non-empty ``root``, their targets and how many are there already.

    Raises:
        InvalidArgument: a target is a folder, or (without ``overwrite``) holds other bytes.
        InvalidData: a stored path would leave ``root``.
    """
    todo: list[str] = []
    targets: dict[str, str] = {}
    conflicts: list[str] = []
    skipped = 0
    for path, sha in zip(paths, digests, strict=True):
        target = target_path(root, path)
        targets[path] = str(target)
        if not (target.exists() or target.is_symlink()):
            todo.append(path)
        elif local_digest(target) == sha:
            skipped += 1
            if progress is not None:
                progress(1)
        elif target.is_dir():
            msg = f"cannot download {path!r}: {str(target)!r} is a folder; nothing was written"
            raise InvalidArgument(msg)
        else:
            conflicts.append(path)
            todo.append(path)
    if conflicts and not overwrite:
        more = f" and {len(conflicts) - 1} more" if len(conflicts) > 1 else ""
        msg = (
            f"{str(root)!r} already holds {conflicts[0]!r}{more} with other content; pass overwrite=True "
            "(--overwrite) to replace them; nothing was written"
        )
        raise InvalidArgument(msg)
    return todo, targets, skipped


def _write_files(
    store: ObjectStore,
    rows: Iterator[dict[str, Any]],
    targets: Mapping[str, str],
    *,
    create: bool,
    dataset: str,
    progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    """Write ``rows`` to their ``targets`` (``create``: each target is new); the files and bytes written."""
    for parent in sorted({os.path.dirname(t) for t in targets.values()}):  # each folder made once, not per file
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            msg = f"cannot write {parent!r}: {e.strerror or e}"
            raise StorageError(msg) from e
    write_bytes = _create_verified if create else _write_verified

    def write(run: Sequence[dict[str, Any]]) -> int:
        total = 0
        for row in run:
            target = targets[row[KEY]]
            if row["object"] is not None:
                store.download(row["object"], target)
            else:
                write_bytes(target, read_row_bytes(store, row, dataset=dataset))
            total += int(row["size"])
        return total

    written = written_bytes = 0
    # Runs of rows per task (a task per small file cost more in the pool than writing the file), at most
    # _WRITE_CHUNK rows in flight (memory stays bounded), read from the table while earlier runs are written.
    in_flight: deque[tuple[int, Future[int]]] = deque()

    def finish_oldest() -> None:
        nonlocal written, written_bytes
        count, done = in_flight.popleft()
        written, written_bytes = written + count, written_bytes + done.result()
        if progress is not None:
            progress(count)

    with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="lakehouse-download") as pool:
        try:
            for run in _chunks(rows, _WRITE_RUN):
                if len(in_flight) * _WRITE_RUN >= _WRITE_CHUNK:
                    finish_oldest()
                in_flight.append((len(run), pool.submit(write, run)))
            while in_flight:
                finish_oldest()
        finally:  # after an error, runs not started yet are not started (running ones finish)
            for _, waiting in in_flight:
                waiting.cancel()
    return written, written_bytes


def _claim(root: Path, *, dataset: str, version: int) -> bool:
    """Create :data:`MARKER` in ``root`` (made if missing); False if another download holds it already.

    Raises:
        StorageError: ``root`` cannot be written (this is the writability check of an empty destination).
    """
    note = json.dumps({"dataset": dataset, "version": version}).encode()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o644)
    except FileExistsError:
        return False
    except OSError as e:
        msg = f"cannot write to download destination {str(root)!r}: {e.strerror or e}"
        raise StorageError(msg) from e
    try:
        os.write(fd, note)
    finally:
        os.close(fd)
    return True


def _resumes(root: Path, *, dataset: str, version: int) -> bool:
    """True if ``root`` holds the marker of an interrupted download of this very version."""
    try:
        note = json.loads((root / MARKER).read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(note, dict) and note == {"dataset": dataset, "version": version}


def _is_empty(folder: Path) -> bool:
    if not folder.exists():
        return True
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_writable(root: Path) -> None:
    """Refuse a destination this process may not write, before anything is written."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".lakehouse-", suffix=".probe"):
            pass
    except OSError as e:
        msg = f"cannot write to download destination {str(root)!r}: {e.strerror or e}"
        raise StorageError(msg) from e


def _write_verified(target: str, data: bytes) -> None:
    """Write ``data`` to a hidden name beside ``target`` and rename it over ``target``."""
    head, name = os.path.split(target)
    partial = os.path.join(head, f".{name}.{os.getpid()}.partial")
    try:
        _write_new(partial, data, exclusive=False)
        os.replace(partial, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        msg = f"cannot write {target!r}: {e.strerror or e}"
        raise StorageError(msg) from e


def _create_verified(target: str, data: bytes) -> None:
    """Create ``target``, which must not exist, with ``data``; a failed write leaves no file behind."""
    try:
        _write_new(target, data, exclusive=True)
    except FileExistsError as e:
        msg = f"cannot write {target!r}: another process created it during this download"
        raise StorageError(msg) from e
    except OSError as e:
        msg = f"cannot write {target!r}: {e.strerror or e}"
        raise StorageError(msg) from e


def _write_new(path: str, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to the file ``path`` (``exclusive``: it must not exist); on an error, the file is removed."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | _O_CLOEXEC | _O_BINARY
    fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
