"""Cached reads behind the Datasets page. Every function takes the versions it depends on as ``stamp``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from lakehouse.app.shell import Stamp, handle

PREVIEW_ROWS = 200
DIFF_SAMPLE_ROWS = 200
_CARD = ("created_by", "created_on", "labelled_by", "number_of_samples", "description")


@st.cache_data(show_spinner=False, max_entries=32)
def overview(stamp: Stamp) -> pl.DataFrame:
    """One row per dataset: latest version, rows, last writer, tags."""
    rows = [
        {
            "dataset": info.name,
            "latest": f"v{info.latest_version}",
            "rows": info.num_rows,
            "updated": info.updated_at,
            "last writer": info.last_writer,
            "tags": ", ".join(f"{t} → v{v}" for t, v in info.tags.items()),
            "description": info.description,
        }
        for info in handle().datasets()
    ]
    schema: dict[str, pl.DataType] = {
        "dataset": pl.Utf8(),
        "latest": pl.Utf8(),
        "rows": pl.Int64(),
        "updated": pl.Datetime("us", "UTC"),
    }
    return pl.DataFrame(rows, schema_overrides=schema) if rows else pl.DataFrame(schema=schema)


@st.cache_data(show_spinner=False, max_entries=64)
def history(name: str, stamp: Stamp) -> pl.DataFrame:
    """Every version, newest first, with the commit metadata and the tags pointing at it."""
    ds = handle().dataset(name)
    tags_at: dict[int, list[str]] = {}
    for tag, version in ds.tags().items():
        tags_at.setdefault(version, []).append(tag)
    rows = []
    for v in ds.history():
        extra = {k: val for k, val in v.metadata.items() if k not in _CARD}
        rows.append(
            {
                "version": v.version,
                "created_at": v.created_at,
                "operation": v.operation,
                "created_by": v.created_by,
                "created_on": _text(v.metadata.get("created_on")),
                "labelled_by": _text(v.metadata.get("labelled_by")),
                "number_of_samples": v.num_rows,
                "rows_added": v.rows_added,
                "rows_removed": v.rows_removed,
                "rows_updated": v.rows_updated,
                "tags": ", ".join(sorted(tags_at.get(v.version, []))),
                "description": v.description,
                "schema_changes": "; ".join(str(c) for c in v.schema_changes),
                "other metadata": json.dumps(extra, sort_keys=True, default=str) if extra else "",
                "engine": v.engine,
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@st.cache_data(show_spinner=False, max_entries=64)
def schema(name: str, version: int, stamp: Stamp) -> pl.DataFrame:
    """Columns of one version and, against the version before it, what changed."""
    ds = handle().dataset(name)
    current = ds.schema(version)
    before = {f.name: str(f.type) for f in ds.schema(version - 1)} if version > 0 else {}
    rows = []
    for f in current:
        kind = str(f.type)
        change = "" if version == 0 else ("added" if f.name not in before else "")
        if f.name in before and before[f.name] != kind:
            change = f"type was {before[f.name]}"
        rows.append({"column": f.name, "type": kind, "nullable": f.nullable, "change": change})
    names = set(current.names)
    rows.extend(
        {"column": col, "type": kind, "nullable": None, "change": "removed"}
        for col, kind in before.items()
        if col not in names
    )
    return pl.DataFrame(rows, schema={"column": pl.Utf8, "type": pl.Utf8, "nullable": pl.Boolean, "change": pl.Utf8})


@dataclass(frozen=True)
class Preview:
    ref: str
    version: int
    num_rows: int
    rows: pl.DataFrame


@st.cache_data(show_spinner=False, max_entries=64)
def preview(ref: str, stamp: Stamp) -> Preview:
    """The first rows of the version ``ref`` names (raises the lakehouse error if it names none)."""
    lh = handle()
    version = lh.resolve(ref)
    frame = lh.scan(f"{version.name}:v{version.version}")
    return Preview(
        ref=version.ref, version=version.version, num_rows=version.num_rows, rows=frame.head(PREVIEW_ROWS).collect()
    )


@dataclass(frozen=True)
class DiffView:
    """A diff cut down for display: counts, schema changes and a sample of each kind of row."""

    summary: dict[str, Any]
    added: pl.DataFrame
    removed: pl.DataFrame
    changed: pl.DataFrame


@st.cache_data(show_spinner=False, max_entries=32)
def diff(name: str, a: int, b: int, key: tuple[str, ...], stamp: Stamp) -> DiffView:
    result = handle().dataset(name).diff(a, b, key=list(key) or None)
    changed = result.changed.head(DIFF_SAMPLE_ROWS)
    if "changed_columns" in changed.columns and changed.height:
        # What changed first: the key, the list of changed columns, then each changed column next to its
        # old value; the unchanged columns after.
        moved = sorted(set(changed.get_column("changed_columns").explode().drop_nulls().to_list()))
        front = [*key, "changed_columns", *[c for m in moved for c in (m, f"{m}_before") if c in changed.columns]]
        changed = changed.select(front + [c for c in changed.columns if c not in front])
    return DiffView(
        summary=result.summary(),
        added=result.added.head(DIFF_SAMPLE_ROWS),
        removed=result.removed.head(DIFF_SAMPLE_ROWS),
        changed=changed,
    )


@st.cache_data(show_spinner=False, max_entries=64)
def tags(name: str, stamp: Stamp) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(live tags, every tag change)``."""
    ds = handle().dataset(name)
    live = pl.DataFrame(
        [{"tag": t, "version": v} for t, v in ds.tags().items()], schema={"tag": pl.Utf8, "version": pl.Int64}
    )
    events = pl.DataFrame(
        [
            {
                "at": e.at,
                "tag": e.tag,
                "event": e.event,
                "version": e.version,
                "previous_version": e.previous_version,
                "actor": e.actor,
            }
            for e in reversed(ds.tag_history())
        ],
        schema={
            "at": pl.Datetime("us", "UTC"),
            "tag": pl.Utf8,
            "event": pl.Utf8,
            "version": pl.Int64,
            "previous_version": pl.Int64,
            "actor": pl.Utf8,
        },
    )
    return live, events
