"""Commit what dead writers left in the spool, exactly once.

For each writer folder whose lock can be taken (its process is gone): read each table's transaction version
for that writer id, then walk the segments in order. A part whose segment number is at or below the table's
version is already in the table (the writer died after committing and before deleting the file) and is
dropped; the others are committed under the dead writer's id, so a second recovery, racing or later, drops
them in turn. Unreadable segments go to ``<spool>/_corrupt/`` with a warning, never half-committed.

A recovery killed half-way leaves the folder recoverable by the next one, exactly once: each part commits
under the dead writer's app transaction before its segment is deleted, the runs left open are forgotten
only once failed, and the bookkeeping files go last.

Then the runs the dead writer left open (it lists them in its folder) and the table still shows RUNNING are
marked FAILED as of the writer's last sign of life, with the reason in the ``lakehouse.error`` tag: a process
killed outright (SIGKILL, out of memory, power loss) never got to end them. A run resumed elsewhere since has
a newer status, which stays the one shown.

A spool whose writer was last seen longer ago than the tracking tables' transaction retention
(``tracking.transaction_retention``, less a margin) is refused and left in place: Delta may have expired the
writer's app transaction, and then the tables can no longer tell which of its segments are in already.

``stale=`` (``lakehouse runs recover --stale 10m``) also works from any machine sharing the root: a run the
runs table shows RUNNING with no sign of life (newest event, heartbeats included) for that long is marked
FAILED the same way. Those commits carry one app transaction id shared by every stale recovery, based on
the version they read, so two racing recoveries cannot both fail a run: the loser conflicts, re-reads and
finds nothing left to do. A run whose writer holds its spool lock on this machine is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES, append_table, scan_or_empty
from lakehouse.config import Settings, format_duration, parse_duration
from lakehouse.entities import ERROR_TAG, RecoveryReport
from lakehouse.errors import CommitConflict, ConfigError, InvalidArgument, TrackingWarning
from lakehouse.location import Location
from lakehouse.query import liveness
from lakehouse.query.events import ApplicationClock, in_order
from lakehouse.tracking import commit as committing
from lakehouse.tracking.spool import (
    CorruptSegment,
    WriterSpool,
    claim,
    host_name,
    remove_abandoned_setups,
    writer_folders,
)

log = logging.getLogger("lakehouse.tracking")

#: The app transaction id every stale recovery commits under (one id: racing recoveries conflict).
STALE_APP_ID = "lakehouse-recover-stale"
_STALE_ATTEMPTS = 5
_MAX_SPOOL_MARGIN_S = 3600.0


class OldSpool(Exception):
    """A dead writer's spool older than the transaction retention: its segments can no longer be checked."""


def stale_seconds(value: object, settings: Settings) -> float:
    """``stale`` as seconds (``600``, ``"10m"``, ``"2h"``), refused when a live writer could look stale.

    A live writer adds a heartbeat every ``tracking.heartbeat_interval``; a bound shorter than two of them
    could take a slow but live run for a dead one.

    Raises:
        InvalidArgument: not a duration, or shorter than two heartbeat intervals.
    """
    try:
        seconds = parse_duration(value)
    except ConfigError as e:
        msg = f"stale: {e}"
        raise InvalidArgument(msg) from e
    shortest = 2 * settings.heartbeat_interval
    if seconds < shortest:
        msg = (
            f"stale {value!r} is shorter than two heartbeat intervals (tracking.heartbeat_interval = "
            f"{format_duration(settings.heartbeat_interval)}): a live run that logs nothing could be taken for a "
            f"dead one; use at least {format_duration(shortest)}"
        )
        raise InvalidArgument(msg)
    return seconds


