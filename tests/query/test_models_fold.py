"""The registry fold on hand-made event tables: the one event order, and how racing events lose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from lakehouse.catalog.tables import MODEL_EVENTS
from lakehouse.query.models import fold

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BASE = 1_800_000_000_000_000  # an application clock value (microseconds)


def _events(*rows: dict[str, Any]) -> pl.DataFrame:
    filled = [{"at": T0, "writer": "w", "actor": "a", **row} for row in rows]
    return pl.DataFrame(filled, schema=MODEL_EVENTS.polars_schema)


def test_events_apply_in_application_order_not_by_the_times_they_carry() -> None:
    events = _events(
        {"kind": "alias_set", "model_id": "m", "key": "prod", "version": 1, "seq": BASE + 4, "at": T0},
        {"kind": "model_created", "model_id": "m", "name": "clf", "seq": BASE + 1},
        {"kind": "version_created", "model_id": "m", "version": 1, "source": "runs:/r/a", "seq": BASE + 2},
        {"kind": "version_created", "model_id": "m", "version": 2, "source": "runs:/r/b", "seq": BASE + 3},
        # Carries an older time but was applied last: it wins.
        {"kind": "alias_set", "model_id": "m", "key": "prod", "version": 2, "seq": BASE + 5, "at": T0 - timedelta(1)},
    )
    registry = fold(events, table_version=None)
    assert registry.aliases("m") == {"prod": 2}
    assert [(c.change, c.version) for c in registry.alias_history("m")] == [("set", 1), ("moved", 2)]


def test_a_duplicate_version_number_and_a_second_model_of_a_live_name_lose() -> None:
    events = _events(
        {"kind": "model_created", "model_id": "m", "name": "clf", "seq": BASE + 1},
        {"kind": "model_created", "model_id": "n", "name": "clf", "seq": BASE + 2},
        {"kind": "version_created", "model_id": "m", "version": 1, "source": "runs:/r/first", "seq": BASE + 3},
        {
            "kind": "version_created",
            "model_id": "m",
            "version": 1,
            "source": "runs:/r/second",
            "seq": BASE + 3,
            "writer": "x",
        },
        {"kind": "version_created", "model_id": "n", "version": 1, "source": "runs:/r/n", "seq": BASE + 4},
    )
    registry = fold(events, table_version=None)
    assert [m.model_id for m in registry.models(include_deleted=True)] == ["m"]
    assert [v.source for v in registry.versions("m")] == ["runs:/r/first"]  # writer "w" sorts before "x"


def test_an_alias_on_a_deleted_version_is_ignored_and_deletion_drops_aliases() -> None:
    events = _events(
        {"kind": "model_created", "model_id": "m", "name": "clf", "seq": BASE + 1},
        {"kind": "version_created", "model_id": "m", "version": 1, "source": "runs:/r/a", "seq": BASE + 2},
        {"kind": "alias_set", "model_id": "m", "key": "prod", "version": 1, "seq": BASE + 3},
        {"kind": "version_deleted", "model_id": "m", "version": 1, "seq": BASE + 4, "actor": "bob"},
        {"kind": "alias_set", "model_id": "m", "key": "staging", "version": 1, "seq": BASE + 5},
        {"kind": "alias_set", "model_id": "m", "key": "prod", "version": 7, "seq": BASE + 6},
    )
    registry = fold(events, table_version=None)
    assert registry.aliases("m") == {}
    history = registry.alias_history("m")
    assert [(c.alias, c.change, c.actor, c.reason) for c in history] == [
        ("prod", "set", "a", None),
        ("prod", "deleted", "bob", "version 1 deleted"),
    ]
    assert registry.next_version("m") == 2  # a deleted number is never reused
