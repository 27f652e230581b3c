"""Helpers for tracking tests: read the tracking tables straight from Delta, snapshot their state."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import storage

CHILD = Path(__file__).with_name("child.py")


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    # Long interval: commits happen when a test flushes or finishes, so every test is deterministic.
    return lakehouse.connect(root, flush_interval=60, maintenance_commits=0)


def table_rows(path: Path) -> pl.DataFrame | None:
    """Every row of a tracking table read directly from Delta (None if the table does not exist)."""
    if not storage.exists(path):
        return None
    return storage.scan(path).collect()


def tables_state(lh: lakehouse.Lakehouse) -> dict[str, tuple[int, int] | None]:
    """(version, rows) of every tracking table: equal states mean nothing was written in between."""
    out: dict[str, tuple[int, int] | None] = {}
    for name, path in lh.layout.tracking_tables.items():
        rows = table_rows(path)
        out[name] = None if rows is None else (storage.latest_version(path), rows.height)
    return out


def points(lh: lakehouse.Lakehouse) -> pl.DataFrame:
    rows = table_rows(lh.layout.metrics)
    assert rows is not None, "no metrics table"
    return rows.sort("run_id", "key", "step")
