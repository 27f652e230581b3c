"""The experiment registry: ids, display names, lifecycle and tags of experiments, in ``tracking/experiments``.

Runs name their experiment in ``tracking/runs`` (the ``experiment`` column of their ``created`` event). The
registry gives each such name (its *key*) a stable id and the things MLflow keeps per experiment: a display
name that can change, a lifecycle (active / deleted), tags and an artifact location. A key never changes, so
renaming an experiment rewrites nothing: its runs keep pointing at it.

The table is append-only events, committed synchronously (experiments change rarely and callers need the new
id at once). Every commit carries the Delta app transaction ``lakehouse.experiments`` whose version is the
commit's last event number, based on the table version the decision was read from: two processes changing
the registry at once conflict, and the loser re-reads and decides again (so ids and names stay unique).

Runs logged with ``lh.start_run(experiment=...)`` do not register their experiment; :func:`adopt` registers
such keys when an experiment listing needs them. Key ``default`` (``lh.start_run``'s default) is experiment
``"0"``, displayed as ``Default`` as in MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import EXPERIMENT_EVENTS, append_rows, scan_or_empty
from lakehouse.config import Settings
from lakehouse.entities import Lifecycle
from lakehouse.errors import CommitConflict, ExperimentExists, ExperimentNotFound, InvalidArgument, NotFound, closest
from lakehouse.query import frames
from lakehouse.tracking.validate import check_key, check_name, tag_value

DEFAULT_ID = "0"
DEFAULT_KEY = "default"  # lakehouse.tracking.run.DEFAULT_EXPERIMENT
DEFAULT_NAME = "Default"
APP_ID = "lakehouse.experiments"
_MAX_ATTEMPTS = 20

#: Where an experiment's artifacts go, given its id (None: no artifact location).
ArtifactLocation = Callable[[str], str | None]


@dataclass(frozen=True)
class Experiment:
    """One registered experiment as its events fold: ``key`` is what its runs record as their experiment."""

    id: str
    name: str
    key: str
    lifecycle: Lifecycle
    artifact_location: str | None
    created_at: datetime
    updated_at: datetime
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.lifecycle == "active"


@dataclass(frozen=True)
class FoldedExperiments:
    """The experiments folded at one table version."""

    table_version: int | None
    experiments: tuple[Experiment, ...]
    last_seq: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {e.id: e for e in self.experiments})
        object.__setattr__(self, "_by_name", {e.name: e for e in self.experiments})
        object.__setattr__(self, "_by_key", {e.key: e for e in self.experiments})

    def get(self, experiment_id: str) -> Experiment | None:
        return self._by_id.get(experiment_id)  # type: ignore[attr-defined,no-any-return]

    def by_name(self, name: str) -> Experiment | None:
        return self._by_name.get(name)  # type: ignore[attr-defined,no-any-return]

    def by_key(self, key: str) -> Experiment | None:
        return self._by_key.get(key)  # type: ignore[attr-defined,no-any-return]

    def require(self, experiment_id: str) -> Experiment:
        found = self.get(experiment_id)
        if found is None:
            names = [e.id for e in self.experiments]
            msg = f"no experiment with id {experiment_id!r}{closest(str(experiment_id), names)}"
            raise ExperimentNotFound(msg)
        return found

    def next_id(self) -> str:
        numeric = [int(e.id) for e in self.experiments if e.id.isdigit()]
        return str(max(numeric, default=int(DEFAULT_ID)) + 1)


# --- reading ----------------------------------------------------------------------------------------------


def registry(layout: Layout) -> FoldedExperiments:
    """The registry now, from a warm read of the table (folded once per table version)."""
    return frames.folded(layout.experiments, EXPERIMENT_EVENTS, _fold_latest)


def _fold_latest(events: pl.DataFrame) -> FoldedExperiments:
    return fold(events, table_version=None)


def _exact(layout: Layout) -> FoldedExperiments:
    """The registry at the table's latest version, read exactly (for a decide-then-commit cycle)."""
    path = layout.experiments
    version = storage.latest_version(path) if storage.exists(path) else None
    events = scan_or_empty(path, EXPERIMENT_EVENTS, version).collect()
    return fold(events, table_version=version)


