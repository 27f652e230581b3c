"""The Models page: models, versions with alias badges, alias history, and each version's run and datasets."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import polars as pl
import pytest

import lakehouse
from tests.app.conftest import OpenApp, errors, frames

MODELS = "views/models.py"


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("app-models") / "lh"
    lh = lakehouse.connect(root)
    lh.dataset("digits").write(pl.DataFrame({"x": [1, 2]}))
    ids = {}
    for name, lr in (("first", 0.1), ("second", 0.01)):
        with lh.start_run(experiment="e", name=name, params={"lr": lr}, inputs=["digits:v0"]) as run:
            run.log({"acc": 0.5 + lr}, step=0)
        ids[name] = run.id
    lh.register_model("clf", run="first", path="model", description="baseline")
    lh.register_model("clf", run="second", path="model")
    lh.model("clf").set_alias("production", 1, reason="first release")
    lh.model("clf").set_alias("production", 2, reason="better")
    lh.model("clf").set_alias("staging", 1)
    lh.register_model("other", run="first", path="exported")
    return root, ids


def test_models_versions_badges_history_and_lineage(
    registry_root: tuple[Path, dict[str, str]], open_app: OpenApp
) -> None:
    root, ids = registry_root
    at = open_app(root, MODELS, model="clf", version="v2")
    assert not errors(at)
    tables = frames(at)
    assert tables["models_table"].select("model", "latest", "versions").rows() == [("clf", "v2", 2), ("other", "v1", 1)]
    assert tables["model_versions_table"].select("version", "aliases").rows() == [
        ("v2", "production"),
        ("v1", "staging"),
    ]
    assert tables["alias_history_table"].select("alias", "change", "from", "to", "reason").rows() == [
        ("staging", "set", None, "v1", None),
        ("production", "moved", "v1", "v2", "better"),
        ("production", "set", None, "v1", "first release"),
    ]
    badges = " ".join(m.value for m in at.markdown)
    assert ":green-badge[production → v2]" in badges
    assert dict(tables["lineage_params"].rows()) == {"lr": "0.01"}
    assert tables["lineage_metrics"].rows() == [("acc", 0.51)]
    links = {link.proto.label: parse_qs(link.proto.query_string) for link in at.get("page_link")}
    assert links["Run second (FINISHED)"] == {"run": [ids["second"]]}
    assert links["digits:v0"] == {"dataset": ["digits"], "tab": ["Preview"], "ref": ["digits:v0"]}


def test_a_bad_model_or_version_in_the_url_is_explained(
    registry_root: tuple[Path, dict[str, str]], open_app: OpenApp
) -> None:
    root, _ = registry_root
    at = open_app(root, MODELS, model="nope")
    assert errors(at) == ["`model=nope` in the URL: no registered model 'nope'; showing 'clf'"]
    at = open_app(root, MODELS, model="clf", version="v9")
    assert errors(at) == ["`version=v9` in the URL: model 'clf' has no live version 'v9'"]


def test_an_empty_registry_says_how_to_register(tmp_path: Path, open_app: OpenApp) -> None:
    lakehouse.connect(tmp_path / "lh").dataset("d").write(pl.DataFrame({"x": [1]}))
    at = open_app(tmp_path / "lh", MODELS)
    assert "No registered models" in at.info[0].value


def test_the_datasets_page_lists_the_model_versions_built_from_each_run(
    registry_root: tuple[Path, dict[str, str]], open_app: OpenApp
) -> None:
    root, _ = registry_root
    at = open_app(root, None, dataset="digits", tab="Runs", runs_version="v0")
    assert not errors(at)
    shown = frames(at)["lineage_table"].select("name", "model_versions").sort("name").rows()
    assert shown == [("first", "clf:v1, other:v1"), ("second", "clf:v2")]
