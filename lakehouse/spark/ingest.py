"""Bulk ingestion: CSV / JSON / Parquet files into a new dataset version, malformed records quarantined.

Order of work, so that bad input changes nothing:

1. expand and check the inputs, decide the schema and plan the write (schema, keys, metadata) — every
   refusal happens here, before any Spark job writes;
2. for upserts, check the input's keys are unique;
3. append refused records to ``_quarantine/<dataset>`` (source file, reason, raw record);
4. commit the good records as the dataset version, its ``userMetadata`` carrying the counts.

With a ``job_id``, steps 3 and 4 each carry the Delta app transaction ``lakehouse.job/<job_id>``: a re-run
of a finished job commits nothing, and a re-run of a job killed between 3 and 4 only does 4.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import polars as pl
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.datasets.versions import SECTION, DatasetVersion
from lakehouse.datasets.write_plan import WriteOptions, check_job_id
from lakehouse.errors import InvalidArgument, InvalidData, InvalidMetadata
from lakehouse.location import Location
from lakehouse.spark import _schema
from lakehouse.spark._errors import translated
from lakehouse.spark.io import (
    SessionSource,
    append_table,
    check_keys,
    execute,
    job_app_id,
    job_done,
    plan_write,
    session_for,
    spark_table_properties,
    version_of_job,
)
from lakehouse.spark.object_store import spark_location
from lakehouse.spark.readers import input_schema, parse
from lakehouse.spark.sources import check_local_paths, find_sources

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

INGEST_KEY = "ingest"
_MAX_LISTED_PATHS = 20


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did: the version written (or found, for a re-run job) and the record counts."""

    dataset: str
    version: DatasetVersion
    job_id: str
    format: str
    files: tuple[str, ...]
    rows_written: int
    rows_quarantined: int
    quarantine_version: int | None
    skipped: bool = False

    @property
    def records_read(self) -> int:
        return self.rows_written + self.rows_quarantined

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["version"] = self.version.to_dict()
        out["files"] = list(self.files)
        out["records_read"] = self.records_read
        return out


def ingest(
    lh: Lakehouse,
    name: str,
    paths: Sequence[str | Path],
    *,
    format: str | None = None,
    schema_file: str | Path | None = None,
    spark: SessionSource = None,
    **options: Unpack[WriteOptions],
) -> IngestResult:
    """Load files, directories or globs into a new version of dataset ``name``.

    Args:
        options: the write's options, as for ``Dataset.write``, and ``job_id``.
        format: ``csv`` (with a header line), ``json`` (one object per line) or ``parquet``; by default
            from the files' extensions. ``files``: ``paths`` is one folder whose files become the rows of a
            file dataset (:func:`lakehouse.spark.file_ingest.ingest_files`).
        mode: ``append``, ``overwrite`` or ``upsert`` (Delta MERGE on ``key``).
        schema_file: a Spark DDL or JSON schema for the input; by default the dataset's schema for its
            columns and inferred types for new ones.
        job_id: makes re-runs idempotent: a job that committed already commits nothing new.
        spark: a session, or a function returning one, called only once there is work to do (a re-run of a
            finished job, or a missing input path, needs no JVM).

    Raises:
        InvalidArgument: missing paths, empty directories, unknown formats, bad options. Nothing is written.
        InvalidData: a file is not what its extension says, or an upsert repeats keys. Nothing is written.
        SchemaMismatch: the input has other columns than the dataset and ``schema_mode`` is not ``merge``.
    """
    if format == "files":
        from lakehouse.spark.file_ingest import ingest_files

        if schema_file is not None:
            msg = "an ingest of files takes no schema file: its columns are the file dataset's"
            raise InvalidArgument(msg)
        return ingest_files(lh, name, paths, spark=spark, **options)
    ds = lh.dataset(name)
    given_job = check_job_id(options.get("job_id"))
    job = given_job or f"ingest-{uuid.uuid4().hex}"
    metadata = options.get("metadata")
    if metadata and INGEST_KEY in metadata:
        msg = f"metadata key {INGEST_KEY!r} is reserved: it holds the ingest's file and record counts"
        raise InvalidMetadata(msg)
    if given_job is not None and ds.exists() and job_done(ds.path, given_job):
        # Checked before Spark starts: re-running a finished job costs no JVM.
        return _finished(lh, name, version_of_job(ds, given_job), job)
    check_local_paths([str(p) for p in paths])
    session = session_for(lh, spark)

    sources = find_sources(session, [str(p) for p in paths], format)
    dataset_schema = _dataset_schema(session, ds.path) if ds.exists() else None
    declared = _schema.load_schema_file(session, Path(schema_file)) if schema_file is not None else None
    schema = input_schema(
        session, sources, dataset=dataset_schema, declared=declared, merge=options.get("schema_mode") == "merge"
    )
    quarantine_path = lh.layout.quarantine(name)
    ingest_meta: dict[str, Any] = {
        "format": sources.format,
        "files": len(sources.files),
        "paths": [str(p) for p in paths][:_MAX_LISTED_PATHS],
        "job_id": job,
        "quarantine_table": str(quarantine_path.relative_to(lh.root)),
    }
    planned: WriteOptions = {**options, "metadata": {**(metadata or {}), INGEST_KEY: ingest_meta}}
    plan = plan_write(lh, name, schema, **planned)
    not_null = [f.name for f in (dataset_schema or declared or schema).fields if not f.nullable]
    parsed = parse(session, sources, schema, not_null=not_null, keys=plan.keys)
    with translated(f"reading {len(sources.files)} {sources.format} file(s)"):
        if parsed.frame.isEmpty():
            msg = f"the input ({', '.join(str(p) for p in paths)}) holds no records; nothing was written"
            raise InvalidData(msg)
    good = parsed.good()
    if plan.mode == "upsert":
        check_keys(_schema.conform(good, _schema.to_spark(plan.target)), list(plan.keys), name)

    quarantined, quarantine_version = _quarantine(
        lh, session, parsed.bad(), quarantine_path, name=name, job=job, given_job=given_job, write_id=plan.write_id
    )
    plan = plan.with_metadata(
        INGEST_KEY, {**ingest_meta, "records_quarantined": quarantined, "quarantine_version": quarantine_version}
    )
    written = execute(lh, plan, good, keys_checked=True)
    version = written.version
    return IngestResult(
        dataset=name,
        version=version,
        job_id=job,
        format=sources.format,
        files=sources.files,
        rows_written=version.rows_added + version.rows_updated,
        rows_quarantined=quarantined,
        quarantine_version=quarantine_version,
        skipped=written.skipped,
    )


