"""Per-run metric summaries (count, min, max, last) kept up to date by the writer, flush by flush.

``lh.runs()`` shows last/min/max of every metric of every run; computing that from the fact table would read
every point ever logged. Instead each flush carries, next to its points, one row per (run, key) of the runs it
touched: the writer's *cumulative* summary so far. The newest row per (run, key, writer) therefore supersedes
the older ones (``lakehouse maintain`` deletes those), and rows of different writers (a resumed run) merge
with min/max/sum and the "last" of the greatest (step, timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from lakehouse.catalog.tables import METRIC_SUMMARIES

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
        frame = points.coded
        group = "_g"
        value = pl.col("value")
        not_nan = value.filter(value.is_not_nan())
        stats = frame.group_by(group).agg(
            pl.len().alias("count"), not_nan.min().alias("min"), not_nan.max().alias("max")
        )
        # The last point is the one with the greatest (step, timestamp), the latest logged among equals. Narrow
        # down with two window maxima instead of sorting every group: usually one row per group survives.
        newest = (
            frame.filter(pl.col("step") == pl.col("step").max().over(group))
            .filter(pl.col("timestamp") == pl.col("timestamp").max().over(group))
            .group_by(group)
            .agg(
                value.last().alias("last"),
                pl.col("step").last().alias("last_step"),
                pl.col("timestamp").last().alias("last_timestamp"),
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
            if (row["last_step"], row["last_timestamp"]) >= (old.last_step, old.last_timestamp):
                old.last, old.last_step, old.last_timestamp = row["last"], row["last_step"], row["last_timestamp"]
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
        frame = pl.DataFrame(rows, schema=_ROW_SCHEMA)
        return (
            frame.with_columns(pl.col("last_timestamp").cast(pl.Datetime("us", "UTC")))
            .to_arrow()
            .cast(METRIC_SUMMARIES.schema)
        )


def _pick(old: float | None, new: float | None, choose: object) -> float | None:
    if old is None:
        return new
    if new is None:
        return old
    return choose(old, new)  # type: ignore[operator, no-any-return]


# The table's columns with the timestamp as plain int64 microseconds (cast afterwards).
_ROW_SCHEMA = {
    name: (pl.Int64 if name == "last_timestamp" else dtype) for name, dtype in METRIC_SUMMARIES.polars_schema.items()
}
