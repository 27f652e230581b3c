"""Spark reads what storage.append writes itself, and its data skipping by those statistics never drops a row."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from lakehouse import storage
from tests.test_storage_append import SCHEMA

pytestmark = pytest.mark.spark

T0 = 1_700_000_000_000_000


def points(run_id: str, keys: list[str], steps: list[int], micros: list[int], values: list[float]) -> pa.Table:
    n = len(keys)
    columns = {"run_id": [run_id] * n, "key": keys, "step": steps, "timestamp": micros, "value": values}
    return pa.table(columns).cast(SCHEMA)


def test_spark_filters_appended_files_by_their_statistics_without_losing_a_row(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "metrics"
    batches = [
        points("r0", ["a"], [0], [T0], [0.0]),  # creates the table (delta-rs)
        points("r1", ["loss", "acc"], [1, 2], [T0 + 999, T0 + 1_001], [math.inf, -1.0]),
        points("r2", ["x" * 40, "y"], [3, 4], [T0 + 2_000, T0 + 2_500], [math.nan, 2.0]),
        points("r3", ["b", "c"], [5, 6], [T0 + 3_999, T0 + 4_000], [None, 3.0]),  # type: ignore[list-item]
    ]
    for seq, batch in enumerate(batches, start=1):
        storage.append(path, batch, partition_by=["run_id"], app_transaction=("w", seq))
    expected = pl.from_arrow(pa.concat_tables(batches))
    assert isinstance(expected, pl.DataFrame)

    frame = spark.read.format("delta").load(str(path))
    assert frame.count() == expected.height
    # Each filter would drop rows if a file's bounds did not cover them: microseconds inside the bounding
    # millisecond, infinity and NaN, strings longer than the 32-character prefix, nulls.
    checks = {
        "timestamp = timestamp_micros(1700000000000999)": pl.col("timestamp").dt.epoch("us") == T0 + 999,
        "timestamp > timestamp_micros(1700000000003998)": pl.col("timestamp").dt.epoch("us") > T0 + 3_998,
        # (NaN rows are left out of comparisons: Spark's Parquet footer filter drops them from any file an
        # Arrow writer wrote, delta-rs' included, whatever the Delta statistics say.)
        "value > 1e300 and not isnan(value)": (pl.col("value") > 1e300) & ~pl.col("value").is_nan(),
        "isnan(value)": pl.col("value").is_nan(),
        "value is null": pl.col("value").is_null(),
        f"key >= '{'x' * 35}'": pl.col("key") >= "x" * 35,
        "step between 2 and 3": pl.col("step").is_between(2, 3),
    }
    for condition, same in checks.items():
        assert frame.where(condition).count() == expected.filter(same).height, condition
