"""An MLflow experiment and logged model written in several commits each, for the maintenance tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

from lakehouse.integrations.mlflow import uri_for


@dataclass(frozen=True)
class Recorded:
    experiment_id: str
    model_id: str
    model: dict[str, Any]  # the logged model as MLflow returned it


def record(root: Path) -> Recorded:
    """Create, rename and tag an experiment and a logged model: several small files in both tables."""
    client = MlflowClient(uri_for(root))
    exp = client.create_experiment("maintained", tags={"a": "1"})
    client.rename_experiment(exp, "renamed")
    model = client.create_logged_model(exp, name="m", params={"lr": "0.1"})
    client.set_logged_model_tags(model.model_id, {"stage": "dev"})
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return Recorded(exp, model.model_id, client.get_logged_model(model.model_id).to_dictionary())


def assert_unchanged(root: Path, recorded: Recorded) -> None:
    """A fresh MLflow client reads back exactly what :func:`record` wrote."""
    fresh = MlflowClient(uri_for(root))
    assert fresh.get_logged_model(recorded.model_id).to_dictionary() == recorded.model
    assert fresh.get_experiment(recorded.experiment_id).name == "renamed"
    assert fresh.get_experiment(recorded.experiment_id).tags == {"a": "1"}
    assert [m.model_id for m in fresh.search_logged_models([recorded.experiment_id])] == [recorded.model_id]
