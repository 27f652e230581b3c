"""Tags: named pointers to dataset versions, kept as an append-only history in ``_catalog/tags``.

Every change of one tag is committed with the Delta app transaction ``lakehouse.tag/<dataset>/<tag>``,
whose version is the tag's event number, against the table version the decision was read from. Two
processes changing the same tag at once commit the same app id, so one loses the commit, re-reads and
re-decides (for example refuses without ``force``): no change is silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import TAG_EVENTS, append_rows, scan_or_empty
from lakehouse.config import Settings


@dataclass(frozen=True)
class TagEvent:
    """One change of a tag: ``set`` (new), ``moved`` (to another version) or ``deleted``."""

    dataset: str
    tag: str
    event: str
    version: int | None
    previous_version: int | None
    seq: int
    actor: str | None
    at: datetime


@dataclass(frozen=True)
class TagState:
    """The tag events table as read at one version, for a decide-then-commit cycle."""

    table_version: int | None
    events: pl.DataFrame

    def latest(self, tag: str) -> TagEvent | None:
        rows = self.events.filter(pl.col("tag") == tag).sort("seq")
        return TagEvent(**rows.row(-1, named=True)) if rows.height else None

    def live(self) -> dict[str, int]:
        """``{tag: version}`` of tags whose latest event is not a deletion."""
        last = self.events.sort("seq").group_by("tag").last()
        return {r["tag"]: r["version"] for r in last.iter_rows(named=True) if r["event"] != "deleted"}


def read_state(layout: Layout, dataset: str) -> TagState:
    """All tag events of ``dataset`` at the current table version."""
    version = storage.latest_version(layout.tags) if storage.exists(layout.tags) else None
    events = scan_or_empty(layout.tags, TAG_EVENTS, version).filter(pl.col("dataset") == dataset).collect()
    return TagState(version, events)


def history(layout: Layout, dataset: str, tag: str | None = None) -> list[TagEvent]:
    """Every change of the dataset's tags (or of one tag), oldest first."""
    events = read_state(layout, dataset).events
    if tag is not None:
        events = events.filter(pl.col("tag") == tag)
    return [TagEvent(**row) for row in events.sort("at", "seq").iter_rows(named=True)]


def commit_event(
    layout: Layout,
    settings: Settings,
    state: TagState,
    *,
    dataset: str,
    tag: str,
    event: str,
    version: int | None,
    actor: str,
) -> TagEvent:
    """Commit the next event of ``tag``; raises CommitConflict if someone changed the tag since ``state``."""
    previous = state.latest(tag)
    seq = previous.seq + 1 if previous else 1
    row = TagEvent(
        dataset=dataset,
        tag=tag,
        event=event,
        version=version,
        previous_version=previous.version if previous and previous.event != "deleted" else None,
        seq=seq,
        actor=actor,
        at=datetime.now(UTC),
    )
    append_rows(
        layout.tags,
        TAG_EVENTS,
        [row.__dict__],
        settings,
        app_transaction=(f"lakehouse.tag/{dataset}/{tag}", seq),
        read_version=state.table_version,
    )
    return row
