"""Maintenance with Spark: OPTIMIZE / Z-ORDER, checkpoints and a VACUUM that keeps pinned versions readable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import RUN_INPUTS, UTC_MICROS, append_rows
from lakehouse.maintenance import Steps, maintain_embedded
from lakehouse.spark import read_dataset, read_table, write_dataset
from lakehouse.spark.maintain import maintain

pytestmark = pytest.mark.spark

METRICS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("step", pa.int64()),
        pa.field("timestamp", UTC_MICROS, nullable=False),
        pa.field("value", pa.float64()),
    ]
)


def metrics_batch(run_id: str, steps: range) -> pa.Table:
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [{"run_id": run_id, "key": "loss", "step": s, "timestamp": now, "value": 1.0 / (s + 1)} for s in steps],
        schema=METRICS,
    )


def use(lh: lakehouse.Lakehouse, run_id: str, dataset: str, version: int) -> None:
    """Record that a run read a dataset version (what the tracking API writes to ``tracking/inputs``)."""
    row = {
        "run_id": run_id,
        "dataset": dataset,
        "version": version,
        "ref": None,
        "context": "train",
        "at": datetime.now(UTC),
    }
    append_rows(lh.layout.inputs, RUN_INPUTS, [row], lh.settings)


def pinned_history(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    """v0 tagged, v1 unpinned, v2 used by a run, v3 latest: every version replaces all rows."""
    ds = lh.dataset("pinned")
    for v in range(4):
        ds.write(pl.DataFrame({"id": [v * 10 + i for i in range(3)], "v": [v] * 3}), mode="overwrite")
    ds.tag("golden", version=0)
    use(lh, "run-1", "pinned", 2)
    return ds


def test_spark_vacuum_keeps_pinned_versions_like_the_embedded_vacuum(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    ds = pinned_history(lh)
    embedded_would_delete = sorted(ds.vacuum(retention_hours=0, dry_run=True))
    assert len(embedded_would_delete) == 1  # only the file of unpinned v1
    only_vacuum = {"datasets": ["pinned"], "tables": False, "spark": spark}
    dry = maintain(lh, steps=Steps(compact=False, checkpoint=False, retention_hours=0, dry_run=True), **only_vacuum)
    assert list(dry.tables[0].vacuumed) == embedded_would_delete
    assert sorted(ds.read(1)["id"].to_list()) == [10, 11, 12]  # a dry run deletes nothing

    report = maintain(lh, steps=Steps(compact=False, retention_hours=0), **only_vacuum)
    (table,) = report.tables
    assert dict(table.pinned_versions) == {0: ["tag:golden"], 2: ["run"]}
    assert list(table.vacuumed) == embedded_would_delete
    for v in (0, 2, 3):
        assert sorted(ds.read(v)["id"].to_list()) == [v * 10 + i for i in range(3)]
    assert sorted(r["id"] for r in read_dataset(lh, "pinned:golden", spark=spark).collect()) == [0, 1, 2]
    with pytest.raises(lakehouse.VersionNotFound, match="removed by vacuum"):
        ds.read(1)
    with pytest.raises(lakehouse.VersionNotFound, match="removed by vacuum"):
        read_dataset(lh, "pinned:v1", spark=spark)
    # Nothing left to delete: the next vacuum skips Spark's VACUUM entirely, and the embedded writer appends.
    assert (
        maintain(lh, steps=Steps(compact=False, checkpoint=False, retention_hours=0), **only_vacuum).tables[0].vacuumed
        == ()
    )
    ds.write(pl.DataFrame({"id": [99], "v": [4]}))
    assert ds.read().height == 4


def test_optimize_compacts_datasets_and_clusters_metrics(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    schema = "id long, label string"
    for i in range(4):
        write_dataset(lh, "small", spark.createDataFrame([(i, str(i))], schema))
    metrics = lh.layout.metrics
    for i, run_id in enumerate(["r2", "r1", "r2", "r1", "r3"]):
        storage.write(metrics, metrics_batch(run_id, range(i * 5, i * 5 + 5)), mode="append")
    ds = lh.dataset("small")
    files_before = ds.version().num_files
    report = maintain(lh, steps=Steps(vacuum=False), spark=spark)
    by_table = {t.table: t for t in report.tables}
    assert set(by_table) == {"datasets/small", "tracking/metrics", "_catalog/datasets"}
    small = by_table["datasets/small"]
    assert small.files_compacted == files_before > 1
    assert small.files_written == 1
    latest = ds.version()
    assert (latest.operation, latest.data_change, latest.num_rows, latest.num_files) == ("optimize", False, 4, 1)
    assert sorted(ds.read()["id"].to_list()) == [0, 1, 2, 3]
    z = by_table["tracking/metrics"]
    assert z.z_order == ("run_id",)
    assert z.files_compacted == 5
    # Clustered: each run's points now come from one file, and delta-rs reads the Spark checkpoint.
    assert z.checkpoint_version == storage.latest_version(metrics)
    assert (metrics / "_delta_log" / f"{z.checkpoint_version:020d}.checkpoint.parquet").is_file()
    frame = storage.scan(metrics).collect()
    assert frame.height == 25
    assert frame.group_by("run_id").len().sort("run_id")["len"].to_list() == [10, 10, 5]
    per_file = read_table(lh, "tracking/metrics", spark=spark).selectExpr("run_id", "_metadata.file_path AS f")
    files_per_run = per_file.groupBy("run_id").agg(F.countDistinct("f").alias("n")).collect()
    assert {r["run_id"]: r["n"] for r in files_per_run} == {"r1": 1, "r2": 1, "r3": 1}
    storage.write(metrics, metrics_batch("r4", range(3)), mode="append")
    assert storage.scan(metrics).collect().height == 28


def test_embedded_maintenance_then_spark_reads_and_appends(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    ds = pinned_history(lh)
    report = maintain_embedded(lh, steps=Steps(retention_hours=0))
    assert {t.table for t in report.tables} >= {"datasets/pinned", "_catalog/tags", "tracking/inputs"}
    write_dataset(lh, "pinned", spark.createDataFrame([(100, 5)], "id long, v long"))
    assert sorted(r["id"] for r in read_dataset(lh, "pinned:golden", spark=spark).collect()) == [0, 1, 2]
    assert sorted(ds.read()["id"].to_list()) == [30, 31, 32, 100]
