"""Lost runs: RUNNING in the tables, but without a sign of life for longer than ``tracking.lost_after``.

A run's last sign of life (``last_seen``) is the time of its newest event of any kind in ``tracking/runs``;
a live writer adds a ``heartbeat`` event every ``tracking.heartbeat_interval`` while the run is open
(:mod:`lakehouse.tracking.heartbeat`), so only a run whose process is gone (or cut off from the storage)
falls silent. "Lost" is derived at read time and never stored: the status stays RUNNING until something
ends the run (``lakehouse runs recover --stale``, or the process itself if it was only cut off).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl


def last_seen(events: pl.DataFrame) -> pl.DataFrame:
    """``run_id`` (a string) and ``last_seen``, the time of the run's newest event, for each run in ``events``."""
    return (
        events.group_by("run_id")
        .agg(pl.col("at").max().alias("last_seen"))
        .with_columns(pl.col("run_id").cast(pl.String))
    )


def cutoff(lost_after: float, now: datetime | None = None) -> datetime:
    """The time before which a RUNNING run's last sign of life makes it lost."""
    return (now or datetime.now(UTC)) - timedelta(seconds=lost_after)


def lost(lost_after: float, now: datetime | None = None) -> pl.Expr:
    """True for a RUNNING run silent for longer than ``lost_after`` seconds (columns ``status``, ``last_seen``)."""
    silent = pl.col("last_seen") < cutoff(lost_after, now)
    return ((pl.col("status") == "RUNNING") & silent.fill_null(False)).alias("lost")


def is_lost(status: str, seen: datetime | None, lost_after: float, now: datetime | None = None) -> bool:
    """:func:`lost` for one run."""
    return status == "RUNNING" and seen is not None and seen < cutoff(lost_after, now)
