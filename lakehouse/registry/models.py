"""Registered models and their versions: what ``lh.register_model``, ``lh.model(name)`` and
``lh.model_version(ref)`` do. State is folded by :mod:`lakehouse.query.models`; changes are committed by
:mod:`lakehouse.registry.changes` after every input was checked (a refused change writes nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from lakehouse.entities import AliasChange, ModelLineage, ModelVersion, RegisteredModel
from lakehouse.errors import (
    AliasNotFound,
    InvalidArgument,
    InvalidName,
    ModelVersionNotFound,
    RunNotFound,
    closest,
)
from lakehouse.query import models as folded
from lakehouse.query.models import Registry
from lakehouse.query.runs import Tables, run_info
from lakehouse.refs import Ref, is_reserved_tag, parse_ref, validate_name, validate_tag
from lakehouse.registry import operations as ops
from lakehouse.registry import sources
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
    new = ops.NewVersion(checked.uri, checked.run_id, description, version_tags)
    return ops.create_version(lh, name, new, create_model=True)


def models(lh: Lakehouse, *, include_deleted: bool = False) -> list[RegisteredModel]:
    """Every registered model, by name."""
    return folded.registry(lh.layout).models(include_deleted=include_deleted)


def resolve(lh: Lakehouse, ref: str | Ref) -> ModelVersion:
    """The version a reference names: ``name:v3``, ``name:<alias>``, ``name`` / ``name:latest`` (the newest live
    version) or ``name@<time>`` (the newest version registered by then)."""
    parsed = parse_ref(ref, kind="model") if isinstance(ref, str) else ref
    state = folded.registry(lh.layout)
    model_id = ops.live_id(state, parsed.name)
    if parsed.version is not None:
        ops.require_version(state, model_id, parsed.name, parsed.version)
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


def files(lh: Lakehouse, ref: str | Ref) -> pl.DataFrame:
    """The files of the model version ``ref`` names (see :func:`lakehouse.registry.sources.files`)."""
    return sources.files(lh.layout, resolve(lh, ref).source)


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
        return state, ops.live_id(state, self.name)

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
        ops.set_alias(self._lh, self.name, alias, number, reason=_check_text(reason, what="reason"))
        return self.version(number)

    def delete_alias(self, alias: str, *, reason: str | None = None) -> None:
        validate_tag(alias, kind="alias")
        ops.delete_alias(self._lh, self.name, alias, reason=_check_text(reason, what="reason"))

    # --- descriptions and tags ----------------------------------------------------------------------------

    def set_description(self, description: str | None, *, version: int | str | None = None) -> None:
        """Describe the model (or one of its versions); None clears the description."""
        _check_text(description, what="description")
        ops.change(self._lh, self.name, "described", _optional_number(version), value=description)

    def set_tag(self, key: str, value: Any, *, version: int | str | None = None) -> None:
        """Set a tag on the model (or on one of its versions)."""
        check_key(key, what="tag")
        ops.change(self._lh, self.name, "tagged", _optional_number(version), key=key, value=tag_value(key, value))

    def delete_tag(self, key: str, *, version: int | str | None = None) -> None:
        check_key(key, what="tag")
        ops.change(self._lh, self.name, "tag_deleted", _optional_number(version), key=key)

    # --- lifecycle ----------------------------------------------------------------------------------------

    def delete_version(self, version: int | str, *, reason: str | None = None) -> None:
        """Mark a version deleted (recorded, restorable; its aliases are deleted with it)."""
        number = version_number(version)
        ops.delete_version(self._lh, self.name, number, reason=_check_text(reason, what="reason"))

    def restore_version(self, version: int | str) -> ModelVersion:
        number = version_number(version)
        ops.restore_version(self._lh, self.name, number)
        return self.version(number)

    def delete(self, *, reason: str | None = None) -> None:
        """Mark the model deleted (recorded, restorable while no other model takes its name)."""
        ops.delete_model(self._lh, self.name, reason=_check_text(reason, what="reason"))

    def restore(self) -> RegisteredModel:
        """Undo :meth:`delete` (of the model last deleted under this name)."""
        ops.restore_model(self._lh, self.name)
        return self.info()

    def rename(self, new_name: str) -> Model:
        """Rename the model (its versions, aliases and history follow). Returns a handle on the new name."""
        ops.rename_model(self._lh, self.name, check_model_name(new_name))
        return Model(self._lh, new_name)


def _optional_number(version: int | str | None) -> int | None:
    return None if version is None else version_number(version)
