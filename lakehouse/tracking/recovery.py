"""Commit what dead writers left in the spool, exactly once.

For each writer folder whose lock can be taken (its process is gone): read each table's transaction version
for that writer id, then walk the segments in order. A part whose segment number is at or below the table's
version is already in the table (the writer died after committing and before deleting the file) and is
dropped; the others are committed under the dead writer's id, so a second recovery, racing or later, drops
them in turn. Unreadable segments go to ``<spool>/_corrupt/`` with a warning, never half-committed.

Then the runs the dead writer left open (it lists them in its folder) and the table still shows RUNNING are
marked FAILED as of the writer's last sign of life, with the reason in the ``lakehouse.error`` tag: a process
killed outright (SIGKILL, out of memory, power loss) never got to end them. A run resumed elsewhere since has
a newer status, which stays the one shown.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.config import Settings
from lakehouse.entities import ERROR_TAG, RecoveryReport
from lakehouse.errors import TrackingWarning
from lakehouse.tracking import commit as committing
from lakehouse.tracking.spool import CorruptSegment, WriterSpool, claim, writer_folders

log = logging.getLogger("lakehouse.tracking")


def recover(layout: Layout, settings: Settings, *, spool: Path | None = None) -> RecoveryReport:
    """Recover every dead writer's folder under ``spool`` (default: this machine's spool for the root)."""
    from lakehouse.tracking.writer import spool_root

    folder_root = spool if spool is not None else spool_root(settings, layout)
    recovered: list[str] = []
    failed_runs: list[str] = []
    alive: list[str] = []
    errors: list[str] = []
    totals = {"committed": 0, "already": 0, "quarantined": 0, "points": 0}
    for folder in writer_folders(folder_root):
        with claim(folder) as owned:
            if owned is None:
                alive.append(folder.name)
                continue
            try:
                counts, failed = _recover_writer(owned, layout, settings)
            except Exception as e:  # noqa: BLE001 - report and keep the segments; the next recovery retries
                errors.append(f"{folder.name}: {e}")
                log.warning("recovery of %s stopped: %s", folder.name, e)
                continue
            for k, v in counts.items():
                totals[k] += v
            failed_runs.extend(failed)
            if any(counts.values()) or failed:
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
        runs_failed=tuple(failed_runs),
        errors=tuple(errors),
    )


def _recover_writer(spool: WriterSpool, layout: Layout, settings: Settings) -> tuple[dict[str, int], list[str]]:
    """Commit the writer's segments; then fail the runs it left open. Returns the counts and those runs."""
    counts = {"committed": 0, "already": 0, "quarantined": 0, "points": 0}
    numbers = spool.sequence_numbers()
    left_open = spool.open_runs()
    if not numbers and not left_open:
        return counts, []
    seen = spool.last_seen()  # before this recovery changes the folder
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
    failed: list[str] = []
    if left_open:
        after = max([*through.values(), *numbers, 0]) + 1
        failed = _fail_left_open(spool, left_open, tables["runs"], settings, seq=after, seen=seen)
        spool.forget_open_runs()
    return counts, failed


def _fail_left_open(
    spool: WriterSpool, run_ids: list[str], runs: Path, settings: Settings, *, seq: int, seen: datetime
) -> list[str]:
    """Mark FAILED, as of ``seen``, those of ``run_ids`` the runs table still shows RUNNING (one commit)."""
    running = _still_running(runs, run_ids)
    if not running:
        return []
    owner = spool.owner()
    why = (
        f"the process that ran it (pid {owner.get('pid', '?')} on {owner.get('host', '?')}) ended without "
        f"finishing the run; last seen {seen:%Y-%m-%d %H:%M:%S} UTC"
    )
    rows: list[Mapping[str, Any]] = []
    for event, run_id in enumerate(running):
        # Events of their own writer name, numbered from 1: the dead writer's own numbers are unknown here.
        common = {"run_id": run_id, "at": seen, "writer": f"{spool.writer_id}/recovery"}
        rows.append({**common, "kind": "tag", "key": ERROR_TAG, "value": why, "seq": 2 * event + 1})
        rows.append({**common, "kind": "status", "value": "FAILED", "seq": 2 * event + 2})
    spec = committing.SPECS["runs"]
    committing.commit_part(runs, spec, spec.from_rows(rows), settings, writer_id=spool.writer_id, seq=seq)
    # Logged, not warned: the report lists them, and a training process recovering on start has no use for it.
    log.warning("runs left RUNNING by a process that died are now FAILED: %s (%s)", ", ".join(running), why)
    return running


def _still_running(runs: Path, run_ids: list[str]) -> list[str]:
    """Those of ``run_ids`` whose newest status in the table is RUNNING (the order :mod:`query.runs` uses)."""
    if not storage.exists(runs):
        return []
    newest = (
        storage.scan(runs)
        .filter(pl.col("run_id").is_in(run_ids) & (pl.col("kind") == "status"))
        .sort("at", "seq")
        .group_by("run_id")
        .agg(pl.col("value").last())
        .collect()
    )
    status = dict(zip(newest.get_column("run_id").to_list(), newest.get_column("value").to_list(), strict=True))
    return [run_id for run_id in run_ids if status.get(run_id) == "RUNNING"]


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