def fold(events: pl.DataFrame, *, table_version: int | None) -> FoldedExperiments:
    """Experiments from their events, in event order (``seq``)."""
    state: dict[str, dict[str, Any]] = {}
    last_seq = 0
    for row in events.sort("seq").iter_rows(named=True):
        last_seq = max(last_seq, row["seq"])
        kind, at = row["kind"], row["at"]
        if kind == "created":
            state[row["experiment_id"]] = {
                "id": row["experiment_id"],
                "name": row["name"],
                "key": row["experiment"],
                "lifecycle": "active",
                "artifact_location": row["artifact_location"],
                "created_at": at,
                "updated_at": at,
                "tags": {},
            }
            continue
        current = state.get(row["experiment_id"])
        if current is None:
            continue  # an event for an experiment whose creation is unknown: ignored, as a fold must be total
        current["updated_at"] = max(current["updated_at"], at)
        if kind == "renamed":
            current["name"] = row["name"]
        elif kind == "lifecycle":
            current["lifecycle"] = row["value"]
        elif kind == "tag":
            current["tags"][row["key"]] = row["value"]
        elif kind == "tag_deleted":
            current["tags"].pop(row["key"], None)
    experiments = tuple(Experiment(**s) for s in state.values())
    return FoldedExperiments(table_version=table_version, experiments=experiments, last_seq=last_seq)


# --- changing ---------------------------------------------------------------------------------------------

Decision = Callable[[FoldedExperiments], list[dict[str, Any]]]


def _commit(layout: Layout, settings: Settings, decide: Decision) -> FoldedExperiments:
    """Read the registry, let ``decide`` return the events to add (validating against that state), commit them
    conditionally; on a conflict with a concurrent change, read again and decide again. Returns the state the
    decision was made on."""
    for _attempt in range(_MAX_ATTEMPTS):
        state = _exact(layout)
        rows = decide(state)
        if not rows:
            return state
        now = datetime.now(UTC)
        for offset, row in enumerate(rows, start=1):
            row.setdefault("at", now)
            row["seq"] = state.last_seq + offset
        records: list[Mapping[str, Any]] = list(rows)
        try:
            append_rows(
                layout.experiments,
                EXPERIMENT_EVENTS,
                records,
                settings,
                app_transaction=(APP_ID, rows[-1]["seq"]),
                read_version=state.table_version,
            )
        except CommitConflict:
            continue
        return state
    msg = f"the experiment registry at {str(layout.experiments)!r} kept changing; gave up after {_MAX_ATTEMPTS} tries"
    raise CommitConflict(msg)


def _created(
    experiment_id: str, *, name: str, key: str, artifact_location: str | None, actor: str, at: datetime | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "experiment_id": experiment_id,
        "kind": "created",
        "name": name,
        "experiment": key,
        "artifact_location": artifact_location,
        "actor": actor,
    }
    if at is not None:
        row["at"] = at
    return row


def _tag_rows(experiment_id: str, tags: Mapping[str, Any], actor: str) -> list[dict[str, Any]]:
    return [
        {"experiment_id": experiment_id, "kind": "tag", "key": k, "value": v, "actor": actor}
        for k, v in _checked_tags(tags).items()
    ]


def _checked_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    return {check_key(k, what="experiment tag"): tag_value(k, v) for k, v in tags.items()}


def create(
    layout: Layout,
    settings: Settings,
    *,
    name: str,
    actor: str,
    artifact_location: ArtifactLocation | None = None,
    tags: Mapping[str, Any] | None = None,
    created_at: datetime | None = None,
) -> Experiment:
    """Register a new experiment ``name``; its runs will record ``name`` as their experiment.

    If ``name`` is already the key of another (renamed) experiment, the key gets the new id appended
    (``name#7``) so the two stay apart. Raises :class:`ExperimentExists` if the name is taken.
    """
    check_name(name, what="experiment name")
    checked = _checked_tags(tags or {})
    chosen: dict[str, str] = {}

    def decide(state: FoldedExperiments) -> list[dict[str, Any]]:
        taken = state.by_name(name)
        if taken is not None:
            msg = f"an experiment named {name!r} already exists (id {taken.id}, {taken.lifecycle})"
            raise ExperimentExists(msg)
        new_id = state.next_id()
        key = name if state.by_key(name) is None else f"{name}#{new_id}"
        location = artifact_location(new_id) if artifact_location else None
        chosen.update(id=new_id)
        rows = [_created(new_id, name=name, key=key, artifact_location=location, actor=actor, at=created_at)]
        return rows + _tag_rows(new_id, checked, actor)

    _commit(layout, settings, decide)
    return registry(layout).require(chosen["id"])


