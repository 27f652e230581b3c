"""Metric histories for MLflow: one run's partition of the fact table, in MLflow's order and units.

MLflow orders a history by (timestamp, step, value) and stores a point once even if it was logged twice with
the same key, value, step and timestamp; the fact table keeps every logged row, so reads drop exact
duplicates. Timestamps are milliseconds for MLflow (microseconds in the table).

``get_metric_history_bulk_interval`` (the UI's charts) is sampled here, in polars, as MLflow's SQL store does
it: the points of each run in the step range are ordered by (step, timestamp, value) and cut into at most
``max_results`` equal buckets (SQL ``NTILE``); the first point of each bucket is kept, and the last point of
the series always is.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRICS
from lakehouse.query import frames

COLUMNS = ("run_id", "key", "value", "timestamp", "step")


def points(layout: Layout, run_ids: Sequence[str], key: str | None) -> pl.DataFrame:
    """Distinct points of ``key`` (None: every key) of some runs: run_id, key, value, timestamp (ms), step;
    unordered."""
    scan = frames.partition_scan(layout.metrics, METRICS, "run_id", run_ids)
    if key is not None:
        scan = scan.filter(pl.col("key") == key)
    return (
        scan.select("run_id", "key", "value", pl.col("timestamp").dt.epoch("ms").alias("timestamp"), "step")
        .unique(maintain_order=True)
        .collect()
    )


def history(layout: Layout, run_id: str, key: str) -> pl.DataFrame:
    """One run's history of ``key`` in MLflow's order: timestamp, step, value."""
    return points(layout, [run_id], key).sort("timestamp", "step", "value")


def sample(frame: pl.DataFrame, max_results: int, start_step: int | None, end_step: int | None) -> pl.DataFrame:
    """At most ``max_results`` points per run (see the module docstring), ordered by run then step."""
    order = ("step", "timestamp", "value")
    if start_step is not None and end_step is not None:
        frame = frame.filter(pl.col("step").is_between(start_step, end_step))
    frame = frame.sort("run_id", *order)
    k = max(1, max_results)
    n = pl.len().over("run_id")
    i = pl.int_range(pl.len()).over("run_id")
    q = n // k
    r = n % k
    # NTILE(k): the first r buckets hold q + 1 rows, the others q; a row starts a bucket when its index is a
    # multiple of q + 1 (within the first r buckets) or lands on a q-row boundary after them.
    starts = (
        pl.when(n <= k).then(True).when(i < r * (q + 1)).then(i % (q + 1) == 0).otherwise((i - r * (q + 1)) % q == 0)
    )
    marked = frame.with_columns(starts.alias("_first"), (i == n - 1).alias("_last"), n.alias("_n"), i.alias("_i"))
    kept = marked.filter(pl.col("_first"))
    # The series' last point replaces the last sampled one when the sample is already full.
    counts = kept.group_by("run_id").agg(pl.len().alias("_kept"), pl.col("_last").any().alias("_has_last"))
    kept = kept.join(counts, on="run_id")
    full = pl.col("_kept") >= k
    drop_tail = (~pl.col("_has_last")) & full & (pl.col("_i") == pl.col("_i").max().over("run_id"))
    kept = kept.filter(~drop_tail)
    lasts = marked.filter(pl.col("_last")).join(
        counts.filter(~pl.col("_has_last")).select("run_id"), on="run_id", how="semi"
    )
    out = pl.concat([kept.select(marked.columns), lasts]).sort("run_id", *order)
    return out.select(COLUMNS)
