"""Faults of a bucket root: the S3 server goes away mid-training, and a writer is killed while it uploads.

Real moto server (``tests/s3_server.py``), real writer threads and a real child process; the server is taken
away with ``stop()`` and brought back with its buckets by ``resume()``.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import Location, storage
from lakehouse.tracking.spool import writer_folders
from lakehouse.tracking.writer import get_writer, spool_root
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from tests.tracking.conftest import CHILD, log_steps, points, recover_exactly_once

LOG_CALL_BOUND_S = 0.05  # far above a log() call's microseconds, far below one attempt against a dead endpoint


def _wait_for(condition: object, timeout: float, what: str) -> float:
    """Poll ``condition()`` until true; the seconds it took (fails the test after ``timeout``)."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_an_outage_mid_training_keeps_points_in_the_spool_and_commits_each_once_when_the_store_is_back(
    bucket_root: str,
    s3_env: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="lakehouse")
    finish_timeout = 3.0
    lh = lakehouse.connect(
        bucket_root,
        flush_interval=0.1,
        retry_max_backoff=0.5,
        finish_timeout=finish_timeout,
        maintenance_commits=0,
        # Credentials as settings too: they are then in the options every engine is handed.
        storage_access_key_id=ACCESS_KEY_ID,
        storage_secret_access_key=SECRET_ACCESS_KEY,
    )
    training = lh.start_run(experiment="outage", name="training")
    short = lh.start_run(experiment="outage", name="finished-while-down")
    for step in range(100):
        training.log({"loss": 1.0 / (step + 1)}, step=step)
    short.log({"acc": 0.5}, step=0)
    assert training.flush(timeout=60)  # the first commits create the tables
    writer = get_writer(lh.layout, lh.settings)

    s3_env.stop()
    try:
        slowest = log_steps(training, range(100, 300))
        short.log({"acc": 0.9}, step=1)
        _wait_for(lambda: writer._failures >= 1, 60, "a failed commit attempt")
        assert slowest < LOG_CALL_BOUND_S, f"run.log() took {slowest:.3f}s while the store was away"
        error_while_down = writer.last_error
        assert error_while_down

        start = time.monotonic()
        assert short.finish() is False  # no exception into training; the data waits in the spool
        # The wait for the store is bounded by finish_timeout; on top of it only local work (spooling what is
        # buffered, the run's deferred environment capture), which a machine under load can stretch.
        assert time.monotonic() - start < finish_timeout + 2.5
        assert writer.pending_segments >= 1
        assert writer_folders(spool_root(lh.settings, lh.layout))  # on local disk, not in the bucket
    finally:
        s3_env.resume()

    # No flush: the commit thread's backoff alone brings the commits back within seconds.
    took = _wait_for(lambda: not writer.has_pending_work(), 30, "committing the spool after the store came back")
    assert took < 15, f"commits resumed {took:.1f}s after the store came back"
    assert lh.run(short.id).status == "FINISHED"
    assert training.flush(timeout=60)
    assert training.finish()
    committed = points(lh)
    loss = committed.filter(pl.col("run_id") == training.id).get_column("step").sort().to_list()
    assert loss == list(range(300))  # every point, exactly once
    acc = committed.filter(pl.col("run_id") == short.id).get_column("step").sort().to_list()
    assert acc == [0, 1]
    assert lh.run(training.id).status == "FINISHED"
    assert writer.close(timeout=60)  # nothing left for the exit, when the test server is gone
    # The outage was reported, and nothing reported carries a credential.
    reported = [r.getMessage() for r in caplog.records] + [error_while_down, repr(lh.settings), repr(writer)]
    assert any("kept in the spool" in text for text in reported)
    for text in reported:
        assert SECRET_ACCESS_KEY not in text
        assert ACCESS_KEY_ID not in text


def test_a_writer_killed_while_it_uploads_leaves_no_partial_object_and_recovers_exactly_once(
    bucket_root: str, s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the child's spool, and recovery's
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "crash", bucket_root], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, child.stderr.read() if child.stderr else ""
    lh = lakehouse.connect(bucket_root, maintenance_commits=0)
    # Kill it while it commits: once its first points are in the bucket, at a random moment after.
    _wait_for(lambda: storage.exists(lh.layout.metrics), 60, "the child's first commit")
    time.sleep(random.Random(16).uniform(0.2, 0.8))
    child.kill()  # SIGKILL: maybe in the middle of a Parquet upload or a commit's PUT
    child.communicate()

    bucket = Location(bucket_root).bucket
    assert bucket is not None
    keys = s3_env.keys(bucket, "lh/")
    client = s3_env.client()
    for key in keys:
        if key.endswith(".json") and "/_delta_log/" in key:  # every commit visible is a whole one
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()  # type: ignore[attr-defined]
            assert [json.loads(line) for line in body.splitlines() if line.strip()]
    for path in lh.layout.tracking_tables.values():
        if storage.exists(path):
            storage.scan(path).collect()  # every file the log references is there and readable
    report, _ = recover_exactly_once(lh, "a bucket root")
    assert report.runs_failed == (run_id,)
    assert lh.run(run_id).status == "FAILED"
    assert writer_folders(spool_root(lh.settings, lh.layout)) == []
    assert lh.recover().segments_committed == 0  # a second recovery finds nothing left
    # A Parquet file uploaded by a commit the kill cut off may stay in the bucket, referenced by no log entry:
    # readers never see it (checked above: every table reads back exactly what recovery expects).
