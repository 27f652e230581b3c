"""Schemas and properties of the tables lakehouse owns, and an append path for event tables.

Event tables are append-only: Delta appends never conflict with each other, so any number of processes
(and a Spark job) can add events at once; the current state is a group-by at read time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from lakehouse import storage
from lakehouse.config import Settings
from lakehouse.errors import CommitConflict

UTC_MICROS = pa.timestamp("us", tz="UTC")


def table_properties(settings: Settings, *, change_data_feed: bool) -> dict[str, str]:
    """Properties every lakehouse table is created with, explicit so delta-rs and Spark agree."""
    props = {
        "delta.checkpointInterval": str(settings.checkpoint_interval),
        "delta.logRetentionDuration": settings.log_retention,
        "delta.deletedFileRetentionDuration": settings.deleted_file_retention,
        # delta-rs can read but not write tables with deletion vectors (delta-rs #4079); Spark may turn them
        # on for new tables by default, so every table says "off" explicitly, whichever engine creates it.
        "delta.enableDeletionVectors": "false",
    }
    if change_data_feed:
        props["delta.enableChangeDataFeed"] = "true"
    return props


@dataclass(frozen=True)
class TableSpec:
    """A table lakehouse creates on first use: its schema and whether it keeps a change feed."""

    name: str
    schema: pa.Schema
    change_data_feed: bool = False

    def empty(self) -> pl.DataFrame:
        return pl.from_arrow(self.schema.empty_table())  # type: ignore[return-value]


DATASET_EVENTS = TableSpec(
    "_catalog/datasets",
    pa.schema(
        [
            pa.field("name", pa.string(), nullable=False),
            pa.field("event", pa.string(), nullable=False),
            pa.field("at", UTC_MICROS, nullable=False),
            pa.field("actor", pa.string()),
            pa.field("detail", pa.string()),
        ]
    ),
)

TAG_EVENTS = TableSpec(
    "_catalog/tags",
    pa.schema(
        [
            pa.field("dataset", pa.string(), nullable=False),
            pa.field("tag", pa.string(), nullable=False),
            pa.field("event", pa.string(), nullable=False),  # set | moved | deleted
            pa.field("version", pa.int64()),
            pa.field("previous_version", pa.int64()),
            pa.field("seq", pa.int64(), nullable=False),  # per (dataset, tag), from 1
            pa.field("actor", pa.string()),
            pa.field("at", UTC_MICROS, nullable=False),
        ]
    ),
)

RUN_INPUTS = TableSpec(
    "tracking/inputs",
    pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("dataset", pa.string(), nullable=False),
            pa.field("version", pa.int64(), nullable=False),
            pa.field("ref", pa.string()),
            pa.field("context", pa.string()),
            pa.field("at", UTC_MICROS, nullable=False),
        ]
    ),
)


QUARANTINE = TableSpec(
    "_quarantine/<dataset>",
    pa.schema(
        [
            pa.field("dataset", pa.string()),
            pa.field("source_file", pa.string()),  # the input file the record came from
            pa.field("reason", pa.string()),  # why it was refused, naming the column and value
            pa.field("record", pa.string()),  # the raw record (CSV line, JSON text) or the row as JSON
            pa.field("job_id", pa.string()),  # the ingest job (and app transaction) that read it
            pa.field("write_id", pa.string()),  # lakehouse.write_id of the dataset version that job wrote
            pa.field("at", UTC_MICROS),
        ]
    ),
)


def append_rows(
    path: Path,
    spec: TableSpec,
    rows: list[Mapping[str, Any]],
    settings: Settings,
    *,
    app_transaction: tuple[str, int] | None = None,
    read_version: int | None = None,
) -> None:
    """Append ``rows`` to an event table, creating it on first use (tolerating a concurrent creator).

    With ``app_transaction`` the commit conflicts with any commit of the same app id made after
    ``read_version`` (None: the caller saw no table, so the commit must create it); that
    :class:`CommitConflict` is raised for the caller to re-read and re-decide.
    """
    guarded = app_transaction is not None
    data = pa.Table.from_pylist([dict(r) for r in rows], schema=spec.schema)
    props = table_properties(settings, change_data_feed=spec.change_data_feed)
    for attempt in range(3):
        try:
            storage.write(
                path,
                data,
                mode="create" if guarded and read_version is None else "append",
                configuration=props,
                app_transaction=app_transaction,
                max_commit_retries=settings.max_commit_retries,
                read_version=read_version,
            )
            return
        except CommitConflict:
            # Only a lost race to create the table is worth retrying here; anything else is the caller's.
            if guarded or attempt == 2 or not storage.exists(path):
                raise


def scan_or_empty(path: Path, spec: TableSpec, version: int | None = None) -> pl.LazyFrame:
    """Scan an event table (at ``version``), or an empty frame of its schema if nothing was written yet."""
    if version is None and not storage.exists(path):
        return spec.empty().lazy()
    return storage.scan(path, version)
