"""The MLflow model-registry store on the lakehouse registry (``_catalog/models``).

With ``mlflow.set_tracking_uri("lakehouse:///path")`` the registry URI is the same URI, and MLflow builds this
store through the ``mlflow.model_registry_store`` entry point ``lakehouse``. Every change goes through
:mod:`lakehouse.registry.operations` (the same checks and events as ``lh.register_model`` and
``lh.model(name)``); every read folds the registry once per table version. Arguments are validated with MLflow's
own helpers and searches filtered and sorted by MLflow's own search utilities, so results, messages and error
codes are MLflow's (``tests/integrations/mlflow/test_registry_differential.py`` compares them with MLflow's
SQL registry call by call).

Names follow MLflow's rules here, not the lakehouse grammar: a model registered through MLflow as ``My Model``
is listed by ``lh.models()`` too (the Python API asks for the grammar when it is given a name).

Stages are aliases: ``Staging`` and ``Production`` are the aliases ``staging`` and ``production``, so
``transition_model_version_stage`` moves an alias and a version's ``current_stage`` says which of the two points
at it (see docs/MODELS.md for what this changes compared with MLflow's stages).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlflow.entities.model_registry import ModelVersion as MlflowVersion
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelAlias, RegisteredModelTag
from mlflow.entities.model_registry import RegisteredModel as MlflowModel
from mlflow.entities.model_registry.model_version_stages import (
    ALL_STAGES,
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    STAGE_NONE,
    get_canonical_stage,
)
from mlflow.exceptions import MlflowException
from mlflow.prompt.constants import IS_PROMPT_TAG_KEY
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
)
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_renaming,
    _validate_model_version,
    _validate_model_version_tag,
    _validate_registered_model_tag,
    _validate_tag_name,
)

import lakehouse
from lakehouse.entities import ModelVersion, RegisteredModel
from lakehouse.integrations.mlflow import models as logged_models
from lakehouse.integrations.mlflow._errors import translated
from lakehouse.integrations.mlflow.uri import connect_root
from lakehouse.query import models as folded
from lakehouse.query.models import Registry
from lakehouse.registry import operations as ops

#: The MLflow stages that are aliases, and back.
STAGE_ALIASES = {"Production": "production", "Staging": "staging"}
_ALIAS_STAGES = {alias: stage for stage, alias in STAGE_ALIASES.items()}
_LATEST = "latest"
#: MLflow's SQL registry's order of ``search_model_versions`` results when none is asked for.
DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _stage(aliases: Sequence[str]) -> str:
    """A version's MLflow stage: the stage alias pointing at it (Production first), else ``None``."""
    for alias in ("production", "staging"):
        if alias in aliases:
            return _ALIAS_STAGES[alias]
    return STAGE_NONE


