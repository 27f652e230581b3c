"""MLflow on a bucket root: ``lakehouse:s3://bucket/prefix`` as tracking and registry URI, with the real client.

Artifacts and model files go to the bucket through the lakehouse object store; nothing lands on local disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

import lakehouse
from lakehouse import Location
from lakehouse.cli import main
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.mlflow import root_from_uri, uri_for
from tests.integrations.mlflow.test_server import Server
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server


def _a_finished_run(client: MlflowClient, experiment: str, *, lr: str, points: int, notes: Path) -> str:
    """One finished run in a new experiment: param ``lr``, ``points`` steps of ``loss``, the file ``notes``."""
    run_id: str = client.create_run(client.create_experiment(experiment), run_name="run").info.run_id
    client.log_param(run_id, "lr", lr)
    for step in range(points):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    notes.write_text(f"notes of {experiment}")
    client.log_artifact(run_id, str(notes))
    client.set_terminated(run_id)
    return run_id


class AddOne(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: object, model_input: pd.DataFrame, params: object = None) -> pd.DataFrame:
        return model_input + 1


def test_the_bucket_uri_form_is_canonical_and_carries_no_credentials(bucket_root: str) -> None:
    uri = uri_for(bucket_root)
    assert uri == f"lakehouse:{bucket_root}"
    assert root_from_uri(uri) == Location(bucket_root)
    assert root_from_uri(uri.replace("s3://", "s3a://")) == Location(bucket_root)  # Spark's spelling, same place
    assert uri_for(Location(bucket_root)) == uri
    with pytest.raises(InvalidArgument, match="must not carry credentials") as caught:
        root_from_uri(f"lakehouse:s3://{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}@bucket/lh")
    assert SECRET_ACCESS_KEY not in str(caught.value)
    assert ACCESS_KEY_ID not in str(caught.value)


def test_the_mlflow_client_logs_registers_and_loads_a_model_on_a_bucket_root(
    bucket_root: str, s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # anything written to a local "s3:" folder by mistake would land here
    uri = uri_for(bucket_root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bucket")
    notes = tmp_path / "notes.txt"
    notes.write_text("trained on a bucket")
    with mlflow.start_run(run_name="train") as active:
        mlflow.log_param("lr", 0.1)
        for step in range(20):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_artifact(str(notes), "docs")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=AddOne(), pip_requirements=["mlflow"], registered_model_name="adder"
        )
    run_id = active.info.run_id
    assert active.info.artifact_uri.startswith(f"{uri}/_artifacts/")

    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(20))
    assert [f.path for f in client.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]
    fetched = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="docs/notes.txt", dst_path=str(tmp_path))
    assert Path(fetched).read_text() == "trained on a bucket"
    assert str(client.get_registered_model("adder").latest_versions[0].version) == "1"
    loaded = mlflow.pyfunc.load_model("models:/adder/1")
    assert loaded.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist() == [2, 3]
    assert info.model_uri

    # The same run through the lakehouse API, and the bytes in the bucket, not on local disk.
    lh = lakehouse.connect(bucket_root)
    assert lh.run(run_id).metrics["loss"].count == 20
    assert "docs/notes.txt" in lh.artifacts(run_id).get_column("path").to_list()
    bucket = Location(bucket_root).bucket
    assert bucket is not None
    assert any(k.startswith("lh/_objects/") for k in s3_env.keys(bucket))
    assert not (tmp_path / "s3:").exists()


@pytest.mark.slow
def test_mlflow_server_on_a_bucket_root_answers_the_rest_api(
    bucket_root: str, s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    uri = uri_for(bucket_root)
    # The server proxies artifacts into the bucket's object store (clients upload to the server).
    options = ["--artifacts-destination", uri]
    server = Server.start(bucket_root, options, cwd=tmp_path, workers=1)  # the AWS_* variables inherited
    base = server.base
    try:
        client = MlflowClient(base)
        run_id = _a_finished_run(client, "over-rest", lr="0.01", points=10, notes=tmp_path / "notes.txt")
        got = requests.get(f"{base}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30).json()["run"]
        assert got["info"]["status"] == "FINISHED"
        assert got["data"]["params"] == [{"key": "lr", "value": "0.01"}]
        assert [f.path for f in client.list_artifacts(run_id)] == ["notes.txt"]
        assert client.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")  # through the proxy
    finally:
        server.stop()
    # Everything the server wrote is in the bucket, read back through the lakehouse API.
    lh = lakehouse.connect(bucket_root)
    assert lh.run(run_id).status == "FINISHED"
    assert lh.run(run_id).metrics["loss"].count == 10
    assert lh.artifacts(run_id).get_column("path").to_list() == ["notes.txt"]
    server_log = (tmp_path / "server.log").read_text()
    assert SECRET_ACCESS_KEY not in server_log


def test_import_mlflow_into_a_bucket_root_brings_every_point_once(
    bucket_root: str,
    s3_env: S3Server,
    sqlite_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LAKEHOUSE_ROOT", bucket_root)  # the configured root is the bucket
    monkeypatch.chdir(tmp_path)  # the sqlite store keeps its artifacts in ./mlruns
    _a_finished_run(MlflowClient(sqlite_uri), "imported", lr="0.3", points=30, notes=tmp_path / "notes.txt")

    args = ["import-mlflow", "--from", sqlite_uri, "--artifacts", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs_created"], report["points"], report["artifacts_copied"]) == (1, 30, 1)
    assert main(args) == 0  # again: nothing new
    again = json.loads(capsys.readouterr().out)
    assert (again["runs_created"], again["points"], again["runs_unchanged"]) == (0, 0, 1)
    shown = json.dumps(report) + json.dumps(again)
    assert SECRET_ACCESS_KEY not in shown

    lh = lakehouse.connect(bucket_root)
    [imported] = lh.runs(experiment="imported").get_column("run_id").to_list()
    info = lh.run(imported)
    assert (info.status, info.params, info.metrics["loss"].count) == ("FINISHED", {"lr": "0.3"}, 30)
    assert lh.artifacts(imported).get_column("path").to_list() == ["notes.txt"]
    # The same run through the MLflow client on the bucket URI.
    assert MlflowClient(uri_for(bucket_root)).get_run(imported).data.params == {"lr": "0.3"}