def _dataset_schema(spark: SparkSession, path: Location) -> Any:
    with translated("reading the dataset's schema", path):
        return spark.read.format("delta").load(spark_location(path)).schema


def _finished(lh: Lakehouse, name: str, version: DatasetVersion, job: str) -> IngestResult:
    """The result of a job that had committed already, rebuilt from its version's metadata."""
    meta = version.metadata.get(INGEST_KEY)
    meta = meta if isinstance(meta, Mapping) else {}
    return IngestResult(
        dataset=name,
        version=version,
        job_id=job,
        format=str(meta.get("format", "")),
        files=(),
        rows_written=version.rows_added + version.rows_updated,
        rows_quarantined=int(meta.get("records_quarantined", 0)),
        quarantine_version=meta.get("quarantine_version"),
        skipped=True,
    )


def _quarantine(
    lh: Lakehouse,
    spark: SparkSession,
    bad: DataFrame,
    path: Location,
    *,
    name: str,
    job: str,
    given_job: str | None,
    write_id: str,
) -> tuple[int, int | None]:
    """Append refused records to the quarantine table; returns their count and the commit's version."""
    if given_job is not None and job_done(path, given_job):
        # A previous attempt of this job got this far; its records are in already.
        return _quarantined_by(path, job)
    # Only the refused records are cached: counting them is one pass over the input, writing them none.
    cached = bad.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with translated(f"finding malformed records for {name}"):
            count = cached.count()
        if count == 0:
            return 0, None
        rows = cached.select(
            F.lit(name).alias("dataset"),
            "source_file",
            "reason",
            "record",
            F.lit(job).alias("job_id"),
            F.lit(write_id).alias("write_id"),
            F.current_timestamp().alias("at"),
        )
        commit_meta = json.dumps({"created_by": lh.actor, SECTION: {"job_id": job, "write_id": write_id}})
        options = {"userMetadata": commit_meta}
        if given_job is not None:
            options.update({"txnAppId": job_app_id(given_job), "txnVersion": "0"})
        append_table(
            path,
            rows,
            properties=spark_table_properties(lh, change_data_feed=False),
            options=options,
            what=f"writing {count} malformed record(s) to the quarantine of {name}",
        )
    finally:
        cached.unpersist()
    return count, _version_with(path, write_id)


def _quarantined_by(path: Location, job: str) -> tuple[int, int | None]:
    count = storage.scan(path).filter(pl.col("job_id") == job).select(pl.len()).collect().item()
    for commit in storage.history(path):
        section = commit.user_metadata.get(SECTION)
        if isinstance(section, Mapping) and section.get("job_id") == job:
            return count, commit.version
    return count, None


def _version_with(path: Location, write_id: str) -> int | None:
    for commit in storage.history(path, limit=20):
        section = commit.user_metadata.get(SECTION)
        if isinstance(section, Mapping) and section.get("write_id") == write_id:
            return commit.version
    return None
