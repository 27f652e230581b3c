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
    ``points`` must be sorted by run, key, step; the result keeps that order.
    """
    check_max_points(max_points)
    if points.height == 0:
        return points
    # The input is sorted, so series and buckets are runs of consecutive rows: everything below is arithmetic
    # on row numbers and group-bys on sorted integers, never a hash of the run and key strings (for
    # 100 runs x 100,000 points that took 2.1-2.7 s; this takes under 1 s).
    starts = ((pl.col("run_id") != pl.col("run_id").shift(1)) | (pl.col("key") != pl.col("key").shift(1))).fill_null(
        True
    )
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    framed = points.select(
        row.alias("_r"),
        starts.cast(pl.Int64).cum_sum().alias("_s"),  # series number
        pl.when(starts).then(row).forward_fill().alias("_first"),  # row number of the series' first point
        pl.col("value").fill_nan(None).alias("_v"),
    ).with_columns(pl.len().over("_s").alias("_n"))
    long = framed.filter(pl.col("_n") > max_points)
    if long.height == 0:
        return points
    buckets = max_points // 4
    position = pl.col("_r") - pl.col("_first")
    picked = (
        long.with_columns((pl.col("_s") * buckets + position * buckets // pl.col("_n")).alias("_b"))
        .set_sorted("_b")
        .group_by("_b")
        .agg(
            pl.col("_r").first().alias("first"),
            pl.col("_r").last().alias("last"),
            (pl.col("_r").first() + pl.col("_v").arg_min()).alias("low"),  # nulls (NaN) are never picked
            (pl.col("_r").first() + pl.col("_v").arg_max()).alias("high"),
        )
    )
    keep = pl.concat(
        [
            framed.filter(pl.col("_n") <= max_points).get_column("_r"),
            *(picked.get_column(c) for c in ("first", "last", "low", "high")),
        ]
    )
    return points.select(pl.all().gather(keep.drop_nulls().unique().sort()))
