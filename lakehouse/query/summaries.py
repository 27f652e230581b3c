"""Per-run metric summaries (count, min, max, last) kept up to date by the writer, flush by flush.

``lh.runs()`` shows last/min/max of every metric of every run; computing that from the fact table would read
every point ever logged. Instead each flush carries, next to its points, one row per (run, key) of the runs it
touched: the writer's *cumulative* summary so far. The newest row per (run, key, writer) therefore supersedes
the older ones (``lakehouse maintain`` deletes those), and rows of different writers (a resumed run) merge
with min/max/sum and the "last" of the latest point (:func:`merged`).

The latest point is MLflow's: the greatest step, then the greatest timestamp, then the greatest value (NaN
ranked as 0, as MLflow's SQL store stores it); among points equal in all three the first one logged stays.
This module is the one place that rule lives: the writer, ``lh.runs()``, ``lh.run()`` and the MLflow view all
go through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from lakehouse import _buffers
from lakehouse.catalog.tables import METRIC_SUMMARIES
from lakehouse.query.events import Frame

if TYPE_CHECKING:
    from lakehouse.tracking.writer import Points


@dataclass
class _State:
    count: int
    min: float | None
    max: float | None
    last: float
    last_step: int
    last_timestamp: int  # microseconds


class SummaryBook:
    """The cumulative summaries of one writer, by run and key."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, _State]] = {}

    def clear(self) -> None:
        self._states.clear()

    def forget(self, run_id: str) -> None:
        self._states.pop(run_id, None)

    def update(self, points: Points, *, writer_id: str, seq: int) -> pa.Table:
        """Fold a flush's points in; return the summary rows of every run they touched."""
        touched = self._fold_rows(points.rows) if points.rows is not None else self._fold_frame(points)
        rows = [
            {
                "run_id": run,
                "key": key,
                "writer": writer_id,
                "seq": seq,
                "count": s.count,
                "min": s.min,
                "max": s.max,
                "last": s.last,
                "last_step": s.last_step,
                "last_timestamp": s.last_timestamp,
            }
            for run in sorted(touched)
            for key, s in sorted(self._states[run].items())
        ]
        # From buffers: pyarrow's conversion of Python values imports pandas (a second) on first use.
        return _buffers.table(METRIC_SUMMARIES.schema, [[row[f.name] for row in rows] for f in METRIC_SUMMARIES.schema])

    def _fold_rows(self, rows: list[tuple[str, str, int, int, float]]) -> set[str]:
        """Fold points one by one, in logged order (a few: see the writer's small batches); the runs touched.

        The same rule as :meth:`_fold_frame`: NaN counts but is no minimum or maximum, and a point replaces
        the latest one only if it is strictly later (so among equal points the first one logged stays).
        """
        touched: set[str] = set()
        for run, key, step, timestamp, value in rows:
            touched.add(run)
            keys = self._states.setdefault(run, {})
            old = keys.get(key)
            number = None if math.isnan(value) else value
            if old is None:
                keys[key] = _State(1, number, number, value, step, timestamp)
                continue
            old.count += 1
            old.min = _pick(old.min, number, min)
            old.max = _pick(old.max, number, max)
            if _later(step, timestamp, value, old):
                old.last, old.last_step, old.last_timestamp = value, step, timestamp
        return touched

    def _fold_frame(self, points: Points) -> set[str]:
        """Fold a batch of points with polars (grouped by their integer (run, key) code); the runs touched."""
        frame = points.coded
        assert frame is not None
        assert points.groups is not None
        group = "_g"
        value = pl.col("value")
        not_nan = value.filter(value.is_not_nan())
        stats = frame.group_by(group).agg(
            pl.len().alias("count"), not_nan.min().alias("min"), not_nan.max().alias("max")
        )
        # The latest point (see the module's rule). Narrow down with window maxima instead of sorting every
        # group: usually one row per group survives the first.
        newest = (
            frame.filter(pl.col("step") == pl.col("step").max().over(group))
            .filter(pl.col("timestamp") == pl.col("timestamp").max().over(group))
            .filter(_RANK == _RANK.max().over(group))
            .group_by(group, maintain_order=True)
            .agg(
                value.first().alias("last"),
                pl.col("step").first().alias("last_step"),
                pl.col("timestamp").first().alias("last_timestamp"),
            )
        )
        batch = stats.join(newest, on=group).join(points.groups, on=group)
        touched: set[str] = set()
        for row in batch.iter_rows(named=True):
            run, key = row["run_id"], row["key"]
            touched.add(run)
            keys = self._states.setdefault(run, {})
            old = keys.get(key)
            if old is None:
                keys[key] = _State(
                    row["count"], row["min"], row["max"], row["last"], row["last_step"], row["last_timestamp"]
                )
                continue
            old.count += row["count"]
            old.min = _pick(old.min, row["min"], min)
            old.max = _pick(old.max, row["max"], max)
            if _later(row["last_step"], row["last_timestamp"], row["last"], old):
                old.last, old.last_step, old.last_timestamp = row["last"], row["last_step"], row["last_timestamp"]
        return touched


def _later(step: int, timestamp: int, value: float, old: _State) -> bool:
    """Whether a point is strictly later than ``old``'s latest one (a repeat of it is not)."""
    return (step, timestamp, _ranked(value)) > (old.last_step, old.last_timestamp, _ranked(old.last))


def _ranked(value: float) -> float:
    return 0.0 if math.isnan(value) else value


#: A value's rank among points of equal step and timestamp.
_RANK = pl.col("value").fill_nan(0.0)

MERGED_COLUMNS = ("run_id", "key", "count", "min", "max", "last", "last_step", "last_timestamp")


def merged(summaries: Frame) -> Frame:
    """One summary per (run, key) from ``tracking/metric_summaries`` rows: each writer's newest row, merged
    across writers (counts summed, min of minima, max of maxima, the "last" of the latest point).

    A lazy frame gives the plan (``lh.runs()`` collects it together with the rest of its fold)."""
    if isinstance(summaries, pl.DataFrame) and summaries.height == 0:
        return summaries.select(MERGED_COLUMNS)
    newest = summaries.sort("seq").unique(subset=["run_id", "key", "writer"], keep="last")
    rank = pl.col("last").fill_nan(0.0)
    return (
        newest.sort("last_step", "last_timestamp", rank, "seq", "writer")
        .group_by("run_id", "key")
        .agg(
            pl.col("count").sum(),
            pl.col("min").min(),
            pl.col("max").max(),
            pl.col("last").last(),
            pl.col("last_step").last(),
            pl.col("last_timestamp").last(),
        )
    )


def _pick(old: float | None, new: float | None, choose: object) -> float | None:
    if old is None:
        return new
    if new is None:
        return old
    return choose(old, new)  # type: ignore[operator, no-any-return]
