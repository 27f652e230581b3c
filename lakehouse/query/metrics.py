"""Metric histories out of the fact table, and downsampling that keeps what a plot must show.

The fact table is partitioned by run, so a run's history is the files of one partition: the warm file
listing of :func:`lakehouse.query.frames.partition_scan` finds them without touching any other run's data.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRICS
from lakehouse.errors import InvalidArgument
from lakehouse.query import frames

GROUP = ("run_id", "key")
_MIN_POINTS = 4


def history(
    layout: Layout,
    run_ids: Sequence[str],
    *,
    keys: Sequence[str] | None = None,
    max_points: int | None = None,
) -> pl.DataFrame:
    """Points of ``run_ids`` (all keys, or ``keys``), sorted by run, key, step and time."""
    check_max_points(max_points)
    scan = frames.partition_scan(layout.metrics, METRICS, "run_id", run_ids)
    if keys is not None:
        scan = scan.filter(pl.col("key").is_in(list(keys)))
    points = scan.collect().sort(*GROUP, "step", "timestamp", maintain_order=True)
    return downsample(points, max_points) if max_points is not None else points


def check_max_points(max_points: object) -> None:
    if max_points is None:
        return
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < _MIN_POINTS:
        msg = f"max_points must be an integer of at least {_MIN_POINTS} (or None for every point), got {max_points!r}"
        raise InvalidArgument(msg)


def downsample(points: pl.DataFrame, max_points: int) -> pl.DataFrame:
    """At most ``max_points`` points per (run, key), keeping the shape a plot needs.

    Each series longer than ``max_points`` is cut into ``max_points // 4`` buckets of consecutive points (by
    step); each bucket keeps its first and last point and its minimum and maximum (NaN is never an extreme),
    the M4 scheme. So every spike, the overall minimum and maximum, and both ends of the series survive.
    ``points`` must be sorted by run, key, step.
    """
    check_max_points(max_points)
    if points.height == 0:
        return points
    sized = points.with_columns(
        pl.int_range(pl.len()).over(GROUP).alias("_i"),
        pl.len().over(GROUP).alias("_n"),
    )
    short = sized.filter(pl.col("_n") <= max_points).drop("_i", "_n")
    long = sized.filter(pl.col("_n") > max_points)
    if long.height == 0:
        return points
    buckets = max_points // 4
    value = pl.col("value")
    not_nan = value.is_not_nan()
    chosen = (
        long.with_columns((pl.col("_i") * buckets // pl.col("_n")).alias("_b"))
        .group_by(*GROUP, "_b")
        .agg(
            pl.col("_i").first().alias("first"),
            pl.col("_i").last().alias("last"),
            pl.col("_i").filter(not_nan).sort_by(value.filter(not_nan)).first().alias("low"),
            pl.col("_i").filter(not_nan).sort_by(value.filter(not_nan)).last().alias("high"),
        )
        .unpivot(index=[*GROUP, "_b"], on=["first", "last", "low", "high"], value_name="_i")
        .drop_nulls("_i")
        .select(*GROUP, "_i")
        .unique()
    )
    kept = long.join(chosen, on=[*GROUP, "_i"], how="semi").drop("_i", "_n")
    return pl.concat([short, kept]).sort(*GROUP, "step", "timestamp", maintain_order=True)
