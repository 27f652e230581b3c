"""The metrics fact table across engines: Spark reads and compacts it while training processes log into it."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import lakehouse
from lakehouse import storage
from lakehouse.spark import read_table
from lakehouse.spark.maintain import maintain_with_spark

pytestmark = pytest.mark.spark

WRITER = Path(__file__).with_name("metrics_writer.py")
WRITERS = 3


def test_spark_reads_and_compacts_metrics_while_processes_log(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    children = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(lh.root), str(i), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not _runs_with_points(lh, WRITERS) and time.monotonic() < deadline:
            time.sleep(0.2)  # every writer has committed at least once
        for _ in range(2):
            metrics = read_table(lh, "tracking/metrics", spark=spark)
            totals = metrics.agg(F.count("*").alias("n"), F.countDistinct("run_id", "key", "step").alias("d")).first()
            assert totals is not None
            assert totals["n"] == totals["d"]  # a snapshot never shows a point twice
            seen.append(int(totals["n"]))
        # OPTIMIZE rewrites files under the writers' appends (which go on until the stop file and their final
        # flush): neither side may lose a commit.
        maintain_with_spark(lh, tracking=["metrics"], spark=spark)
    finally:
        stop.touch()
        outputs = [c.communicate(timeout=120) for c in children]
    steps = {}
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
        run_id, logged, pending, failures = out.split()
        assert (pending, failures) == ("pending=0", "failures=0")
        steps[run_id] = int(logged.removeprefix("steps="))
    assert seen == sorted(seen)  # each read saw at least what the one before did
    # Spark's compactions interleaved with the writers' commits...
    operations = [c.operation for c in reversed(storage.history(lh.layout.metrics))]
    assert operations.count("OPTIMIZE") == 1
    assert "WRITE" in operations[operations.index("OPTIMIZE") + 1 :], operations
    # ...and every logged point is in the table exactly once, read by either engine.
    final = read_table(lh, "tracking/metrics", spark=spark)
    per_run = {r["run_id"]: r["n"] for r in final.groupBy("run_id").agg(F.count("*").alias("n")).collect()}
    assert per_run == {run_id: 2 * n for run_id, n in steps.items()}
    embedded = storage.scan(lh.layout.metrics).collect()
    assert embedded.height == sum(per_run.values())
    assert embedded.unique(["run_id", "key", "step"]).height == embedded.height


def _runs_with_points(lh: lakehouse.Lakehouse, count: int) -> bool:
    if not storage.exists(lh.layout.metrics):
        return False
    return storage.scan(lh.layout.metrics).select("run_id").unique().collect().height >= count


def test_spark_appends_metrics_the_embedded_side_reads(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    with lh.start_run(name="trained") as run:
        run.log({"loss": 0.5}, step=0)
    # A Spark backfill of the same run, written straight to the partitioned fact table.
    now = datetime.now(UTC)
    schema = "run_id string, key string, step long, timestamp timestamp, value double"
    rows = [(run.id, "loss", s, now, 1.0 / (s + 1)) for s in range(1, 4)]
    backfill = spark.createDataFrame(rows, schema).select(read_table(lh, "tracking/metrics", spark=spark).columns)
    backfill.write.format("delta").mode("append").save(str(lh.layout.metrics))
    assert [(m.step, m.value) for m in lh.metric_history(run.id, "loss")] == [(0, 0.5), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert storage.partition_columns(lh.layout.metrics) == ["run_id"]
    assert Path(lh.layout.metrics / f"run_id={run.id}").is_dir()
