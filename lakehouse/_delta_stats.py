"""Delta per-file statistics: the one rule for the bounds a data file's ``add`` action records.

Readers skip files by these (Spark's data skipping, delta-rs and polars pruning), so an ``add`` without them
makes every later filtered read open every file. Two writers of ``add`` actions use the rule here:
:func:`file_stats` computes the statistics from the Arrow data of a file lakehouse writes itself
(``storage.append``), and ``lakehouse.spark.parquet_stats`` reads them from the footers of the files Spark
wrote. Only bounds that are certainly true are written; a column without them simply is not skipped on:

- integers and dates: the exact bounds;
- floats: the exact bounds, only when no value is NaN (Spark orders NaN above every number, so a bound that
  left it out would skip files holding NaN wrongly) and, from Arrow data, every value is finite (JSON has no
  infinity);
- strings: Delta's 32-character prefix for the minimum (still a lower bound); a longer maximum is left out
  (a prefix is not an upper bound);
- timestamps: to the millisecond as Delta writes them, the minimum rounded down and the maximum up;
- anything else (booleans, binaries, decimals, nested types): the null count only.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

STRING_PREFIX = 32  # Delta's dataSkippingStringPrefixLength
_SHORT_COLUMN = 64  # up to this many values, bounds are found in Python (see _min_max)


def json_bounds(kind: pa.DataType, low: Any, high: Any) -> tuple[Any, Any] | None:
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


def file_stats(data: pa.Table) -> str:
    """The ``stats`` JSON of an ``add`` action for a data file holding exactly ``data`` (no partition columns)."""
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field, column in zip(data.schema, data.columns, strict=True):
        nulls[field.name] = column.null_count
        bounds = _bounds(field.type, column) if column.null_count < len(column) else None
        if bounds is None:
            continue
        if bounds[0] is not None:
            minimum[field.name] = bounds[0]
        if bounds[1] is not None:
            maximum[field.name] = bounds[1]
    stats = {"numRecords": data.num_rows, "minValues": minimum, "maxValues": maximum, "nullCount": nulls}
    return json.dumps(stats, separators=(",", ":"), ensure_ascii=False)


def _bounds(kind: pa.DataType, column: pa.ChunkedArray) -> tuple[Any, Any] | None:
    bounded = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_large_string)
    moments = pa.types.is_date32(kind) or pa.types.is_timestamp(kind)
    if not (moments or any(test(kind) for test in bounded)):
        return None
    if moments:
        # As integers: a timestamp scalar's as_py() imports pandas (seconds of a training process's time).
        column = column.cast(pa.int64() if pa.types.is_timestamp(kind) else pa.int32())
    found = _min_max(column, floating=pa.types.is_floating(kind))
    if found is None:
        return None
    if moments:
        try:
            return json_bounds(kind, _moment(kind, found[0]), _moment(kind, found[1]))
        except OverflowError:  # beyond what a datetime holds
            return None
    return json_bounds(kind, *found)


def _min_max(column: pa.ChunkedArray, *, floating: bool) -> tuple[Any, Any] | None:
    """The smallest and largest non-null values as Python values; None for floats not all finite.

    A short column (a small append: a short run's finish writes a few rows per table) is compared in Python,
    which costs a microsecond where each Arrow kernel call costs several; UTF-8 bytes, which Arrow compares,
    sort as Python's code points do.
    """
    if len(column) <= _SHORT_COLUMN:
        values = [v for v in column.to_pylist() if v is not None]
        if floating and not all(math.isfinite(v) for v in values):
            return None
        return min(values), max(values)
    if floating and not pc.all(pc.is_finite(column)).as_py():
        return None  # Arrow's min_max leaves NaN out
    found = pc.min_max(column)
    return found["min"].as_py(), found["max"].as_py()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "microseconds"}


def _moment(kind: pa.DataType, value: int) -> date | datetime:
    """A date32 (days) or a timestamp (in its unit) as Python's date or UTC datetime."""
    if pa.types.is_date32(kind):
        return _EPOCH.date() + timedelta(days=value)
    unit = kind.unit
    return _EPOCH + timedelta(**{_UNIT[unit]: value / 1000 if unit == "ns" else value})
