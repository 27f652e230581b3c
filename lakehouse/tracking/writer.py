"""The metrics writer: buffer on the caller's thread, spool and commit on two background threads.

One writer per process and lakehouse root serves every run of that process. ``run.log()`` appends one tuple
to the writer's buffer and returns. Two cadences follow, one per background thread:

1. **Spool** (the prepare thread), at least every ``spool_interval`` seconds, at once when a run starts
   (:meth:`Writer.request_spool`), and as soon as ``flush_points`` points wait: take what is buffered, turn
   it into Arrow tables, one per tracking table (points, per-run metric summaries, run events, dataset
   inputs), and write them as one checksummed, fsynced segment into the spool (numbered 1, 2, ... per
   writer). A process killed outright loses only what it logged since its last segment. A run's start
   events go first, in a segment of their own built without polars (:mod:`lakehouse.tracking.rows`): on a
   loaded machine a fresh process needs milliseconds for it, where the points' first segment needs tens to
   hundreds. Deferred work (a run's environment capture) runs on the commit thread, never on this one: the
   spool's cadence is the loss window of a kill -9.
2. **Commit** (the commit thread), once the oldest waiting segment is ``flush_interval`` seconds old or
   ``flush_points`` points wait: commit the waiting segments ``a..b`` (the oldest first, up to about
   ``flush_points`` points) as one commit per table, with the Delta app transaction ``(writer id, b)``
   (:meth:`Writer._commit_batch`), then delete those segments.

Invariant: a table's transaction version for this writer is the number of the newest segment whose part for
that table it holds, and it holds the parts of every older segment too. Batches are consecutive runs of
the oldest waiting segments and commit in order, so this holds after every commit; recovery
(:mod:`lakehouse.tracking.recovery`) therefore commits exactly the leftover segments above that version. A
failed commit keeps its segments (and every later one) and is retried with exponential backoff; no exception
ever reaches the caller: problems are warned about once (:class:`TrackingWarning`) and logged.

Callers outside this module use the methods under "caller side" only (:meth:`Writer.queue_event`,
:meth:`Writer.open_run`, :meth:`Writer.has_pending_work`...), never the buffers themselves.
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
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from lakehouse import _buffers, object_storage, state
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRICS
from lakehouse.config import Settings
from lakehouse.errors import ConfigError, TrackingWarning, first_line
from lakehouse.location import Location
from lakehouse.query.events import ApplicationClock
from lakehouse.query.summaries import SummaryBook
from lakehouse.tracking import commit as committing
from lakehouse.tracking.heartbeat import Heartbeat
from lakehouse.tracking.rows import events_table
from lakehouse.tracking.spool import CorruptSegment, OwnedSpool, Segment, host_name, segment_name

if TYPE_CHECKING:
    from lakehouse.entities import RunStatus
    from lakehouse.tracking.run import Run

log = logging.getLogger("lakehouse.tracking")

#: One ``run.log()`` call: (run id, step, timestamp in µs, keys, values).
Call = tuple[str, int, int, tuple[str, ...], tuple[float, ...]]
#: A run/input event for the ``runs`` or ``inputs`` table: (part name, row).
Event = tuple[str, dict[str, Any]]

#: The metrics schema with string views: what flushes hand to delta-rs (the table's type stays ``string``).
POINTS_SCHEMA = pa.schema(
    [
        pa.field(f.name, pa.string_view() if f.type == pa.string() else f.type, nullable=f.nullable)
        for f in METRICS.schema
    ]
)
_FIRST_BACKOFF_S = 0.5  # the wait after a first failed commit; it doubles up to retry_max_backoff
_FLUSH_POLL_S = 0.02  # how often a flush waiting on the commit thread looks whether it is done
_IDLE_EXIT_S = 30.0  # a writer thread with no open run and nothing to do exits after this long
_FIRST_SPOOL_WAIT_S = 1.0  # how long the recovery of dead writers waits for this writer's first segment
_PARALLEL_COMMIT_POINTS = 10_000  # a batch with fewer points commits its tables one after the other
_KEEP_IN_MEMORY = 32  # pending segments also kept in memory; older ones are re-read from the spool


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
        self._open_runs: dict[str, Run] = {}
        # Every live handle (started, resumed or attached): the threads stay up while one exists.
        self.handles: weakref.WeakSet[Run] = weakref.WeakSet()
        self._summaries = SummaryBook()
        self._init_process_state()

    def _init_process_state(self) -> None:
        """Everything that belongs to one process: identity, spool folder, locks, thread."""
        self.writer_id = f"{host_name()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.event_seq = ApplicationClock()  # the events' one order: see lakehouse.query.events
        self._heartbeat = Heartbeat(self.settings.heartbeat_interval)
        self._spool: OwnedSpool | None = None
        self._noted_open_runs: tuple[str, ...] = ()
        self._seq = 0
        self._pending: list[int] = []  # spooled, not committed yet, oldest first
        self._waiting: dict[int, tuple[float, int]] = {}  # pending segment -> (when spooled, points)
        self._memory: dict[int, Segment] = {}
        self._committed: dict[str, int] = {}
        self._doubt: set[str] = set()
        self._failures = 0
        self._unsynced: set[int] = set()  # segments spooled without fsync by a flush that commits them at once
        self._retry_at = 0.0
        self._warned: set[str] = set()
        # Two background threads: one prepares segments (Python/polars work under the GIL), one commits them
        # (delta-rs, which releases the GIL), so on two cores preparing segment n+1 overlaps committing n.
        self._io_lock = threading.Lock()  # draining buffers and writing segments
        # Held while deferred work (environment capture: package metadata, git, tens to hundreds of ms under
        # load) runs on the commit thread, never on the spool thread, whose cadence is the loss window.
        self._deferred_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # committing segments, strictly in order
        self._thread_lock = threading.Lock()
        self._wake = threading.Event()
        self._commit_wake = threading.Event()
        self.wake_requested = False
        self._start_waiting = False  # a run's start was queued: spool its events alone, before anything else
        self._thread: threading.Thread | None = None
        self._committer: threading.Thread | None = None
        self._closed = False
        self._recovered = False
        self._spooled_once = threading.Event()
        self._commits_since_maintenance = 0
        self.last_error: str | None = None

    # --- caller side -------------------------------------------------------------------------------------

    def add_event(self, part: str, row: dict[str, Any]) -> None:
        """Queue one ``runs``/``inputs`` row (``writer`` and ``seq`` are filled in here)."""
        if part == "runs":
            row["writer"] = self.writer_id
            row["seq"] = next(self.event_seq)
        self.events.append((part, row))

    def queue_event(self, run_id: str, kind: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Queue one ``runs`` event of ``run_id`` (at ``at``, default now) and make sure it gets written."""
        self.add_event("runs", {"run_id": run_id, "kind": kind, "at": at or datetime.now(UTC), **fields})
        self.ensure_thread()

    def defer(self, make_events: Callable[[], list[Event]]) -> None:
        """Queue work that produces events, run on the commit thread (e.g. environment capture)."""
        self.deferred.append(make_events)

    def open_run(self, run: Run) -> None:
        """Note ``run`` as open in this process: ended at exit, and failed by recovery if the process dies.

        Called before the run's first event is queued, so the spool lists the run open no later than the
        segment that starts it.
        """
        self._open_runs[run.id] = run

    def close_run(self, run_id: str) -> None:
        """Note that ``run_id`` ended (called once its end status is queued)."""
        self._open_runs.pop(run_id, None)

    def open_run_of(self, run_id: str) -> Run | None:
        """The handle of ``run_id`` if it is open in this process."""
        return self._open_runs.get(run_id)

    @property
    def open_run_ids(self) -> tuple[str, ...]:
        """The runs open in this process."""
        return tuple(self._open_runs)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: :func:`get_writer` then makes a new writer for the root."""
        return self._closed

    def has_pending_work(self) -> bool:
        """True while anything logged is not committed yet (buffered, being spooled, or spooled)."""
        return self.has_unspooled_work() or bool(self._pending)

    def has_unspooled_work(self) -> bool:
        """True while anything logged is not in the spool yet (deferred, buffered, or being spooled).

        Checked in this order on purpose: deferred work taken from its queue runs under ``_deferred_lock``
        and queues its events before releasing it; what a drain takes from the buffers is in flight while
        ``_io_lock`` is held, and among the pending segments before it is released.
        """
        return bool(
            self.deferred
            or self._deferred_lock.locked()
            or self.calls
            or self.frames
            or self.events
            or self._io_lock.locked()
        )

    def request_spool(self) -> None:
        """Wake the prepare thread to spool a run's start (queued just before) at once, ahead of its points."""
        self._start_waiting = True
        self._wake.set()

    def request_flush(self) -> None:
        """Wake the background thread (called by ``log()`` once ``flush_points`` points wait)."""
        if not self.wake_requested:
            self.wake_requested = True
            self._wake.set()

    def ensure_thread(self) -> None:
        """Start the background threads if they are not running."""
        with self._thread_lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._prepare_loop, name=f"lakehouse-spool-{self.writer_id}", daemon=True
                )
                self._thread.start()
            if self._committer is None:
                self._committer = threading.Thread(
                    target=self._commit_loop, name=f"lakehouse-commit-{self.writer_id}", daemon=True
                )
                self._committer.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything buffered so far; True if nothing is left uncommitted.

        Waits at most ``timeout`` seconds (default ``finish_timeout``) for work already in progress. Never
        raises: on failure the data stays in the spool for the background thread (or ``recover``) to commit.
        """
        wait = self.settings.finish_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(wait, 0.0)
        if not self._io_lock.acquire(timeout=max(wait, 0.0)):
            self._warn("timeout", f"the flush did not finish within {wait:g}s; the data stays in the spool")
            return False
        # Committed right below, unless commits are failing: the segment then need not reach the disk before
        # its commit (see _spool_segment), only if it stays pending.
        immediate = not self._failures
        try:
            self._prepare(durable=not immediate)
        finally:
            self._io_lock.release()
        try:
            return self._commit_flushed(deadline, wait)
        finally:
            self._sync_spooled()

    def _commit_flushed(self, deadline: float, wait: float) -> bool:
        if self._failures and threading.current_thread() is not self._committer:
            return self._await_commit_thread(deadline, wait)
        if not self._commit_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            self._warn("timeout", f"the flush did not finish within {wait:g}s; the data stays in the spool")
            return False
        try:
            return self._commit_pending(force=True)
        finally:
            self._commit_lock.release()

    def _sync_spooled(self) -> None:
        """fsync the segments a flush spooled without it that are still waiting for their commit."""
        with self._io_lock:
            unsynced, self._unsynced = self._unsynced, set()
            waiting = [seq for seq in unsynced if seq in self._pending]
            if waiting and self._spool is not None:
                try:
                    self._spool.sync(waiting)
                except OSError as e:
                    self._warn("spool", f"cannot write to the spool {str(self.spool_root)!r} ({e})")

    def _await_commit_thread(self, deadline: float, wait: float) -> bool:
        """A flush while the store fails: retry at once on the commit thread and wait for it until ``deadline``.

        Not on the caller's thread: one attempt against a store that is away can take longer than the whole
        ``finish_timeout`` (the object store's own retries of a refused or hanging connection), and a flush
        must return by its deadline. The data is safe in the spool either way.
        """
        self._retry_at = time.monotonic()  # the caller asks for an attempt now, not at the end of the backoff
        self.ensure_thread()
        self._commit_wake.set()
        while self._pending or self.has_unspooled_work():
            if time.monotonic() >= deadline:
                self._warn("timeout", f"the flush did not finish within {wait:g}s; the data stays in the spool")
                return False
            time.sleep(_FLUSH_POLL_S)
        return True

    @property
    def pending_segments(self) -> int:
        """Segments written to the spool and not committed yet."""
        return len(self._pending)

    def buffered_points(self) -> int:
        """Points logged and not yet written to a segment."""
        calls = sum(len(c[3]) for c in list(self.calls))
        frames: int = sum(f.num_rows for f in list(self.frames))
        return calls + frames

    # --- background threads ------------------------------------------------------------------------------

    def _prepare_loop(self) -> None:
        """Spool what is buffered every ``spool_interval`` (or when woken); tell the committer when due."""
        idle_since: float | None = None
        # The thread starts as a run's handle is made, before its start events are queued: wait for the wake
        # that follows them, so the first segment holds the whole start.
        next_spool = time.monotonic() + max(self.settings.spool_interval, 0.01)
        while True:
            self._wake.wait(max(next_spool - time.monotonic(), 0.0))
            self._wake.clear()
            self.wake_requested = False
            if self._closed:
                return
            # A fixed cadence from the start of each spool, so slow segments do not stretch the loss window.
            next_spool = time.monotonic() + max(self.settings.spool_interval, 0.01)
            start, self._start_waiting = self._start_waiting, False
            with self._io_lock:
                # A run's start alone first (events only: no polars, no summaries), so it is durable within
                # milliseconds; then the points, each in a segment of its own.
                prepared = self._prepare(deferred=False, points=False) if start else False
                prepared = self._prepare(deferred=False) or prepared
            if self.deferred:
                # The environment capture runs on the commit thread, which wakes this one with its events.
                self._commit_wake.set()
            if prepared:
                if self._commit_due(time.monotonic()):
                    self._commit_wake.set()
                idle_since = None
                continue
            if self._busy():
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= _IDLE_EXIT_S and self._retire("_thread"):
                return

    def _commit_loop(self) -> None:
        """Commit pending segments in order once due (retrying failures with backoff); maintain."""
        if not self._recovered:
            self._recovered = True
            # The first run's start reaches the spool first: recovery reads tables, and both need the GIL.
            self._spooled_once.wait(_FIRST_SPOOL_WAIT_S)
            if self.deferred and self._run_deferred():  # this writer's own run's environment before others
                self._wake.set()
            self._recover_others()
        idle_since: float | None = None
        while True:
            self._commit_wake.wait(self._interval())
            self._commit_wake.clear()
            if self._closed:
                return
            if self.deferred and self._run_deferred():
                self._wake.set()  # its events (a run's environment) go to the spool at once
            with self._commit_lock:
                done = self._commit_pending(force=False)
            self._maybe_maintain()
            if not done or self._busy():
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= _IDLE_EXIT_S and self._retire("_committer"):
                return

    def _busy(self) -> bool:
        return bool(self._open_runs or any(h.active for h in list(self.handles)) or self.has_pending_work())

    def _retire(self, attribute: str) -> bool:
        """Let an idle background thread end (it is restarted on demand); False if work arrived meanwhile."""
        with self._thread_lock:
            if self._busy():
                return False
            setattr(self, attribute, None)
            return True

    def _commit_due(self, now: float) -> bool:
        """Whether the waiting segments should be committed now (the commit cadence, or a retry's time)."""
        if not self._pending:
            return False
        if self._retry_at:
            return now >= self._retry_at
        waiting = list(self._waiting.values())
        oldest = min((at for at, _ in waiting), default=now)
        points = sum(n for _, n in waiting)
        return now - oldest >= self.settings.flush_interval or points >= max(self.settings.flush_points, 1)

    def _interval(self) -> float:
        """How long the committer sleeps: until the oldest waiting segment is due, or the next retry."""
        interval = max(self.settings.flush_interval, 0.01)
        now = time.monotonic()
        if self._pending and self._retry_at:
            return max(min(interval, self._retry_at - now), 0.01)
        oldest = min((at for at, _ in list(self._waiting.values())), default=None)
        if oldest is not None:
            return max(min(interval, oldest + interval - now), 0.01)
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
            maintenance.maintain_tracking_tables(self.layout, self.settings, only_if_needed=True)
        except Exception as e:  # noqa: BLE001 - maintenance is an optimisation; it must never stop logging
            log.info("automatic maintenance skipped: %s", e)

    # --- spooling ----------------------------------------------------------------------------------------

    def _prepare(self, *, deferred: bool = True, points: bool = True, durable: bool = True) -> bool:
        """Spool what is buffered as one segment; True if there was something. Caller holds ``_io_lock``.

        ``deferred=False`` leaves queued deferred work (environment capture) for the next segment,
        ``points=False`` the buffered points, ``durable=False`` the segment's fsync (see :meth:`_spool_segment`).
        """
        try:
            segment = self._drain(deferred=deferred, points=points)
        except Exception as e:  # noqa: BLE001 - a bug here must never reach the training loop
            self._warn("drain", f"could not prepare logged data for writing: {e!r}")
            return False
        if segment is None:
            return False
        self._spool_segment(segment, durable=durable)
        return True

    def _drain(self, *, deferred: bool, points: bool) -> Segment | None:
        # Liveness (see tracking/heartbeat.py): now and then a heartbeat event per open run, even a silent one.
        for row in self._heartbeat.due(self.open_run_ids, time.monotonic()):
            self.add_event("runs", row)
        if deferred:
            self._run_deferred()
        calls = _take(self.calls) if points else []
        frames = _take(self.frames) if points else []
        events = _take(self.events)
        if not (calls or frames or events):
            return None
        self._seq += 1
        parts: dict[str, pa.Table] = {}
        for name in ("runs", "inputs"):
            rows = [row for part, row in events if part == name]
            if rows:
                parts[name] = events_table(committing.SPECS[name], rows)
        batch = points_table(calls, frames)
        if batch is not None:
            parts["metric_summaries"] = self._summaries.update(batch, writer_id=self.writer_id, seq=self._seq)
            parts["metrics"] = batch.table
        return Segment(writer=self.writer_id, seq=self._seq, parts=parts)

    def _run_deferred(self) -> bool:
        """Run the queued deferred work and queue its events; True if there was any.

        Waits for deferred work another thread is running, so a flush spools its events too.
        """
        with self._deferred_lock:
            makers = _take(self.deferred)
            for make in makers:
                try:
                    for part, row in make():
                        self.add_event(part, row)
                except Exception as e:  # noqa: BLE001 - e.g. environment capture; the run goes on without it
                    log.info("deferred event skipped: %s", e)
            return bool(makers)

    def _spool_segment(self, segment: Segment, *, durable: bool = True) -> None:
        """Write the segment to the spool, then queue it for the committer (in that order: a segment is
        deleted from the spool once committed, so it must be in the spool before it can be committed).

        ``durable=False`` (a flush that commits the segment at once) writes it without fsync: a killed process
        leaves it in the page cache all the same, and against a crash of the machine the segment's commit,
        milliseconds later, is no more durable than the segment would have been (Delta commits are not fsynced),
        while the segment is deleted right after it. A segment whose commit fails is fsynced then
        (:meth:`_sync_spooled`).
        """
        self._memory[segment.seq] = segment
        try:
            spool = self._own_spool()
            # Before the segment: a crash between the two leaves a run listed that the segment ends, which
            # recovery sees from the table (it fails only runs still RUNNING there). For the same reason a run
            # closed since the last note may stay listed until a run opens: the note is rewritten only when it
            # lacks an open run, which spares a short run's finish one file.
            open_now = tuple(sorted(self._open_runs.copy()))
            if not set(open_now) <= set(self._noted_open_runs):
                spool.note_open_runs(open_now)
                self._noted_open_runs = open_now
            spool.write(segment, fsync=self.settings.spool_fsync and durable)
            if self.settings.spool_fsync and not durable:
                self._unsynced.add(segment.seq)
        except OSError as e:
            # Keep it in memory: it is still committed (exactly once, by app transaction); only a crash
            # before that would lose it, which is what the warning says.
            self._warn("spool", f"cannot write to the spool {str(self.spool_root)!r} ({e}); keeping data in memory")
            self._queue_for_commit(segment)
            return
        self._queue_for_commit(segment)
        if len(self._memory) > _KEEP_IN_MEMORY:
            # Oldest segments wait longest: they are re-read from the spool when their turn comes.
            for seq in sorted(self._memory)[: len(self._memory) - _KEEP_IN_MEMORY]:
                if (spool.folder / segment_name(seq)).exists():
                    self._memory.pop(seq, None)

    def _queue_for_commit(self, segment: Segment) -> None:
        self._waiting[segment.seq] = (time.monotonic(), segment.num_points)
        self._pending.append(segment.seq)
        self._spooled_once.set()

    def _own_spool(self) -> OwnedSpool:
        if self._spool is None:
            self._spool = OwnedSpool(self.spool_root, self.writer_id, root=self.layout.root)
        return self._spool

    # --- committing --------------------------------------------------------------------------------------

    def _commit_pending(self, *, force: bool) -> bool:
        """Commit the pending segments batch by batch (only those due unless ``force``); True if none is left."""
        while self._pending:
            if not force and not self._commit_due(time.monotonic()):
                return False
            batch = self._next_batch()
            if not batch:
                continue
            try:
                self._commit_batch(batch)
            except Exception as e:  # noqa: BLE001 - storage errors of every kind: keep the segments, retry later
                self._failures += 1
                backoff = min(self.settings.retry_max_backoff, _FIRST_BACKOFF_S * 2 ** (self._failures - 1))
                self._retry_at = time.monotonic() + backoff
                # Redacted here, once: the text goes to the log and to whoever reads last_error.
                self.last_error = object_storage.redact(str(e), self.layout.storage_options or {})
                self._warn_commit_failed(e)
                log.info(
                    "commit of segments %s-%s failed (attempt %s): %s",
                    batch[0].seq,
                    batch[-1].seq,
                    self._failures,
                    self.last_error,
                )
                return False
            self._failures = 0
            self._retry_at = 0.0
            for segment in batch:
                self._pending.remove(segment.seq)
                self._waiting.pop(segment.seq, None)
                self._memory.pop(segment.seq, None)
                if self._spool is not None:
                    self._spool.delete(segment.seq)
            self._commits_since_maintenance += 1
        return True

    def _next_batch(self) -> list[Segment]:
        """The oldest pending segments, up to about ``flush_points`` points (at least one segment).

        Unreadable ones are quarantined and left out: the batch stays the oldest consecutive pending ones.
        """
        batch: list[Segment] = []
        points = 0
        for seq in list(self._pending):
            if batch and points >= max(self.settings.flush_points, 1):
                break
            segment = self._memory.get(seq)
            if segment is None:
                try:
                    segment = self._own_spool().read(seq)
                except (OSError, CorruptSegment) as e:
                    self._quarantine(seq, e)
                    continue
            batch.append(segment)
            points += segment.num_points
        return batch

    def _commit_batch(self, batch: list[Segment]) -> None:
        """Commit consecutive segments as one commit per table (the commit step of the writer).

        Each table gets the parts it has not committed yet, merged, under app transaction (writer id, newest
        segment number). The tables are independent: a batch of many points commits them in parallel (writing
        Parquet releases the GIL); a small one, such as a short run's finish, one after the other, as each
        commit is then a millisecond of mostly Python work that threads would only make wait for each other.
        On a bucket root every commit waits for several requests (listing the log, the data file, the
        conditional put of the entry), so there the tables always commit in parallel.
        """
        todo = [name for name in committing.SPECS if any(name in s.parts for s in batch)]
        small = sum(s.num_points for s in batch) < _PARALLEL_COMMIT_POINTS
        if small and not self.layout.root.is_remote:
            for name in todo:
                self._commit_part(batch, name)
            return
        errors: list[BaseException] = []

        def commit(name: str) -> None:
            try:
                self._commit_part(batch, name)
            except BaseException as e:  # noqa: BLE001 - handed back to the caller below
                errors.append(e)

        helpers = []
        for name in todo[1:]:
            helper = threading.Thread(target=commit, args=(name,), name=f"lakehouse-part-{name}", daemon=True)
            try:
                helper.start()
            except RuntimeError:  # no new threads at interpreter shutdown: commit this part here instead
                commit(name)
                continue
            helpers.append(helper)
        if todo:
            commit(todo[0])
        for helper in helpers:
            helper.join()
        if errors:
            raise errors[0]

    def _commit_part(self, batch: list[Segment], name: str) -> None:
        path = self.layout.tracking_tables[name]
        if name in self._doubt:
            # The last attempt failed somewhere: it may still have landed, so ask the table first.
            through = committing.committed_through(path, self.writer_id)
            self._committed[name] = max(self._committed.get(name, 0), through)
            self._doubt.discard(name)
        done = self._committed.get(name, 0)
        parts = [s.parts[name] for s in batch if s.seq > done and name in s.parts]
        if not parts:
            return
        seq = batch[-1].seq
        self._doubt.add(name)
        committing.commit_part(
            path, committing.SPECS[name], merge_parts(name, parts), self.settings, writer_id=self.writer_id, seq=seq
        )
        self._doubt.discard(name)
        self._committed[name] = seq

    def _quarantine(self, seq: int, error: Exception) -> None:
        self._pending.remove(seq)
        self._waiting.pop(seq, None)
        if isinstance(error, FileNotFoundError):
            self._warn("corrupt", f"spool segment {seq} of writer {self.writer_id} was deleted before its commit")
            return
        target = None
        with contextlib.suppress(OSError):
            target = self._own_spool().quarantine(seq)
        self._warn(
            "corrupt", f"spool segment {seq} of writer {self.writer_id} is unreadable ({error}); moved to {target}"
        )

    def _warn_commit_failed(self, error: Exception) -> None:
        """Warn (once per kind) that a commit failed and the data waits in the spool; a bucket refusing the
        credentials is said in so many words, naming the bucket and the endpoint (never a credential)."""
        options = self.layout.storage_options or {}
        # One line in the warning (the engines' errors run over several; the whole text goes to the log).
        detail = object_storage.redact(first_line(error), options)
        kept = f"the logged data is kept in the spool {str(self.spool_root)!r} and retried"
        root = Location.of(self.layout.root)
        if root.is_remote and object_storage.access_refused(str(error)):
            self._warn(
                "access",
                f"bucket {root.bucket!r} at {object_storage.endpoint_name(options)} refuses access to "
                f"{root.uri!r} (credentials wrong, revoked or without permission); {kept} until access is "
                f"restored ({detail})",
            )
            return
        self._warn("commit", f"committing logged data to {str(self.layout.root)!r} failed ({detail}); {kept}")

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
        for run in list(self._open_runs.values()):
            with contextlib.suppress(Exception):
                run.end(status)
        done = self.flush(timeout)
        self._closed = True
        self._wake.set()
        self._commit_wake.set()
        if self._spool is not None:
            self._spool.release(remove=done)
        return done

    def reset_after_fork(self) -> None:
        """In a forked child: a new identity and empty buffers; the parent keeps its data and spool folder."""
        for buffer in (self.calls, self.frames, self.events, self.deferred):
            buffer.clear()
        self._open_runs.clear()
        self._summaries.clear()
        self._init_process_state()


def merge_parts(name: str, parts: list[pa.Table]) -> pa.Table:
    """One table's parts of consecutive segments as one table to commit.

    Summaries are cumulative per (run, key) and writer, so only the newest row of each pair is kept: a batch
    commits as many summary rows as one segment of it would.
    """
    if len(parts) == 1:
        return parts[0]
    merged = pa.concat_tables(parts)
    if name != "metric_summaries":
        return merged
    newest = pl.from_arrow(merged)
    assert isinstance(newest, pl.DataFrame)
    kept = newest.unique(["run_id", "key"], keep="last", maintain_order=True)
    return kept.to_arrow().cast(merged.schema)


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
    coded: pl.DataFrame | None
    groups: pl.DataFrame | None
    #: The points as Python tuples ``(run_id, key, step, timestamp µs, value)`` in logged order, instead of
    #: ``coded`` and ``groups``, when the batch is small (see :data:`_SMALL_BATCH`).
    rows: list[tuple[str, str, int, int, float]] | None = None


#: Up to this many points a batch is built and summarised in plain Python: a short run's finish hands over a
#: handful, and polars' fixed cost per frame (a millisecond or two for the points and their summaries) would
#: be most of that finish. Beyond it polars' columnar work wins.
_SMALL_BATCH = 256


def points_table(calls: list[Call], frames: list[pa.Table]) -> Points | None:
    """The buffered calls (and whole frames) as one batch of points.

    Built with polars from flat Python lists (building Arrow arrays from Python floats directly is much
    slower, and pyarrow's conversion of Python objects imports pandas). Run ids and key tuples repeat on
    every call, so the string columns are gathers from a few templates instead of a million Python strings.
    Each (run, key) pair gets an integer code ``_g``: summaries group by it, not by two string columns.
    """
    if not frames and sum(len(call[3]) for call in calls) <= _SMALL_BATCH:
        small = _small_batch(calls)
        if small is not _NOT_SMALL:
            return small
    parts: list[pl.DataFrame] = []
    if calls:
        parts.append(_calls_frame(calls))
    for index, frame in enumerate(frames, start=1):
        part = pl.from_arrow(frame)
        assert isinstance(part, pl.DataFrame)
        # A frame holds one run's points: its key's category code, offset per frame, is a unique group code.
        key_code = pl.col("key").cast(pl.Categorical).to_physical().cast(pl.UInt64)
        code = pl.lit(index * 2**32, pl.UInt64) + key_code
        parts.append(part.with_columns(pl.col("timestamp").dt.epoch("us"), code.alias("_g")))
    if not parts:
        return None
    points = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    if points.height == 0:
        return None
    groups = points.select("_g", "run_id", "key").unique("_g")
    # Strings stay string views: no copy out of polars, and delta-rs writes them as fast or faster.
    table = (
        points.select("run_id", "key", "step", pl.col("timestamp").cast(pl.Datetime("us", "UTC")), "value")
        .to_arrow(compat_level=pl.CompatLevel.newest())
        .cast(POINTS_SCHEMA)
    )
    return Points(table=table, coded=points.select("_g", "step", "timestamp", "value"), groups=groups)


_run_of, _step_of, _time_of, _keys_of, _values_of = (itemgetter(i) for i in range(5))


def _small_batch(calls: list[Call]) -> Points | None:
    """A few points as Python rows and the Arrow table to commit (no polars frame: see :data:`_SMALL_BATCH`)."""
    rows = [
        (run, key, step, timestamp, value)
        for run, step, timestamp, keys, values in calls
        for key, value in zip(keys, values, strict=True)
    ]
    if not rows:
        return None
    try:
        # From buffers: pyarrow's own conversion of Python values imports pandas (a second) on first use.
        table = _buffers.table(METRICS.schema, list(zip(*rows, strict=True))).cast(POINTS_SCHEMA)
    except (TypeError, OverflowError):  # values that are not plain floats and ints: the columnar path
        return _NOT_SMALL
    return Points(table=table, coded=None, groups=None, rows=rows)


_NOT_SMALL = Points(table=pa.table({}), coded=None, groups=None)


def _calls_frame(calls: list[Call]) -> pl.DataFrame:
    """Columns run_id, key, step, timestamp (µs), value and the group code ``_g`` of buffered calls."""
    n = len(calls)
    runs = list(map(_run_of, calls))
    keysets = list(map(_keys_of, calls))
    values = pl.Series("value", list(chain.from_iterable(map(_values_of, calls))), dtype=pl.Float64)
    per_call = pl.DataFrame(
        {"step": list(map(_step_of, calls)), "timestamp": list(map(_time_of, calls))},
        schema={"step": pl.Int64, "timestamp": pl.Int64},
    )
    # The common case: one run logging the same keys at every step (list.count compares by identity first,
    # and Run.log hands over one canonical tuple per key set).
    if runs.count(runs[0]) == n and keysets.count(keysets[0]) == n:
        keys = keysets[0]
        k = len(keys)
        call_index = pl.int_range(0, n * k, eager=True, dtype=pl.UInt32) // k if k > 1 else None
        expanded = per_call if call_index is None else per_call[call_index]
        key_code = pl.int_range(0, n * k, eager=True, dtype=pl.UInt32) % k
        return expanded.select(
            pl.repeat(runs[0], n * k, dtype=pl.String, eager=True).alias("run_id"),
            pl.Series(keys, dtype=pl.String).gather(key_code).alias("key"),
            "step",
            "timestamp",
            values,
            key_code.cast(pl.UInt64).alias("_g"),
        )
    run_codes: dict[str, int] = {}
    templates: dict[tuple[str, ...], int] = {}
    run_of = pl.Series([run_codes.setdefault(r, len(run_codes)) for r in runs], dtype=pl.UInt32)
    template_of = pl.Series([templates.setdefault(t, len(templates)) for t in keysets], dtype=pl.UInt32)
    key_codes: dict[str, int] = {}
    flat_codes = pl.Series(
        [key_codes.setdefault(k, len(key_codes)) for k in chain.from_iterable(templates)], dtype=pl.UInt32
    )
    sizes = pl.Series([len(t) for t in templates], dtype=pl.UInt32)
    lengths = sizes.gather(template_of)
    call_index = pl.int_range(0, n, eager=True).repeat_by(lengths).explode()
    # Position of each point within its call: 0..len-1, then back to 0 at the next call.
    first_point = (lengths.cum_sum() - lengths).gather(call_index)
    position = pl.int_range(0, len(call_index), eager=True) - first_point
    starts = sizes.cum_sum() - sizes
    key_code = flat_codes.gather(starts.gather(template_of.gather(call_index)) + position)
    run_code = run_of.gather(call_index)
    return per_call[call_index].select(
        pl.Series(list(run_codes), dtype=pl.String).gather(run_code).alias("run_id"),
        pl.Series(list(key_codes), dtype=pl.String).gather(key_code).alias("key"),
        "step",
        "timestamp",
        values,
        (run_code.cast(pl.UInt64) * len(key_codes) + key_code).alias("_g"),
    )


# --- one writer per process and root ---------------------------------------------------------------------

#: The settings a writer runs with. A second ``connect()`` to the same root and spool in one process gets the
#: same writer, so it must ask for the same values: anything else would be silently ignored.
WRITER_SETTINGS = (
    "flush_interval",
    "flush_points",
    "spool_fsync",
    "finish_timeout",
    "maintenance_commits",
    "max_commit_retries",
    "retry_max_backoff",
)


class _Writers:
    """The writers of one root in this process, by spool folder (a drop of the root's caches leaves them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_spool: dict[str, Writer] = {}
        # The default spool folder by (root, host): asked on every logged batch of the MLflow store, and
        # building it (two path joins and a str) cost a third of a single ``log_metric``.
        self.default_spools: dict[tuple[str, str], str] = {}

    def spool_of(self, settings: Settings, layout: Layout) -> str:
        """``str(spool_root(settings, layout))``, the default folder remembered."""
        if settings.spool_dir:
            return str(spool_root(settings, layout))
        key = (str(layout.root), host_name())
        found = self.default_spools.get(key)
        if found is None:
            found = self.default_spools[key] = str(layout.default_spool(key[1]))
        return found

    def after_fork(self) -> None:
        self.lock = threading.Lock()
        for writer in self.by_spool.values():
            writer.reset_after_fork()


def get_writer(layout: Layout, settings: Settings) -> Writer:
    """The writer of this process for ``layout``'s root (created on first use).

    Raises:
        ConfigError: the root's writer runs with other :data:`WRITER_SETTINGS` than ``settings`` asks for.
    """
    writers = layout.state.keep(_Writers)
    spool = writers.spool_of(settings, layout)
    with writers.lock:
        writer = writers.by_spool.get(spool)
        if writer is None or writer._closed:
            writer = writers.by_spool[spool] = Writer(layout, settings)
            return writer
    _check_same_settings(writer, settings)
    return writer


def _check_same_settings(writer: Writer, settings: Settings) -> None:
    for name in WRITER_SETTINGS:
        running, asked = getattr(writer.settings, name), getattr(settings, name)
        if running != asked:
            msg = (
                f"the metrics writer of this process for {str(writer.layout.root)!r} runs with {name}={running!r}; "
                f"this connection asks for {name}={asked!r}: one process logs to a root with one set of writer "
                f"settings ({', '.join(WRITER_SETTINGS)})"
            )
            raise ConfigError(msg)


def flush_root(layout: Layout, timeout: float | None = None) -> None:
    """Commit what this process's writers of ``layout``'s root hold, starting none (readers that must see a
    run this process just started, e.g. a model registration, call it)."""
    writers = layout.state.kept(_Writers)
    if writers is None:
        return
    with writers.lock:
        found = [w for w in writers.by_spool.values() if not w._closed]
    for writer in found:
        writer.flush(timeout)


def active_writers() -> list[Writer]:
    """Every writer of this process, of every root."""
    found: list[Writer] = []
    for owner in state.states():
        writers = owner.kept(_Writers)
        if writers is not None:
            with writers.lock:
                found.extend(writers.by_spool.values())
    return found


def _close_all_at_exit() -> None:
    for writer in active_writers():
        with contextlib.suppress(Exception):
            writer.close()


atexit.register(_close_all_at_exit)
