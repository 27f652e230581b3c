"""Turn whatever the user hands us into Arrow data with types both Delta engines can write.

Accepted inputs: pyarrow Table / RecordBatch / RecordBatchReader, polars DataFrame / LazyFrame, pandas
DataFrame, anything exporting ``__arrow_c_stream__``, and a list of row dicts. Types are canonicalised so the
Delta schema does not depend on which library produced the rows: views and large variants become plain
strings/binaries/lists, timestamps become microseconds in UTC (naive values are taken to be UTC), unsigned
integers widen to the next signed type, dictionaries decode to their values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from lakehouse.errors import InvalidData, InvalidName

# Spark (without column mapping) rejects these characters in column names; refusing them keeps every table
# writable by both engines.
_BAD_COLUMN_CHARS = re.compile(r"[ ,;{}()\n\t=]")
_UNSIGNED_WIDENING = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),
}


def canonical_type(t: pa.DataType, column: str) -> pa.DataType:
    """The Arrow type we store for ``t``; raises :class:`InvalidData` for types Delta cannot hold."""
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type, column)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_float16(t):
        return pa.float32()
    if t in _UNSIGNED_WIDENING:
        return _UNSIGNED_WIDENING[t]
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
        or pa.types.is_fixed_size_list(t)
    ):
        item = t.value_field
        return pa.list_(pa.field(item.name, canonical_type(item.type, f"{column}[]"), nullable=True))
    if pa.types.is_struct(t):
        return pa.struct([canonical_field(t.field(i), f"{column}.") for i in range(t.num_fields)])
    if pa.types.is_map(t):
        return pa.map_(canonical_type(t.key_type, f"{column}.key"), canonical_type(t.item_type, f"{column}.value"))
    if pa.types.is_null(t):
        msg = (
            f"column {column!r} has only nulls and no type; give it a type "
            "(e.g. pl.Series(..., dtype=pl.Utf8) or pa.array(..., pa.string()))"
        )
        raise InvalidData(msg)
    if pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_interval(t):
        msg = f"column {column!r} has type {t}, which Delta tables cannot store; convert it to int64 or string"
        raise InvalidData(msg)
    if pa.types.is_union(t) or pa.types.is_run_end_encoded(t):
        msg = f"column {column!r} has type {t}, which Delta tables cannot store"
        raise InvalidData(msg)
    if pa.types.is_decimal(t) and t.precision > 38:
        msg = f"column {column!r} is {t}; Delta decimals hold at most 38 digits"
        raise InvalidData(msg)
    return t


def canonical_field(f: pa.Field, prefix: str = "") -> pa.Field:
    validate_column_name(f.name, prefix)
    return pa.field(f.name, canonical_type(f.type, prefix + f.name), nullable=f.nullable)


def validate_column_name(name: str, prefix: str = "") -> None:
    if not name or _BAD_COLUMN_CHARS.search(name):
        msg = (
            f"invalid column name {prefix + name!r}: column names must be non-empty and contain none of "
            "' ,;{}()=' or tabs/newlines (Spark cannot write such columns)"
        )
        raise InvalidName(msg)


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """Canonicalise every field; duplicate names (case-insensitively, as Spark compares them) are refused."""
    seen: dict[str, str] = {}
    for name in schema.names:
        other = seen.get(name.lower())
        if other is not None:
            msg = f"duplicate column names {other!r} and {name!r} (column names are case-insensitive)"
            raise InvalidData(msg)
        seen[name.lower()] = name
    return pa.schema([canonical_field(f) for f in schema])


def _cast_array(array: pa.ChunkedArray | pa.Array, target: pa.DataType, column: str) -> Any:
    # A naive timestamp's stored value is read as UTC by this cast, which is the documented rule.
    source = array.type
    try:
        return array.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        msg = f"column {column!r}: cannot convert {source} to {target}: {e}"
        raise InvalidData(msg) from e


def _conform_columns(data: pa.Table | pa.RecordBatch, target: pa.Schema) -> list[Any]:
    columns = []
    for f in target:
        if f.name in data.schema.names:
            column = _cast_array(data.column(f.name), f.type, f.name)
        else:  # allowed by the schema plan (schema_mode="merge"): the column is null in these rows
            column = pa.nulls(data.num_rows, f.type)
        if not f.nullable and column.null_count:
            msg = f"column {f.name!r} is NOT NULL in the dataset but {column.null_count} given rows are null"
            raise InvalidData(msg)
        columns.append(column)
    return columns


def conform_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` to ``target``: columns reordered and cast, absent ones null."""
    if batch.schema.equals(target):
        return batch
    return pa.RecordBatch.from_arrays(_conform_columns(batch, target), schema=target)


def conform_table(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Cast ``table`` to ``target``: columns reordered and cast, absent ones null."""
    if table.schema.equals(target):
        return table
    return pa.Table.from_arrays(_conform_columns(table, target), schema=target)


def conform_reader(reader: pa.RecordBatchReader, target: pa.Schema) -> pa.RecordBatchReader:
    """Cast a stream of batches to ``target`` lazily, batch by batch."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield conform_batch(batch, target)

    return pa.RecordBatchReader.from_batches(target, batches())


def to_arrow(data: Any) -> pa.Table | pa.RecordBatchReader:
    """Convert supported inputs to a pyarrow Table or RecordBatchReader (no type changes yet)."""
    if isinstance(data, pa.Table | pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        import polars as pl

        if isinstance(data, pl.LazyFrame):
            data = data.collect()
        if isinstance(data, pl.DataFrame):
            return data.to_arrow()
    if module == "pandas":
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        if not data:
            msg = "cannot write an empty list of rows: there is no schema to infer"
            raise InvalidData(msg)
        import polars as pl

        return pl.DataFrame(data).to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data)
    msg = (
        f"cannot write data of type {type(data).__module__}.{type(data).__qualname__}; pass a pyarrow Table or "
        "RecordBatchReader, a polars or pandas DataFrame, or a list of row dicts"
    )
    raise InvalidData(msg)
