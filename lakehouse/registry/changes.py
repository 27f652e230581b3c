"""Committing registry events to ``_catalog/models``: decide against the registry as read, then append.

Two kinds of change, by what could be lost under concurrency:

- **Structural** changes decide something unique: a model's name (created, renamed, deleted, restored) or a
  version's number. They commit with the Delta app transaction :data:`APP_ID` against the table version the
  decision was read from, so two processes deciding at once conflict: the loser re-reads and decides again
  (its version becomes the next number). Changes of other kinds never conflict with them.
- **Plain** changes (aliases, tags, descriptions, version deletions) are blind appends, which never conflict:
  concurrent alias moves all land, and the fold (:mod:`lakehouse.query.models`) applies them in the one order
  of events, the later winning, both kept in the history.

Every event carries ``writer`` and ``seq`` (the writer's application clock) for that order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import MODEL_EVENTS, append_rows
from lakehouse.config import Settings
from lakehouse.errors import CommitConflict
from lakehouse.query.events import ApplicationClock
from lakehouse.query.models import Registry, exact

APP_ID = "lakehouse.models"
_MAX_ATTEMPTS = 50

#: Given the registry as read, the events to append (raises if the change is refused).
Decision = Callable[[Registry], list[dict[str, Any]]]


class _Clock:
    """This process's writer id and application clock for registry events (a root's cache: a forked child
    gets its own, so two processes never share a writer id)."""

    def __init__(self) -> None:
        self.writer = f"registry-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.clock = ApplicationClock()


def event(kind: str, model_id: str, **fields: Any) -> dict[str, Any]:
    """One event row (``at``, ``writer`` and ``seq`` are stamped at commit)."""
    return {"kind": kind, "model_id": model_id, **fields}


def commit(layout: Layout, settings: Settings, actor: str, decide: Decision, *, structural: bool) -> Registry:
    """Read the registry exactly, let ``decide`` validate and return the events, and commit them.

    Returns the registry the committed decision was made on. Raises what ``decide`` raises (nothing is
    written then) or :class:`CommitConflict` if structural changes kept losing.
    """
    clock = layout.state.cache(_Clock)
    for _attempt in range(_MAX_ATTEMPTS):
        state = exact(layout.models)
        rows = decide(state)
        if not rows:
            return state
        now = datetime.now(UTC)
        stamped: list[Mapping[str, Any]] = [
            {"actor": actor, **row, "at": now, "writer": clock.writer, "seq": next(clock.clock)} for row in rows
        ]
        version = state.table_version
        try:
            append_rows(
                layout.models,
                MODEL_EVENTS,
                stamped,
                settings,
                app_transaction=(APP_ID, 0 if version is None else version + 1) if structural else None,
                read_version=version if structural else None,
            )
        except CommitConflict:
            if not structural:
                raise
            continue
        return state
    msg = f"the model registry at {str(layout.models)!r} kept changing; gave up after {_MAX_ATTEMPTS} tries"
    raise CommitConflict(msg)


def new_model_id() -> str:
    """32 hex characters, like run ids: a registered model's identity across renames."""
    return uuid.uuid4().hex
