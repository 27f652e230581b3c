"""The same MLflow registry calls against MLflow's ``sqlite:///`` registry and the ``lakehouse:///`` one.

Each scenario is played on both; every outcome (returned models and versions with run ids shown as run names
and times left out, or the error code of a refused call) is recorded, and the recordings must be equal. The
stages scenario plays only transitions whose outcome the alias mapping keeps (see docs/MODELS.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.store.entities.paged_list import PagedList

from tests.integrations.mlflow.conftest import Recorder, differential

# Stages are deprecated in MLflow (still used, and the issue asks for them): the client warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning")


class RegistryRecorder(Recorder):
    """Records registry entities without their times (each store stamps its own)."""

    aliases = True

    def plain(self, value: Any) -> Any:
        if isinstance(value, PagedList):
            return {"items": [self.plain(v) for v in value], "more": value.token is not None}
        if isinstance(value, RegisteredModel):
            return {
                "name": value.name,
                "description": value.description,
                "tags": dict(value.tags),
                "aliases": dict(value.aliases) if self.aliases else None,
                "latest": sorted((v.version, v.current_stage) for v in value.latest_versions or []),
            }
        if isinstance(value, ModelVersion):
            return {
                "name": value.name,
                "version": value.version,
                "description": value.description,
                "stage": value.current_stage,
                "source": self.named(value.source or ""),
                "run": self.names.get(value.run_id or "", value.run_id),
                "tags": dict(value.tags),
                "aliases": sorted(value.aliases) if self.aliases else None,
                "run_link": value.run_link,
                "status": value.status,
            }
        return super().plain(value)


class StageRecorder(RegistryRecorder):
    """Leaves aliases out: here a stage is an alias (``production``), which MLflow's stages are not."""

    aliases = False


def _differential(
    clients: dict[str, MlflowClient], scenario: Any, recorder: type[Recorder] = RegistryRecorder
) -> list[tuple[str, Any]]:
    import tests.integrations.mlflow.conftest as shared

    original = shared.Recorder
    shared.Recorder = recorder  # type: ignore[misc]
    try:
        return differential(clients, scenario)
    finally:
        shared.Recorder = original  # type: ignore[misc]


def _run(r: Recorder, name: str) -> str:
    exp = r.client.create_experiment(f"exp-{name}")
    return r.run(name, exp)