def adopt(
    layout: Layout,
    settings: Settings,
    keys: Iterable[str],
    *,
    actor: str,
    artifact_location: ArtifactLocation | None = None,
) -> FoldedExperiments:
    """Register every experiment key in ``keys`` that no experiment has yet (runs logged without the registry),
    and the default experiment ``"0"``. Returns the registry; commits nothing when all are known."""
    wanted = sorted(set(keys) | {DEFAULT_KEY})
    current = registry(layout)
    if all(current.by_key(k) is not None for k in wanted):
        return current

    def decide(state: FoldedExperiments) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        names = {e.name for e in state.experiments}
        next_number = int(state.next_id())
        for key in wanted:
            if state.by_key(key) is not None:
                continue
            if key == DEFAULT_KEY and state.get(DEFAULT_ID) is None:
                new_id, name = DEFAULT_ID, DEFAULT_NAME
            else:
                new_id, next_number = str(next_number), next_number + 1
                name = key
            if name in names:
                name = f"{key}#{new_id}"
            names.add(name)
            location = artifact_location(new_id) if artifact_location else None
            rows.append(_created(new_id, name=name, key=key, artifact_location=location, actor=actor, at=None))
        return rows

    _commit(layout, settings, decide)
    return registry(layout)


def rename(layout: Layout, settings: Settings, experiment_id: str, name: str, *, actor: str) -> Experiment:
    """Change an experiment's display name (its runs are untouched). Names stay unique."""
    check_name(name, what="experiment name")

    def decide(state: FoldedExperiments) -> list[dict[str, Any]]:
        found = state.require(experiment_id)
        if found.name == name:
            return []
        other = state.by_name(name)
        if other is not None:
            msg = f"cannot rename experiment {experiment_id} to {name!r}: experiment {other.id} has that name"
            raise ExperimentExists(msg)
        return [{"experiment_id": experiment_id, "kind": "renamed", "name": name, "actor": actor}]

    _commit(layout, settings, decide)
    return registry(layout).require(experiment_id)


def set_lifecycle(layout: Layout, settings: Settings, experiment_id: str, state: Lifecycle, *, actor: str) -> None:
    """Mark an experiment ``deleted`` or ``active`` (its runs are the caller's business)."""
    if state not in ("active", "deleted"):
        msg = f"invalid experiment lifecycle {state!r}; use 'active' or 'deleted'"
        raise InvalidArgument(msg)

    def decide(current: FoldedExperiments) -> list[dict[str, Any]]:
        current.require(experiment_id)
        return [{"experiment_id": experiment_id, "kind": "lifecycle", "value": state, "actor": actor}]

    _commit(layout, settings, decide)


def set_tags(layout: Layout, settings: Settings, experiment_id: str, tags: Mapping[str, Any], *, actor: str) -> None:
    """Set experiment tags (overwriting earlier values of the same keys)."""
    rows = _tag_rows(experiment_id, tags, actor)

    def decide(state: FoldedExperiments) -> list[dict[str, Any]]:
        state.require(experiment_id)
        return [dict(r) for r in rows]

    _commit(layout, settings, decide)


def delete_tag(layout: Layout, settings: Settings, experiment_id: str, key: str, *, actor: str) -> None:
    """Remove an experiment tag; raises :class:`NotFound` if the experiment has no such tag."""

    def decide(state: FoldedExperiments) -> list[dict[str, Any]]:
        found = state.require(experiment_id)
        if key not in found.tags:
            msg = f"experiment {experiment_id} has no tag {key!r}{closest(key, found.tags)}"
            raise NotFound(msg)
        return [{"experiment_id": experiment_id, "kind": "tag_deleted", "key": key, "actor": actor}]

    _commit(layout, settings, decide)
