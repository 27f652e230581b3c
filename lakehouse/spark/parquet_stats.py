"""Delta per-file statistics read from a Parquet file's footer instead of recomputed from its rows.

A Parquet writer already records, per row group and column, the row count, null count, minimum and maximum.
Delta's ``add`` actions want the same facts per file (``numRecords``, ``nullCount``, ``minValues``,
``maxValues``), and Delta-Spark computes them a second time, row by row, while it writes: on 10M rows that
pass is a quarter of the write (see docs/BENCHMARKS.md, Spark). Summing the footers gives the same JSON for
the columns below at the cost of reading a few kilobytes per file.

Only bounds that are certainly true are written; a column without them simply is not skipped on:

- top-level columns of integer, floating point, string, date and timestamp types get min/max; booleans,
  binaries, decimals and nested columns get null counts only (nested ones not even those);
- float columns get min/max only from parquet-mr (Spark's writer), which orders NaN above every number as
  Java does, so a NaN shows in the maximum and the column then gets no bounds; other writers (Arrow's C++
  one) leave NaN out of the bounds, so their float bounds would not cover every row;
- the JSON form of the bounds (string prefixes, timestamps to the millisecond) is the one rule of
  :func:`lakehouse._delta_stats.json_bounds`, which ``storage.append`` uses for the files it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse._delta_stats import json_bounds

DEFAULT_INDEXED_COLUMNS = 32  # Delta's dataSkippingNumIndexedCols

_BOUNDED = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_date32,
    pa.types.is_timestamp,
)


def indexed_columns(schema: pa.Schema, num_indexed: int = DEFAULT_INDEXED_COLUMNS) -> list[str]:
    """Top-level primitive columns among the first ``num_indexed`` leaf columns, as Delta counts them.

    A negative ``num_indexed`` means every column (Delta's ``-1``).
    """
    chosen: list[str] = []
    leaves = 0
    for field in schema:
        if 0 <= num_indexed <= leaves:
            break
        width = _leaf_count(field.type)
        if width == 1 and not pa.types.is_nested(field.type):
            chosen.append(field.name)
        leaves += width
    return chosen


def _leaf_count(kind: pa.DataType) -> int:
    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    return 1


def file_stats(path: str | Path, schema: pa.Schema, columns: Sequence[str]) -> dict[str, Any]:
    """The ``stats`` of one data file for ``columns`` (of ``schema``, the table's), as Delta's JSON object."""
    meta = pq.read_metadata(path)
    nan_in_bounds = str(meta.created_by or "").startswith("parquet-mr")
    positions = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    minimums: dict[str, Any] = {}
    maximums: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name in columns:
        index = positions.get(name)
        if index is None:
            continue
        summary = _summarise(meta, index)
        if summary is None:
            continue
        null_count, low, high = summary
        nulls[name] = null_count
        kind = schema.field(name).type
        if low is None or high is None or not any(test(kind) for test in _BOUNDED):
            continue
        if pa.types.is_floating(kind) and not nan_in_bounds:
            continue
        bounds = json_bounds(kind, low, high)
        if bounds is None:
            continue
        if bounds[0] is not None:
            minimums[name] = bounds[0]
        if bounds[1] is not None:
            maximums[name] = bounds[1]
    return {"numRecords": meta.num_rows, "minValues": minimums, "maxValues": maximums, "nullCount": nulls}


def _summarise(meta: pq.FileMetaData, index: int) -> tuple[int, Any, Any] | None:
    """Null count and min/max of one column over every row group; None if any group lacks its null count."""
    null_count = 0
    lows: list[Any] = []
    highs: list[Any] = []
    bounded = True
    for group in range(meta.num_row_groups):
        column = meta.row_group(group).column(index)
        stats = column.statistics
        if stats is None or not stats.has_null_count:
            return None
        null_count += stats.null_count
        if stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
        elif stats.null_count < column.num_values:  # values present but no bounds: none for the file
            bounded = False
    if not bounded or not lows:
        return null_count, None, None
    try:
        return null_count, min(lows), max(highs)
    except TypeError:  # values pyarrow could not decode to one comparable type
        return null_count, None, None
