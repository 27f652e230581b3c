"""Run and input events as Arrow tables, built straight from buffers: the cheap path of a run's start.

A run's start events must be in the spool within milliseconds of ``start_run``, even in a process that has
not used polars or pyarrow yet (a fresh or forked training process on a loaded machine). Building their
table with polars (:meth:`TableSpec.from_rows`) costs 6-20 ms of CPU the first time in a process, pyarrow's
conversion of Python objects imports pandas (a second); writing the few columns' buffers directly costs
about 1 ms cold and a tenth of that warm, with the same result. The tracking tables' event schemas hold
only strings, 64-bit integers and UTC microsecond timestamps; any other type, or a value that does not fit
its column, takes the general path.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pyarrow as pa

from lakehouse.catalog.tables import TableSpec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def events_table(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """``rows`` (dicts; a missing key is null) as an Arrow table of ``spec``'s schema."""
    try:
        columns = [_column(field.type, [row.get(field.name) for row in rows]) for field in spec.schema]
    except (TypeError, OverflowError):
        return spec.from_rows(list(rows))
    return pa.Table.from_arrays(columns, schema=spec.schema)


def _column(kind: pa.DataType, values: list[Any]) -> pa.Array:
    if kind == pa.string():
        return _strings(values)
    if kind == pa.int64():
        return _integers(kind, values, _integer)
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz == "UTC":
        return _integers(kind, values, _micros)
    msg = f"no direct conversion to {kind}"
    raise TypeError(msg)


def _strings(values: list[Any]) -> pa.Array:
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


def _integers(kind: pa.DataType, values: list[Any], convert: Callable[[Any], int]) -> pa.Array:
    valid = bytearray((len(values) + 7) // 8)
    numbers = array("q", bytes(8 * len(values)))
    for i, value in enumerate(values):
        if value is not None:
            numbers[i] = convert(value)
            valid[i // 8] |= 1 << (i % 8)
    return _array(kind, values, valid, pa.py_buffer(numbers))


def _array(kind: pa.DataType, values: list[Any], valid: bytearray, *buffers: pa.Buffer) -> pa.Array:
    nulls = values.count(None)
    validity = pa.py_buffer(bytes(valid)) if nulls else None
    return pa.Array.from_buffers(kind, len(values), [validity, *buffers], null_count=nulls)


def _integer(value: Any) -> int:
    if type(value) is not int:
        _refuse(value)
    return int(value)


def _micros(value: Any) -> int:
    """A datetime as microseconds since the epoch; naive ones are UTC (as polars reads them)."""
    if not isinstance(value, datetime):
        _refuse(value)
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _refuse(value: Any) -> NoReturn:
    msg = f"{type(value).__name__} value {value!r} needs the general conversion"
    raise TypeError(msg)
