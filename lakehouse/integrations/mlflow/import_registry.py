"""The model registry and the artifact files of an MLflow store, copied into the lakehouse (``import-mlflow``).

Registered models come with their description, tags, versions (source, run, description, tags) and aliases, all
written through :mod:`lakehouse.registry.operations`, the registry's one write path. A source version is matched
to a lakehouse version of the same model with the same source URI (in version order), so a second import
creates nothing, and an import after new registrations adds only those; descriptions, tags and aliases are set
only where they differ. Version numbers follow the lakehouse's rule (one above every number the model had), so
they equal MLflow's unless the source has gaps (deleted versions); aliases follow the matched versions.

With ``--artifacts`` each imported run's files are downloaded from the source and logged into the object store
and ``tracking/artifacts``; a file already there with the same size is skipped (MLflow does not rewrite logged
artifacts in place), so this is incremental too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.entities import FileInfo
from mlflow.entities.model_registry import ModelVersion as SourceVersion
from mlflow.entities.model_registry import RegisteredModel as SourceModel

from lakehouse.query import models as folded
from lakehouse.registry import operations as ops
from lakehouse.tracking import artifacts

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.integrations.mlflow.importer import ImportReport

_PAGE = 1000


def import_registry(client: MlflowClient, lakehouse: Lakehouse, report: ImportReport) -> None:
    """Copy every registered model of the source (see the module docstring)."""
    for source in _registered_models(client):
        numbers = _import_versions(client, lakehouse, source, report)
        _import_model_fields(lakehouse, source, numbers, report)


def _registered_models(client: MlflowClient) -> Iterator[SourceModel]:
    token = None
    while True:
        page = client.search_registered_models(max_results=_PAGE, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _source_versions(client: MlflowClient, name: str) -> list[SourceVersion]:
    found: list[SourceVersion] = []
    token = None
    quoted = name.replace("'", "\\'")
    while True:
        page = client.search_model_versions(f"name = '{quoted}'", max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return sorted(found, key=lambda v: int(v.version))


def _import_versions(
    client: MlflowClient, lakehouse: Lakehouse, source: SourceModel, report: ImportReport
) -> dict[int, int]:
    """Create the versions not yet imported; returns source version number -> lakehouse version number."""
    state = folded.registry(lakehouse.layout)
    model_id = state.model_id(source.name)
    have = [] if model_id is None else state.versions(model_id, include_deleted=True)
    unmatched = list(have)
    numbers: dict[int, int] = {}
    for version in _source_versions(client, source.name):
        match = next((v for v in unmatched if v.source == version.source), None)
        if match is not None:
            unmatched.remove(match)
            numbers[int(version.version)] = match.version
            report.model_versions_matched += 1
            for key, value in (version.tags or {}).items():
                if match.lifecycle == "active" and match.tags.get(key) != value:
                    ops.change(lakehouse, source.name, "tagged", match.version, key=key, value=value)
            continue
        new = ops.NewVersion(
            source=version.source or "",
            run_id=version.run_id or None,
            description=version.description or None,
            tags=dict(version.tags or {}),
            run_link=version.run_link or None,
            logged_model_id=getattr(version, "model_id", None) or None,
        )
        made = ops.create_version(lakehouse, source.name, new, create_model=True)
        numbers[int(version.version)] = made.version
        report.model_versions_created += 1
    if model_id is None and not numbers:  # a model with no versions yet
        ops.create_model(lakehouse, source.name)
    return numbers


def _import_model_fields(
    lakehouse: Lakehouse, source: SourceModel, numbers: dict[int, int], report: ImportReport
) -> None:
    """The model's description, tags and aliases, each written only where the lakehouse differs."""
    state = folded.registry(lakehouse.layout)
    model_id = ops.live_id(state, source.name)
    model = state.model(model_id)
    if (source.description or None) != model.description and source.description:
        ops.change(lakehouse, source.name, "described", value=source.description)
    for key, value in (source.tags or {}).items():
        if model.tags.get(key) != value:
            ops.change(lakehouse, source.name, "tagged", key=key, value=value)
    aliases = state.aliases(model_id)
    for alias, number in (source.aliases or {}).items():
        target = numbers.get(int(number))
        if target is not None and aliases.get(alias) != target:
            ops.set_alias(lakehouse, source.name, alias, target, reason="imported from MLflow")
            report.aliases_set += 1


# --- artifact files -------------------------------------------------------------------------------------------


def import_artifacts(client: MlflowClient, lakehouse: Lakehouse, run_ids: list[str], report: ImportReport) -> None:
    """Download each run's files not yet in the lakehouse and log them into the object store and index."""
    for run_id in run_ids:
        have = dict(artifacts.listing(lakehouse.layout, run_id).select("path", "size").rows())
        wanted = [f for f in _files(client, run_id, None) if have.get(f.path) != f.file_size]
        if not wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="lakehouse-mlflow-") as folder:
            planned = [
                (Path(client.download_artifacts(run_id, f.path, folder)), artifacts.check_path(f.path)) for f in wanted
            ]
            artifacts.log_files(lakehouse.layout, lakehouse.settings, run_id, planned, actor=lakehouse.actor)
        report.artifacts_copied += len(planned)


def _files(client: MlflowClient, run_id: str, path: str | None) -> Iterator[FileInfo]:
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            yield from _files(client, run_id, info.path)
        else:
            yield info
