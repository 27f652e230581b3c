"""Spark writes commit Parquet files with statistics read from their footers: the same facts Delta-Spark
computes while it writes, so both engines still skip files, at Parquet's speed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import lakehouse
from lakehouse import storage
from lakehouse.spark import write_dataset

pytestmark = pytest.mark.spark


def add_stats(table: Path) -> list[dict[str, Any]]:
    """The ``stats`` of every ``add`` action in a table's log, in log order."""
    out = []
    for entry in sorted((Path(table) / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                out.append(json.loads(action["add"]["stats"]))
    return out


def test_statistics_match_what_delta_spark_computes(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    df = (
        spark.range(0, 200)
        .select(
            F.col("id"),
            (F.col("id") % 7).cast("int").alias("small"),
            F.when(F.col("id") == 3, F.lit(None)).otherwise(F.col("id") * 0.25).alias("score"),
            F.when(F.col("id") == 5, F.lit(float("nan"))).otherwise(F.col("id") * 1.5).alias("with_nan"),
            F.concat(F.lit("user-"), F.col("id").cast("string")).alias("name"),
            F.when(F.col("id") == 9, F.lit("z" * 40)).otherwise(F.lit("a" * 40)).alias("long_text"),
            F.date_add(F.lit("2026-01-01").cast("date"), F.col("id").cast("int")).alias("day"),
            F.timestamp_micros(F.lit(1_790_000_000_000_123) + F.col("id") * 1_000_001).alias("at"),
            (F.col("id") % 2 == 0).alias("flag"),
            (F.col("id") / 3).cast("decimal(10,2)").alias("price"),
            F.array(F.col("id")).alias("tags"),
        )
        .coalesce(1)
    )
    version = write_dataset(lh, "stats", df)
    reference = tmp_path / "reference"
    df.write.format("delta").save(str(reference))
    [ours] = add_stats(lh.dataset("stats").path)
    [theirs] = add_stats(reference)
    assert ours["numRecords"] == theirs["numRecords"] == version.num_rows == 200
    bounded = {"id", "small", "score", "name", "day"}
    for side in ("minValues", "maxValues"):
        assert {c: ours[side][c] for c in bounded} == {c: theirs[side][c] for c in bounded}, side
    # A prefix of a long string bounds it from below only; Delta-Spark writes a tie-broken prefix above.
    assert ours["minValues"]["long_text"] == theirs["minValues"]["long_text"] == "a" * 32
    assert "long_text" not in ours["maxValues"]
    # Timestamps to the millisecond, as Delta writes them; our maximum is rounded up, so it is a true bound.
    assert ours["minValues"]["at"] == theirs["minValues"]["at"]
    over = datetime.fromisoformat(ours["maxValues"]["at"]) - datetime.fromisoformat(theirs["maxValues"]["at"])
    assert timedelta(0) <= over <= timedelta(milliseconds=1)
    # NaN sits above every number in Spark's order: the column gets no bounds rather than wrong ones.
    assert "with_nan" not in ours["minValues"]
    assert "with_nan" not in ours["maxValues"]
    assert "flag" not in ours["minValues"]
    assert "price" not in ours["minValues"]
    top_level = [c for c in theirs["nullCount"] if c != "tags"]
    assert {c: ours["nullCount"][c] for c in top_level} == {c: theirs["nullCount"][c] for c in top_level}
    assert ours["nullCount"]["score"] == 1
    # The embedded engine reads the version and prunes with those statistics.
    assert lh.read("stats").filter(pl.col("id") == 3).get_column("score").to_list() == [None]
    files = Path(lh.dataset("stats").path)
    assert not list(files.rglob(".*.crc"))
    assert not list(files.rglob("_SUCCESS"))


def test_overwrite_and_append_count_rows_and_name_the_engine(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    write_dataset(lh, "d", spark.createDataFrame([(1, "a"), (2, "b")], "id long, label string"))
    write_dataset(lh, "d", spark.createDataFrame([(3, "c")], "id long, label string"))
    last = write_dataset(lh, "d", spark.createDataFrame([(7, "x")], "id long, label string"), mode="overwrite")
    history = lh.dataset("d").history()
    assert [(v.operation, v.num_rows, v.rows_added, v.rows_removed) for v in history] == [
        ("overwrite", 1, 1, 3),
        ("append", 3, 1, 0),
        ("append", 2, 2, 0),
    ]
    assert last.engine.startswith(f"Apache-Spark/{spark.version} via delta-rs")
    assert lh.read("d").to_dicts() == [{"id": 7, "label": "x"}]
    assert spark.read.format("delta").load(str(lh.dataset("d").path)).count() == 1


def test_partitioned_or_evolving_writes_stay_with_delta_spark(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, label string")
    parted = write_dataset(lh, "parted", df, partition_by=["label"])
    assert "via" not in parted.engine
    assert "Delta-Lake" in parted.engine
    assert storage.partition_columns(lh.dataset("parted").path) == ["label"]
    write_dataset(lh, "grows", df)
    wider = spark.createDataFrame([(3, "c", 0.5)], "id long, label string, score double")
    grown = write_dataset(lh, "grows", wider, schema_mode="merge")
    assert "via" not in grown.engine
    assert lh.read("grows").columns == ["id", "label", "score"]


def test_the_setting_hands_every_write_to_delta_spark(root: Path, spark: SparkSession) -> None:
    lh = lakehouse.connect(root, spark_footer_stats=False)
    written = write_dataset(lh, "plain", spark.createDataFrame([(1, "a")], "id long, label string"))
    assert "via" not in written.engine
    assert "Delta-Lake" in written.engine
    assert not [p for p in Path(lh.dataset("plain").path).iterdir() if p.name.startswith("part-") and p.is_dir()]
    assert lh.read("plain").to_dicts() == [{"id": 1, "label": "a"}]


def test_not_null_columns_stay_not_null_and_delta_spark_guards_them(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    created = write_dataset(lh, "strict", spark.range(3).withColumn("label", F.lit("x")))
    assert "via" in created.engine
    ds = lh.dataset("strict")
    assert storage.arrow_schema(ds.path).field("id").nullable is False  # spark.range's id is NOT NULL
    with_null = spark.createDataFrame([(None, "y")], "id long, label string")
    with pytest.raises(lakehouse.LakehouseError):
        write_dataset(lh, "strict", with_null)  # a NOT NULL table is written by Delta-Spark, which checks it
    assert ds.latest_version == 0
    assert sorted(lh.read("strict").get_column("id").to_list()) == [0, 1, 2]


def test_a_job_that_already_committed_commits_nothing_and_leaves_no_files(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    from lakehouse.spark import commit_dataframe
    from lakehouse.spark.io import execute, plan_write

    df = spark.createDataFrame([(1, "a")], "id long, label string")
    write_dataset(lh, "jobs", df)
    # Two attempts of one job planned before either committed: the second finds the job's app transaction in
    # the table when it commits, and commits nothing.
    first = plan_write(lh, "jobs", df.schema, job_id="nightly")
    second = plan_write(lh, "jobs", df.schema, job_id="nightly")
    assert not execute(lh, first, df).skipped
    late = execute(lh, second, df)
    assert late.skipped
    assert late.version.version == 1
    ds = lh.dataset("jobs")
    assert ds.latest_version == 1
    assert lh.read("jobs").height == 2
    folders = {p.name for p in Path(ds.path).iterdir() if p.name.startswith("part-")}
    assert f"part-{first.write_id}" in folders
    assert f"part-{second.write_id}" not in folders  # the late attempt's files are gone, not orphaned
    assert commit_dataframe(lh, "jobs", df, job_id="nightly").skipped
