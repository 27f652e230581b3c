"""Schemas and properties of the tables lakehouse owns, and an append path for event tables.

Event tables are append-only: Delta appends never conflict with each other, so any number of processes
(and a Spark job) can add events at once; the current state is a group-by at read time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from lakehouse import storage
from lakehouse.config import Settings
from lakehouse.errors import CommitConflict
from lakehouse.location import Location

UTC_MICROS = pa.timestamp("us", tz="UTC")


_SIMPLE_TYPES: dict[pa.DataType, pl.DataType] = {
    pa.string(): pl.String(),
    pa.int64(): pl.Int64(),
    pa.int32(): pl.Int32(),
    pa.float64(): pl.Float64(),
    pa.bool_(): pl.Boolean(),
    UTC_MICROS: pl.Datetime("us", "UTC"),
}


def _polars_type(t: pa.DataType) -> pl.DataType:
    found = _SIMPLE_TYPES.get(t)
    if found is not None:
        return found
    return pl.from_arrow(pa.schema([pa.field("x", t)]).empty_table()).schema["x"]  # type: ignore[union-attr]


def table_properties(settings: Settings, *, change_data_feed: bool, log_retention: str | None = None) -> dict[str, str]:
    """Properties every lakehouse table is created with, explicit so delta-rs and Spark agree."""
    props = {
        "delta.checkpointInterval": str(settings.checkpoint_interval),
        "delta.logRetentionDuration": log_retention or settings.log_retention,
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
    partition_by: tuple[str, ...] = ()
    #: Tracking tables take many small commits and need no long time travel: their log retention is
    #: ``Settings.tracking_log_retention`` instead of the datasets' decade.
    tracking: bool = False

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    @property
    def polars_schema(self) -> pl.Schema:
        """The schema as polars types (without pl.from_arrow, which imports pandas when it is installed)."""
        return pl.Schema({f.name: _polars_type(f.type) for f in self.schema})

    def from_rows(self, rows: list[Mapping[str, Any]]) -> pa.Table:
        """Rows (dicts) as an Arrow table of this schema, built by polars: pyarrow's own conversion of Python
        objects imports pandas on first use, seconds of GIL-holding work in a training process."""
        frame = pl.DataFrame(rows, schema=self.polars_schema)
        return frame.to_arrow().cast(self.schema)

    def properties(self, settings: Settings) -> dict[str, str]:
        """The table properties this table is created with."""
        retention = settings.tracking_log_retention if self.tracking else None
        return table_properties(settings, change_data_feed=self.change_data_feed, log_retention=retention)

    def to_arrow(self, rows: list[Mapping[str, Any]]) -> pa.Table:
        """Rows as an Arrow table of this schema (see :meth:`from_rows`)."""
        return self.from_rows([dict(r) for r in rows])


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

MODEL_EVENTS = TableSpec(
    "_catalog/models",
    pa.schema(
        [
            # The registered model's id, fixed at creation: renames and a later model of a deleted one's name
            # never mix their versions.
            pa.field("model_id", pa.string(), nullable=False),
            # model_created | model_renamed | model_described | model_tagged | model_tag_deleted | model_deleted
            # | model_restored | version_created | version_described | version_tagged | version_tag_deleted
            # | version_deleted | version_restored | alias_set | alias_deleted
            pa.field("kind", pa.string(), nullable=False),
            pa.field("name", pa.string()),  # model_created, model_renamed: the model's name from then on
            pa.field("version", pa.int64()),  # version_*: the version; alias_set: the version it points at
            pa.field("key", pa.string()),  # tag key, alias name
            pa.field("value", pa.string()),  # tag value, description
            pa.field("source", pa.string()),  # version_created: runs:/<run id>/<path> or models:/<model id>
            pa.field("run_id", pa.string()),  # version_created: the run the version was built by
            pa.field("run_link", pa.string()),  # version_created through MLflow: a link to the run, as given
            pa.field("logged_model_id", pa.string()),  # version_created: the MLflow logged model it promotes
            pa.field("reason", pa.string()),  # why (alias moves, deletions), as the actor said
            pa.field("actor", pa.string()),
            pa.field("at", UTC_MICROS, nullable=False),
            # With ``seq`` (the writer's application clock), the one order of events (lakehouse.query.events).
            pa.field("writer", pa.string(), nullable=False),
            pa.field("seq", pa.int64(), nullable=False),
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


WANDB_ARTIFACTS = TableSpec(
    "tracking/wandb_artifacts",
    pa.schema(
        [
            pa.field("name", pa.string(), nullable=False),  # the artifact's name (dataset name grammar)
            pa.field("kind", pa.string(), nullable=False),  # version | alias
            pa.field("version", pa.int64(), nullable=False),  # version: the new version; alias: its target
            pa.field("alias", pa.string()),  # alias: the alias set (never latest or v<N>)
            pa.field("run_id", pa.string()),  # version: the run holding its files, under wandb-artifacts/<name>/v<N>/
            pa.field("type", pa.string()),  # version: W&B's artifact type (dataset, model...)
            pa.field("digest", pa.string()),  # version: sha256 of the manifest (path, file digest, size)
            pa.field("description", pa.string()),
            pa.field("metadata", pa.string()),  # version: JSON
            pa.field("seq", pa.int64(), nullable=False),  # per name, from 1: the commit guard's app version
            pa.field("actor", pa.string()),
            pa.field("at", UTC_MICROS, nullable=False),
        ]
    ),
    tracking=True,
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


# --- tracking ------------------------------------------------------------------------------------------------
# Written by the metrics writer (lakehouse.tracking.writer) through the spool, one app transaction per table
# and segment. See docs/TRACKING.md for the meaning of every column.

RUN_EVENTS = TableSpec(
    "tracking/runs",
    pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            # created | resumed | renamed | status | param | tag | tag_deleted | lifecycle | environment;
            # through MLflow also: input (a dataset input) | model_metric (a point logged with a model id)
            pa.field("kind", pa.string(), nullable=False),
            pa.field("at", UTC_MICROS, nullable=False),
            pa.field("key", pa.string()),  # param / tag key
            pa.field("value", pa.string()),  # param or tag value, status, lifecycle state, environment JSON
            pa.field("experiment", pa.string()),  # created
            pa.field("name", pa.string()),  # created, renamed
            pa.field("writer", pa.string(), nullable=False),  # writer id: with seq, the order of events
            pa.field("seq", pa.int64(), nullable=False),  # per writer, increasing
        ]
    ),
    tracking=True,
)

METRICS = TableSpec(
    "tracking/metrics",
    pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("key", pa.string(), nullable=False),
            pa.field("step", pa.int64(), nullable=False),
            pa.field("timestamp", UTC_MICROS, nullable=False),
            pa.field("value", pa.float64(), nullable=False),
        ]
    ),
    # One partition per run: a run's history is one folder, compaction is incremental (only runs with new
    # small files are rewritten) and both engines prune by run without reading statistics.
    partition_by=("run_id",),
    tracking=True,
)

METRIC_SUMMARIES = TableSpec(
    "tracking/metric_summaries",
    pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("key", pa.string(), nullable=False),
            pa.field("writer", pa.string(), nullable=False),
            pa.field("seq", pa.int64(), nullable=False),  # writer's segment number: the newest row wins
            # Cumulative over every point this writer logged for (run_id, key); NaN never counts as min/max.
            pa.field("count", pa.int64(), nullable=False),
            pa.field("min", pa.float64()),
            pa.field("max", pa.float64()),
            pa.field("last", pa.float64(), nullable=False),  # value at the greatest (step, timestamp)
            pa.field("last_step", pa.int64(), nullable=False),
            pa.field("last_timestamp", UTC_MICROS, nullable=False),
        ]
    ),
    tracking=True,
)


EXPERIMENT_EVENTS = TableSpec(
    "tracking/experiments",
    pa.schema(
        [
            pa.field("experiment_id", pa.string(), nullable=False),
            # created | renamed | lifecycle | tag | tag_deleted
            pa.field("kind", pa.string(), nullable=False),
            pa.field("at", UTC_MICROS, nullable=False),
            pa.field("name", pa.string()),  # created, renamed: the display name
            pa.field("experiment", pa.string()),  # created: what runs record in tracking/runs.experiment
            pa.field("artifact_location", pa.string()),  # created
            pa.field("key", pa.string()),  # tag key
            pa.field("value", pa.string()),  # tag value, lifecycle state
            pa.field("actor", pa.string()),
            # Event number in the table, from 1; each commit's last one is its app transaction version, so two
            # processes changing the registry at once conflict and one re-reads and re-decides.
            pa.field("seq", pa.int64(), nullable=False),
        ]
    ),
)


LOGGED_MODEL_EVENTS = TableSpec(
    "tracking/logged_models",
    pa.schema(
        [
            pa.field("model_id", pa.string(), nullable=False),
            # created | status | tag | tag_deleted | param | deleted | output | input
            pa.field("kind", pa.string(), nullable=False),
            pa.field("at", UTC_MICROS, nullable=False),
            pa.field("experiment_id", pa.string()),  # created
            pa.field("name", pa.string()),  # created
            pa.field("artifact_location", pa.string()),  # created
            pa.field("model_type", pa.string()),  # created
            pa.field("run_id", pa.string()),  # created: the source run; output / input: the run that logged / used it
            pa.field("step", pa.int64()),  # output
            pa.field("key", pa.string()),  # tag / param key
            pa.field("value", pa.string()),  # tag / param value, status
        ]
    ),
)


ARTIFACT_EVENTS = TableSpec(
    "tracking/artifacts",
    pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),  # relative POSIX path of the file within the run
            pa.field("digest", pa.string()),  # sha256 of the object in _objects/ (null when deleted)
            pa.field("size", pa.int64()),  # bytes (null when deleted)
            pa.field("logged_at", UTC_MICROS, nullable=False),
            pa.field("deleted", pa.bool_(), nullable=False),  # the path was removed from the run
            pa.field("actor", pa.string()),
        ]
    ),
)


def append_rows(
    path: Location,
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
    data = spec.to_arrow(rows)
    append_table(path, spec, data, settings, app_transaction=app_transaction, read_version=read_version)


def append_table(
    path: Location,
    spec: TableSpec,
    data: pa.Table,
    settings: Settings,
    *,
    app_transaction: tuple[str, int] | None = None,
    read_version: int | None = None,
) -> None:
    """Append an Arrow table of ``spec``'s schema; see :func:`append_rows`."""
    guarded = app_transaction is not None
    props = spec.properties(settings)
    for attempt in range(3):
        try:
            storage.write(
                path,
                data,
                mode="create" if guarded and read_version is None else "append",
                partition_by=spec.partition_by or None,
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


def scan_or_empty(path: Location, spec: TableSpec, version: int | None = None) -> pl.LazyFrame:
    """Scan an event table (at ``version``), or an empty frame of its schema if nothing was written yet."""
    if version is None and not storage.exists(path):
        return spec.empty().lazy()
    return storage.scan(path, version)
