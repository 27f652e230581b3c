"""Both engines on the same tables: each keeps writing after the other wrote, optimized or vacuumed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage
from lakehouse.maintenance import Steps, maintain_embedded
from lakehouse.spark import read_dataset, write_dataset
from lakehouse.spark.maintain import maintain_with_spark

pytestmark = pytest.mark.spark


def ids(frame: pl.DataFrame) -> list[int]:
    return sorted(frame["id"].to_list())


def spark_ids(lh: lakehouse.Lakehouse, ref: str, spark: SparkSession) -> list[int]:
    return sorted(r["id"] for r in read_dataset(lh, ref, spark=spark).select("id").collect())


def test_embedded_writer_appends_upserts_and_vacuums_a_spark_made_table(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    """delta-rs cannot write tables with deletion vectors (delta-rs #4079): Spark must never turn them on."""
    schema = "id long, label string"
    write_dataset(lh, "sparky", spark.createDataFrame([(i, f"s{i}") for i in range(6)], schema))
    ds = lh.dataset("sparky")
    # A Spark DELETE is where Delta would write a deletion vector if the table allowed them.
    spark.sql(f"DELETE FROM delta.`{ds.path}` WHERE id < 2")
    protocol = storage.protocol(ds.path)
    assert "deletionVectors" not in protocol["writer_features"] + protocol["reader_features"]
    assert storage.properties(ds.path)["delta.enableDeletionVectors"] == "false"
    assert not list(Path(ds.path).glob("deletion_vector_*.bin"))

    ds.write(pl.DataFrame({"id": [10], "label": ["rs"]}))
    ds.write(pl.DataFrame({"id": [3, 11], "label": ["rs-upd", "rs-new"]}), mode="upsert", key="id")
    ds.tag("kept", version=ds.latest_version)
    ds.write(pl.DataFrame({"id": [20], "label": ["rs-over"]}), mode="overwrite")
    removed = ds.vacuum(retention_hours=0)
    assert removed  # Spark's files of the replaced versions are gone...
    assert ids(ds.read("kept")) == [2, 3, 4, 5, 10, 11]  # ...but not those of the tagged one
    assert spark_ids(lh, "sparky:kept", spark) == [2, 3, 4, 5, 10, 11]
    assert ds.read("kept").filter(pl.col("id") == 3)["label"].item() == "rs-upd"
    # And Spark keeps writing after delta-rs did.
    write_dataset(lh, "sparky", spark.createDataFrame([(30, "spark-again")], schema))
    assert ids(ds.read()) == [20, 30]


def test_each_engine_continues_after_the_other_optimizes_and_vacuums(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    ds = lh.dataset("shared")
    for i in range(3):
        ds.write(pl.DataFrame({"id": [i], "v": [float(i)]}))
    ds.tag("first", version=0)
    # Spark compacts and checkpoints a delta-rs table (its VACUUM: test_maintain.py)...
    maintain_with_spark(lh, datasets=["shared"], spark=spark)
    assert ds.version().operation == "optimize"
    assert [ids(ds.read(v)) for v in (0, ds.latest_version)] == [[0], [0, 1, 2]]
    ds.write(pl.DataFrame({"id": [3, 1], "v": [3.0, 10.0]}), mode="upsert", key="id")
    assert ds.read().filter(pl.col("id") == 1)["v"].item() == 10.0
    # ...and delta-rs compacts, checkpoints and vacuums what Spark wrote.
    write_dataset(lh, "shared", spark.createDataFrame([(4, 4.0), (5, 5.0)], "id long, v double"))
    maintain_embedded(lh, datasets=["shared"], steps=Steps(vacuum=True, retention_hours=0))
    assert [v.operation for v in ds.history(limit=3)] == ["vacuum end", "vacuum start", "optimize"]
    assert spark_ids(lh, "shared", spark) == [0, 1, 2, 3, 4, 5]
    assert spark_ids(lh, "shared:first", spark) == [0]
    write_dataset(lh, "shared", spark.createDataFrame([(6, 6.0)], "id long, v double"), mode="upsert", key="id")
    assert ids(ds.read()) == [0, 1, 2, 3, 4, 5, 6]
    # Every version still in the log and not vacuumed reads the same in both engines.
    for version in (0, ds.latest_version):
        assert spark_ids(lh, f"shared:v{version}", spark) == ids(ds.read(version))