class LakehouseRegistryStore(AbstractStore):
    """MLflow's registry ``AbstractStore`` over a lakehouse root."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self.lh = lakehouse.connect(connect_root(store_uri))
        self._index: _Index | None = None

    # --- reading ------------------------------------------------------------------------------------------

    def _registry(self) -> Registry:
        return folded.registry(self.lh.layout)

    def _version_entity(self, v: ModelVersion) -> MlflowVersion:
        return MlflowVersion(
            name=v.name,
            version=v.version,  # type: ignore[arg-type]  # an int, as MLflow's SQL registry returns it
            creation_timestamp=_ms(v.created_at),
            last_updated_timestamp=_ms(v.updated_at),
            description=v.description,
            user_id=None,
            current_stage=_stage(v.aliases),
            source=v.source,
            run_id=v.run_id,
            tags=[ModelVersionTag(k, val) for k, val in v.tags.items()],
            run_link=v.run_link,
            aliases=list(v.aliases),
            model_id=v.logged_model_id,
        )

    def _model_entity(self, state: Registry, m: RegisteredModel) -> MlflowModel:
        return MlflowModel(
            name=m.name,
            creation_timestamp=_ms(m.created_at),
            last_updated_timestamp=_ms(m.updated_at),
            description=m.description,
            latest_versions=self._latest(state, m.model_id, None),
            tags=[RegisteredModelTag(k, v) for k, v in m.tags.items()],
            aliases=[RegisteredModelAlias(a, v) for a, v in m.aliases.items()],
        )

    def _latest(self, state: Registry, model_id: str, stages: Sequence[str] | None) -> list[MlflowVersion]:
        wanted = {get_canonical_stage(s) for s in (stages or ALL_STAGES)}
        newest: dict[str, ModelVersion] = {}
        for v in state.versions(model_id):
            newest[_stage(v.aliases)] = v  # versions come oldest first: the last one per stage stays
        return [self._version_entity(v) for stage, v in newest.items() if stage in wanted]

    def _live(self, name: str) -> tuple[Registry, str]:
        _validate_model_name(name)
        state = self._registry()
        return state, ops.live_id(state, name)

    def _version(self, name: str, version: Any) -> tuple[Registry, str, int]:
        number = _validate_model_version(version)
        state, model_id = self._live(name)
        ops.require_version(state, model_id, name, number)
        return state, model_id, number

    # --- registered models ----------------------------------------------------------------------------------

    @translated
    def create_registered_model(
        self, name: str, tags: Any = None, description: str | None = None, deployment_job_id: Any = None
    ) -> MlflowModel:
        _validate_model_name(name)
        for tag in tags or []:
            _validate_registered_model_tag(tag.key, tag.value)
        made = ops.create_model(self.lh, name, description=description, tags={t.key: t.value for t in tags or []})
        return self._model_entity(self._registry(), made)

    @translated
    def get_registered_model(self, name: str) -> MlflowModel:
        state, model_id = self._live(name)
        return self._model_entity(state, state.model(model_id))

    @translated
    def update_registered_model(self, name: str, description: str | None, deployment_job_id: Any = None) -> MlflowModel:
        self._live(name)
        ops.change(self.lh, name, "described", value=description)
        return self.get_registered_model(name)

    @translated
    def rename_registered_model(self, name: str, new_name: str) -> MlflowModel:
        _validate_model_renaming(new_name)
        self._live(name)
        ops.rename_model(self.lh, name, new_name)
        return self.get_registered_model(new_name)

    @translated
    def delete_registered_model(self, name: str) -> None:
        self._live(name)
        ops.delete_model(self.lh, name)

    @translated
    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        _validate_model_name(name)
        _validate_registered_model_tag(tag.key, tag.value)
        ops.change(self.lh, name, "tagged", key=tag.key, value=tag.value)

    @translated
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        _validate_tag_name(key)
        state, model_id = self._live(name)
        if key in state.model(model_id).tags:  # deleting a missing tag is no error, and writes nothing
            ops.change(self.lh, name, "tag_deleted", key=key)

    @translated
    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[MlflowVersion]:
        state, model_id = self._live(name)
        return self._latest(state, model_id, stages)

    @translated
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MlflowModel]:
        _check_at_most(max_results, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD)
        state = self._registry()
        models = [self._model_entity(state, m) for m in state.models()]
        chosen = SearchModelUtils.sort(SearchModelUtils.filter(models, filter_string), order_by)
        return _page(chosen, max_results, page_token)

    # --- versions -------------------------------------------------------------------------------------------

    @translated
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Any = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> MlflowVersion:
        _validate_model_name(name)
        for tag in tags or []:
            _validate_model_version_tag(tag.key, tag.value)
        if model_id is None and source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/")
        new = ops.NewVersion(
            source=source,
            run_id=run_id or self._source_run(model_id),
            description=description,
            tags={t.key: t.value for t in tags or []},
            run_link=run_link,
            logged_model_id=model_id,
        )
        return self._version_entity(ops.create_version(self.lh, name, new, create_model=False))

    def _source_run(self, model_id: str | None) -> str | None:
        """The run that logged MLflow model ``model_id`` (as MLflow's SQL registry records it)."""
        if model_id is None:
            return None
        found = logged_models.read(self.lh.layout).by_id.get(model_id)
        return None if found is None else found.source_run_id

    @translated
    def get_model_version(self, name: str, version: Any) -> MlflowVersion:
        state, model_id, number = self._version(name, version)
        return self._version_entity(state.version(model_id, number))

    @translated
    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        state, model_id, number = self._version(name, version)
        return state.version(model_id, number).source

    @translated
    def update_model_version(self, name: str, version: Any, description: str | None) -> MlflowVersion:
        _, _, number = self._version(name, version)
        ops.change(self.lh, name, "described", number, value=description)
        return self.get_model_version(name, number)

    @translated
    def delete_model_version(self, name: str, version: Any) -> None:
        _, _, number = self._version(name, version)
        ops.delete_version(self.lh, name, number)

    @translated
    def set_model_version_tag(self, name: str, version: Any, tag: Any) -> None:
        _validate_model_name(name)
        number = _validate_model_version(version)
        _validate_model_version_tag(tag.key, tag.value)
        ops.change(self.lh, name, "tagged", number, key=tag.key, value=tag.value)

    @translated
    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        _validate_tag_name(key)
        state, model_id, number = self._version(name, version)
        if key in state.version(model_id, number).tags:
            ops.change(self.lh, name, "tag_deleted", number, key=key)

    @translated
    def transition_model_version_stage(
        self, name: str, version: Any, stage: str, archive_existing_versions: bool = False
    ) -> MlflowVersion:
        canonical = get_canonical_stage(stage)
        if archive_existing_versions and canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS:
            msg = (
                f"Model version transition cannot archive existing model versions because '{stage}' is not an "
                f"Active stage. Valid stages are {DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}"
            )
            raise MlflowException(msg)
        state, model_id, number = self._version(name, version)
        held = {a for a, n in state.aliases(model_id).items() if n == number and a in _ALIAS_STAGES}
        reason = f"transition_model_version_stage to {canonical}"
        target = STAGE_ALIASES.get(canonical)
        for alias in sorted(held - {target} if target else held):  # a version is in one stage at a time
            ops.delete_alias(self.lh, name, alias, reason=reason)
        if target is not None and target not in held:
            ops.set_alias(self.lh, name, target, number, reason=reason)
        return self.get_model_version(name, number)

    @translated
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MlflowVersion]:
        if not isinstance(max_results, int) or max_results < 1:
            msg = f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
            raise MlflowException(msg, INVALID_PARAMETER_VALUE)
        _check_at_most(max_results, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD)
        clauses = SearchModelVersionUtils.parse_search_filter(filter_string)
        _check_numbers(clauses)
        found = SearchModelVersionUtils.filter(self._candidates(clauses), filter_string)
        if order_by:
            found = SearchModelVersionUtils.sort(found, order_by)
        return _page(found, max_results, page_token)

    def _candidates(self, clauses: list[dict[str, Any]]) -> list[MlflowVersion]:
        """The versions a search can match, in the default order.

        Every live version is built as an MLflow entity and sorted in the default order once per table version
        (:class:`_Index`): filtering keeps that order (MLflow's sort is total over name and version), so a
        search without ``order_by`` sorts nothing. An equality clause on the name or a tag narrows the
        candidates to the versions with that exact value; MLflow's filter then runs over those alone.
        """
        state = self._registry()
        index = self._index
        if index is None or index.state is not state:
            index = self._index = _Index(state, [self._version_entity(v) for v in state.all_versions()])
        return index.narrowed(clauses)

    # --- aliases --------------------------------------------------------------------------------------------

    @translated
    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        number = _validate_model_version(version)
        ops.set_alias(self.lh, name, alias, number)

    @translated
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        _validate_model_alias_name(alias)
        state, model_id = self._live(name)
        if alias in state.aliases(model_id):  # deleting a missing alias is no error, and writes nothing
            ops.delete_alias(self.lh, name, alias)

    @translated
    def get_model_version_by_alias(self, name: str, alias: str) -> MlflowVersion:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        state, model_id = self._live(name)
        if alias.lower() == _LATEST:
            number = state.latest(model_id)
            if number is None:
                msg = f"Latest version not found for model {name}."
                raise MlflowException(msg, RESOURCE_DOES_NOT_EXIST)
            return self._version_entity(state.version(model_id, number))
        aliases = state.aliases(model_id)
        if alias not in aliases:
            # MLflow's SQL registry answers INVALID_PARAMETER_VALUE here (not RESOURCE_DOES_NOT_EXIST).
            msg = f"Registered model alias {alias} not found."
            raise MlflowException(msg, INVALID_PARAMETER_VALUE)
        return self._version_entity(state.version(model_id, aliases[alias]))


