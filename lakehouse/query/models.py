"""The model registry folded from ``_catalog/models``: registered models, their versions, aliases and history.

Events are applied in the one order of events (:mod:`lakehouse.query.events`: application time, writer, seq),
never by the times they carry. The fold is total and deterministic, so every reader agrees on the state
whatever commits raced:

- a ``model_created`` for a name a live model holds, or a ``model_restored`` / ``model_renamed`` onto such a
  name, loses (ignored): live names are unique;
- a ``version_created`` whose number the model already has loses (ignored): version numbers are unique per
  model, deleted versions included (a number is never reused). Writers commit structural events conditionally
  (``lakehouse.registry.changes``), so this rule only ever meets writers that skipped that check;
- an ``alias_set`` on a version that is not live at that point is ignored; a version's deletion deletes the
  aliases pointing at it (recorded in the alias history with the deletion's actor, time and reason);
- every other change applies, the later one winning: concurrent alias moves both appear in the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import MODEL_EVENTS, scan_or_empty
from lakehouse.entities import AliasChange, AliasChangeKind, Lifecycle, ModelVersion, RegisteredModel
from lakehouse.location import Location
from lakehouse.query import frames
from lakehouse.query.events import in_order


@dataclass
class _Version:
    number: int
    source: str
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    run_link: str | None = None
    logged_model_id: str | None = None
    lifecycle: Lifecycle = "active"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Model:
    model_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    lifecycle: Lifecycle = "active"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[int, _Version] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    history: list[tuple[str, AliasChangeKind, int | None, int | None, str | None, datetime, str | None]] = field(
        default_factory=list
    )

    def live_versions(self) -> list[_Version]:
        return [v for n, v in sorted(self.versions.items()) if v.lifecycle == "active"]


class Registry:
    """The registry at one table version: look-ups by name, versions and aliases, as frozen values."""

    def __init__(self, models: dict[str, _Model], *, table_version: int | None) -> None:
        self.table_version = table_version
        self._models = models
        self._live = {m.name: m for m in models.values() if m.lifecycle == "active"}

    # --- models -------------------------------------------------------------------------------------------

    def names(self, *, include_deleted: bool = False) -> list[str]:
        return sorted({m.name for m in self._models.values() if include_deleted or m.lifecycle == "active"})

    def model_id(self, name: str) -> str | None:
        """The id of the live model called ``name``."""
        found = self._live.get(name)
        return found.model_id if found else None

    def deleted_ids(self, name: str) -> list[str]:
        """Ids of deleted models that were called ``name`` when deleted, oldest first."""
        found = [m for m in self._models.values() if m.name == name and m.lifecycle == "deleted"]
        return [m.model_id for m in sorted(found, key=lambda m: m.created_at)]

    def model(self, model_id: str) -> RegisteredModel:
        m = self._models[model_id]
        live = m.live_versions()
        return RegisteredModel(
            name=m.name,
            model_id=m.model_id,
            lifecycle=m.lifecycle,
            description=m.description,
            tags=dict(m.tags),
            aliases=dict(sorted(m.aliases.items())),
            latest_version=live[-1].number if live else None,
            version_count=len(live),
            created_at=m.created_at,
            updated_at=m.updated_at,
            created_by=m.created_by,
        )

    def models(self, *, include_deleted: bool = False) -> list[RegisteredModel]:
        chosen = (m for m in self._models.values() if include_deleted or m.lifecycle == "active")
        return [self.model(m.model_id) for m in sorted(chosen, key=lambda m: (m.name, m.created_at))]

    # --- versions -----------------------------------------------------------------------------------------

    def next_version(self, model_id: str) -> int:
        """The number the model's next version gets: one above every number it ever had."""
        return max(self._models[model_id].versions, default=0) + 1

    def has_version(self, model_id: str, number: int, *, include_deleted: bool = False) -> bool:
        found = self._models[model_id].versions.get(number)
        return found is not None and (include_deleted or found.lifecycle == "active")

    def version(self, model_id: str, number: int) -> ModelVersion:
        m = self._models[model_id]
        return self._version(m, m.versions[number])

    def versions(self, model_id: str, *, include_deleted: bool = False) -> list[ModelVersion]:
        m = self._models[model_id]
        chosen = m.versions.values() if include_deleted else m.live_versions()
        return [self._version(m, v) for v in sorted(chosen, key=lambda v: v.number)]

    def all_versions(self, *, include_deleted: bool = False) -> Iterator[ModelVersion]:
        """Every version of every model (of live models only, unless ``include_deleted``)."""
        for m in self._models.values():
            if include_deleted or m.lifecycle == "active":
                yield from self.versions(m.model_id, include_deleted=include_deleted)

    def latest(self, model_id: str) -> int | None:
        live = self._models[model_id].live_versions()
        return live[-1].number if live else None

    def as_of(self, model_id: str, when: datetime) -> int | None:
        """The newest live version created at or before ``when``."""
        made = [v.number for v in self._models[model_id].live_versions() if v.created_at <= when]
        return made[-1] if made else None

    def _version(self, m: _Model, v: _Version) -> ModelVersion:
        return ModelVersion(
            name=m.name,
            version=v.number,
            model_id=m.model_id,
            lifecycle=v.lifecycle,
            source=v.source,
            run_id=v.run_id,
            description=v.description,
            tags=dict(v.tags),
            aliases=tuple(sorted(a for a, n in m.aliases.items() if n == v.number)),
            created_at=v.created_at,
            updated_at=v.updated_at,
            created_by=v.created_by,
            run_link=v.run_link,
            logged_model_id=v.logged_model_id,
        )

    # --- aliases ------------------------------------------------------------------------------------------

    def aliases(self, model_id: str) -> dict[str, int]:
        return dict(sorted(self._models[model_id].aliases.items()))

    def alias_history(self, model_id: str, alias: str | None = None) -> list[AliasChange]:
        m = self._models[model_id]
        return [
            AliasChange(
                name=m.name,
                alias=a,
                change=change,
                version=version,
                previous_version=previous,
                actor=actor,
                at=at,
                reason=reason,
            )
            for a, change, version, previous, actor, at, reason in m.history
            if alias is None or a == alias
        ]


