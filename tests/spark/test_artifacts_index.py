"""Spark reads the artifacts index the embedded engine writes, and the fold agrees after a Spark append."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

import lakehouse

pytestmark = pytest.mark.spark


def test_spark_reads_the_artifacts_index(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.bin").write_bytes(b"weights")
    (tmp_path / "out" / "plot.png").write_bytes(b"png")
    with lh.start_run(experiment="spark") as run:
        run.log_artifacts(tmp_path / "out")
    lh.delete_artifact(run.id, "plot.png")
    path = str(lh.layout.artifacts)
    current = spark.sql(
        f"""SELECT path, digest, size FROM (
              SELECT *, row_number() OVER (PARTITION BY run_id, path ORDER BY logged_at DESC) AS n
              FROM delta.`{path}`) WHERE n = 1 AND NOT deleted"""
    ).collect()
    expected = lh.artifacts(run.id)
    assert [(r.path, r.digest, r.size) for r in current] == [
        (r["path"], r["digest"], r["size"]) for r in expected.iter_rows(named=True)
    ]
    # A Spark job records a deletion as an event too; the embedded fold reads it.
    spark.sql(
        f"INSERT INTO delta.`{path}` VALUES ('{run.id}', 'model.bin', NULL, NULL, current_timestamp(), true, 'spark')"
    )
    lh.forget()
    assert lh.artifacts(run.id).height == 0
