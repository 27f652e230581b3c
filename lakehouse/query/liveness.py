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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse.query.events import Frame


def last_seen(events: Frame, summaries: Frame) -> Frame:
    """``run_id`` (a string) and ``last_seen`` for each run in ``events``: its newest event or point.

    ``events`` has the runs table's ``run_id`` and ``at``; ``summaries`` the summaries' ``run_id`` and
    ``last_timestamp``. Lazy frames give the plan (``lh.runs()`` collects it with the rest of its fold).
    """
    # Newest per run on each side first (grouping the identifiers as they come, categoricals hash cheaply),
    # then strings for the join of the two small results.
    run_id = pl.col("run_id").cast(pl.String)
    newest_event = events.group_by("run_id").agg(pl.col("at").max().alias("last_seen")).with_columns(run_id)
    newest_point = summaries.group_by("run_id").agg(pl.col("last_timestamp").max().alias("_point")).with_columns(run_id)
    return newest_event.join(newest_point, on="run_id", how="left").select(
        "run_id", pl.max_horizontal("last_seen", "_point").alias("last_seen")
    )


def cutoff(lost_after: float, now: datetime | None = None) -> datetime:
    """The time before which a RUNNING run's last sign of life makes it lost."""
    return (now or datetime.now(UTC)) - timedelta(seconds=lost_after)


@dataclass(frozen=True)
class Lost:
    """The ``lost`` column of a frame at one cutoff, and the cutoffs for which it stays the same.

    A run turns lost when the cutoff passes its ``last_seen`` (and back, should the clock go back): the column
    holds while the cutoff is after ``since`` (the newest ``last_seen`` among the lost runs) and not after
    ``until`` (the oldest among the RUNNING runs not lost yet). A reader that calls often keeps the column and
    derives it again only when :meth:`holds` says the cutoff crossed one of them.
    """

    column: pl.Series
    since: datetime | None
    until: datetime | None

    def holds(self, at: datetime) -> bool:
        """True when the column is the same at cutoff ``at``."""
        return (self.since is None or at > self.since) and (self.until is None or at <= self.until)


def lost(frame: pl.DataFrame, at: datetime) -> Lost:
    """The ``lost`` column of ``frame`` (columns ``status``, ``last_seen``) at cutoff ``at``: True for a RUNNING
    run last seen before it.

    Series arithmetic rather than an expression: ``lh.runs()`` derives it often, and building and planning an
    expression with a datetime literal costs more than the comparison itself.
    """
    seen = frame.get_column("last_seen")
    # Kleene logic: a run never seen is False by is_not_null, without a fill_null (which builds a query).
    watched = (frame.get_column("status") == "RUNNING") & seen.is_not_null()
    column = (watched & (seen < at)).alias("lost")
    since, until = seen.filter(column).max(), seen.filter(watched & ~column).min()
    assert since is None or isinstance(since, datetime)
    assert until is None or isinstance(until, datetime)
    return Lost(column=column, since=since, until=until)


def is_lost(status: str, seen: datetime | None, lost_after: float, now: datetime | None = None) -> bool:
    """Whether one run is lost at ``now`` (as :func:`lost` decides it for a frame)."""
    return status == "RUNNING" and seen is not None and seen < cutoff(lost_after, now)
