"""MLflow's artifact calls on a lakehouse root: files land in the object store and the artifacts index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

import lakehouse
from lakehouse import storage
from lakehouse.integrations.mlflow.artifacts import parse
from lakehouse.objects import object_key
from lakehouse.tracking import artifacts
from tests.test_objects import files_under, flip_byte


class AddOne(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return model_input + 1


@pytest.fixture
def files(tmp_path: Path) -> Path:
    base = tmp_path / "files"
    (base / "plots").mkdir(parents=True)
    (base / "config.yaml").write_text("lr: 0.1\n")
    (base / "plots" / "loss.png").write_bytes(b"png bytes")
    return base


def test_mlflow_logs_into_the_object_store_and_index(
    lakehouse_uri: str, root: Path, files: Path, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(lakehouse_uri)
    with mlflow.start_run() as active:
        mlflow.log_artifact(str(files / "config.yaml"))
        mlflow.log_artifacts(str(files), artifact_path="all")
        mlflow.log_text("hello", "notes/hello.txt")
    run_id = active.info.run_id
    assert active.info.artifact_uri.startswith("lakehouse:/")
    lh = lakehouse.connect(root)
    assert lh.artifacts(run_id).get_column("path").to_list() == [
        "all/config.yaml",
        "all/plots/loss.png",
        "config.yaml",
        "notes/hello.txt",
    ]
    assert len(list(lh.layout.objects.objects())) == 3  # config.yaml once for two paths
    assert not (root / "_artifacts").exists()  # only a name in the URI

    client = MlflowClient(lakehouse_uri)
    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("all", True),
        ("config.yaml", False),
        ("notes", True),
    ]
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "all/plots")] == [("all/plots/loss.png", 9)]
    assert client.list_artifacts(run_id, "config.yaml") == []  # a file is no folder, as in MLflow's own stores
    got = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="all", dst_path=str(tmp_path / "dl"))
    assert (Path(got) / "plots" / "loss.png").read_bytes() == b"png bytes"
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"


def test_native_and_mlflow_logging_share_objects(lakehouse_uri: str, root: Path, files: Path) -> None:
    lh = lakehouse.connect(root)
    with lh.start_run(experiment="native") as native:
        native.log_artifact(files / "plots" / "loss.png")
    mlflow.set_tracking_uri(lakehouse_uri)
    with mlflow.start_run() as active:
        mlflow.log_artifact(str(files / "plots" / "loss.png"))
    assert lh.artifact(active.info.run_id, "loss.png").digest == lh.artifact(native.id, "loss.png").digest
    assert len(list(lh.layout.objects.objects())) == 1


def test_pyfunc_model_logged_and_loaded_back(lakehouse_uri: str, root: Path) -> None:
    mlflow.set_tracking_uri(lakehouse_uri)
    with mlflow.start_run() as active:
        info = mlflow.pyfunc.log_model(name="model", python_model=AddOne(), pip_requirements=["mlflow"])
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    for uri in (f"runs:/{active.info.run_id}/model", f"models:/{info.model_id}"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert loaded.predict(frame)["x"].tolist() == [2.0, 3.0]
    files = artifacts.listing(lakehouse.connect(root).layout, info.model_id).get_column("path").to_list()
    assert "MLmodel" in files  # a logged model's files are indexed under its model id


def test_bad_paths_and_corrupt_objects_through_mlflow(
    lakehouse_uri: str, root: Path, files: Path, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(lakehouse_uri)
    with mlflow.start_run() as active:
        mlflow.log_artifact(str(files / "config.yaml"))
        lh = lakehouse.connect(root)
        before = storage.peek_version(lh.layout.artifacts), files_under(root / "_objects")
        with pytest.raises(MlflowException, match="leaves the run"):
            mlflow.log_artifact(str(files / "config.yaml"), artifact_path="../other-run")
        assert (storage.peek_version(lh.layout.artifacts), files_under(root / "_objects")) == before
    digest = lh.artifact(active.info.run_id, "config.yaml").digest
    flip_byte(root / object_key(digest))
    (tmp_path / "x").mkdir()
    with pytest.raises(MlflowException, match=rf"{object_key(digest)}.*corrupt"):
        mlflow.artifacts.download_artifacts(f"{active.info.artifact_uri}/config.yaml", dst_path=str(tmp_path / "x"))
    # Through runs:/ MLflow's RunsArtifactRepository logs the cause at debug level and reports a generic error.
    with pytest.raises(MlflowException):
        mlflow.artifacts.download_artifacts(f"runs:/{active.info.run_id}/config.yaml", dst_path=str(tmp_path / "x"))
    assert list((tmp_path / "x").iterdir()) == []
    assert not (tmp_path / "x" / "config.yaml").exists()


def test_artifact_uris_are_parsed_strictly(tmp_path: Path) -> None:
    found = parse(f"lakehouse://{tmp_path}/lh/_artifacts/3/abc123/artifacts/model/data")
    assert (found.root, found.owner, found.prefix) == (str(tmp_path / "lh"), "abc123", "model/data")
    found = parse("lakehouse:s3://bucket-1/team/lh/_artifacts/3/abc123/artifacts/model")
    assert (found.root, found.owner, found.prefix) == ("s3://bucket-1/team/lh", "abc123", "model")
    found = parse(f"lakehouse://{tmp_path}/lh/_artifacts/3/models/m-42/artifacts")
    assert (found.owner, found.prefix) == ("m-42", "")
    for bad in (f"lakehouse://{tmp_path}/lh/elsewhere", "file:///x/_artifacts/1/r/artifacts", "lakehouse://host/x"):
        with pytest.raises(lakehouse.InvalidArgument):
            parse(bad)
