"""The registry's changes, each decided against the registry as read and committed as events.

Names here are taken as the caller checked them: the Python API checks the lakehouse grammar
(:mod:`lakehouse.registry.models`), the MLflow store MLflow's own rules. What a change requires of the registry
(the model is live, the version exists, a name is free) is checked here, once, for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.entities import ModelVersion, RegisteredModel
from lakehouse.errors import AliasNotFound, ModelExists, ModelNotFound, ModelVersionNotFound, closest
from lakehouse.query import models as folded
from lakehouse.query.models import Registry
from lakehouse.registry import changes

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse


@dataclass(frozen=True)
class NewVersion:
    """What a new version records (its number is decided at commit)."""

    source: str
    run_id: str | None = None
    description: str | None = None
    tags: Mapping[str, str] | None = None
    run_link: str | None = None
    logged_model_id: str | None = None


def live_id(state: Registry, name: str) -> str:
    """The id of the live model ``name``, or :class:`ModelNotFound` naming it."""
    found = state.model_id(name)
    if found is None:
        if state.deleted_ids(name):
            msg = f"no registered model {name!r} (it is deleted: restore it with lh.model(name).restore())"
        else:
            msg = f"no registered model {name!r}{closest(name, state.names())}"
        raise ModelNotFound(msg)
    return found


def require_version(state: Registry, model_id: str, name: str, number: int) -> None:
    if not state.has_version(model_id, number):
        gone = state.has_version(model_id, number, include_deleted=True)
        why = " (it is deleted: restore it with restore_version)" if gone else ""
        live = [f"v{v.version}" for v in state.versions(model_id)]
        msg = f"model {name!r} has no version {number}{why}; versions: {', '.join(live) or 'none'}"
        raise ModelVersionNotFound(msg)


def _commit(lh: Lakehouse, decide: changes.Decision, *, structural: bool = False) -> None:
    changes.commit(lh.layout, lh.settings, lh.actor, decide, structural=structural)


# --- models ---------------------------------------------------------------------------------------------------


def create_model(
    lh: Lakehouse, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
) -> RegisteredModel:
    """A new registered model with no versions; :class:`ModelExists` if a live one has the name."""
    made: dict[str, str] = {}

    def decide(state: Registry) -> list[dict[str, Any]]:
        if state.model_id(name) is not None:
            msg = f"registered model {name!r} already exists"
            raise ModelExists(msg)
        model_id = made["id"] = changes.new_model_id()
        rows = [changes.event("model_created", model_id, name=name)]
        if description is not None:
            rows.append(changes.event("model_described", model_id, value=description))
        rows.extend(changes.event("model_tagged", model_id, key=k, value=v) for k, v in (tags or {}).items())
        return rows

    _commit(lh, decide, structural=True)
    return folded.registry(lh.layout).model(made["id"])


def create_version(lh: Lakehouse, name: str, new: NewVersion, *, create_model: bool) -> ModelVersion:
    """The model's next version (one above every number it ever had); with ``create_model`` the model is
    created if no live one has the name, else :class:`ModelNotFound`."""
    made: dict[str, Any] = {}

    def decide(state: Registry) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        model_id = state.model_id(name)
        if model_id is None:
            if not create_model:
                live_id(state, name)  # raises, naming the model
            model_id = changes.new_model_id()
            rows.append(changes.event("model_created", model_id, name=name))
            number = 1
        else:
            number = state.next_version(model_id)
        rows.append(
            changes.event(
                "version_created",
                model_id,
                version=number,
                source=new.source,
                run_id=new.run_id,
                run_link=new.run_link,
                logged_model_id=new.logged_model_id,
            )
        )
        if new.description is not None:
            rows.append(changes.event("version_described", model_id, version=number, value=new.description))
        tags = (new.tags or {}).items()
        rows.extend(changes.event("version_tagged", model_id, version=number, key=k, value=v) for k, v in tags)
        made.update(model_id=model_id, number=number)
        return rows

    _commit(lh, decide, structural=True)
    return folded.registry(lh.layout).version(made["model_id"], made["number"])


def rename_model(lh: Lakehouse, name: str, new_name: str) -> None:
    def decide(state: Registry) -> list[dict[str, Any]]:
        model_id = live_id(state, name)
        if state.model_id(new_name) is not None:
            msg = f"cannot rename model {name!r} to {new_name!r}: a model of that name exists"
            raise ModelExists(msg)
        return [changes.event("model_renamed", model_id, name=new_name)]

    _commit(lh, decide, structural=True)


def delete_model(lh: Lakehouse, name: str, *, reason: str | None = None) -> None:
    def decide(state: Registry) -> list[dict[str, Any]]:
        return [changes.event("model_deleted", live_id(state, name), reason=reason)]

    _commit(lh, decide, structural=True)


def restore_model(lh: Lakehouse, name: str) -> None:
    """Undo the deletion of the model last deleted under ``name``."""

    def decide(state: Registry) -> list[dict[str, Any]]:
        if state.model_id(name) is not None:
            msg = f"a registered model {name!r} is live already; nothing to restore"
            raise ModelExists(msg)
        deleted = state.deleted_ids(name)
        if not deleted:
            msg = f"no deleted registered model {name!r} to restore"
            raise ModelNotFound(msg)
        return [changes.event("model_restored", deleted[-1])]

    _commit(lh, decide, structural=True)


# --- descriptions, tags, aliases, versions' lifecycle ---------------------------------------------------------


def change(lh: Lakehouse, name: str, what: str, version: int | None = None, **fields: Any) -> None:
    """Describe or tag (``what``: ``described``, ``tagged``, ``tag_deleted``) the model or one live version."""

    def decide(state: Registry) -> list[dict[str, Any]]:
        model_id = live_id(state, name)
        if version is None:
            return [changes.event(f"model_{what}", model_id, **fields)]
        require_version(state, model_id, name, version)
        return [changes.event(f"version_{what}", model_id, version=version, **fields)]

    _commit(lh, decide)


def set_alias(lh: Lakehouse, name: str, alias: str, version: int, *, reason: str | None = None) -> None:
    def decide(state: Registry) -> list[dict[str, Any]]:
        model_id = live_id(state, name)
        require_version(state, model_id, name, version)
        return [changes.event("alias_set", model_id, key=alias, version=version, reason=reason)]

    _commit(lh, decide)


def delete_alias(lh: Lakehouse, name: str, alias: str, *, reason: str | None = None) -> None:
    def decide(state: Registry) -> list[dict[str, Any]]:
        model_id = live_id(state, name)
        aliases = state.aliases(model_id)
        if alias not in aliases:
            msg = f"model {name!r} has no alias {alias!r}{closest(alias, aliases)}"
            raise AliasNotFound(msg)
        return [changes.event("alias_deleted", model_id, key=alias, reason=reason)]

    _commit(lh, decide)


def delete_version(lh: Lakehouse, name: str, version: int, *, reason: str | None = None) -> None:
    """Mark a version deleted (restorable); its aliases are deleted with it."""

    def decide(state: Registry) -> list[dict[str, Any]]:
        model_id = live_id(state, name)
        require_version(state, model_id, name, version)
        return [changes.event("version_deleted", model_id, version=version, reason=reason)]

    _commit(lh, decide)


def restore_version(lh: Lakehouse, name: str, version: int) -> None:
    def decide(state: Registry) -> list[dict[str, Any]]:
        model_id = live_id(state, name)
        if state.has_version(model_id, version):
            return []
        if not state.has_version(model_id, version, include_deleted=True):
            require_version(state, model_id, name, version)  # raises, naming the version
        return [changes.event("version_restored", model_id, version=version)]

    _commit(lh, decide)
