"""Liveness across machines: heartbeats, lost runs, and ``recover --stale`` that never fails a live writer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.entities import ERROR_TAG
from lakehouse.errors import InvalidArgument
from lakehouse.tracking import recovery
from tests.tracking.conftest import CHILD, table_rows, tables_state

HEARTBEAT = 0.5  # seconds between a live writer's heartbeats in these tests
STALE = 4 * HEARTBEAT


def start_quiet(root: Path) -> tuple[subprocess.Popen[str], str]:
    """A real second process holding a run open and logging nothing after its first point (its writer still
    beats every ``HEARTBEAT`` seconds); returns it and the open run's id."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "hang", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LAKEHOUSE_HEARTBEAT_INTERVAL": str(HEARTBEAT)},
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, child.stderr.read() if child.stderr else ""
    return child, run_id


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        child.kill()
        child.communicate()


def elsewhere(root: Path, tmp_path: Path) -> lakehouse.Lakehouse:
    """The same root seen from another machine: its own (empty) spool, so nothing is known locally."""
    return lakehouse.connect(
        root, spool_dir=str(tmp_path / "other-machine"), heartbeat_interval=HEARTBEAT, lost_after=STALE
    )


def status_events(lh: lakehouse.Lakehouse, run_id: str) -> list[str]:
    rows = table_rows(lh.layout.runs)
    assert rows is not None
    return (
        rows.filter((pl.col("run_id") == run_id) & (pl.col("kind") == "status"))
        .sort("at")
        .get_column("value")
        .to_list()
    )


@pytest.mark.slow
def test_a_killed_run_is_lost_and_failed_once_from_another_machine_and_a_quiet_live_one_is_not(
    root: Path, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    live, live_id = start_quiet(root)
    dead, dead_id = start_quiet(root)
    children.extend([live, dead])
    dead.kill()  # SIGKILL: no atexit, nothing ends its run
    dead.communicate()
    time.sleep(STALE + 3 * HEARTBEAT)  # the dead run falls silent for longer than STALE; the live one beats

    lh = elsewhere(root, tmp_path)
    runs = lh.runs().select("run_id", "status", "lost", "last_seen")
    by_id = {r["run_id"]: r for r in runs.iter_rows(named=True)}
    assert (by_id[dead_id]["status"], by_id[dead_id]["lost"]) == ("RUNNING", True)  # stored status unchanged
    assert (by_id[live_id]["status"], by_id[live_id]["lost"]) == ("RUNNING", False)
    assert lh.run(dead_id).lost
    assert not lh.run(live_id).lost
    heartbeats = table_rows(lh.layout.runs).filter(  # type: ignore[union-attr]
        (pl.col("run_id") == live_id) & (pl.col("kind") == "heartbeat")
    )
    assert heartbeats.height >= 3  # it logged nothing after its first point, and still said it was alive

    report = lh.recover(stale=STALE)
    assert report.stale_runs_failed == (dead_id,)
    assert report.errors == ()
    dead_info, live_info = lh.run(dead_id), lh.run(live_id)
    assert (dead_info.status, dead_info.lost) == ("FAILED", False)
    assert dead_info.error is not None
    assert "no sign of life" in dead_info.error
    assert "--stale" in dead_info.error
    assert dead_info.end_time is not None
    assert dead_info.end_time > by_id[dead_id]["last_seen"]
    assert live_info.status == "RUNNING"

    # The live process keeps beating into the runs table, so what must not change is what recovery writes:
    # its commits to the runs table and every other tracking table.
    before = {name: state for name, state in tables_state(lh).items() if name != "runs"}
    stale_commits = storage.transaction_version(lh.layout.runs, recovery.STALE_APP_ID)
    again = lh.recover(stale=STALE)  # exactly once: a second recovery finds nothing to do
    assert again.stale_runs_failed == ()
    assert {name: state for name, state in tables_state(lh).items() if name != "runs"} == before
    assert storage.transaction_version(lh.layout.runs, recovery.STALE_APP_ID) == stale_commits
    assert status_events(lh, dead_id) == ["RUNNING", "FAILED"]

    time.sleep(STALE)  # still quiet, still alive: still never failed
    assert lh.recover(stale=STALE).stale_runs_failed == ()
    assert status_events(lh, live_id) == ["RUNNING"]
    assert not lh.run(live_id).lost


def test_two_racing_stale_recoveries_fail_a_run_once(root: Path, tmp_path: Path) -> None:
    # The writer beats every minute; the readers think a few tenths of a second make a run stale.
    writer = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    run = writer.start_run(experiment="liveness", name="silent")
    run.flush()
    time.sleep(STALE + 0.2)
    lh = elsewhere(root, tmp_path)
    read = storage.latest_version(lh.layout.runs)
    # Both decide from the same version; the second commits after the first and must conflict, re-read, stop.
    first = recovery.fail_stale(lh.layout, lh.settings, stale=STALE, read_version=read)
    second = recovery.fail_stale(lh.layout, lh.settings, stale=STALE, read_version=read)
    assert (first, second) == ([run.id], [])
    assert status_events(lh, run.id) == ["RUNNING", "FAILED"]
    errors = table_rows(lh.layout.runs).filter(  # type: ignore[union-attr]
        (pl.col("run_id") == run.id) & (pl.col("key") == ERROR_TAG)
    )
    assert errors.height == 1


def test_recently_active_runs_are_neither_lost_nor_failed(root: Path, tmp_path: Path) -> None:
    writer = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    run = writer.start_run(experiment="liveness", name="fresh")
    run.flush()
    with writer.start_run(experiment="liveness", name="done") as done:
        done.log({"loss": 1.0})
    lh = lakehouse.connect(root, spool_dir=str(tmp_path / "other"), lost_after="1h")
    assert lh.runs().select("name", "lost").sort("name").rows() == [("done", False), ("fresh", False)]
    before = tables_state(lh)
    assert lh.recover(stale="1h").stale_runs_failed == ()
    assert tables_state(lh) == before
    run.finish()


@pytest.mark.parametrize(
    ("stale", "message"),
    [
        ("10x", "'10x' is not a duration"),
        ("-5m", "'-5m' is not a duration"),
        ("0s", "not a duration greater than zero"),
        ("90s", "shorter than two heartbeat intervals"),  # the default heartbeat is a minute
    ],
)
def test_a_bad_stale_value_is_refused_and_changes_nothing(root: Path, tmp_path: Path, stale: str, message: str) -> None:
    writer = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    run = writer.start_run(experiment="liveness")
    run.flush()
    lh = lakehouse.connect(root, spool_dir=str(tmp_path / "other"))
    before = tables_state(lh)
    with pytest.raises(InvalidArgument, match=message):
        lh.recover(stale=stale)
    assert tables_state(lh) == before
    run.finish()


def test_a_run_that_logs_points_is_alive_without_heartbeats(root: Path, tmp_path: Path) -> None:
    # Runs logged through a handle that does not own them (an MLflow client through the tracking store) get no
    # heartbeat: their points are their sign of life.
    owner = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)  # beats once a minute
    run = owner.start_run(experiment="liveness", name="busy")
    run.flush()
    time.sleep(STALE + 0.2)
    lh = elsewhere(root, tmp_path)
    assert lh.run(run.id).lost
    owner.attach_run(run.id).log({"loss": 0.5}, step=1)
    owner.flush()
    assert not lh.run(run.id).lost
    assert lh.runs().select("run_id", "lost").row(0) == (run.id, False)
    before = tables_state(lh)
    assert lh.recover(stale=STALE).stale_runs_failed == ()
    assert tables_state(lh) == before
    run.finish()
