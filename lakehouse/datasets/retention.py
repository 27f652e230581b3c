"""Retention that never breaks a pinned version.

A version is *pinned* while a tag points at it or a run recorded it as an input. Vacuum keeps every file a
pinned version reads (delta-rs ``keep_versions``), and the log retention is stretched, if needed, so the
log entries of the oldest pinned version are never cleaned up.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import RUN_INPUTS
from lakehouse.config import Settings
from lakehouse.errors import ConfigError, InvalidArgument

_INTERVAL = re.compile(r"\s*interval\s+(\d+)\s+(second|minute|hour|day|week)s?\s*", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
LOG_RETENTION = "delta.logRetentionDuration"


def vacuum_hours(settings: Settings, retention_hours: object) -> int:
    """The vacuum retention to use: ``retention_hours``, or the settings' when None; refused unless an int >= 0."""
    hours = settings.vacuum_retention_hours if retention_hours is None else retention_hours
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 0:
        msg = f"retention_hours must be a non-negative integer, got {retention_hours!r}"
        raise InvalidArgument(msg)
    return hours


def parse_interval(text: str) -> timedelta:
    """Parse a Delta interval such as ``interval 30 days``."""
    match = _INTERVAL.fullmatch(text)
    if not match:
        msg = f"cannot read interval {text!r}; write it as 'interval <n> <days|hours|weeks|minutes|seconds>'"
        raise ConfigError(msg)
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def used_versions(layout: Layout, dataset: str) -> set[int]:
    """Versions of ``dataset`` that some run recorded as an input."""
    if not storage.exists(layout.inputs):
        return set()
    used = storage.scan(layout.inputs).filter(pl.col("dataset") == dataset).select(pl.col("version").unique()).collect()
    return {int(v) for v in used.get_column("version").to_list()}


def ensure_log_covers(path: str, oldest_pinned: datetime) -> None:
    """Stretch the table's log retention so entries back to ``oldest_pinned`` (plus a margin) stay."""
    current = storage.properties(path).get(LOG_RETENTION, "interval 30 days")
    needed = datetime.now(UTC) - oldest_pinned + timedelta(days=30)
    if parse_interval(current) < needed:
        storage.set_properties(path, {LOG_RETENTION: f"interval {needed.days + 1} days"})


__all__ = ["RUN_INPUTS", "ensure_log_covers", "parse_interval", "used_versions"]
