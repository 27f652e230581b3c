"""Commit what dead writers left in the spool, exactly once.

For each writer folder whose lock can be taken (its process is gone): read each table's transaction version
for that writer id, then walk the segments in order. A part whose segment number is at or below the table's
version is already in the table (the writer died after committing and before deleting the file) and is
dropped; the others are committed under the dead writer's id, so a second recovery, racing or later, drops
them in turn. Unreadable segments go to ``<spool>/_corrupt/`` with a warning, never half-committed.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from lakehouse.catalog.layout import Layout
from lakehouse.config import Settings
from lakehouse.errors import TrackingWarning
from lakehouse.tracking import commit as committing
from lakehouse.tracking.spool import CorruptSegment, WriterSpool, claim, writer_folders
from lakehouse.tracking.values import RecoveryReport

log = logging.getLogger("lakehouse.tracking")


def recover(layout: Layout, settings: Settings, *, spool: Path | None = None) -> RecoveryReport:
    """Recover every dead writer's folder under ``spool`` (default: this machine's spool for the root)."""
    from lakehouse.tracking.writer import spool_root

    folder_root = spool if spool is not None else spool_root(settings, layout)
    recovered: list[str] = []
    alive: list[str] = []
    errors: list[str] = []
    totals = {"committed": 0, "already": 0, "quarantined": 0, "points": 0}
    for folder in writer_folders(folder_root):
        with claim(folder) as owned:
            if owned is None:
                alive.append(folder.name)
                continue
            try:
                counts = _recover_writer(owned, layout, settings)
            except Exception as e:  # noqa: BLE001 - report and keep the segments; the next recovery retries
                errors.append(f"{folder.name}: {e}")
                log.warning("recovery of %s stopped: %s", folder.name, e)
                continue
            for k, v in counts.items():
                totals[k] += v
            if any(counts.values()):
                recovered.append(folder.name)
            _clean(owned)
    return RecoveryReport(
        spool=str(folder_root),
        writers_recovered=tuple(recovered),
        writers_alive=tuple(alive),
        segments_committed=totals["committed"],
        segments_already_committed=totals["already"],
        segments_quarantined=totals["quarantined"],
        points_committed=totals["points"],
        errors=tuple(errors),
    )


def _recover_writer(spool: WriterSpool, layout: Layout, settings: Settings) -> dict[str, int]:
    counts = {"committed": 0, "already": 0, "quarantined": 0, "points": 0}
    numbers = spool.sequence_numbers()
    if not numbers:
        return counts
    owner_root = spool.owner().get("root")
    target = Layout(Path(owner_root)) if owner_root else layout
    tables = target.tracking_tables
    through = {name: committing.committed_through(path, spool.writer_id) for name, path in tables.items()}
    for seq in numbers:
        try:
            segment = spool.read(seq)
        except (OSError, CorruptSegment) as e:
            moved = spool.quarantine(seq)
            counts["quarantined"] += 1
            warn(f"spool segment {seq} of writer {spool.writer_id} is corrupt ({e}); moved to {moved}")
            continue
        if segment.writer != spool.writer_id or segment.seq != seq:
            moved = spool.quarantine(seq)
            counts["quarantined"] += 1
            warn(f"spool segment {seq} of writer {spool.writer_id} names another writer or number; moved to {moved}")
            continue
        wrote = False
        for name, spec in committing.SPECS.items():
            data = segment.parts.get(name)
            if data is None or through[name] >= seq:
                continue
            committing.commit_part(tables[name], spec, data, settings, writer_id=spool.writer_id, seq=seq)
            through[name] = seq
            wrote = True
            if name == "metrics":
                counts["points"] += data.num_rows
        if wrote:
            counts["committed"] += 1
        else:
            counts["already"] += 1
        spool.delete(seq)
    return counts


def warn(message: str) -> None:
    """Log and warn (as :class:`TrackingWarning`) without ever raising, whatever the warnings filters say."""
    log.warning(message)
    try:
        warnings.warn(message, TrackingWarning, stacklevel=3)
    except Exception:  # noqa: BLE001 - a filter set to "error" must not abort a recovery half-way
        log.debug("warning suppressed by filters: %s", message)


def _clean(spool: WriterSpool) -> None:
    """Drop half-written temporary files (they never became segments) and the folder once empty."""
    for temporary in spool.folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            temporary.unlink()
    spool.remove_if_empty()
