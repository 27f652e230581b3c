"""Maintenance with Spark (``lh.maintain(engine="spark")``, ``lakehouse.spark.maintain``): OPTIMIZE, checkpoints
and a VACUUM that keeps pinned versions readable."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import lakehouse
from lakehouse import storage
from lakehouse.maintenance import Steps, maintain_embedded
from lakehouse.spark import read_dataset, read_table, write_dataset
from lakehouse.spark.maintain import maintain_with_spark

pytestmark = pytest.mark.spark


def pinned_history(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    """v0 tagged, v1 unpinned, v2 used by a run, v3 latest: every version replaces all rows."""
    ds = lh.dataset("pinned")
    for v in range(4):
        ds.write(pl.DataFrame({"id": [v * 10 + i for i in range(3)], "v": [v] * 3}), mode="overwrite")
    ds.tag("golden", version=0)
    with lh.start_run(name="trainer") as run:
        run.use_dataset("pinned:v2")
    return ds


def test_spark_vacuum_keeps_pinned_versions_like_the_embedded_vacuum(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    ds = pinned_history(lh)
    embedded_would_delete = sorted(ds.vacuum(retention_hours=0, dry_run=True))
    assert len(embedded_would_delete) == 1  # only the file of unpinned v1
    vacuum_only = Steps(compact=False, checkpoint=False, vacuum=True, retention_hours=0)
    report = maintain_with_spark(lh, datasets=["pinned"], steps=vacuum_only, spark=spark)
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
    # After Spark's VACUUM the embedded writer carries on.
    ds.write(pl.DataFrame({"id": [30, 99], "v": [30, 4]}), mode="upsert", key="id")
    ds.write(pl.DataFrame({"id": [100], "v": [5]}))
    assert ds.read().sort("id").to_dicts() == [
        {"id": 30, "v": 30},
        {"id": 31, "v": 3},
        {"id": 32, "v": 3},
        {"id": 99, "v": 4},
        {"id": 100, "v": 5},
    ]


def test_optimize_compacts_datasets_and_clusters_metrics_by_run(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    schema = "id long, label string"
    for i in range(3):
        write_dataset(lh, "small", spark.createDataFrame([(i, str(i))], schema))
    runs = []
    for r in range(2):
        with lh.start_run(name=f"r{r}") as run:
            for flush in range(3):  # every flush commits one small file per run
                run.log({"loss": 1.0 / (flush + 1), "acc": float(flush)}, step=flush)
                run.flush()
        runs.append(run.id)
    history_before = {r: lh.metric_history(r, "loss") for r in runs}
    tracking = ["inputs", "metric_summaries", "metrics"]
    report = lh.maintain(datasets=["small"], tracking=tracking, engine="spark", spark=spark)
    assert report.engine == "spark"
    by_table = {t.table: t for t in report.tables}
    assert set(by_table) == {"datasets/small", *tracking}
    small = by_table["datasets/small"]
    assert (small.files_before, small.files_after, small.compacted, small.checkpointed) == (3, 1, True, True)
    latest = lh.dataset("small").version()
    assert (latest.operation, latest.data_change, latest.num_rows) == ("optimize", False, 3)
    metrics = by_table["metrics"]
    assert (metrics.files_before, metrics.files_after) == (6, 2)  # one file per run
    assert by_table["metric_summaries"].rows_pruned == 2 * 2 * 2  # each writer's newest flush remains
    assert by_table["inputs"].skipped == "table does not exist yet"
    # The embedded side reads what Spark rewrote, through Spark's checkpoint.
    path = lh.layout.metrics
    assert (Path(path) / "_delta_log" / f"{storage.latest_version(path):020d}.checkpoint.parquet").is_file()
    assert {r: lh.metric_history(r, "loss") for r in runs} == history_before
    files = read_table(lh, "tracking/metrics", spark=spark).selectExpr("run_id", "_metadata.file_path AS f")
    per_run = files.groupBy("run_id").agg(F.countDistinct("f").alias("n"), F.count("*").alias("points")).collect()
    assert {r["run_id"]: (r["n"], r["points"]) for r in per_run} == dict.fromkeys(runs, (1, 6))


def test_embedded_maintenance_then_spark_reads_and_appends(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    ds = pinned_history(lh)
    report = maintain_embedded(lh, steps=Steps(vacuum=True, retention_hours=0))
    assert {t.table for t in report.tables} >= {"datasets/pinned", "_catalog/tags", "inputs", "runs"}
    assert {t.table: t.pinned_versions for t in report.tables}["datasets/pinned"] == {0: ["tag:golden"], 2: ["run"]}
    write_dataset(lh, "pinned", spark.createDataFrame([(100, 5)], "id long, v long"))
    assert sorted(r["id"] for r in read_dataset(lh, "pinned:golden", spark=spark).collect()) == [0, 1, 2]
    assert sorted(ds.read()["id"].to_list()) == [30, 31, 32, 100]


def test_spark_maintains_the_mlflow_experiments_and_logged_models_tables(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    from mlflow import MlflowClient

    from lakehouse.integrations.mlflow.uri import uri_for
    from tests.integrations.mlflow.registry_records import assert_unchanged, record

    recorded = record(lh.root)
    steps = Steps(vacuum=True, retention_hours=0)
    report = maintain_with_spark(lh, tracking=["experiments", "logged_models"], steps=steps, spark=spark)
    by_table = {t.table: t for t in report.tables}
    assert set(by_table) == {"tracking/experiments", "tracking/logged_models"}
    for done in by_table.values():
        assert done.files_before > 1
        assert (done.files_after, done.compacted, done.checkpointed) == (1, True, True)
        assert len(done.vacuumed) == done.files_before
    assert_unchanged(lh.root, recorded)
    # The MLflow store keeps writing to the tables Spark rewrote.
    client = MlflowClient(uri_for(lh.root))
    client.set_experiment_tag(recorded.experiment_id, "b", "2")
    assert MlflowClient(uri_for(lh.root)).get_experiment(recorded.experiment_id).tags == {"a": "1", "b": "2"}
