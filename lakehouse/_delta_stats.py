"""Delta per-file statistics computed from the Arrow data of the file, as a writer records them in ``add``.

Readers skip files by these (Spark's data skipping, delta-rs and polars predicate pruning), so an ``add``
written without them would make every later filtered read open every file. What is recorded follows the
Delta protocol's "Per-file Statistics": ``numRecords``, ``nullCount`` of every column, and ``minValues`` /
``maxValues`` where a bound is exact or safely wider than the data:

- integers and dates: the exact bounds;
- floats: the exact bounds, only when every value is finite (JSON has no NaN or infinity, and Spark orders
  NaN above every number, so a bound that ignored it would skip files holding NaN wrongly);
- strings: a bound of at most 32 characters (Spark's length): the minimum's prefix is still a lower bound,
  a longer maximum is left out (a reader then cannot skip by it);
- timestamps: milliseconds, as both engines write them (the maximum rounded up, so it stays an upper bound);
- anything else (booleans, binaries, nested types): the null count only.

A column with no value but nulls has no bounds. Partition columns are not in the file, so not in its stats.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: The longest string bound recorded (Spark's ``delta.dataSkippingStringPrefixLength`` default).
STRING_PREFIX = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TO_MS = {"s": 0.001, "ms": 1, "us": 1000, "ns": 1_000_000}


def file_stats(data: pa.Table) -> str:
    """The ``stats`` JSON of an ``add`` action for a data file holding exactly ``data``."""
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field, column in zip(data.schema, data.columns, strict=True):
        nulls[field.name] = column.null_count
        if column.null_count == len(column):
            continue
        low, high = _bounds(field.type, column)
        if low is not None:
            minimum[field.name] = low
        if high is not None:
            maximum[field.name] = high
    stats = {"numRecords": data.num_rows, "minValues": minimum, "maxValues": maximum, "nullCount": nulls}
    return json.dumps(stats, separators=(",", ":"), ensure_ascii=False)


def _bounds(t: pa.DataType, column: pa.ChunkedArray) -> tuple[Any, Any]:
    if pa.types.is_integer(t):
        found = pc.min_max(column)
        return found["min"].as_py(), found["max"].as_py()
    if pa.types.is_floating(t):
        if not pc.all(pc.is_finite(column)).as_py():
            return None, None
        found = pc.min_max(column)
        return found["min"].as_py(), found["max"].as_py()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        found = pc.min_max(column.cast(pa.string()) if pa.types.is_string_view(t) else column)
        low, high = found["min"].as_py(), found["max"].as_py()
        return low[:STRING_PREFIX], high if len(high) <= STRING_PREFIX else None
    if pa.types.is_date32(t):
        found = pc.min_max(column)
        return found["min"].as_py().isoformat(), found["max"].as_py().isoformat()
    if pa.types.is_timestamp(t) and t.tz is not None:
        found = pc.min_max(column.cast(pa.int64()))
        per_ms = _TO_MS[t.unit]
        return _millis(math.floor(found["min"].as_py() / per_ms)), _millis(math.ceil(found["max"].as_py() / per_ms))
    return None, None


def _millis(ms: int) -> str | None:
    """A UTC instant in milliseconds as Delta writes it in stats (None beyond what a datetime holds)."""
    try:
        when = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return None
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
