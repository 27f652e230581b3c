"""Lost runs: RUNNING in the tables, but without a sign of life for longer than ``tracking.lost_after``.

A run's last sign of life (``last_seen``) is the newest of its events of any kind in ``tracking/runs`` and
of its points' timestamps (as the metric summaries hold them). A live writer adds a ``heartbeat`` event every
``tracking.heartbeat_interval`` while the run is open (:mod:`lakehouse.tracking.heartbeat`), so only a run
whose process is gone (or cut off from the storage) falls silent; points count too because runs logged
through a handle that is not the run's owner (an MLflow client through the tracking store) have no heartbeat,
only what they log. "Lost" is derived at read time and never stored: the status stays RUNNING until something
ends the run (``lakehouse runs recover --stale``, or the process itself if it was only cut off).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl


def last_seen(events: pl.DataFrame, summaries: pl.DataFrame) -> pl.DataFrame:
    """``run_id`` (a string) and ``last_seen`` for each run in ``events``: its newest event or point.

    ``events`` has the runs table's ``run_id`` and ``at``; ``summaries`` the summaries' ``run_id`` and
    ``last_timestamp``.
    """
    seen = [
        events.select(pl.col("run_id").cast(pl.String), pl.col("at").alias("last_seen")),
        summaries.select(pl.col("run_id").cast(pl.String), pl.col("last_timestamp").alias("last_seen")),
    ]
    known = events.select(pl.col("run_id").cast(pl.String)).unique()
    newest = pl.concat(seen).group_by("run_id").agg(pl.col("last_seen").max())
    return known.join(newest, on="run_id", how="left")


def cutoff(lost_after: float, now: datetime | None = None) -> datetime:
    """The time before which a RUNNING run's last sign of life makes it lost."""
    return (now or datetime.now(UTC)) - timedelta(seconds=lost_after)


def with_lost(frame: pl.DataFrame, lost_after: float, now: datetime | None = None) -> pl.DataFrame:
    """``frame`` (columns ``status``, ``last_seen``) with its ``lost`` column as of ``now``: True for a RUNNING
    run silent for longer than ``lost_after`` seconds.

    Series arithmetic rather than an expression: ``lh.runs()`` derives it on every call, and building and
    planning an expression with a datetime literal costs more than the comparison itself.
    """
    seen = frame.get_column("last_seen")
    # Kleene logic: a run never seen is False by is_not_null, without a fill_null (which builds a query).
    column = ((frame.get_column("status") == "RUNNING") & seen.is_not_null() & (seen < cutoff(lost_after, now))).alias(
        "lost"
    )
    if "lost" not in frame.columns:
        return frame.hstack([column])
    out = frame.clone()
    out.replace_column(frame.get_column_index("lost"), column)
    return out


def is_lost(status: str, seen: datetime | None, lost_after: float, now: datetime | None = None) -> bool:
    """:func:`with_lost` for one run."""
    return status == "RUNNING" and seen is not None and seen < cutoff(lost_after, now)