def test_registered_models_crud_tags_rename_delete(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        r("create", c.create_registered_model, "My Model", tags={"team": "cv"}, description="first")
        r("create again", c.create_registered_model, "My Model")
        r("create empty name", c.create_registered_model, "")
        r("get", c.get_registered_model, "My Model")
        r("get missing", c.get_registered_model, "nope")
        r("update", c.update_registered_model, "My Model", description="second")
        r("update missing", c.update_registered_model, "nope", description="x")
        c.set_registered_model_tag("My Model", "stage", "dev")
        r("tag missing model", c.set_registered_model_tag, "nope", "k", "v")
        c.delete_registered_model_tag("My Model", "team")
        r("delete missing tag", c.delete_registered_model_tag, "My Model", "never")
        r("after tags", c.get_registered_model, "My Model")
        c.create_registered_model("other")
        r("rename onto existing", c.rename_registered_model, "My Model", "other")
        r("rename to empty", c.rename_registered_model, "My Model", "")
        r("rename", c.rename_registered_model, "My Model", "renamed")
        r("old name", c.get_registered_model, "My Model")
        r("new name", c.get_registered_model, "renamed")
        r("delete", c.delete_registered_model, "renamed")
        r("deleted", c.get_registered_model, "renamed")
        r("delete missing", c.delete_registered_model, "renamed")
        r("recreate", c.create_registered_model, "renamed")

    _differential(clients, scenario)


def test_versions_tags_aliases_and_errors(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        a, b = _run(r, "a"), _run(r, "b")
        c.create_registered_model("clf")
        r("v1", c.create_model_version, "clf", f"runs:/{a}/model", run_id=a, tags={"k": "v"}, description="d1")
        r("v2", c.create_model_version, "clf", f"runs:/{b}/model", run_id=b, run_link="http://x/run")
        r("v3", c.create_model_version, "clf", "/some/path/model")
        r("version on missing model", c.create_model_version, "nope", "/p")
        r("get v2", c.get_model_version, "clf", "2")
        r("get v9", c.get_model_version, "clf", "9")
        r("get bad version", c.get_model_version, "clf", "two")
        r("update v1", c.update_model_version, "clf", "1", description="better")
        c.set_model_version_tag("clf", "1", "checked", "yes")
        c.delete_model_version_tag("clf", "1", "k")
        r("delete missing version tag", c.delete_model_version_tag, "clf", "1", "never")
        r("tag missing version", c.set_model_version_tag, "clf", "9", "k", "v")
        r("v1 after", c.get_model_version, "clf", "1")
        c.set_registered_model_alias("clf", "champion", "1")
        c.set_registered_model_alias("clf", "challenger", "2")
        c.set_registered_model_alias("clf", "champion", "2")  # moved
        r("alias on missing version", c.set_registered_model_alias, "clf", "x", "9")
        r("reserved alias latest", c.set_registered_model_alias, "clf", "latest", "1")
        r("reserved alias v1", c.set_registered_model_alias, "clf", "v1", "1")
        r("bad alias", c.set_registered_model_alias, "clf", "bad alias!", "1")
        r("by alias", c.get_model_version_by_alias, "clf", "champion")
        r("by latest", c.get_model_version_by_alias, "clf", "latest")
        r("by missing alias", c.get_model_version_by_alias, "clf", "nope")
        r("model with aliases", c.get_registered_model, "clf")
        c.delete_registered_model_alias("clf", "challenger")
        r("delete missing alias", c.delete_registered_model_alias, "clf", "challenger")
        r("delete v2", c.delete_model_version, "clf", "2")
        r("deleted v2", c.get_model_version, "clf", "2")
        r("champion gone with v2", c.get_model_version_by_alias, "clf", "champion")
        r("model after delete", c.get_registered_model, "clf")
        r("download uri", c.get_model_version_download_uri, "clf", "3")
        r("latest versions", c.get_latest_versions, "clf")
        r("latest versions None", c.get_latest_versions, "clf", stages=["None"])

    _differential(clients, scenario)


def test_stages_are_aliases(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        c.create_registered_model("clf")
        for _ in range(3):
            c.create_model_version("clf", "/path/model")
        r("to staging", c.transition_model_version_stage, "clf", "1", "Staging")
        r("to production", c.transition_model_version_stage, "clf", "2", "production", archive_existing_versions=True)
        # One version per stage here (the stage is an alias), as MLflow with archive_existing_versions.
        r("staging to production", c.transition_model_version_stage, "clf", "1", "Production", True)
        r("latest per stage", c.get_latest_versions, "clf", stages=["Production", "Staging", "None"])
        r("back to None", c.transition_model_version_stage, "clf", "1", "None")
        r("bad archive", c.transition_model_version_stage, "clf", "3", "None", archive_existing_versions=True)
        r("bad stage", c.transition_model_version_stage, "clf", "3", "Shipping")
        r("missing version", c.transition_model_version_stage, "clf", "7", "Staging")
        r("active stages", c.get_latest_versions, "clf", stages=["Production", "Staging"])
        r("by production alias", c.get_model_version_by_alias, "clf", "production")

    _differential(clients, scenario, StageRecorder)


def test_search_filters_ordering_and_paging(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        runs = [_run(r, f"r{i}") for i in range(2)]
        for name in ("alpha", "beta", "gamma-model"):
            c.create_registered_model(name, tags={"kind": name[0]})
            for i in range(3):
                c.create_model_version(name, f"runs:/{runs[i % 2]}/m{i}", run_id=runs[i % 2], tags={"i": str(i)})
        s = c.search_registered_models
        r("all models", s)
        r("name like", s, "name LIKE 'gam%'")
        r("name ilike", s, "name ILIKE 'ALP%'")
        r("by tag", s, "tags.kind = 'b'")
        r("order desc", s, order_by=["name DESC"])
        r("page 1", s, max_results=2)
        page = s(max_results=2)
        r("page 2", s, max_results=2, page_token=page.token)
        r("bad filter", s, "name = ")
        r("bad attribute", s, "owner = 'x'")
        r("too many", s, max_results=100_000)
        v = c.search_model_versions
        r("versions of beta", v, "name = 'beta'", order_by=["version_number ASC"])
        r("versions by run", v, f"run_id = '{runs[0]}'", order_by=["name ASC", "version_number ASC"])
        r("versions by tag", v, "tags.i = '1'", order_by=["name DESC"])
        r("versions in", v, "name IN ('alpha', 'gamma-model') and version_number > 1", order_by=["name ASC"])
        r("versions source like", v, "source_path LIKE '%m2'", order_by=["name ASC"])
        r("versions paged", v, max_results=4, order_by=["name ASC", "version_number ASC"])
        r("versions bad order", v, order_by=["owner ASC"])
        r("versions bad filter", v, "version_number > 'x'")
        r("versions zero", v, max_results=0)
        c.delete_model_version("alpha", "1")
        r("deleted version hidden", v, "name = 'alpha'", order_by=["version_number ASC"])

    _differential(clients, scenario)


def test_search_model_versions_shows_aliases(lakehouse_uri: str) -> None:
    """MLflow's SQL registry leaves aliases out of search results (mlflow #9783); the lakehouse lists them."""
    c = MlflowClient(lakehouse_uri)
    c.create_registered_model("clf")
    c.create_model_version("clf", "/path/a")
    c.create_model_version("clf", "/path/b")
    c.set_registered_model_alias("clf", "champion", "2")
    found = c.search_model_versions("name = 'clf'", order_by=["version_number ASC"])
    assert [(v.version, v.aliases) for v in found] == [(1, []), (2, ["champion"])]
