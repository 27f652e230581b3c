"""Real processes: kill -9 in the middle of logging, and eight writers committing at once."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.tracking.spool import writer_folders
from lakehouse.tracking.writer import get_writer, spool_root
from tests.tracking.conftest import CHILD, recover_exactly_once, table_rows


@pytest.mark.slow
def test_kill_9_mid_logging_then_recover_keeps_every_spooled_point_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(1234)
    for iteration in range(5):
        root = tmp_path / f"lh{iteration}"
        child = subprocess.Popen(
            [sys.executable, str(CHILD), "crash", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert run_id, child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.05, 1.5))
        child.kill()  # SIGKILL: no atexit, no flush, maybe mid-segment or mid-commit
        child.communicate()  # reap it and close its pipes
        killed_at = datetime.now(UTC)

        lh = lakehouse.connect(root, maintenance_commits=0)
        report, after = recover_exactly_once(lh, f"iteration {iteration}")
        assert writer_folders(spool_root(lh.settings, lh.layout)) == []
        runs = lh.runs(include_deleted=True)
        if after.height:  # the run's events were in the first segment, before any point
            assert runs.get_column("run_id").to_list() == [run_id]
            assert runs.get_column("status").item() == "FAILED"  # killed: never finished, and said so
            assert report.runs_failed == (run_id,)
            end_time = runs.get_column("end_time").item()
            assert end_time is not None
            assert end_time <= killed_at  # the writer's last sign of life, not when recovery ran


def test_runs_a_killed_process_left_open_are_failed_by_recovery_once(tmp_path: Path) -> None:
    root = tmp_path / "lh"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "hang", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, child.stderr.read() if child.stderr else ""
    lh = lakehouse.connect(root, maintenance_commits=0)
    alive = lh.recover()  # the process still holds its spool folder: nothing is touched
    assert alive.runs_failed == ()
    assert len(alive.writers_alive) == 1
    assert lh.run(run_id).status == "RUNNING"
    killed_at = datetime.now(UTC)
    child.kill()
    child.communicate()

    cli = subprocess.run(
        [str(Path(sys.executable).with_name("lakehouse")), "runs", "recover", "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"runs left RUNNING by a dead process, now FAILED: {run_id}" in " ".join(cli.stdout.split())
    assert "Traceback" not in cli.stderr
    victim = lh.run(run_id)
    assert victim.status == "FAILED"
    assert "ended without finishing the run" in victim.tags["lakehouse.error"]
    assert victim.error == victim.tags["lakehouse.error"]
    assert victim.start_time is not None
    assert victim.end_time is not None
    assert victim.start_time <= victim.end_time <= killed_at  # its last sign of life, not the recovery's time
    runs = lh.runs(experiment="hang")
    assert dict(runs.select("name", "status").rows()) == {"finished": "FINISHED", "victim": "FAILED"}
    assert writer_folders(spool_root(lh.settings, lh.layout)) == []
    # Exactly once: a second recovery finds nothing to do and the table has one FAILED event for the run.
    again = lh.recover()
    assert again.runs_failed == ()
    events = table_rows(lh.layout.runs)
    assert events is not None
    failed = events.filter((pl.col("run_id") == run_id) & (pl.col("value") == "FAILED"))
    assert failed.height == 1


@pytest.mark.slow
def test_eight_concurrent_writer_processes_never_fail_lose_or_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "lh"
    gate = tmp_path / "gate"
    per_writer = 6_000
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "concurrent", str(root), str(per_writer), str(i), str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    lh = lakehouse.connect(root, maintenance_commits=0)
    # Maintenance runs at the same time as the writers: compaction must never make an append fail.
    # Every writer commits half its points and waits, so the first compaction lands in the middle of the
    # writes for sure; more run while the second halves are appended.
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "halfway", child.communicate()[1]
        first = lh.maintain(tracking=["metrics", "metric_summaries"])
        assert first.table("metrics").compacted
        assert first.table("metrics").files_after < first.table("metrics").files_before
    finally:
        gate.touch()  # even when a check above fails: no writer is left waiting
    maintained = 1
    while any(c.poll() is None for c in children):
        time.sleep(0.3)
        report = lh.maintain(tracking=["metrics", "metric_summaries"])
        maintained += sum(t.compacted for t in report.tables)
    outputs = [c.communicate() for c in children]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "pending=0 failures=0" in out, out
        assert "TrackingWarning" not in err, err
    runs = lh.runs(experiment="concurrent")
    assert runs.height == 8
    assert set(runs.get_column("status")) == {"FINISHED"}
    assert runs.get_column("metrics.loss.last").to_list() == [1.0 / per_writer] * 8
    rows = table_rows(lh.layout.metrics)
    assert rows is not None
    assert rows.height == 8 * per_writer * 2
    assert rows.select("run_id", "key", "step").unique().height == rows.height
    counts = rows.group_by("run_id").len().get_column("len").to_list()
    assert counts == [per_writer * 2] * 8
    assert writer_folders(spool_root(lh.settings, lh.layout)) == []
    # The table's log shows the appends of the second halves committed after the first OPTIMIZE.
    operations = [c.operation for c in reversed(storage.history(lh.layout.metrics))]  # oldest first
    assert "WRITE" in operations[operations.index("OPTIMIZE") + 1 :], operations


def test_a_forked_child_never_commits_the_parents_buffer(root: Path) -> None:
    """Data loader workers are forked from training processes: when such a child exits the way a process
    exits normally (the atexit flush), it must not commit what the parent had buffered at fork time."""
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    parent = lh.start_run(name="parent")
    for step in range(10):
        parent.log({"p": float(step)}, step=step)  # buffered, not flushed, when the child is forked
    parent_id = get_writer(lh.layout, lh.settings).writer_id
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 3
        try:
            child_writer = get_writer(lh.layout, lh.settings)
            same = child_writer.writer_id == parent_id
            empty = not child_writer.has_pending_work() and not child_writer.open_run_ids
            flushed = child_writer.flush(timeout=30)
            code = 4 if same else 5 if not empty else 6 if not flushed else 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert table_rows(lh.layout.metrics) is None  # the child committed nothing
    parent.finish()
    assert lh.metrics(parent.id).get_column("step").to_list() == list(range(10))
    assert lh.runs().get_column("status").to_list() == ["FINISHED"]
