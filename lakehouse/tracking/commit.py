"""Commit one part of a spool segment to its tracking table, exactly once.

Each commit carries the Delta app transaction ``(writer id, segment number)``. delta-rs records it but does
not skip a repeated version itself, so whoever commits a segment it is not sure about (after a failed
attempt, or when recovering a dead writer's spool) first asks :func:`committed_through`.

Every writer process has its own id, so each leaves one app transaction in every tracking table it wrote.
The tables carry ``delta.setTransactionRetentionDuration`` (``tracking.transaction_retention``), and every
transaction its ``lastUpdated`` time, so Delta drops a writer's transaction once the writer has committed
nothing for that long: the log and its checkpoints stop growing with every process ever started. The price
is that :func:`committed_through` cannot tell an expired transaction from none; recovery therefore refuses
spools older than the retention (:mod:`lakehouse.tracking.recovery`).
"""

from __future__ import annotations

import pyarrow as pa

from lakehouse import storage
from lakehouse.catalog.tables import METRIC_SUMMARIES, METRICS, RUN_EVENTS, RUN_INPUTS, TableSpec
from lakehouse.config import Settings
from lakehouse.errors import CommitConflict, TableNotFound
from lakehouse.location import Location

#: Segment part name -> table spec, in commit order: a run's events land before its points.
SPECS: dict[str, TableSpec] = {
    "runs": RUN_EVENTS,
    "inputs": RUN_INPUTS,
    "metric_summaries": METRIC_SUMMARIES,
    "metrics": METRICS,
}


#: The Delta table property under which app transactions expire (by their ``lastUpdated``).
TRANSACTION_RETENTION = "delta.setTransactionRetentionDuration"
_INTERVAL_UNITS = (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))


def delta_interval(seconds: float) -> str:
    """A duration as a Delta interval property value both engines parse (``interval 30 days``)."""
    whole = max(round(seconds), 1)
    for unit, size in _INTERVAL_UNITS:
        if whole % size == 0:
            return f"interval {whole // size} {unit}"
    raise AssertionError(whole)  # pragma: no cover - seconds divide every whole number


def configuration(spec: TableSpec, settings: Settings) -> dict[str, str]:
    """The properties a tracking table the writer commits to is created with (retention of its transactions)."""
    return {**spec.properties(settings), TRANSACTION_RETENTION: delta_interval(settings.transaction_retention)}


def ensure_transaction_retention(path: Location, settings: Settings) -> bool:
    """Give an existing table the transaction retention of :func:`configuration`; True if it was changed.

    Tables created before the property existed keep every transaction forever until this runs (tracking
    maintenance calls it). A metadata commit conflicts with appends racing it, which the writers retry.
    """
    wanted = delta_interval(settings.transaction_retention)
    try:
        if storage.properties(path).get(TRANSACTION_RETENTION) == wanted:
            return False
    except TableNotFound:
        return False
    storage.set_properties(path, {TRANSACTION_RETENTION: wanted})
    return True


def committed_through(path: Location, writer_id: str) -> int:
    """The newest segment number of ``writer_id`` recorded in the table at ``path`` (0 if none)."""
    found = storage.transaction_version(path, writer_id)
    return 0 if found is None else found


def commit_part(
    path: Location, spec: TableSpec, data: pa.Table, settings: Settings, *, writer_id: str, seq: int
) -> None:
    """Append ``data`` with app transaction ``(writer_id, seq)``, creating the table on first use."""
    for attempt in range(3):
        try:
            storage.append(
                path,
                data,
                partition_by=spec.partition_by or None,
                configuration=configuration(spec, settings),
                app_transaction=(writer_id, seq),
                max_commit_retries=settings.max_commit_retries,
            )
            return
        except CommitConflict:
            # Losing the race to create the table is the one conflict worth an immediate retry (as an append);
            # anything else goes back to the writer, which keeps the segment and retries with backoff.
            if attempt == 2 or not storage.exists(path):
                raise
