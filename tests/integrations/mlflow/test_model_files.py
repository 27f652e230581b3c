"""``lh.model_files`` of a version that promotes an MLflow logged model: the model's files, by its id."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

import lakehouse


def test_a_logged_models_version_lists_the_models_files(lakehouse_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(lakehouse_uri)
    experiment_id = client.create_experiment("models")
    run_id = client.create_run(experiment_id, run_name="train").info.run_id
    model_id = client.create_logged_model(experiment_id, name="net", source_run_id=run_id).model_id
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w" * 64)
    client.log_model_artifact(model_id, str(weights))
    client.create_registered_model("net")
    client.create_model_version("net", f"models:/{model_id}", run_id=run_id, model_id=model_id)
    client.log_artifact(run_id, str(weights), "unrelated")

    lh = lakehouse.connect(tmp_path / "lh")
    files = lh.model_files("net:v1")
    assert files.select("path", "size").rows() == [("weights.bin", 64)]
