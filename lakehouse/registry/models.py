"""Registered models and their versions: what ``lh.register_model``, ``lh.model(name)`` and
``lh.model_version(ref)`` do. State is folded by :mod:`lakehouse.query.models`; changes are committed by
:mod:`lakehouse.registry.changes` after every input was checked (a refused change writes nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lakehouse.entities import AliasChange, ModelLineage, ModelVersion, RegisteredModel
from lakehouse.errors import (
    AliasNotFound,
    InvalidArgument,
    InvalidName,
    ModelExists,
    ModelNotFound,
    ModelVersionNotFound,
    RunNotFound,
    closest,
)
from lakehouse.query import models as folded
from lakehouse.query.models import Registry
from lakehouse.query.runs import Tables, run_info
from lakehouse.refs import Ref, is_reserved_tag, parse_ref, validate_name, validate_tag
from lakehouse.registry import changes, sources
from lakehouse.tracking.validate import check_key, check_mapping, tag_value
from lakehouse.tracking.writer import flush_root

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse


def check_model_name(name: object) -> str:
    """A model name: the dataset name grammar, and not a word the ref grammar owns (``latest``, ``v<N>``)."""
    checked = validate_name(name, kind="model")
    if is_reserved_tag(checked):
        msg = f"model name {checked!r} is reserved by the ref grammar ('latest' and 'v<N>'); pick another name"
        raise InvalidName(msg)
    return checked


def version_number(version: object) -> int:
    """A version number from ``3``, ``"3"`` or ``"v3"``."""
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    if isinstance(version, str):
        digits = version[1:] if version.startswith("v") else version
        if digits.isdigit() and int(digits) >= 1:
            return int(digits)
    msg = f"a model version is a number from 1 (3 or 'v3'), got {version!r}"
    raise InvalidArgument(msg)


def _check_tags(tags: object, *, what: str) -> dict[str, str]:
    if tags is None:
        return {}
    checked = check_mapping(tags, what=what)
    return {check_key(k, what="tag"): tag_value(k, v) for k, v in checked.items()}


def _check_text(value: object, *, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        msg = f"{what} must be a string or None, got {type(value).__name__} {value!r}"
        raise InvalidArgument(msg)
    return value


def _live_id(state: Registry, name: str) -> str:
    found = state.model_id(name)
    if found is None:
        deleted = " (it is deleted: restore it with lh.model(name).restore())" if state.deleted_ids(name) else ""
        msg = f"no registered model {name!r}{deleted}{closest(name, state.names()) if not deleted else ''}"
        raise ModelNotFound(msg)
    return found


def _require_version(state: Registry, model_id: str, name: str, number: int) -> None:
    if not state.has_version(model_id, number):
        gone = state.has_version(model_id, number, include_deleted=True)
        why = " (it is deleted: restore it with restore_version)" if gone else ""
        live = [f"v{v.version}" for v in state.versions(model_id)]
        msg = f"model {name!r} has no version {number}{why}; versions: {', '.join(live) or 'none'}"
        raise ModelVersionNotFound(msg)


# --- registering ----------------------------------------------------------------------------------------------


def register(
    lh: Lakehouse,
    name: str,
    source: str | None = None,
    *,
    run: str | None = None,
    path: str | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """See :meth:`lakehouse.Lakehouse.register_model`."""
    check_model_name(name)
    _check_text(description, what="description")
    version_tags = _check_tags(tags, what="model version tags")
    flush_root(lh.layout)  # a run this process just started must be committed before it can be found
    checked = sources.parse(lh.layout, source, run=run, path=path)
    made: dict[str, Any] = {}

    def decide(state: Registry) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        model_id = state.model_id(name)
        if model_id is None:
            model_id = changes.new_model_id()
            rows.append(changes.event("model_created", model_id, name=name))
            number = 1
        else:
            number = state.next_version(model_id)
        rows.append(
            changes.event("version_created", model_id, version=number, source=checked.uri, run_id=checked.run_id)
        )
        if description is not None:
            rows.append(changes.event("version_described", model_id, version=number, value=description))
        rows.extend(
            changes.event("version_tagged", model_id, version=number, key=k, value=v) for k, v in version_tags.items()
        )
        made.update(model_id=model_id, number=number)
        return rows

    changes.commit(lh.layout, lh.settings, lh.actor, decide, structural=True)
    return folded.registry(lh.layout).version(made["model_id"], made["number"])


def models(lh: Lakehouse, *, include_deleted: bool = False) -> list[RegisteredModel]:
    """Every registered model, by name."""
    return folded.registry(lh.layout).models(include_deleted=include_deleted)


def resolve(lh: Lakehouse, ref: str | Ref) -> ModelVersion:
    """The version a reference names: ``name:v3``, ``name:<alias>``, ``name`` / ``name:latest`` (the newest live
    version) or ``name@<time>`` (the newest version registered by then)."""
    parsed = parse_ref(ref, kind="model") if isinstance(ref, str) else ref
    state = folded.registry(lh.layout)
    model_id = _live_id(state, parsed.name)
    if parsed.version is not None:
        _require_version(state, model_id, parsed.name, parsed.version)
        return state.version(model_id, parsed.version)
    if parsed.tag is not None:
        aliases = state.aliases(model_id)
        if parsed.tag not in aliases:
            msg = f"model {parsed.name!r} has no alias {parsed.tag!r}{closest(parsed.tag, aliases)}"
            raise AliasNotFound(msg)
        return state.version(model_id, aliases[parsed.tag])
    number = state.latest(model_id) if parsed.as_of is None else state.as_of(model_id, parsed.as_of)
    if number is None:
        when = "" if parsed.as_of is None else f" registered by {parsed.as_of.isoformat()}"
        msg = f"model {parsed.name!r} has no live version{when}"
        raise ModelVersionNotFound(msg)
    return state.version(model_id, number)


def lineage(lh: Lakehouse, ref: str | Ref) -> ModelLineage:
    """A model version with the run that built it (params, final metrics, dataset versions used)."""
    version = resolve(lh, ref)
    if version.run_id is None:
        return ModelLineage(version=version, run=None)
    try:
        run = run_info(Tables.load(lh.layout), version.run_id, lost_after=lh.settings.lost_after)
    except RunNotFound:
        run = None
    return ModelLineage(version=version, run=run)


# --- one model ------------------------------------------------------------------------------------------------


class Model:
    """A handle on the registered model ``name``: its versions, aliases, tags and lifecycle.

    Reads fold the registry as it is now; every change is checked first and refused with a clear error
    (nothing written), or committed at once.
    """

    def __init__(self, lh: Lakehouse, name: str) -> None:
        self._lh = lh
        self.name = check_model_name(name)

    def __repr__(self) -> str:
        return f"Model({self.name!r})"

    def _state(self) -> tuple[Registry, str]:
        state = folded.registry(self._lh.layout)
        return state, _live_id(state, self.name)

    def _change(self, decide: changes.Decision, *, structural: bool = False) -> None:
        changes.commit(self._lh.layout, self._lh.settings, self._lh.actor, decide, structural=structural)

    # --- reading ------------------------------------------------------------------------------------------

    def info(self) -> RegisteredModel:
        state, model_id = self._state()
        return state.model(model_id)

    def versions(self, *, include_deleted: bool = False) -> list[ModelVersion]:
        """The model's versions, oldest first."""
        state, model_id = self._state()
        return state.versions(model_id, include_deleted=include_deleted)

    def version(self, version: int | str) -> ModelVersion:
        return resolve(self._lh, Ref(self.name, version=version_number(version)))

    def aliases(self) -> dict[str, int]:
        """``{alias: version}`` of every live alias."""
        state, model_id = self._state()
        return state.aliases(model_id)

    def alias_history(self, alias: str | None = None) -> list[AliasChange]:
        """Every change of the model's aliases (or of one), oldest first: who moved what, when and why."""
        state, model_id = self._state()
        return state.alias_history(model_id, alias)

    # --- aliases ------------------------------------------------------------------------------------------

    def set_alias(self, alias: str, version: int | str, *, reason: str | None = None) -> ModelVersion:
        """Point ``alias`` (``production``, ``staging``, ``champion``...) at ``version``, moving it if it points
        elsewhere. Returns the version it now points at."""
        validate_tag(alias, kind="alias")
        number = version_number(version)
        _check_text(reason, what="reason")

        def decide(state: Registry) -> list[dict[str, Any]]:
            model_id = _live_id(state, self.name)
            _require_version(state, model_id, self.name, number)
            return [changes.event("alias_set", model_id, key=alias, version=number, reason=reason)]

        self._change(decide)
        return self.version(number)

    def delete_alias(self, alias: str, *, reason: str | None = None) -> None:
        validate_tag(alias, kind="alias")
        _check_text(reason, what="reason")

        def decide(state: Registry) -> list[dict[str, Any]]:
            model_id = _live_id(state, self.name)
            aliases = state.aliases(model_id)
            if alias not in aliases:
                msg = f"model {self.name!r} has no alias {alias!r}{closest(alias, aliases)}"
                raise AliasNotFound(msg)
            return [changes.event("alias_deleted", model_id, key=alias, reason=reason)]

        self._change(decide)

    # --- descriptions and tags ----------------------------------------------------------------------------

    def set_description(self, description: str | None, *, version: int | str | None = None) -> None:
        """Describe the model (or one of its versions); None clears the description."""
        _check_text(description, what="description")
        self._versioned("described", version, value=description)

    def set_tag(self, key: str, value: Any, *, version: int | str | None = None) -> None:
        """Set a tag on the model (or on one of its versions)."""
        check_key(key, what="tag")
        self._versioned("tagged", version, key=key, value=tag_value(key, value))

    def delete_tag(self, key: str, *, version: int | str | None = None) -> None:
        check_key(key, what="tag")
        self._versioned("tag_deleted", version, key=key)

    def _versioned(self, what: str, version: int | str | None, **fields: Any) -> None:
        number = None if version is None else version_number(version)

        def decide(state: Registry) -> list[dict[str, Any]]:
            model_id = _live_id(state, self.name)
            if number is None:
                return [changes.event(f"model_{what}", model_id, **fields)]
            _require_version(state, model_id, self.name, number)
            return [changes.event(f"version_{what}", model_id, version=number, **fields)]

        self._change(decide)

    # --- lifecycle ----------------------------------------------------------------------------------------

    def delete_version(self, version: int | str, *, reason: str | None = None) -> None:
        """Mark a version deleted (recorded, restorable; its aliases are deleted with it)."""
        number = version_number(version)
        _check_text(reason, what="reason")

        def decide(state: Registry) -> list[dict[str, Any]]:
            model_id = _live_id(state, self.name)
            _require_version(state, model_id, self.name, number)
            return [changes.event("version_deleted", model_id, version=number, reason=reason)]

        self._change(decide)

    def restore_version(self, version: int | str) -> ModelVersion:
        number = version_number(version)

        def decide(state: Registry) -> list[dict[str, Any]]:
            model_id = _live_id(state, self.name)
            if not state.has_version(model_id, number, include_deleted=True):
                _require_version(state, model_id, self.name, number)
            if state.has_version(model_id, number):
                return []
            return [changes.event("version_restored", model_id, version=number)]

        self._change(decide)
        return self.version(number)

    def delete(self, *, reason: str | None = None) -> None:
        """Mark the model deleted (recorded, restorable while no other model takes its name)."""
        _check_text(reason, what="reason")

        def decide(state: Registry) -> list[dict[str, Any]]:
            return [changes.event("model_deleted", _live_id(state, self.name), reason=reason)]

        self._change(decide, structural=True)

    def restore(self) -> RegisteredModel:
        """Undo :meth:`delete` (of the model last deleted under this name)."""

        def decide(state: Registry) -> list[dict[str, Any]]:
            if state.model_id(self.name) is not None:
                msg = f"a registered model {self.name!r} is live already; nothing to restore"
                raise ModelExists(msg)
            deleted = state.deleted_ids(self.name)
            if not deleted:
                msg = f"no deleted registered model {self.name!r} to restore"
                raise ModelNotFound(msg)
            return [changes.event("model_restored", deleted[-1])]

        self._change(decide, structural=True)
        return self.info()

    def rename(self, new_name: str) -> Model:
        """Rename the model (its versions, aliases and history follow). Returns a handle on the new name."""
        check_model_name(new_name)

        def decide(state: Registry) -> list[dict[str, Any]]:
            model_id = _live_id(state, self.name)
            if state.model_id(new_name) is not None:
                msg = f"cannot rename model {self.name!r} to {new_name!r}: a model of that name exists"
                raise ModelExists(msg)
            return [changes.event("model_renamed", model_id, name=new_name)]

        self._change(decide, structural=True)
        return Model(self._lh, new_name)