class _Index:
    """The live versions of one registry state as MLflow entities in the default order, by name and by tag."""

    def __init__(self, state: Registry, versions: list[MlflowVersion]) -> None:
        self.state = state
        self.ordered: list[MlflowVersion] = SearchModelVersionUtils.sort(versions, DEFAULT_VERSION_ORDER)
        self.by_name: dict[str, list[MlflowVersion]] = {}
        self.by_tag: dict[tuple[str, str], list[MlflowVersion]] = {}
        for v in self.ordered:
            self.by_name.setdefault(v.name, []).append(v)
            for key, value in v.tags.items():
                self.by_tag.setdefault((key, value), []).append(v)

    def narrowed(self, clauses: list[dict[str, Any]]) -> list[MlflowVersion]:
        """The versions that can match every equality clause on the name or a tag (all, if none)."""
        best = self.ordered
        for clause in clauses:
            if clause["comparator"] != "=" or not isinstance(clause.get("value"), str):
                continue
            kind, key, value = clause.get("type"), str(clause.get("key")), str(clause["value"])
            if kind == "attribute" and key == "name":
                found = self.by_name.get(value, [])
            elif kind == "tag" and key != IS_PROMPT_TAG_KEY:  # MLflow matches that tag's absence as 'false'
                found = self.by_tag.get((key, value), [])
            else:
                continue
            if len(found) < len(best):
                best = found
        return best


