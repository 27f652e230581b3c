"""Bulk ingestion of a folder of files into a file dataset with Spark's ``binaryFile`` source.

The rows are the ones :meth:`Dataset.add_files <lakehouse.datasets.dataset.Dataset.add_files>` writes (the
columns of :data:`lakehouse.datasets.files.FILE_COLUMNS`, the same card, an upsert by ``path`` through the one
write plan), so each engine reads and adds to the other's file datasets. Order of work:

1. the folder is checked and listed (``binaryFile`` without its ``content`` column: a listing, no bytes read);
2. the files are read (``binaryFile`` with ``ignoreCorruptFiles``: a file Hadoop cannot read is left out
   rather than failing the job) and described on the executors: sha256, media type, image size, WAV duration,
   and files over ``Settings.inline_file_bytes`` put into the object store (atomic, by digest);
3. files listed but not read go to ``_quarantine/<dataset>`` with the reason;
4. the described rows are committed as one version. With a ``job_id`` steps 3 and 4 carry the job's Delta app
   transaction, as for every ingest: a re-run of a finished job commits nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.datasets import files as file_rows
from lakehouse.datasets import folder as folders
from lakehouse.datasets.write_plan import WriteOptions, check_job_id
from lakehouse.errors import InvalidArgument, InvalidData
from lakehouse.objects import ObjectStore
from lakehouse.spark._errors import translated
from lakehouse.spark.ingest import INGEST_KEY, IngestResult, _finished, _quarantine
from lakehouse.spark.io import SessionSource, execute, job_done, plan_write, session_for, version_of_job

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

FORMAT = "files"
#: The rows as Spark sees them (the types of FILE_COLUMNS).
FILE_SCHEMA = StructType(
    [
        StructField("path", StringType()),
        StructField("content", BinaryType()),
        StructField("object", StringType()),
        StructField("size", LongType()),
        StructField("sha256", StringType()),
        StructField("media_type", StringType()),
        StructField("modified", TimestampType()),
        StructField("width", IntegerType()),
        StructField("height", IntegerType()),
        StructField("duration", DoubleType()),
    ]
)


def ingest_files(
    lh: Lakehouse,
    name: str,
    folder: str | Path | Sequence[str | Path],
    *,
    pattern: str | None = None,
    spark: SessionSource = None,
    **options: Unpack[WriteOptions],
) -> IngestResult:
    """Add every file under ``folder`` (recursively; ``pattern``: a glob on file names) to file dataset ``name``.

    Args:
        folder: one local folder (or a one-item list of it, as ``ingest(..., format="files")`` passes it).
        options: ``created_by``, ``description``, ``labelled_by``, ``metadata`` and ``job_id`` as for any
            ingest; the write is always an upsert by ``path`` (``mode="append"``, adding files, is accepted).

    Raises:
        InvalidArgument: the folder is missing or a file, or other write options were given. Nothing is written.
        InvalidData: the folder holds no files (or none that could be read). Nothing is written.
    """
    given = {k: v for k, v in options.items() if v is not None and v != () and not (k == "mode" and v == "append")}
    extra = sorted(set(given) - {"created_by", "description", "labelled_by", "metadata", "job_id"})
    if extra:
        msg = f"an ingest of files is an upsert by path; options {extra} do not apply"
        raise InvalidArgument(msg)
    options = {k: v for k, v in options.items() if k not in ("mode", "key", "schema_mode", "partition_by")}  # type: ignore[assignment]
    if not isinstance(folder, str | Path):
        if len(folder) != 1:
            msg = f"an ingest of files takes one folder, got {len(folder)} paths"
            raise InvalidArgument(msg)
        folder = folder[0]
    ds = lh.dataset(name)
    given_job = check_job_id(options.get("job_id"))
    job = given_job or f"ingest-{uuid.uuid4().hex}"
    if given_job is not None and ds.exists() and job_done(ds.path, given_job):
        return _finished(lh, name, version_of_job(ds, given_job), job)
    root = folders.check_folder(folder)
    session = session_for(lh, spark)
    base = root.as_uri().replace("file:///", "file:/")  # how Hadoop prints local paths

    def files(**more: str) -> DataFrame:  # a new reader each time: DataFrameReader.option changes the reader
        found = session.read.format("binaryFile").option("recursiveFileLookup", "true").options(**more)
        return found.option("pathGlobFilter", pattern).load(str(root)) if pattern else found.load(str(root))

    with translated(f"listing {str(root)!r}"):
        listed = files().select("path")  # without the content column binaryFile reads no bytes
        if listed.isEmpty():
            msg = f"folder {str(folder)!r} holds no files" + (f" matching {pattern!r}" if pattern else "")
            raise InvalidData(msg)
    read = files(ignoreCorruptFiles="true")
    describe = _Describe(base, str(lh.root), lh.settings.inline_file_bytes)
    # Described once and kept: the quarantine's anti-join and the write both use the rows, and describing
    # reads, hashes and stores every file.
    rows = read.select("path", "content", "modificationTime").mapInArrow(describe, FILE_SCHEMA)
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    relative = F.expr(f"substring(path, {len(describe.base) + 1})")
    unread = (
        listed.withColumn("relative", relative)
        .join(rows.select(F.col("path").alias("relative")), "relative", "left_anti")
        .select(
            F.col("path").alias("source_file"),
            F.lit("the file could not be read").alias("reason"),
            F.col("path").alias("record"),
        )
    )
    ingest_meta: dict[str, Any] = {"format": FORMAT, "paths": [str(folder)], "job_id": job}
    metadata = options.get("metadata")
    planned: WriteOptions = {
        **options,
        "mode": "upsert",
        "key": file_rows.KEY,
        "schema_mode": "merge",
        "metadata": {**(metadata or {}), INGEST_KEY: ingest_meta},
    }
    plan = plan_write(lh, name, FILE_SCHEMA, **planned)
    quarantined, quarantine_version = _quarantine(
        lh, session, unread, lh.layout.quarantine(name), name=name, job=job, given_job=given_job, write_id=plan.write_id
    )
    plan = plan.with_metadata(
        INGEST_KEY, {**ingest_meta, "records_quarantined": quarantined, "quarantine_version": quarantine_version}
    )
    try:
        written = execute(lh, plan, rows)
    finally:
        rows.unpersist()
    version = written.version
    return IngestResult(
        dataset=name,
        version=version,
        job_id=job,
        format=FORMAT,
        files=(str(root),),
        rows_written=version.rows_added + version.rows_updated,
        rows_quarantined=quarantined,
        quarantine_version=quarantine_version,
        skipped=written.skipped,
    )


class _Describe:
    """Runs on the executors: ``binaryFile`` rows (path, content, modificationTime) → file dataset rows.

    A plain object with plain fields, so Spark pickles it to its Python workers.
    """

    def __init__(self, base: str, root: str, inline_limit: int) -> None:
        self.base = base.rstrip("/") + "/"
        self.root = root
        self.inline_limit = inline_limit

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        store = ObjectStore(self.root)
        arrow_schema = file_rows.FILE_COLUMNS
        for batch in batches:
            out: dict[str, list[Any]] = {name: [] for name in arrow_schema.names}
            paths = batch.column("path").to_pylist()
            contents = batch.column("content").to_pylist()
            modified = batch.column("modificationTime").cast(pa.timestamp("us", tz="UTC")).to_pylist()
            for uri, data, when in zip(paths, contents, modified, strict=True):
                path = uri[len(self.base) :] if uri.startswith(self.base) else uri
                probe = folders.probe(path, data=data)
                digest = folders.digest(data)
                large = len(data) > self.inline_limit
                if large:
                    store.put_bytes(data)
                out["path"].append(path)
                out["content"].append(None if large else data)
                out["object"].append(digest if large else None)
                out["size"].append(len(data))
                out["sha256"].append(digest)
                out["media_type"].append(probe.media_type)
                out["modified"].append(when)
                out["width"].append(probe.width)
                out["height"].append(probe.height)
                out["duration"].append(probe.duration)
            yield pa.RecordBatch.from_pydict(out, schema=arrow_schema)
