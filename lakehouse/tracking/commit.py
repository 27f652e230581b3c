"""Commit one part of a spool segment to its tracking table, exactly once.

Each commit carries the Delta app transaction ``(writer id, segment number)``. delta-rs records it but does
not skip a repeated version itself, so whoever commits a segment it is not sure about (after a failed
attempt, or when recovering a dead writer's spool) first asks :func:`committed_through`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lakehouse import storage
from lakehouse.catalog.tables import METRIC_SUMMARIES, METRICS, RUN_EVENTS, RUN_INPUTS, TableSpec
from lakehouse.config import Settings
from lakehouse.errors import CommitConflict

#: Segment part name -> table spec, in commit order: a run's events land before its points.
SPECS: dict[str, TableSpec] = {
    "runs": RUN_EVENTS,
    "inputs": RUN_INPUTS,
    "metric_summaries": METRIC_SUMMARIES,
    "metrics": METRICS,
}


def committed_through(path: Path, writer_id: str) -> int:
    """The newest segment number of ``writer_id`` recorded in the table at ``path`` (0 if none)."""
    found = storage.transaction_version(path, writer_id)
    return 0 if found is None else found


def commit_part(path: Path, spec: TableSpec, data: pa.Table, settings: Settings, *, writer_id: str, seq: int) -> None:
    """Append ``data`` with app transaction ``(writer_id, seq)``, creating the table on first use."""
    for attempt in range(3):
        try:
            storage.append(
                path,
                data,
                partition_by=spec.partition_by or None,
                configuration=spec.properties(settings),
                app_transaction=(writer_id, seq),
                max_commit_retries=settings.max_commit_retries,
            )
            return
        except CommitConflict:
            # Losing the race to create the table is the one conflict worth an immediate retry (as an append);
            # anything else goes back to the writer, which keeps the segment and retries with backoff.
            if attempt == 2 or not storage.exists(path):
                raise