def _check_at_most(max_results: int, threshold: int) -> None:
    if max_results > threshold:
        msg = (
            "Invalid value for request parameter max_results. It must be at most "
            f"{threshold}, but got value {max_results}"
        )
        raise MlflowException(msg, INVALID_PARAMETER_VALUE)


def _check_numbers(clauses: list[dict[str, Any]]) -> None:
    """Refuse what MLflow's SQL registry refuses before matching: a numeric attribute compared with a comparator
    or value numbers do not take (MLflow's in-memory matcher would raise a bare ValueError instead)."""
    for clause in clauses:
        key, value, comparator = clause.get("key"), clause.get("value"), clause["comparator"]
        if clause.get("type") != "attribute" or key not in SearchModelVersionUtils.NUMERIC_ATTRIBUTES:
            continue
        if comparator not in SearchModelVersionUtils.VALID_NUMERIC_ATTRIBUTE_COMPARATORS:
            msg = f"Invalid comparator for attribute {key}: {comparator}"
            raise MlflowException(msg, INVALID_PARAMETER_VALUE)
        try:
            if isinstance(value, float):
                raise TypeError(value)
            int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            msg = f"Invalid value for numeric attribute '{key}': {value!r}"
            raise MlflowException.invalid_parameter_value(msg) from None


def _page(items: list[Any], max_results: int, page_token: str | None) -> PagedList[Any]:
    start = SearchUtils.parse_start_offset_from_page_token(page_token)
    end = start + max_results
    token = SearchUtils.create_page_token(end) if end < len(items) else None
    return PagedList(items[start:end], token)
