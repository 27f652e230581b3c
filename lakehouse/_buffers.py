"""Arrow columns built straight from Python values into buffers, never through pyarrow's object conversion.

pyarrow's conversion of Python objects (``pa.array(list)``, ``Table.from_pylist``) imports pandas on its first
use in a process: about a second, which a fresh or forked training process must not spend between logging
a point and spooling it. Writing a column's buffers directly costs microseconds per value and loads nothing.
Only strings, bytes, 64-bit integers, doubles and UTC microsecond timestamps (from ``datetime`` or from
integer microseconds) are built here by :func:`column`; any other type or value raises ``TypeError`` so callers take a
general path. :func:`converted` and :func:`repeated` are the general path that still leaves pandas unloaded:
polars converts the values (in Rust, as fast as the buffers here for long columns) and Arrow casts them.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, NoReturn

import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def column(kind: pa.DataType, values: Sequence[Any]) -> pa.Array:
    """``values`` (None is null) as an Arrow array of ``kind``; ``TypeError`` for what is not built here."""
    if kind == pa.string():
        return _strings(values)
    if kind == pa.binary():
        return binary(values)
    if kind == pa.int64():
        return _numbers(kind, "q", values, _integer)
    if kind == pa.float64():
        return _numbers(kind, "d", values, _double)
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz == "UTC":
        return _numbers(kind, "q", values, _micros)
    msg = f"no direct conversion to {kind}"
    raise TypeError(msg)


def converted(kind: pa.DataType, values: Sequence[Any]) -> pa.Array:
    """``values`` (None is null) as an Arrow array of ``kind``, for any type polars infers and Arrow casts."""
    if kind == pa.binary():
        try:
            return binary(values)  # file contents: joined once, where polars copies them twice
        except TypeError:
            pass  # not all bytes: polars converts them (or names the value it cannot)
    import polars as pl

    return pl.Series(values).to_arrow().cast(kind)


def repeated(kind: pa.DataType, value: Any, count: int) -> pa.Array:
    """``value`` ``count`` times, as an Arrow array of ``kind`` (no list of ``count`` values is made)."""
    import polars as pl

    return pl.repeat(value, count, eager=True).to_arrow().cast(kind)


def table(schema: pa.Schema, columns: Sequence[Sequence[Any]]) -> pa.Table:
    """A table of ``schema`` from one sequence of values per field (see :func:`column`)."""
    arrays = [column(field.type, values) for field, values in zip(schema, columns, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _strings(values: Sequence[Any]) -> pa.Array:
    offsets = array("i", [0])
    data = bytearray()
    valid = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is not None:
            if type(value) is not str:
                _refuse(value)
            data += value.encode()
            valid[i // 8] |= 1 << (i % 8)
        offsets.append(len(data))  # raises OverflowError past 2 GiB: the general path handles it
    return _array(pa.string(), values, valid, pa.py_buffer(offsets), pa.py_buffer(bytes(data)))


def binary(values: Sequence[Any]) -> pa.Array:
    """Bytes-like ``values`` (None is null) as a binary array, their bytes joined once into the data buffer
    (file contents: hundreds of MB, so no copy per value)."""
    for value in values:
        if value is not None and type(value) not in _BYTES_LIKE:
            _refuse(value)
    lengths = [None if value is None else len(value) for value in values]
    return end_to_end(lengths, b"".join(value for value in values if value is not None))


def end_to_end(lengths: Sequence[int | None], data: Any) -> pa.Array:
    """A binary array of values of ``lengths`` (None is null) whose bytes lie end to end in the buffer
    ``data``, taken as the array's data without a copy (a buffer a reader filled, say)."""
    valid = bytearray((len(lengths) + 7) // 8)
    for i, length in enumerate(lengths):
        if length is not None:
            valid[i // 8] |= 1 << (i % 8)
    offsets = array("i", [0])
    offsets.extend(accumulate(length or 0 for length in lengths))  # OverflowError past 2 GiB
    if len(data) != offsets[-1]:
        msg = f"the data is {len(data)} bytes long, the values {offsets[-1]}"
        raise ValueError(msg)
    return _array(pa.binary(), lengths, valid, pa.py_buffer(offsets), pa.py_buffer(data))


_BYTES_LIKE = (bytes, bytearray, memoryview)


def _numbers(kind: pa.DataType, code: str, values: Sequence[Any], convert: Callable[[Any], Any]) -> pa.Array:
    valid = bytearray((len(values) + 7) // 8)
    numbers = array(code, bytes(8 * len(values)))
    for i, value in enumerate(values):
        if value is not None:
            numbers[i] = convert(value)
            valid[i // 8] |= 1 << (i % 8)
    return _array(kind, values, valid, pa.py_buffer(numbers))


def _array(kind: pa.DataType, values: Sequence[Any], valid: bytearray, *buffers: pa.Buffer) -> pa.Array:
    nulls = sum(value is None for value in values)
    validity = pa.py_buffer(bytes(valid)) if nulls else None
    return pa.Array.from_buffers(kind, len(values), [validity, *buffers], null_count=nulls)


def _integer(value: Any) -> int:
    if type(value) is not int:
        _refuse(value)
    return int(value)


def _double(value: Any) -> float:
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        return float(value)  # OverflowError for an int beyond a double: the general path reports it
    _refuse(value)


def _micros(value: Any) -> int:
    """A datetime (naive ones are UTC, as polars reads them) or integer microseconds since the epoch."""
    if type(value) is int:
        return value
    if not isinstance(value, datetime):
        _refuse(value)
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _refuse(value: Any) -> NoReturn:
    msg = f"{type(value).__name__} value {value!r} needs the general conversion"
    raise TypeError(msg)
