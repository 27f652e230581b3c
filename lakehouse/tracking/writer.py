"""The metrics writer: buffer on the caller's thread, spool and commit on a background thread.

One writer per process and lakehouse root serves every run of that process. ``run.log()`` appends one tuple
to :attr:`Writer.calls` and returns; a daemon thread wakes every ``flush_interval`` seconds (or when
``flush_points`` points wait, or on :meth:`Writer.flush`) and, per flush:

1. takes what is buffered and turns it into Arrow tables, one per tracking table (points, per-run metric
   summaries, run events, dataset inputs);
2. writes them as one checksummed segment into the spool (numbered 1, 2, ... per writer);
3. commits each part with the Delta app transaction ``(writer id, segment number)`` and deletes the segment.

Segments are committed strictly in order, so a table's transaction version for this writer is the last
segment it holds: recovery (:mod:`lakehouse.tracking.recovery`) commits exactly the leftover segments above
it. A failed commit keeps its segment (and every later one) and is retried with exponential backoff; no
exception ever reaches the caller: problems are warned about once (:class:`TrackingWarning`) and logged.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain, count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRICS
from lakehouse.config import Settings
from lakehouse.errors import TrackingWarning
from lakehouse.tracking import commit as committing
from lakehouse.tracking.spool import CorruptSegment, OwnedSpool, Segment, host_name
from lakehouse.tracking.summaries import SummaryBook

if TYPE_CHECKING:
    from lakehouse.tracking.run import Run
    from lakehouse.tracking.validate import RunStatus

log = logging.getLogger("lakehouse.tracking")

#: One ``run.log()`` call: (run id, step, timestamp in µs, keys, values).
Call = tuple[str, int, int, tuple[str, ...], tuple[float, ...]]
#: A run/input event for the ``runs`` or ``inputs`` table: (part name, row).
Event = tuple[str, dict[str, Any]]

_MAX_BACKOFF_S = 60.0
_IDLE_EXIT_S = 30.0  # a writer thread with no open run and nothing to do exits after this long
_KEEP_IN_MEMORY = 8  # pending segments also kept in memory; older ones are re-read from the spool


def spool_root(settings: Settings, layout: Layout) -> Path:
    """The spool folder of this machine for ``layout``'s root."""
    if settings.spool_dir:
        return Path(settings.spool_dir).expanduser().absolute()
    return layout.default_spool(host_name())


