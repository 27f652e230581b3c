"""Helpers for tracking tests: read the tracking tables straight from Delta, snapshot their state."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.entities import RecoveryReport
from lakehouse.tracking.spool import WriterSpool, writer_folders
from lakehouse.tracking.writer import spool_root

CHILD = Path(__file__).with_name("child.py")


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    # Long interval: commits happen when a test flushes or finishes, so every test is deterministic.
    return lakehouse.connect(root, flush_interval=60, maintenance_commits=0)


def table_rows(path: Path) -> pl.DataFrame | None:
    """Every row of a tracking table read directly from Delta (None if the table does not exist)."""
    if not storage.exists(path):
        return None
    return storage.scan(path).collect()


def tables_state(lh: lakehouse.Lakehouse) -> dict[str, tuple[int, int] | None]:
    """(version, rows) of every tracking table: equal states mean nothing was written in between."""
    out: dict[str, tuple[int, int] | None] = {}
    for name, path in lh.layout.tracking_tables.items():
        rows = table_rows(path)
        out[name] = None if rows is None else (storage.latest_version(path), rows.height)
    return out


def log_steps(run: lakehouse.Run, steps: range) -> float:
    """Log a loss at each of ``steps`` as training would (a pause every 50 steps, when the writer spools and
    tries to commit); the slowest ``run.log()`` call, in seconds."""
    slowest = 0.0
    for step in steps:
        start = time.perf_counter()
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        slowest = max(slowest, time.perf_counter() - start)
        if step % 50 == 0:
            time.sleep(0.05)
    return slowest


def points(lh: lakehouse.Lakehouse) -> pl.DataFrame:
    rows = table_rows(lh.layout.metrics)
    assert rows is not None, "no metrics table"
    return rows.sort("run_id", "key", "step")


def spooled_points(spool: Path) -> pl.DataFrame:
    """Every point sitting in a complete segment of the spool (what 'reached the spool' means)."""
    frames = []
    for folder in writer_folders(spool):
        owned = WriterSpool(folder)
        for seq in owned.sequence_numbers():
            part = owned.read(seq).parts.get("metrics")
            if part is not None:
                frames.append(pl.DataFrame(part).select("run_id", "key", "step"))
    return (
        pl.concat(frames) if frames else pl.DataFrame(schema={"run_id": pl.String, "key": pl.String, "step": pl.Int64})
    )


def committed_points(lh: lakehouse.Lakehouse) -> pl.DataFrame:
    """(run_id, key, step) of every point in the metrics table (empty before its first commit)."""
    rows = table_rows(lh.layout.metrics)
    if rows is None:
        return pl.DataFrame(schema={"run_id": pl.String, "key": pl.String, "step": pl.Int64})
    return rows.select("run_id", "key", "step")


def recover_exactly_once(lh: lakehouse.Lakehouse, what: str) -> tuple[RecoveryReport, pl.DataFrame]:
    """Recover after a killed ``child.py crash`` writer; assert what was committed before plus what was spooled
    is committed, each point once, the steps of ``v`` and ``w`` a prefix. The report and the points after."""
    before = committed_points(lh)
    spooled = spooled_points(spool_root(lh.settings, lh.layout))
    report = lh.recover()
    assert not report.errors
    assert not report.writers_alive
    after = committed_points(lh)
    assert after.height == after.unique().height, f"{what}: duplicated points"
    expected = pl.concat([before, spooled]).unique()
    assert after.sort(pl.all()).equals(expected.sort(pl.all())), f"{what}: lost or invented points"
    for key in ("v", "w"):
        steps = after.filter(pl.col("key") == key).get_column("step").sort().to_list()
        assert steps == list(range(len(steps))), f"{what}: steps of {key} are not a prefix"
    return report, after