# --- the fold -----------------------------------------------------------------------------------------------


def fold(events: pl.DataFrame, *, table_version: int | None) -> Registry:
    """The registry from its events (any order as read; applied in the one order of events)."""
    models: dict[str, _Model] = {}
    live: dict[str, str] = {}  # name -> model id
    for row in in_order(events).iter_rows(named=True):
        _apply(models, live, row)
    return Registry(models, table_version=table_version)


def _apply(models: dict[str, _Model], live: dict[str, str], row: dict[str, Any]) -> None:
    kind, at, actor, model_id = row["kind"], row["at"], row["actor"], row["model_id"]
    if kind == "model_created":
        if model_id not in models and row["name"] not in live:
            models[model_id] = _Model(model_id, row["name"], at, at, actor)
            live[row["name"]] = model_id
        return
    m = models.get(model_id)
    if m is None:
        return  # an event of a model whose creation lost or is unknown: ignored, as a total fold must
    m.updated_at = max(m.updated_at, at)
    if kind.startswith("version_"):
        _apply_version(m, kind, row)
    elif kind == "model_renamed":
        if m.lifecycle == "active" and row["name"] not in live:
            del live[m.name]
            m.name = live[row["name"]] = row["name"]
    elif kind == "model_deleted":
        if m.lifecycle == "active":
            m.lifecycle = "deleted"
            del live[m.name]
    elif kind == "model_restored":
        if m.lifecycle == "deleted" and m.name not in live:
            m.lifecycle = "active"
            live[m.name] = model_id
    elif kind == "model_described":
        m.description = row["value"]
    elif kind == "model_tagged":
        m.tags[row["key"]] = row["value"]
    elif kind == "model_tag_deleted":
        m.tags.pop(row["key"], None)
    elif kind == "alias_set":
        alias, number = row["key"], row["version"]
        found = m.versions.get(number)
        previous = m.aliases.get(alias)
        if found is not None and found.lifecycle == "active" and previous != number:
            m.aliases[alias] = number
            change: AliasChangeKind = "set" if previous is None else "moved"
            m.history.append((alias, change, number, previous, actor, at, row["reason"]))
    elif kind == "alias_deleted":
        previous = m.aliases.pop(row["key"], None)
        if previous is not None:
            m.history.append((row["key"], "deleted", None, previous, actor, at, row["reason"]))


def _apply_version(m: _Model, kind: str, row: dict[str, Any]) -> None:
    number, at = row["version"], row["at"]
    if kind == "version_created":
        if number not in m.versions:
            m.versions[number] = _Version(
                number, row["source"], row["run_id"], at, at, row["actor"], row["run_link"], row["logged_model_id"]
            )
        return
    v = m.versions.get(number)
    if v is None:
        return
    v.updated_at = max(v.updated_at, at)
    if kind == "version_deleted" and v.lifecycle == "active":
        v.lifecycle = "deleted"
        reason = row["reason"] or f"version {number} deleted"
        for alias in [a for a, n in m.aliases.items() if n == number]:
            del m.aliases[alias]
            m.history.append((alias, "deleted", None, number, row["actor"], at, reason))
    elif kind == "version_restored":
        v.lifecycle = "active"
    elif kind == "version_described":
        v.description = row["value"]
    elif kind == "version_tagged":
        v.tags[row["key"]] = row["value"]
    elif kind == "version_tag_deleted":
        v.tags.pop(row["key"], None)


# --- reading ------------------------------------------------------------------------------------------------


def registry(layout: Layout) -> Registry:
    """The registry now, from a warm read of the table (folded once per table version)."""
    return frames.folded(layout.models, MODEL_EVENTS, _fold_latest)


def _fold_latest(events: pl.DataFrame) -> Registry:
    return fold(events, table_version=None)


def exact(path: Location) -> Registry:
    """The registry at the table's latest version, read exactly (for a decide-then-commit cycle)."""
    version = storage.latest_version(path) if storage.exists(path) else None
    events = scan_or_empty(path, MODEL_EVENTS, version).collect()
    return fold(events, table_version=version)


def events_frame(layout: Layout) -> pl.DataFrame:
    """Every registry event in the one order of events (for history views and Spark/SQL parity checks)."""
    return in_order(frames.table_frame(layout.models, MODEL_EVENTS))
