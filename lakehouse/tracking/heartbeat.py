"""Heartbeats: a live writer says so in the shared tables, so any machine can tell a lost run from a slow one.

While a run is open, its writer appends a ``heartbeat`` event (kind ``heartbeat``, no key or value) to
``tracking/runs`` every ``heartbeat_interval`` seconds, whether or not the run logs anything. A run's last
sign of life is then the time of its newest event of any kind (:mod:`lakehouse.query.liveness`).

Why an event in the runs table and not something riding on the commits the writer makes anyway (the app
transaction's ``lastUpdated``, say): a live run that logs nothing for an hour (a long evaluation, a data
loader stuck on a slow mount) makes no commit at all, so something must be written on a clock; a row of
the runs table is the cheapest such write that every reader already folds (one small commit per interval
and writer, the same for Spark and polars). The interval is minutes, so a run of a week adds some ten
thousand rows: nothing beside its points.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

KIND = "heartbeat"


class Heartbeat:
    """When each open run of one writer last had a heartbeat queued; which are due."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def due(self, open_runs: Iterable[str], now: float) -> list[dict[str, Any]]:
        """The heartbeat events (``runs`` rows) due at ``now`` (monotonic seconds) for ``open_runs``.

        A run seen for the first time is not due: its start events, just queued, are its first sign of life.
        """
        rows: list[dict[str, Any]] = []
        still_open: dict[str, float] = {}
        for run_id in open_runs:
            last = self._last.get(run_id)
            if last is None or now - last < self.interval:
                still_open[run_id] = now if last is None else last
                continue
            still_open[run_id] = now
            rows.append({"run_id": run_id, "kind": KIND, "at": datetime.now(UTC)})
        self._last = still_open  # runs that ended are forgotten
        return rows
