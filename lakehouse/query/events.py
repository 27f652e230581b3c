"""The one order of run events, and what a status event says about the run's end time.

Every reader of ``tracking/runs`` (``lh.runs()``, ``lh.run()``, the MLflow store, recovery) folds events in
the order their writers *applied* them, never in the order of the times they carry: ``at`` is a time a client
may give (an MLflow ``start_time``/``end_time``, a historical import, a machine whose clock is off), so
ordering by it could let an earlier-dated ``FINISHED`` lose to the ``RUNNING`` it ended.

Each row's ``seq`` is its writer's application clock: microseconds since the epoch when the writer queued
the event, kept strictly increasing per writer (:class:`ApplicationClock`). Rows written before this rule
carry a per-writer counter from 1 instead; those are placed by their ``at``, as they were then. The order is
(application time, writer, seq): total, because a writer never repeats a ``seq``.

A ``status`` event sets the status; its ``key`` says what it does to the end time:
``None`` (lakehouse runs and older rows): the end time is the event's ``at`` when the status is terminal and
none otherwise; :data:`END_GIVEN`: the end time is ``at`` whatever the status (MLflow's ``update_run_info``
with an ``end_time``); :data:`END_KEPT`: the end time stays as it was (``update_run_info`` without one).
"""

from __future__ import annotations

import threading
import time
from typing import TypeVar

import polars as pl

#: ``seq`` values below this are the per-writer counters of older rows (10**12 microseconds is January 1970).
COUNTER_LIMIT = 10**12
#: Status event ``key``: the event's ``at`` is the run's end time, whatever the status.
END_GIVEN = "end_time"
#: Status event ``key``: the event leaves the run's end time as it was.
END_KEPT = "end_time_kept"

#: When an event was applied, in microseconds since the epoch (an older row's ``at``).
APPLIED = pl.when(pl.col("seq") < COUNTER_LIMIT).then(pl.col("at").dt.epoch("us")).otherwise(pl.col("seq"))
#: The total order of run events, oldest first: sort by these.
ORDER = (APPLIED, pl.col("writer"), pl.col("seq"))

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def in_order(events: Frame) -> Frame:
    """``events`` (any columns, with ``at``, ``writer`` and ``seq``) oldest first, in the one order."""
    return events.sort(*ORDER, maintain_order=True)


class ApplicationClock:
    """A writer's ``seq`` source: the current time in microseconds, strictly increasing even if the clock
    steps back or two events land in the same microsecond."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __next__(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return self._last
