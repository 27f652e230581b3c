"""``mlflow.register_model`` and ``models:/`` URIs against a ``lakehouse:`` tracking URI, seen from both sides."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient

import lakehouse
from lakehouse.integrations.mlflow.uri import connect_root


class AddOne(mlflow.pyfunc.PythonModel):  # type: ignore[misc, name-defined]
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return model_input + 1


def test_register_model_from_a_run_then_load_it_by_alias_and_number(lakehouse_uri: str) -> None:
    mlflow.set_tracking_uri(lakehouse_uri)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("acc", 0.9)
        mlflow.pyfunc.log_model(name="model", python_model=AddOne())
    first = mlflow.register_model(f"runs:/{run.info.run_id}/model", "adder")
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", "adder")
    assert (int(first.version), int(second.version)) == (1, 2)
    client = MlflowClient()
    client.set_registered_model_alias("adder", "production", first.version)

    for uri in ("models:/adder@production", "models:/adder/2", "models:/adder/latest"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert loaded.predict(pd.DataFrame({"x": [1.0, 2.0]}))["x"].tolist() == [2.0, 3.0]

    # The same registry from the lakehouse side: the version, its run, params and final metrics.
    lh = lakehouse.connect(connect_root(lakehouse_uri))
    version = lh.model_version("adder:production")
    assert (version.version, version.run_id) == (1, run.info.run_id)
    assert version.logged_model_id is not None
    assert version.source == f"models:/{version.logged_model_id}"
    lineage = lh.model_lineage("adder:production")
    assert (dict(lineage.params), dict(lineage.metrics)) == ({"lr": "0.1"}, {"acc": 0.9})
    # ... and a change made there is what MLflow sees.
    lh.model("adder").set_alias("staging", 2, reason="canary")
    assert client.get_model_version_by_alias("adder", "staging").version == 2
    assert client.get_registered_model("adder").aliases == {"production": 1, "staging": 2}


def test_searches_without_an_order_are_in_mlflows_default_order(lakehouse_uri: str) -> None:
    """Unordered searches reuse the versions sorted once per table version; the order is MLflow's default."""
    client = MlflowClient(lakehouse_uri)
    for name in ("b", "a", "c"):
        client.create_registered_model(name)
        for i in range(3):
            client.create_model_version(name, f"/path/{name}/{i}", tags={"i": str(i)})
    client.update_model_version("a", "1", description="touched last")

    def keys(found: Any) -> list[tuple[str, int]]:
        return [(v.name, int(v.version)) for v in found]

    explicit = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
    # Equality on a tag or the name narrows the candidates first; MLflow's matching decides.
    filters = (None, "tags.i = '1'", "version_number >= 2", "name = 'a' AND tags.i = '2'", "tags.i = 'none'")
    for filter_string in filters:
        assert keys(client.search_model_versions(filter_string)) == keys(
            client.search_model_versions(filter_string, order_by=explicit)
        )
    assert keys(client.search_model_versions())[0] == ("a", 1)
    assert keys(client.search_model_versions("name = 'a' AND tags.i = '2'")) == [("a", 3)]
    # MLflow matches a missing prompt tag as 'false': every version here.
    assert len(client.search_model_versions("tags.`mlflow.prompt.is_prompt` = 'false'")) == 9
    first = client.search_model_versions(max_results=4)
    rest = client.search_model_versions(max_results=5, page_token=first.token)
    assert rest.token is None
    assert keys(first) + keys(rest) == keys(client.search_model_versions(order_by=explicit))
