"""Runs as MLflow sees them: the one fold of :mod:`lakehouse.query.runs` in MLflow's shape (no MLflow import).

Times in milliseconds, params and tags as long frames (run_id, key, value) so a search can semi-join them,
and the latest metric per key as :func:`lakehouse.query.summaries.merged` picks it (MLflow's rule:
greatest step, then timestamp, then value).

A fold is cached per table version: the MLflow server answers many searches between two commits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import polars as pl
import polars.selectors as cs

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES, RUN_EVENTS, RUN_INPUTS
from lakehouse.query import frames
from lakehouse.query.events import in_order
from lakehouse.query.runs import fold_events
from lakehouse.query.summaries import merged

#: The kind of ``tracking/runs`` event holding an MLflow dataset input that is not a lakehouse dataset.
INPUT_EVENT = "input"


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
    folded = fold_events(events)
    base = folded.base.select(
        "run_id",
        "experiment",
        "name",
        "status",
        "lifecycle",
        pl.col("start_time").dt.epoch("ms"),
        pl.col("end_time").dt.epoch("ms"),
        pl.col("environment").str.json_path_match("$.user").fill_null("").alias("user_id"),
    )
    inputs = in_order(events.filter(pl.col("kind") == INPUT_EVENT)).select("run_id", "value")
    inputs = inputs.unique(maintain_order=True)
    return RunsView(
        base=_strings(base), params=_strings(folded.params), tags=_strings(folded.tags), inputs=_strings(inputs)
    )


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Identifier columns as strings: the tables' frames hold them as categoricals when ``lh.runs()`` read
    them first in this process, and MLflow's frames join on strings."""
    return frame.with_columns(cs.categorical().cast(pl.String))


def latest_metrics(summaries: pl.DataFrame) -> pl.DataFrame:
    """The latest point per (run, key): run_id, key, value, step, timestamp (ms)."""
    return merged(summaries).select(
        pl.col("run_id").cast(pl.String),
        pl.col("key").cast(pl.String),
        pl.col("last").alias("value"),
        pl.col("last_step").alias("step"),
        pl.col("last_timestamp").dt.epoch("ms").alias("timestamp"),
    )


@dataclass(frozen=True)
class RunsFrames:
    """The frames ``get_run`` and a search read, at one moment: folded runs, latest metrics and lakehouse
    dataset inputs."""

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

    def snapshot(self) -> RunsFrames:
        events = self.events()
        summaries = frames.table_frame(self.layout.metric_summaries, METRIC_SUMMARIES)
        lineage = frames.table_frame(self.layout.inputs, RUN_INPUTS)
        with self._lock:
            if self._events is not events or self._view is None:
                self._view, self._events = fold(events), events
            if self._summaries is not summaries or self._metrics is None:
                self._metrics, self._summaries = latest_metrics(summaries), summaries
            return RunsFrames(runs=self._view, metrics=self._metrics, lineage=_strings(lineage))

    def one(self, run_id: str) -> RunsFrames | None:
        """The frames of a single run (folded on its own: cheaper than refolding every run), or None."""
        events = self.events().filter(pl.col("run_id") == run_id)
        view = fold(events)
        if view.base.height == 0:
            return None
        summaries = frames.table_frame(self.layout.metric_summaries, METRIC_SUMMARIES)
        lineage = frames.table_frame(self.layout.inputs, RUN_INPUTS)
        return RunsFrames(
            runs=view,
            metrics=latest_metrics(summaries.filter(pl.col("run_id") == run_id)),
            lineage=_strings(lineage.filter(pl.col("run_id") == run_id)),
        )
