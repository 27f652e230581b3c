"""Delta file statistics from Parquet footers: only bounds that are certainly true."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.spark import parquet_stats


def stats_of(tmp_path: Path, table: pa.Table, **write: object) -> dict[str, object]:
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, **write)  # type: ignore[arg-type]
    columns = parquet_stats.indexed_columns(table.schema)
    return parquet_stats.file_stats(path, table.schema, columns)


def test_bounds_and_null_counts_over_row_groups(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([5, 1, None, 9], pa.int64()),
            "name": ["b", "a", "c", None],
            "day": [date(2026, 1, 2), None, date(2025, 12, 31), date(2026, 1, 1)],
            "flag": [True, False, None, True],
        }
    )
    stats = stats_of(tmp_path, table, row_group_size=2)  # two row groups, combined
    assert stats == {
        "numRecords": 4,
        "minValues": {"id": 1, "name": "a", "day": "2025-12-31"},
        "maxValues": {"id": 9, "name": "c", "day": "2026-01-02"},
        "nullCount": {"id": 1, "name": 1, "day": 1, "flag": 1},  # booleans: null counts only
    }


def test_nan_long_strings_and_timestamps(tmp_path: Path) -> None:
    long = "x" * 40
    table = pa.table(
        {
            "score": [0.5, float("nan"), 2.0],
            "text": ["a" * 35, "c", "b"],
            "at": pa.array(
                [
                    datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
                    datetime(2026, 1, 1, 0, 0, 1, 999999, tzinfo=UTC),
                    None,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    stats = stats_of(tmp_path, table)
    # Arrow's writer leaves NaN out of a float column's bounds, so they would not cover it: no float bounds.
    assert "score" not in stats["minValues"]
    assert "score" not in stats["maxValues"]
    assert "score" not in stats_of(tmp_path, pa.table({"score": [0.5, 2.0]}))["maxValues"]  # type: ignore[operator]
    assert stats["minValues"]["text"] == "a" * 32  # type: ignore[index]  # a prefix bounds from below
    assert stats["maxValues"]["text"] == "c"  # type: ignore[index]
    assert stats["minValues"]["at"] == "2026-01-01T00:00:00.123Z"  # type: ignore[index]  # rounded down
    assert stats["maxValues"]["at"] == "2026-01-01T00:00:02.000Z"  # type: ignore[index]  # rounded up
    assert stats["nullCount"] == {"score": 0, "text": 0, "at": 1}
    over = pa.table({"text": ["a", long]})
    assert "text" not in stats_of(tmp_path, over)["maxValues"]  # type: ignore[operator]  # no prefix bounds from above


def test_all_null_and_unbounded_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "empty": pa.array([None, None], pa.int64()),
            "price": pa.array([1, 2], pa.decimal128(10, 2)),
            "blob": [b"a", b"b"],
            "tags": [["a"], []],
        }
    )
    stats = stats_of(tmp_path, table)
    assert stats["minValues"] == {}
    assert stats["maxValues"] == {}
    assert stats["nullCount"] == {"empty": 2, "price": 0, "blob": 0}  # nested columns: none


def test_indexed_columns_count_leaves_like_delta() -> None:
    schema = pa.schema(
        [
            ("a", pa.int64()),
            ("s", pa.struct([("x", pa.int64()), ("y", pa.int64())])),
            ("b", pa.string()),
            ("c", pa.int64()),
        ]
    )
    assert parquet_stats.indexed_columns(schema) == ["a", "b", "c"]
    assert parquet_stats.indexed_columns(schema, 3) == ["a"]  # a, s.x, s.y are the first three leaves
    assert parquet_stats.indexed_columns(schema, 4) == ["a", "b"]
    assert parquet_stats.indexed_columns(schema, -1) == ["a", "b", "c"]
    assert parquet_stats.indexed_columns(schema, 0) == []
