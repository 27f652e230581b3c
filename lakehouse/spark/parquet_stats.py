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
- strings keep Delta's 32-character prefix for the minimum; a longer maximum is left out (a prefix is not an
  upper bound);
- timestamps are written to the millisecond as Delta does, the minimum rounded down and the maximum up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

STRING_PREFIX = 32  # Delta's dataSkippingStringPrefixLength
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
        bounds = _json_bounds(kind, low, high)
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


def _json_bounds(kind: pa.DataType, low: Any, high: Any) -> tuple[Any, Any] | None:
    """Delta's JSON form of a column's min and max (either may be None: left out), or None for neither."""
    if pa.types.is_floating(kind):
        if math.isnan(low) or math.isnan(high):
            return None
        return float(low), float(high)
    if pa.types.is_integer(kind):
        return int(low), int(high)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        low_text = low.decode() if isinstance(low, bytes) else str(low)
        high_text = high.decode() if isinstance(high, bytes) else str(high)
        return low_text[:STRING_PREFIX], high_text if len(high_text) <= STRING_PREFIX else None
    if pa.types.is_date32(kind) and isinstance(low, date) and isinstance(high, date):
        return low.isoformat(), high.isoformat()
    if pa.types.is_timestamp(kind) and isinstance(low, datetime) and isinstance(high, datetime):
        return _millis(low, up=False), _millis(high, up=True)
    return None


def _millis(moment: datetime, *, up: bool) -> str:
    """``moment`` as Delta writes timestamp statistics: UTC, milliseconds, rounded down or up."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    extra = moment.microsecond % 1000
    if extra:
        moment -= timedelta(microseconds=extra)
        if up:
            moment += timedelta(milliseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