def recover(
    layout: Layout, settings: Settings, *, spool: Path | None = None, stale: float | None = None
) -> RecoveryReport:
    """Recover every dead writer's folder under ``spool`` (default: this machine's spool for the root).

    With ``stale`` (seconds), then mark FAILED every RUNNING run of the root silent for longer than that,
    whichever machine ran it (the caller checks ``stale`` against the heartbeat interval).
    """
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
    remove_abandoned_setups(folder_root)
    stale_failed: list[str] = []
    if stale is not None:
        try:
            stale_failed = fail_stale(layout, settings, stale=stale, alive_writers=set(alive))
        except Exception as e:  # noqa: BLE001 - reported like a writer's failure; nothing half-done (one commit)
            errors.append(f"stale runs: {e}")
            log.warning("failing stale runs stopped: %s", e)
    return RecoveryReport(
        spool=str(folder_root),
        writers_recovered=tuple(recovered),
        writers_alive=tuple(alive),
        segments_committed=totals["committed"],
        segments_already_committed=totals["already"],
        segments_quarantined=totals["quarantined"],
        points_committed=totals["points"],
        runs_failed=tuple(failed_runs),
        stale_runs_failed=tuple(stale_failed),
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
    if numbers:  # only segments can be committed twice; failing left-open runs checks their status first
        _refuse_if_old(spool, seen, settings)
    owner_root = spool.owner().get("root")
    target = Layout(owner_root) if owner_root else layout
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


def _refuse_if_old(spool: WriterSpool, seen: datetime, settings: Settings) -> None:
    """Raise :class:`OldSpool` if the writer's app transaction may have expired from the tables.

    The transaction's ``lastUpdated`` is the writer's last commit; a segment still in the spool but already
    committed was being committed when the writer died, so that commit is no older than the folder's last
    change. The margin covers the gap between the two and a clock adjusted meanwhile.
    """
    retention = settings.transaction_retention
    limit = retention - min(_MAX_SPOOL_MARGIN_S, retention / 10)
    age = (datetime.now(UTC) - seen).total_seconds()
    if age < limit:
        return
    msg = (
        f"spool {str(spool.folder)!r} of writer {spool.writer_id} was last written {seen:%Y-%m-%d %H:%M} UTC, "
        f"longer ago than the tracking tables keep a writer's app transaction "
        f"(tracking.transaction_retention = {format_duration(retention)}), so the tables can no longer tell "
        f"which of its segments are in already and recovering it could duplicate points; it was left as it "
        f"is: check its runs ({', '.join(spool.open_runs()) or 'none open'}) with `lakehouse runs show`, then "
        f"delete the folder (or move it aside), and mark runs left RUNNING with `lakehouse runs recover --stale`"
    )
    raise OldSpool(msg)


def fail_stale(
    layout: Layout,
    settings: Settings,
    *,
    stale: float,
    alive_writers: Collection[str] = (),
    read_version: int | None = None,
) -> list[str]:
    """Mark FAILED the runs RUNNING without a sign of life for ``stale`` seconds; returns them.

    One commit under :data:`STALE_APP_ID`, based on the version the decision was read from
    (``read_version``: newest if None); a racing recovery that committed first makes it conflict, and the
    decision is taken again from the newer version. Runs written by ``alive_writers`` are left alone.
    """
    runs = layout.runs
    if not storage.exists(runs):
        return []
    for _ in range(_STALE_ATTEMPTS):
        version = storage.latest_version(runs) if read_version is None else read_version
        silent = _silent_runs(layout, version, stale=stale, alive_writers=alive_writers)
        if silent.height == 0:
            return []
        rows = _stale_rows(silent, stale)
        done = storage.transaction_version(runs, STALE_APP_ID) or 0
        spec = committing.SPECS["runs"]
        try:
            append_table(
                runs,
                spec,
                spec.from_rows(rows),
                settings,
                app_transaction=(STALE_APP_ID, done + 1),
                read_version=version,
            )
        except CommitConflict:
            read_version = None  # another recovery (or anything with our id) committed: decide again
            continue
        failed: list[str] = silent.get_column("run_id").to_list()
        log.warning("runs without a sign of life for %s are now FAILED: %s", format_duration(stale), ", ".join(failed))
        return failed
    msg = f"gave up after {_STALE_ATTEMPTS} attempts: other recoveries kept committing to {str(runs)!r}"
    raise CommitConflict(msg)


def _silent_runs(layout: Layout, version: int, *, stale: float, alive_writers: Collection[str]) -> pl.DataFrame:
    """``run_id, last_seen, writer`` of runs RUNNING at ``version`` with no event or point newer than ``stale`` ago."""
    events = storage.scan(layout.runs, version).select("run_id", "kind", "at", "value", "writer", "seq").collect()
    summaries = scan_or_empty(layout.metric_summaries, METRIC_SUMMARIES).select("run_id", "last_timestamp").collect()
    newest = (
        in_order(events)
        .group_by("run_id")
        .agg(
            pl.col("value").filter(pl.col("kind") == "status").last().fill_null("RUNNING").alias("status"),
            pl.col("writer").last().alias("writer"),
            pl.col("writer").is_in(list(alive_writers)).any().alias("_alive"),
        )
        .with_columns(pl.col("run_id").cast(pl.String))
        .join(liveness.last_seen(events, summaries), on="run_id")
    )
    return (
        newest.filter(
            (pl.col("status") == "RUNNING") & (pl.col("last_seen") < liveness.cutoff(stale)) & ~pl.col("_alive")
        )
        .select("run_id", "last_seen", "writer")
        .sort("run_id")
    )


def _stale_rows(silent: pl.DataFrame, stale: float) -> list[Mapping[str, Any]]:
    """The error tag and FAILED status events of the silent runs."""
    me = f"{host_name()}-{os.getpid()}"
    applied = ApplicationClock()  # applied now: after every event the decision was read from, whatever their times
    rows: list[Mapping[str, Any]] = []
    for run_id, seen, writer in silent.iter_rows():
        why = (
            f"no sign of life from the process that ran it (writer {writer}) since {seen:%Y-%m-%d %H:%M:%S} UTC, "
            f"more than {format_duration(stale)} before `lakehouse runs recover --stale` on {host_name()} "
            f"marked it FAILED at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
        )
        # Ended just after its last sign of life.
        common = {"run_id": run_id, "at": seen + timedelta(microseconds=1), "writer": f"recover-stale/{me}"}
        rows.append({**common, "kind": "tag", "key": ERROR_TAG, "value": why, "seq": next(applied)})
        rows.append({**common, "kind": "status", "value": "FAILED", "seq": next(applied)})
    return rows


def _fail_left_open(
    spool: WriterSpool, run_ids: list[str], runs: Location, settings: Settings, *, seq: int, seen: datetime
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
    applied = ApplicationClock()  # applied now, after everything the dead writer committed, whatever its times
    rows: list[Mapping[str, Any]] = []
    for run_id in running:
        # Events of their own writer name: the run ended as of its last sign of life.
        common = {"run_id": run_id, "at": seen, "writer": f"{spool.writer_id}/recovery"}
        rows.append({**common, "kind": "tag", "key": ERROR_TAG, "value": why, "seq": next(applied)})
        rows.append({**common, "kind": "status", "value": "FAILED", "seq": next(applied)})
    spec = committing.SPECS["runs"]
    committing.commit_part(runs, spec, spec.from_rows(rows), settings, writer_id=spool.writer_id, seq=seq)
    # Logged, not warned: the report lists them, and a training process recovering on start has no use for it.
    log.warning("runs left RUNNING by a process that died are now FAILED: %s (%s)", ", ".join(running), why)
    return running


def _still_running(runs: Location, run_ids: list[str]) -> list[str]:
    """Those of ``run_ids`` whose newest status in the table is RUNNING (the order :mod:`query.runs` uses)."""
    if not storage.exists(runs):
        return []
    newest = (
        in_order(storage.scan(runs).filter(pl.col("run_id").is_in(run_ids) & (pl.col("kind") == "status")))
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
