"""Runs as MLflow sees them, folded from the tracking tables with polars (no MLflow import here).

The folding rules are those of :mod:`lakehouse.query.runs` (newest event wins, params keep their first value,
a deleted tag is gone), with MLflow's shape: times in milliseconds, params and tags as long frames (run_id,
key, value) so a search can semi-join them, and the latest metric per key chosen as MLflow does (greatest
step, then timestamp, then value).

A fold is cached per table version: the MLflow server answers many searches between two commits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES, RUN_EVENTS, RUN_INPUTS
from lakehouse.entities import TERMINAL_STATUSES
from lakehouse.query import frames

#: The kind of ``tracking/runs`` event holding an MLflow dataset input that is not a lakehouse dataset.
INPUT_EVENT = "input"
_ORDER = ("at", "writer", "seq")


@dataclass(frozen=True)
class RunsView:
    """MLflow-shaped frames of some runs.

    ``base``: run_id, experiment (the key runs record), name, status, lifecycle, start_time and end_time (ms),
    user_id. ``params``/``tags``: run_id, key, value. ``inputs``: run_id, value (JSON of one MLflow dataset
    input, for inputs that are not lakehouse datasets).
    """

    base: pl.DataFrame
    params: pl.DataFrame
    tags: pl.DataFrame
    inputs: pl.DataFrame


def fold(events: pl.DataFrame) -> RunsView:
    """Fold run events (any subset of whole runs) into a :class:`RunsView`."""
    ordered = events.sort(*_ORDER, maintain_order=True)
    kind = pl.col("kind")
    value = pl.col("value")
    base = (
        ordered.group_by("run_id", maintain_order=True)
        .agg(
            pl.col("experiment").filter(kind == "created").first().alias("experiment"),
            pl.col("name").filter(kind.is_in(["created", "renamed"])).last().alias("name"),
            value.filter(kind == "status").last().alias("status"),
            pl.col("at").filter(kind == "status").last().alias("_status_at"),
            value.filter(kind == "lifecycle").last().alias("lifecycle"),
            pl.col("at").filter(kind == "created").first().alias("_start"),
            value.filter(kind == "environment").last().alias("_environment"),
        )
        # Events of a run whose ``created`` event is not in yet (another writer's commit order) wait for it.
        .filter(pl.col("_start").is_not_null())
        .with_columns(
            pl.col("status").fill_null("RUNNING"),
            pl.col("lifecycle").fill_null("active"),
            pl.col("_start").dt.epoch("ms").alias("start_time"),
        )
        .with_columns(
            pl.when(pl.col("status").is_in(list(TERMINAL_STATUSES)))
            .then(pl.col("_status_at").dt.epoch("ms"))
            .alias("end_time"),
            pl.col("_environment").str.json_path_match("$.user").fill_null("").alias("user_id"),
        )
        .select("run_id", "experiment", "name", "status", "lifecycle", "start_time", "end_time", "user_id")
    )
    params = (
        ordered.filter(kind == "param")
        .group_by("run_id", "key", maintain_order=True)
        .agg(value.first())
        .select("run_id", "key", "value")
    )
    tags = (
        ordered.filter(kind.is_in(["tag", "tag_deleted"]))
        .group_by("run_id", "key", maintain_order=True)
        .agg(kind.last(), value.last())
        .filter(kind == "tag")
        .select("run_id", "key", "value")
    )
    inputs = ordered.filter(kind == INPUT_EVENT).select("run_id", "value").unique(maintain_order=True)
    return RunsView(base=base, params=params, tags=tags, inputs=inputs)


def latest_metrics(summaries: pl.DataFrame) -> pl.DataFrame:
    """The latest point per (run, key) as MLflow defines it: run_id, key, value, step, timestamp (ms).

    Each writer's newest cumulative summary row holds its last point; across writers (a resumed run) the
    greatest (step, timestamp, value) wins.
    """
    if summaries.height == 0:
        return pl.DataFrame(
            schema={"run_id": pl.String, "key": pl.String, "value": pl.Float64, "step": pl.Int64, "timestamp": pl.Int64}
        )
    newest = summaries.sort("seq").group_by("run_id", "key", "writer").agg(pl.all().last())
    return (
        newest.sort("last_step", "last_timestamp", "last")
        .group_by("run_id", "key")
        .agg(pl.col("last").last(), pl.col("last_step").last(), pl.col("last_timestamp").last())
        .select(
            "run_id",
            "key",
            pl.col("last").alias("value"),
            pl.col("last_step").alias("step"),
            pl.col("last_timestamp").dt.epoch("ms").alias("timestamp"),
        )
    )


@dataclass(frozen=True)
class Snapshot:
    """Everything a search reads, at one moment: folded runs, latest metrics and lakehouse dataset inputs."""

    runs: RunsView
    metrics: pl.DataFrame
    lineage: pl.DataFrame  # tracking/inputs rows


class Cache:
    """Folds of one root's tables, recomputed only when a table's version moved."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._lock = threading.Lock()
        self._events: pl.DataFrame | None = None
        self._view: RunsView | None = None
        self._summaries: pl.DataFrame | None = None
        self._metrics: pl.DataFrame | None = None

    def events(self) -> pl.DataFrame:
        return frames.table_frame(self.layout.runs, RUN_EVENTS)

    def snapshot(self) -> Snapshot:
        events = self.events()
        summaries = frames.table_frame(self.layout.metric_summaries, METRIC_SUMMARIES)
        lineage = frames.table_frame(self.layout.inputs, RUN_INPUTS)
        with self._lock:
            if self._events is not events or self._view is None:
                self._view, self._events = fold(events), events
            if self._summaries is not summaries or self._metrics is None:
                self._metrics, self._summaries = latest_metrics(summaries), summaries
            return Snapshot(runs=self._view, metrics=self._metrics, lineage=lineage)

    def one(self, run_id: str) -> Snapshot | None:
        """The snapshot of a single run (folded on its own: cheaper than refolding every run), or None."""
        events = self.events().filter(pl.col("run_id") == run_id)
        view = fold(events)
        if view.base.height == 0:
            return None
        summaries = frames.table_frame(self.layout.metric_summaries, METRIC_SUMMARIES)
        lineage = frames.table_frame(self.layout.inputs, RUN_INPUTS)
        return Snapshot(
            runs=view,
            metrics=latest_metrics(summaries.filter(pl.col("run_id") == run_id)),
            lineage=lineage.filter(pl.col("run_id") == run_id),
        )
