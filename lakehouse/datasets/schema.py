"""Schema enforcement: decide, before anything is written, what schema a write produces.

An append, upsert or overwrite must match the dataset's schema exactly (allowing lossless widening such as
int32 into int64) unless the caller asks for evolution: ``schema_mode="merge"`` adds new columns and lets
missing ones be null; ``schema_mode="overwrite"`` (overwrite only) replaces the schema.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

from lakehouse.datasets.versions import SchemaChange
from lakehouse.errors import InvalidArgument, SchemaMismatch

SchemaMode = Literal["merge", "overwrite"]

_WIDENING: dict[pa.DataType, set[pa.DataType]] = {
    pa.int64(): {pa.int8(), pa.int16(), pa.int32()},
    pa.int32(): {pa.int8(), pa.int16()},
    pa.int16(): {pa.int8()},
    pa.float64(): {pa.float32()},
}


def widens_to(source: pa.DataType, target: pa.DataType) -> bool:
    """True if every ``source`` value fits ``target`` exactly."""
    return source.equals(target) or source in _WIDENING.get(target, set())


def compare(before: pa.Schema, after: pa.Schema) -> list[SchemaChange]:
    """Columns added, removed or retyped going from ``before`` to ``after`` (lossless widening ignored)."""
    changes: list[SchemaChange] = []
    for f in after:
        if f.name not in before.names:
            changes.append(SchemaChange(f.name, "added", after=str(f.type)))
        elif not widens_to(f.type, before.field(f.name).type):
            changes.append(SchemaChange(f.name, "type_changed", str(before.field(f.name).type), str(f.type)))
    changes.extend(SchemaChange(f.name, "removed", before=str(f.type)) for f in before if f.name not in after.names)
    return changes


def plan(
    table: pa.Schema,
    incoming: pa.Schema,
    *,
    dataset: str,
    mode: str,
    schema_mode: SchemaMode | None,
) -> tuple[pa.Schema, list[SchemaChange]]:
    """The schema to write ``incoming`` as, and the schema changes it makes; raises SchemaMismatch."""
    if schema_mode == "overwrite" and mode != "overwrite":
        msg = f"schema_mode='overwrite' replaces the schema and only works with mode='overwrite', not {mode!r}"
        raise InvalidArgument(msg)
    changes = compare(table, incoming)
    if schema_mode == "overwrite":
        return incoming, changes
    retyped = [c for c in changes if c.change == "type_changed"]
    if schema_mode == "merge":
        if retyped:
            raise SchemaMismatch(_message(dataset, mode, retyped, hint=False))
        fields = [table.field(name) for name in table.names]
        fields += [pa.field(f.name, f.type, nullable=True) for f in incoming if f.name not in table.names]
        return pa.schema(fields), [c for c in changes if c.change == "added"]
    if changes:
        raise SchemaMismatch(_message(dataset, mode, changes, hint=True))
    return table, []


def _message(dataset: str, mode: str, changes: list[SchemaChange], *, hint: bool) -> str:
    parts = []
    added = [c for c in changes if c.change == "added"]
    removed = [c for c in changes if c.change == "removed"]
    retyped = [c for c in changes if c.change == "type_changed"]
    if removed:
        parts.append("missing columns " + ", ".join(f"{c.column!r} ({c.before})" for c in removed))
    if added:
        parts.append("unexpected columns " + ", ".join(f"{c.column!r} ({c.after})" for c in added))
    if retyped:
        parts.append(
            "type changes " + ", ".join(f"{c.column!r} ({c.before} in the dataset, {c.after} given)" for c in retyped)
        )
    text = f"cannot {mode} into dataset {dataset!r}: the data's schema does not match: " + "; ".join(parts)
    if hint and not retyped:
        text += ". Pass schema_mode='merge' to add new columns (missing ones become null)"
        if mode == "overwrite":
            text += ", or schema_mode='overwrite' to replace the schema"
    elif hint:
        text += ". Column types cannot change in place"
        text += "; use mode='overwrite' with schema_mode='overwrite'" if mode == "overwrite" else ""
    return text + "; nothing was written."
