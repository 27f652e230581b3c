"""The model registry table is read and written by Spark like every catalog table."""

from __future__ import annotations

import time

import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage

pytestmark = pytest.mark.spark


def test_spark_reads_the_registry_and_an_alias_it_moves_is_folded(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    with lh.start_run(experiment="spark", name="trainer") as run:
        run.log({"acc": 0.9}, step=0)
    lh.flush()
    lh.register_model("clf", run=run.id, path="model")
    lh.register_model("clf", run=run.id, path="model")
    lh.model("clf").set_alias("production", 1)
    path = str(lh.layout.models)

    kinds = {
        r["kind"]: r["n"] for r in spark.sql(f"SELECT kind, count(*) AS n FROM delta.`{path}` GROUP BY kind").collect()
    }
    assert kinds == {"model_created": 1, "version_created": 2, "alias_set": 1}

    # A Spark job moves the alias: one event, with its own writer and application clock.
    model_id = lh.model("clf").info().model_id
    seq = time.time_ns() // 1000
    spark.sql(
        f"INSERT INTO delta.`{path}` (model_id, kind, version, key, reason, actor, at, writer, seq) "
        f"VALUES ('{model_id}', 'alias_set', 2, 'production', 'nightly evaluation', 'spark', current_timestamp(), "
        f"'spark-job', {seq})"
    )
    protocol = storage.protocol(path)
    assert (protocol["min_reader_version"], protocol["min_writer_version"]) == (1, 2)
    assert lh.model("clf").aliases() == {"production": 2}
    last = lh.model("clf").alias_history()[-1]
    assert (last.change, last.previous_version, last.actor, last.reason) == ("moved", 1, "spark", "nightly evaluation")
    lh.model("clf").set_alias("staging", 1)  # and the embedded engine appends after Spark
    assert storage.scan(path).collect().height == 6
