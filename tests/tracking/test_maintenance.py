"""Maintenance: compaction to one file per run, summary pruning, checkpoints, vacuum, automatic trigger."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse
from lakehouse import Location, storage
from lakehouse.errors import InvalidArgument
from lakehouse.tracking.maintenance import SMALL_FILES_THRESHOLD
from tests.roots import seam
from tests.tracking.conftest import points, table_rows

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def _many_flushes(lh: lakehouse.Lakehouse, runs: int, flushes: int) -> list[str]:
    ids = []
    for r in range(runs):
        with lh.start_run(name=f"r{r}") as run:
            for f in range(flushes):
                run.log({"loss": float(f), "acc": -float(f)}, step=f)
                run.flush()
        ids.append(run.id)
    return ids


def test_maintain_compacts_to_one_file_per_run_and_keeps_every_row(lh: lakehouse.Lakehouse) -> None:
    ids = _many_flushes(lh, runs=3, flushes=6)
    runs_before = lh.runs().sort("run_id")
    points_before = points(lh)
    summaries_before = table_rows(lh.layout.metric_summaries)
    assert summaries_before is not None
    assert summaries_before.height == 3 * 6 * 2
    assert len(storage.live_files(lh.layout.metrics).files) == 18

    report = lh.maintain()

    assert report.engine == "embedded"
    by_table = {t.table: t for t in report.tables}
    assert by_table["metrics"].files_before == 18
    assert by_table["metrics"].files_after == 3
    assert by_table["metric_summaries"].rows_pruned == 3 * 5 * 2  # only each writer's newest flush remains
    assert all(t.checkpointed for t in report.tables if t.table != "inputs")  # no run used a dataset
    assert by_table["inputs"].skipped == "table does not exist yet"
    files = storage.live_files(lh.layout.metrics).by_partition("run_id")
    assert sorted(files) == sorted(ids)
    assert all(len(f) == 1 for f in files.values())
    assert points(lh).equals(points_before)
    assert lh.runs().sort("run_id").equals(runs_before)  # the fold reads the same after pruning
    summaries_after = table_rows(lh.layout.metric_summaries)
    assert summaries_after is not None
    assert summaries_after.height == 3 * 2


def _data_files(table: Location) -> int:
    return sum(1 for f in seam(table).list_all() if f.path.endswith(".parquet") and not f.path.startswith("_"))


def test_vacuum_removes_replaced_files_and_reads_still_work(lh: lakehouse.Lakehouse) -> None:
    (run_id,) = _many_flushes(lh, runs=1, flushes=4)
    lh.maintain()
    on_disk = _data_files(lh.layout.metrics)
    report = lh.maintain(vacuum=True, retention_hours=0)
    assert report.table("metrics").vacuumed_files == 4
    assert _data_files(lh.layout.metrics) == on_disk - 4
    assert lh.metrics(run_id).height == 8


def test_maintain_only_some_tables_and_bad_arguments(lh: lakehouse.Lakehouse) -> None:
    report = lh.maintain(tracking=["metrics"])
    assert [(t.table, t.skipped) for t in report.tables] == [("metrics", "table does not exist yet")]
    with pytest.raises(KeyError, match="no table 'runs' in this report; it has metrics"):
        report.table("runs")
    with pytest.raises(InvalidArgument, match="unknown tracking table 'points'"):
        lh.maintain(tracking=["points"])
    with pytest.raises(InvalidArgument, match="unknown maintenance engine 'hadoop'; choose from embedded, spark"):
        lh.maintain(engine="hadoop")
    with pytest.raises(InvalidArgument, match="retention_hours"):
        lh.maintain(retention_hours=-1)


def test_writers_maintain_automatically_past_the_threshold(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=5)
    with lh.start_run() as run:
        for i in range(SMALL_FILES_THRESHOLD + 8):
            run.log({"x": float(i)}, step=i)
            run.flush()
        writer = run._writer
        writer._maybe_maintain()  # what the writer thread does after each cycle
    files = storage.live_files(lh.layout.metrics)
    assert len(files.files) < SMALL_FILES_THRESHOLD
    assert lh.metrics(run.id).get_column("step").to_list() == list(range(SMALL_FILES_THRESHOLD + 8))
    history = storage.history(lh.layout.metrics, limit=50)
    assert any(c.operation == "OPTIMIZE" for c in history)


def test_reads_stay_consistent_while_compaction_replaces_files(lh: lakehouse.Lakehouse) -> None:
    (run_id,) = _many_flushes(lh, runs=1, flushes=5)
    warm = lh.metrics(run_id)  # warms the file listing
    lh.maintain()
    assert lh.metrics(run_id).equals(warm)
    with lh.start_run(resume=run_id) as again:
        again.log({"loss": 99.0})
    assert lh.metrics(run_id, keys="loss").get_column("value").to_list()[-1] == 99.0
    assert lh.runs().select("metrics.loss.last").item() == 99.0
