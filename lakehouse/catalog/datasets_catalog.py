"""The datasets catalog: an append-only log of registration events in ``_catalog/datasets``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import DATASET_EVENTS, append_rows, scan_or_empty
from lakehouse.config import Settings


def record(layout: Layout, settings: Settings, name: str, event: str, actor: str, **detail: Any) -> None:
    """Append one registration event (``created``, ``described``...) for dataset ``name``."""
    row = {
        "name": name,
        "event": event,
        "at": datetime.now(UTC),
        "actor": actor,
        "detail": json.dumps(detail, sort_keys=True, default=str) if detail else None,
    }
    append_rows(layout.datasets_catalog, DATASET_EVENTS, [row], settings)


def events(layout: Layout) -> pl.DataFrame:
    return scan_or_empty(layout.datasets_catalog, DATASET_EVENTS).sort("at").collect()


def dataset_names(layout: Layout) -> list[str]:
    """Names of all datasets: every Delta table under ``datasets/`` (whichever engine created it)."""
    return [table.name for table in storage.tables_in(layout.datasets_dir)]
