"""The tracking tables' transaction retention is a plain property: Spark keeps writing them, and expires too."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage
from lakehouse.tracking import commit as committing

pytestmark = pytest.mark.spark


def test_spark_appends_to_a_tracking_table_with_expiring_transactions(
    lh: lakehouse.Lakehouse, spark: SparkSession
) -> None:
    with lh.start_run(experiment="spark") as run:
        run.log({"loss": 1.0}, step=0)
    path = lh.layout.metrics
    assert storage.properties(path)[committing.TRANSACTION_RETENTION] == "interval 30 days"
    rows = spark.createDataFrame(
        [(run.id, "loss", 1, 0.5)], "run_id string, key string, step long, value double"
    ).selectExpr("run_id", "key", "step", "current_timestamp() as timestamp", "value")
    (rows.write.format("delta").mode("append").option("txnAppId", "spark-job").option("txnVersion", 7).save(str(path)))
    # Spark stamps its transaction with lastUpdated too, so it expires like the writers' own.
    assert storage.transaction_version(path, "spark-job") == 7
    assert storage.properties(path)[committing.TRANSACTION_RETENTION] == "interval 30 days"
    protocol = storage.protocol(path)
    assert (protocol["min_reader_version"], protocol["min_writer_version"]) == (1, 2)
    with lh.start_run(resume=run.id) as resumed:  # and the embedded writer appends after Spark
        resumed.log({"loss": 0.25}, step=2)
    steps = sorted(storage.scan(path).collect().get_column("step").to_list())
    assert steps == [0, 1, 2]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count()
    assert history == storage.latest_version(path) + 1
