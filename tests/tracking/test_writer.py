"""The writer's two cadences (spool often, commit in batches) and its interface to the rest of the package."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

import lakehouse
from lakehouse import storage
from lakehouse.tracking.spool import WriterSpool
from lakehouse.tracking.writer import Writer, get_writer
from tests.tracking.conftest import table_rows, tables_state


def _segments(writer: Writer) -> list[int]:
    return WriterSpool(writer.spool_root / writer.writer_id).sequence_numbers()


def _wait_for(condition: object, timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.002)
    return time.monotonic() - start


def _log_and_spool(run: lakehouse.Run, writer: Writer, metrics: dict[str, float], step: int) -> None:
    """Log, then wait until the background thread alone has written the point into a segment."""
    before = writer.pending_segments
    run.log(metrics, step=step)
    _wait_for(lambda: writer.pending_segments > before)
    assert writer.buffered_points() == 0


def _spooled_events(writer: Writer) -> pl.DataFrame:
    spool = WriterSpool(writer.spool_root / writer.writer_id)
    parts = [spool.read(seq).parts.get("runs") for seq in spool.sequence_numbers()]
    frames = [pl.DataFrame(p) for p in parts if p is not None]
    return pl.concat(frames) if frames else pl.DataFrame()


def test_points_reach_the_spool_every_spool_interval_without_a_commit(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, spool_interval=0.05, maintenance_commits=0)
    run = lh.start_run(experiment="cadence")
    writer = get_writer(lh.layout, lh.settings)
    _wait_for(lambda: writer.pending_segments == 2)  # the start, then the environment
    before = tables_state(lh)
    for step in range(3):
        _log_and_spool(run, writer, {"loss": float(step)}, step)
    assert len(_segments(writer)) == 5
    assert writer.has_pending_work()
    assert tables_state(lh) == before  # nothing committed: commits wait for flush_interval
    run.finish()
    assert not writer.has_pending_work()
    assert _segments(writer) == []


def test_a_started_run_is_spooled_at_once_whatever_the_intervals(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, spool_interval=60, maintenance_commits=0)
    first = lh.start_run(experiment="early", params={"lr": 0.1}, tags={"team": "cv"})
    writer = get_writer(lh.layout, lh.settings)
    _wait_for(lambda: first.id in set(_spooled_events(writer).get_column("run_id", default=pl.Series()).to_list()))
    # The thread is now asleep for a spool_interval of 60 s: only start_run's wake can spool the second run.
    second = lh.start_run(experiment="early", params={"lr": 0.2})
    waited = _wait_for(lambda: second.id in set(_spooled_events(writer).get_column("run_id").to_list()))
    assert waited < 2.0  # within 100 ms on an idle machine; the margin is for a busy one
    events = _spooled_events(writer).filter(pl.col("run_id") == second.id)
    assert set(events.get_column("kind")) >= {"created", "status", "param"}
    _wait_for(lambda: "environment" in set(_spooled_events(writer).filter(pl.col("run_id") == second.id)["kind"]))
    assert writer.open_run_ids == (first.id, second.id)
    first.finish()
    second.finish()
    assert writer.open_run_ids == ()


def test_a_run_start_is_spooled_alone_before_its_points(root: Path) -> None:
    """The start segment holds events only (no points, no summaries, no environment): it is the cheap one."""
    lh = lakehouse.connect(root, flush_interval=60, spool_interval=0.05, maintenance_commits=0)
    run = lh.start_run(experiment="first", params={"lr": 0.1})
    for step in range(50):  # logged at once, before the thread wakes or while it writes the start
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    writer = get_writer(lh.layout, lh.settings)
    spool = WriterSpool(writer.spool_root / writer.writer_id)
    _wait_for(lambda: not writer.has_unspooled_work())
    start = spool.read(1)
    assert set(start.parts) == {"runs"}
    assert set(start.parts["runs"].column("kind").to_pylist()) == {"created", "status", "param"}
    later = [spool.read(seq) for seq in spool.sequence_numbers()[1:]]
    assert sum(s.num_points for s in later) == 50
    kinds = {k for s in later if "runs" in s.parts for k in s.parts["runs"].column("kind").to_pylist()}
    assert kinds == {"environment"}
    run.finish()
    assert lh.run(run.id).metrics["loss"].count == 50


def test_waiting_segments_commit_as_one_commit_per_table(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, spool_interval=0.02, maintenance_commits=0)
    run = lh.start_run(experiment="batch")
    writer = get_writer(lh.layout, lh.settings)
    _wait_for(lambda: writer.pending_segments == 2)
    for step in range(5):
        _log_and_spool(run, writer, {"loss": float(step), "acc": step / 10}, step)
    spooled = _segments(writer)
    assert spooled == [1, 2, 3, 4, 5, 6, 7]
    assert run.finish()
    for name in ("runs", "metric_summaries", "metrics"):
        path = lh.layout.tracking_tables[name]
        assert storage.latest_version(path) == 0, f"{name}: one commit for every waiting segment"
        assert storage.transaction_version(path, writer.writer_id) == 8  # the finish's segment is the newest
    summaries = table_rows(lh.layout.metric_summaries)
    assert summaries is not None
    assert summaries.height == 2  # the newest cumulative row per key, not one per segment
    assert dict(summaries.select("key", "count").rows()) == {"loss": 5, "acc": 5}
    assert lh.metrics(run.id).height == 10
    assert lh.run(run.id).status == "FINISHED"


def test_queue_event_and_open_runs_are_the_writer_interface(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    writer = get_writer(lh.layout, lh.settings)
    run = lh.start_run(experiment="interface")
    assert writer.open_run_of(run.id) is run
    assert lh.attach_run(run.id) is run  # an open run's handle, not a second one
    writer.queue_event(run.id, "tag", key="via", value="writer")
    assert writer.has_pending_work()
    assert writer.flush()
    assert not writer.has_pending_work()
    assert lh.run(run.id).tags["via"] == "writer"
    run.end("FINISHED")
    assert writer.open_run_of(run.id) is None


def test_work_being_spooled_counts_as_pending(root: Path) -> None:
    """A read that flushes only when work is pending (the MLflow store) must not miss a segment in flight: the
    buffers are empty and the segment not queued yet while the spool thread writes it."""
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    writer = get_writer(lh.layout, lh.settings)
    assert not writer.has_pending_work()
    with writer._io_lock:  # as the spool thread holds it between taking the buffers and queueing the segment
        assert writer.buffered_points() == 0
        assert writer.pending_segments == 0
        assert writer.has_pending_work()
    assert not writer.has_pending_work()


def test_slow_deferred_work_never_holds_up_the_spool(root: Path) -> None:
    """Deferred work (a run's environment capture: git, package metadata) runs beside the spool's cadence."""
    lh = lakehouse.connect(root, flush_interval=60, spool_interval=0.05, maintenance_commits=0)
    run = lh.start_run(experiment="slow-capture")
    writer = get_writer(lh.layout, lh.settings)
    release = threading.Event()
    started = threading.Event()

    def slow_capture() -> list[tuple[str, dict[str, object]]]:
        started.set()
        release.wait(10)
        return [("runs", {"run_id": run.id, "kind": "tag", "at": datetime.now(UTC), "key": "late", "value": "yes"})]

    writer.defer(slow_capture)
    assert started.wait(5)
    spool = WriterSpool(writer.spool_root / writer.writer_id)
    for step in range(3):
        run.log({"loss": float(step)}, step=step)
    # While the capture is still running, the points reach the spool at the spool's cadence.
    _wait_for(lambda: sum(spool.read(seq).num_points for seq in spool.sequence_numbers()) == 3)
    assert writer.has_unspooled_work()  # the capture's events are still to come
    release.set()
    _wait_for(lambda: "late" in set(_spooled_events(writer).get_column("key").drop_nulls().to_list()))
    run.finish()
    assert lh.run(run.id).tags["late"] == "yes"
