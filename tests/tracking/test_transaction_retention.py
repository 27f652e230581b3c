"""App transactions of the tracking tables expire, and recovery never commits a segment twice because of it."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, Transaction, write_deltalake

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import METRICS, RUN_EVENTS
from lakehouse.tracking import commit as committing
from lakehouse.tracking import maintenance
from lakehouse.tracking.spool import Segment, WriterSpool
from lakehouse.tracking.writer import spool_root
from tests.tracking.conftest import points, table_rows, tables_state

DAY_MS = 86_400_000
RETENTION = "interval 30 days"


def logged_run(lh: lakehouse.Lakehouse) -> str:
    """A finished run that wrote to all four tracking tables."""
    lh.dataset("data").write(pl.DataFrame({"x": [1]}))
    with lh.start_run(experiment="retention", inputs=["data:v0"]) as run:
        run.log({"loss": 1.0}, step=0)
    return run.id


def commit_with_transaction(path: Path, data: pa.Table, app_id: str, version: int, *, days_ago: float) -> None:
    """Append as a writer did ``days_ago`` days ago: its transaction's lastUpdated says when."""
    stamp = int(time.time() * 1000 - days_ago * DAY_MS)
    write_deltalake(
        str(path),
        data,
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, version, stamp)]),
    )


def checkpoint_app_ids(path: Path) -> set[str]:
    """The app ids in the table's newest checkpoint (what every reader starts from)."""
    checkpoint = sorted((Path(path) / "_delta_log").glob("*.checkpoint.parquet"))[-1]
    return {t["appId"] for t in pq.read_table(checkpoint, columns=["txn"]).column("txn").to_pylist() if t}


def point_rows(run_id: str, steps: range) -> pa.Table:
    now = datetime.now(UTC)
    return METRICS.from_rows(
        [{"run_id": run_id, "key": "loss", "step": s, "timestamp": now, "value": float(s)} for s in steps]
    )


def test_tracking_tables_expire_old_app_transactions(lh: lakehouse.Lakehouse) -> None:
    run_id = logged_run(lh)
    writer_ids = set(table_rows(lh.layout.runs).get_column("writer").to_list())  # type: ignore[union-attr]
    for name, path in lh.layout.tracking_tables.items():
        assert storage.properties(path)[committing.TRANSACTION_RETENTION] == RETENTION, name
        protocol = storage.protocol(path)  # a plain property: no table feature, Spark writes it as before
        assert (protocol["min_reader_version"], protocol["min_writer_version"]) == (1, 2), name
    metrics = lh.layout.metrics
    commit_with_transaction(metrics, point_rows(run_id, range(1, 2)), "gone-writer", 3, days_ago=31)
    commit_with_transaction(metrics, point_rows(run_id, range(2, 3)), "recent-writer", 4, days_ago=29)
    assert storage.transaction_version(metrics, "gone-writer") is None  # expired: reads back as none
    assert storage.transaction_version(metrics, "recent-writer") == 4
    (writer_id,) = writer_ids
    assert storage.transaction_version(metrics, writer_id) == 1

    maintenance.maintain_tracking_tables(lh.layout, lh.settings, tables=["metrics"])  # compacts and checkpoints
    assert checkpoint_app_ids(metrics) == {"recent-writer", writer_id}  # the expired one is gone for good
    assert points(lh).get_column("step").to_list() == [0, 1, 2]


def test_existing_tracking_tables_get_the_retention_from_maintenance(lh: lakehouse.Lakehouse) -> None:
    path = lh.layout.runs
    rows = [{"run_id": "r1", "kind": "created", "at": datetime.now(UTC), "writer": "w", "seq": 1}]
    # A runs table made before transactions expired: created with the old properties.
    storage.write(path, RUN_EVENTS.from_rows(rows), mode="append", configuration=RUN_EVENTS.properties(lh.settings))
    assert committing.TRANSACTION_RETENTION not in storage.properties(path)

    maintenance.maintain_tracking_tables(lh.layout, lh.settings, tables=["runs"])
    assert storage.properties(path)[committing.TRANSACTION_RETENTION] == RETENTION
    protocol = storage.protocol(path)
    assert (protocol["min_reader_version"], protocol["min_writer_version"]) == (1, 2)
    version = storage.latest_version(path)
    maintenance.maintain_tracking_tables(lh.layout, lh.settings, tables=["runs"])  # set once: no second metadata commit
    assert storage.latest_version(path) == version
    with lh.start_run(experiment="retention") as run:  # and the writers still append to it
        run.log({"loss": 1.0})
    assert run.id in table_rows(path).get_column("run_id").to_list()  # type: ignore[union-attr]


def dead_writer_spool(lh: lakehouse.Lakehouse, run_id: str, *, days_ago: float) -> WriterSpool:
    """A writer that committed its segment 1 ``days_ago`` days ago and died before deleting it from the spool."""
    writer_id = "elsewhere-4242-deadbeef"
    folder = spool_root(lh.settings, lh.layout) / writer_id
    folder.mkdir(parents=True)
    owner = {"writer": writer_id, "root": str(lh.root), "host": "elsewhere", "pid": 4242}
    (folder / "writer.json").write_text(json.dumps(owner), encoding="utf-8")
    (folder / "lock").touch()
    data = point_rows(run_id, range(10, 15))
    spool = WriterSpool(folder)
    spool.write(Segment(writer=writer_id, seq=1, parts={"metrics": data}), fsync=False)
    commit_with_transaction(lh.layout.metrics, data, writer_id, 1, days_ago=days_ago)
    then = time.time() - days_ago * 86_400
    for entry in [*folder.iterdir(), folder]:
        os.utime(entry, (then, then))
    return spool


def test_a_spool_older_than_the_retention_is_refused_and_left_as_it_is(lh: lakehouse.Lakehouse) -> None:
    run_id = logged_run(lh)
    spool = dead_writer_spool(lh, run_id, days_ago=40)
    # Why the rule: the table no longer knows segment 1 is in, so committing it again would duplicate it.
    assert committing.committed_through(lh.layout.metrics, spool.writer_id) == 0
    before = tables_state(lh)

    report = lh.recover()
    (error,) = report.errors
    assert str(spool.folder) in error
    assert "tracking.transaction_retention = 30d" in error
    assert "delete the folder" in error
    assert report.segments_committed == 0
    assert tables_state(lh) == before
    assert spool.sequence_numbers() == [1]  # left in place for a person to look at
    assert points(lh).get_column("step").to_list() == [0, 10, 11, 12, 13, 14]  # each point once


def test_a_spool_younger_than_the_retention_is_still_recovered_exactly_once(lh: lakehouse.Lakehouse) -> None:
    run_id = logged_run(lh)
    spool = dead_writer_spool(lh, run_id, days_ago=20)
    assert committing.committed_through(lh.layout.metrics, spool.writer_id) == 1

    report = lh.recover()
    assert report.errors == ()
    assert (report.segments_committed, report.segments_already_committed) == (0, 1)
    assert not spool.folder.exists()
    assert points(lh).get_column("step").to_list() == [0, 10, 11, 12, 13, 14]