class Writer:
    """Buffers, spools and commits everything runs of this process log under one root."""

    def __init__(self, layout: Layout, settings: Settings) -> None:
        self.layout = layout
        self.settings = settings
        self.spool_root = spool_root(settings, layout)
        # Buffers: only ever appended to (callers) or sliced off the front (the flusher), never replaced, so a
        # caller holding ``calls.append`` never writes into a list the flusher already took.
        self.calls: list[Call] = []
        self.frames: list[pa.Table] = []
        self.events: list[Event] = []
        self.deferred: list[Callable[[], list[Event]]] = []
        self.open_runs: dict[str, Run] = {}
        self._summaries = SummaryBook()
        self._init_process_state()

    def _init_process_state(self) -> None:
        """Everything that belongs to one process: identity, spool folder, locks, thread."""
        self.writer_id = f"{host_name()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.event_seq = count(1)
        self._spool: OwnedSpool | None = None
        self._seq = 0
        self._pending: list[int] = []
        self._memory: dict[int, Segment] = {}
        self._committed: dict[str, int] = {}
        self._doubt: set[str] = set()
        self._failures = 0
        self._retry_at = 0.0
        self._warned: set[str] = set()
        self._io_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._wake = threading.Event()
        self.wake_requested = False
        self._thread: threading.Thread | None = None
        self._closed = False
        self._recovered = False
        self._commits_since_maintenance = 0
        self.last_error: str | None = None

    # --- caller side -------------------------------------------------------------------------------------

    def add_event(self, part: str, row: dict[str, Any]) -> None:
        """Queue one ``runs``/``inputs`` row (``writer`` and ``seq`` are filled in here)."""
        if part == "runs":
            row["writer"] = self.writer_id
            row["seq"] = next(self.event_seq)
        self.events.append((part, row))

    def defer(self, make_events: Callable[[], list[Event]]) -> None:
        """Queue work that produces events, run on the background thread (e.g. environment capture)."""
        self.deferred.append(make_events)

    def request_flush(self) -> None:
        """Wake the background thread (called by ``log()`` once ``flush_points`` points wait)."""
        if not self.wake_requested:
            self.wake_requested = True
            self._wake.set()

    def ensure_thread(self) -> None:
        """Start the background thread if it is not running."""
        with self._thread_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._loop, name=f"lakehouse-writer-{self.writer_id}", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything buffered so far; True if nothing is left uncommitted.

        Waits at most ``timeout`` seconds (default ``finish_timeout``) for a flush already in progress. Never
        raises: on failure the data stays in the spool for the background thread (or ``recover``) to commit.
        """
        wait = self.settings.finish_timeout if timeout is None else timeout
        if not self._io_lock.acquire(timeout=max(wait, 0.0)):
            self._warn("timeout", f"the flush did not finish within {wait:g}s; the data stays in the spool")
            return False
        try:
            return self._cycle(force=True)
        finally:
            self._io_lock.release()

    @property
    def pending_segments(self) -> int:
        """Segments written to the spool and not committed yet."""
        return len(self._pending)

    def buffered_points(self) -> int:
        """Points logged and not yet written to a segment."""
        calls = sum(len(c[3]) for c in list(self.calls))
        frames: int = sum(f.num_rows for f in list(self.frames))
        return calls + frames

    # --- background thread -------------------------------------------------------------------------------

    def _loop(self) -> None:
        idle_since: float | None = None
        if not self._recovered:
            self._recovered = True
            self._recover_others()
        while True:
            self._wake.wait(self._interval())
            self._wake.clear()
            self.wake_requested = False
            if self._closed:
                return
            with self._io_lock:
                done = self._cycle(force=False)
            self._maybe_maintain()
            busy = not done or self.open_runs or self.calls or self.events or self.frames or self.deferred
            if busy:
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since >= _IDLE_EXIT_S:
                with self._thread_lock:
                    if not (self.open_runs or self.calls or self.events or self.frames or self.deferred):
                        self._thread = None
                        return

    def _interval(self) -> float:
        interval = max(self.settings.flush_interval, 0.01)
        if self._pending and self._retry_at:
            return max(min(interval, self._retry_at - time.monotonic()), 0.01)
        return interval

    def _recover_others(self) -> None:
        """Commit the leftover segments of dead writers on this machine (the 'next start' recovery)."""
        from lakehouse.tracking import recovery

        try:
            report = recovery.recover(self.layout, self.settings, spool=self.spool_root)
        except Exception as e:  # noqa: BLE001 - recovery must never take the writer down
            self._warn("recover", f"recovering leftover spool segments failed: {e}")
            return
        if report.segments_committed or report.segments_quarantined:
            log.info("recovered spool: %s", report)

    def _maybe_maintain(self) -> None:
        every = self.settings.maintenance_commits
        if every <= 0 or self._commits_since_maintenance < every:
            return
        self._commits_since_maintenance = 0
        from lakehouse.tracking import maintenance

        try:
            maintenance.maintain(self.layout, self.settings, vacuum=False, only_if_needed=True)
        except Exception as e:  # noqa: BLE001 - maintenance is an optimisation; it must never stop logging
            log.info("automatic maintenance skipped: %s", e)

    # --- one flush ---------------------------------------------------------------------------------------

    def _cycle(self, *, force: bool) -> bool:
        """Spool what is buffered, then commit pending segments in order. Caller holds ``_io_lock``."""
        try:
            segment = self._drain()
        except Exception as e:  # noqa: BLE001 - a bug here must not lose the buffer silently
            self._warn("drain", f"could not prepare logged data for writing: {e!r}")
            return False
        if segment is not None:
            self._spool_segment(segment)
        return self._commit_pending(force=force)

    def _drain(self) -> Segment | None:
        for make in _take(self.deferred):
            try:
                for part, row in make():
                    self.add_event(part, row)
            except Exception as e:  # noqa: BLE001 - e.g. environment capture; the run goes on without it
                log.info("deferred event skipped: %s", e)
        calls = _take(self.calls)
        frames = _take(self.frames)
        events = _take(self.events)
        if not (calls or frames or events):
            return None
        self._seq += 1
        parts: dict[str, pa.Table] = {}
        for name in ("runs", "inputs"):
            rows = [row for part, row in events if part == name]
            if rows:
                parts[name] = committing.SPECS[name].from_rows(rows)
        points = points_table(calls, frames)
        if points is not None:
            parts["metric_summaries"] = self._summaries.update(points, writer_id=self.writer_id, seq=self._seq)
            parts["metrics"] = points.table
        return Segment(writer=self.writer_id, seq=self._seq, parts=parts)

    def _spool_segment(self, segment: Segment) -> None:
        self._pending.append(segment.seq)
        self._memory[segment.seq] = segment
        try:
            spool = self._own_spool()
            spool.write(segment, fsync=self.settings.spool_fsync)
        except OSError as e:
            # Keep it in memory: it is still committed (exactly once, by app transaction); only a crash
            # before that would lose it, which is what the warning says.
            self._warn("spool", f"cannot write to the spool {str(self.spool_root)!r} ({e}); keeping data in memory")
            return
        if len(self._memory) > _KEEP_IN_MEMORY:
            # Oldest segments wait longest: they are re-read from the spool when their turn comes.
            for seq in sorted(self._memory)[: len(self._memory) - _KEEP_IN_MEMORY]:
                if (spool.folder / f"{seq:012d}.seg").exists():
                    del self._memory[seq]

    def _own_spool(self) -> OwnedSpool:
        if self._spool is None:
            self._spool = OwnedSpool(self.spool_root, self.writer_id, root=self.layout.root)
        return self._spool

    def _commit_pending(self, *, force: bool) -> bool:
        while self._pending:
            if not force and time.monotonic() < self._retry_at:
                return False
            seq = self._pending[0]
            segment = self._memory.get(seq)
            if segment is None:
                try:
                    segment = self._own_spool().read(seq)
                except (OSError, CorruptSegment) as e:
                    self._quarantine(seq, e)
                    continue
            try:
                self._commit_segment(segment)
            except Exception as e:  # noqa: BLE001 - storage errors of every kind: keep the segment, retry later
                self._failures += 1
                self._retry_at = time.monotonic() + min(_MAX_BACKOFF_S, 0.5 * 2**self._failures)
                self.last_error = str(e)
                self._warn(
                    "commit",
                    f"committing logged data to {str(self.layout.root)!r} failed ({e}); it is kept in the spool "
                    f"{str(self.spool_root)!r} and retried",
                )
                log.info("commit of segment %s failed (attempt %s): %s", seq, self._failures, e)
                return False
            self._failures = 0
            self._retry_at = 0.0
            self._pending.pop(0)
            self._memory.pop(seq, None)
            if self._spool is not None:
                self._spool.delete(seq)
            self._commits_since_maintenance += 1
        return True

    def _commit_segment(self, segment: Segment) -> None:
        tables = self.layout.tracking_tables
        for name, spec in committing.SPECS.items():
            data = segment.parts.get(name)
            if data is None or self._committed.get(name, 0) >= segment.seq:
                continue
            path = tables[name]
            if name in self._doubt:
                # The last attempt failed somewhere: it may still have landed, so ask the table first.
                if committing.committed_through(path, self.writer_id) >= segment.seq:
                    self._committed[name] = segment.seq
                    self._doubt.discard(name)
                    continue
            self._doubt.add(name)
            committing.commit_part(path, spec, data, self.settings, writer_id=self.writer_id, seq=segment.seq)
            self._doubt.discard(name)
            self._committed[name] = segment.seq

    def _quarantine(self, seq: int, error: Exception) -> None:
        self._pending.remove(seq)
        target = None
        with contextlib.suppress(OSError):
            target = self._own_spool().quarantine(seq)
        self._warn(
            "corrupt", f"spool segment {seq} of writer {self.writer_id} is unreadable ({error}); moved to {target}"
        )

    def _warn(self, kind: str, message: str) -> None:
        log.warning(message)
        if kind in self._warned:
            return
        self._warned.add(kind)
        try:
            warnings.warn(message, TrackingWarning, stacklevel=3)
        except Exception:  # noqa: BLE001 - a warnings filter set to "error" must not turn this into a crash
            log.debug("warning suppressed by filters: %s", message)

    # --- shutdown and fork -------------------------------------------------------------------------------

    def close(self, *, timeout: float | None = None) -> bool:
        """Finish open runs, flush, stop the thread and release the spool folder (used at exit)."""
        # As MLflow does for its active run: a script that simply ends finishes its runs; one that died of an
        # uncaught exception (the interpreter sets sys.last_value) fails them.
        status: RunStatus = "FAILED" if getattr(sys, "last_value", None) is not None else "FINISHED"
        for run in list(self.open_runs.values()):
            with contextlib.suppress(Exception):
                run.end(status)
        done = self.flush(timeout)
        self._closed = True
        self._wake.set()
        if self._spool is not None:
            self._spool.release(remove=done)
        return done

    def reset_after_fork(self) -> None:
        """In a forked child: a new identity and empty buffers; the parent keeps its data and spool folder."""
        for buffer in (self.calls, self.frames, self.events, self.deferred):
            buffer.clear()
        self.open_runs.clear()
        self._summaries.clear()
        self._init_process_state()


def _take(buffer: list[Any]) -> list[Any]:
    """Remove and return the current items; items appended meanwhile by other threads stay for next time."""
    n = len(buffer)
    if not n:
        return []
    taken = buffer[:n]
    del buffer[:n]
    return taken


@dataclass(frozen=True)
class Points:
    """One flush's points: the Arrow table to commit, and the same rows keyed by an integer (run, key) code.

    ``coded`` has columns ``_g`` (group code), ``step``, ``timestamp`` (µs), ``value``; ``groups`` maps each
    code to its ``run_id`` and ``key``. Summaries group by the integer, which is several times faster than
    grouping a million rows by two strings.
    """

    table: pa.Table
    coded: pl.DataFrame
    groups: pl.DataFrame


def points_table(calls: list[Call], frames: list[pa.Table]) -> Points | None:
    """The buffered calls (and whole frames) as one batch of points.

    Built with polars from flat Python lists (building Arrow arrays from Python floats directly is much
    slower), with run ids and each call's key tuple interned: a training loop logs the same keys at every
    step, so the string columns are gathers from a few templates instead of a million Python strings.
    """
    parts: list[pl.DataFrame] = []
    if calls:
        parts.append(_calls_frame(calls))
    for frame in frames:
        part = pl.from_arrow(frame)
        assert isinstance(part, pl.DataFrame)
        parts.append(part.with_columns(pl.col("timestamp").dt.epoch("us"), pl.lit(0, pl.UInt32).alias("_g")))
    if not parts:
        return None
    points = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    if points.height == 0:
        return None
    if frames:  # codes of whole frames are not known yet: number every (run, key) pair afresh
        points = points.with_columns(pl.struct("run_id", "key").rank("dense").cast(pl.UInt32).alias("_g"))
    groups = points.select("_g", "run_id", "key").unique("_g")
    table = (
        points.select("run_id", "key", "step", pl.col("timestamp").cast(pl.Datetime("us", "UTC")), "value")
        .to_arrow()
        .cast(METRICS.schema)
    )
    return Points(table=table, coded=points.select("_g", "step", "timestamp", "value"), groups=groups)


def _calls_frame(calls: list[Call]) -> pl.DataFrame:
    """Columns run_id, key, step, timestamp (µs), value and the group code ``_g`` of buffered calls."""
    n = len(calls)
    runs: dict[str, int] = {}
    templates: dict[tuple[str, ...], int] = {}
    run_of = pl.Series([runs.setdefault(c[0], len(runs)) for c in calls], dtype=pl.UInt32)
    template_of = pl.Series([templates.setdefault(c[3], len(templates)) for c in calls], dtype=pl.UInt32)
    per_call = pl.DataFrame(
        {"_run": run_of, "step": [c[1] for c in calls], "timestamp": [c[2] for c in calls]},
        schema={"_run": pl.UInt32, "step": pl.Int64, "timestamp": pl.Int64},
    )
    values = pl.Series("value", list(chain.from_iterable(c[4] for c in calls)), dtype=pl.Float64)
    key_codes: dict[str, int] = {}
    flat = [key_codes.setdefault(k, len(key_codes)) for k in chain.from_iterable(templates)]
    flat_codes = pl.Series(flat, dtype=pl.UInt32)
    sizes = pl.Series([len(t) for t in templates], dtype=pl.UInt32)
    if len(templates) == 1 and sizes[0] == 1:
        key_index = pl.zeros(n, dtype=pl.UInt32, eager=True)
    else:
        lengths = sizes.gather(template_of)
        call_index = pl.int_range(0, n, eager=True).repeat_by(lengths).explode()
        per_call = per_call[call_index]
        # Position of each point within its call: 0..len-1, then back to 0 at the next call.
        first_point = (lengths.cum_sum() - lengths).gather(call_index)
        position = pl.int_range(0, len(call_index), eager=True) - first_point
        starts = sizes.cum_sum() - sizes
        key_index = starts.gather(template_of.gather(call_index)) + position
    key_code = flat_codes.gather(key_index)
    run_code = per_call.get_column("_run")
    return per_call.select(
        pl.Series(list(runs), dtype=pl.String).gather(run_code).alias("run_id"),
        pl.Series(list(key_codes), dtype=pl.String).gather(key_code).alias("key"),
        "step",
        "timestamp",
        values,
        (run_code * len(key_codes) + key_code).cast(pl.UInt32).alias("_g"),
    )


# --- one writer per process and root ---------------------------------------------------------------------

_writers: dict[tuple[str, str], Writer] = {}
_writers_lock = threading.Lock()


def get_writer(layout: Layout, settings: Settings) -> Writer:
    """The writer of this process for ``layout``'s root (created on first use)."""
    key = (str(layout.root), str(spool_root(settings, layout)))
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None or writer._closed:
            writer = _writers[key] = Writer(layout, settings)
        return writer


def active_writers() -> list[Writer]:
    with _writers_lock:
        return list(_writers.values())


def flush_all(timeout: float | None = None) -> bool:
    """Flush every writer of this process; True if nothing is left uncommitted."""
    results = [w.flush(timeout) for w in active_writers()]  # flush every writer, even after a failure
    return all(results)


def _close_all_at_exit() -> None:
    for writer in active_writers():
        with contextlib.suppress(Exception):
            writer.close()


def _after_fork_in_child() -> None:
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in list(_writers.values()):
        writer.reset_after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def writer_status(writer: Writer) -> Mapping[str, Any]:
    """Diagnostics for ``lakehouse runs recover`` and tests."""
    return {
        "writer": writer.writer_id,
        "spool": str(writer.spool_root),
        "pending_segments": writer.pending_segments,
        "buffered_points": writer.buffered_points(),
        "last_error": writer.last_error,
    }
