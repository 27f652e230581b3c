"""``lakehouse import-mlflow``: a sqlite MLflow store round-trips into the lakehouse, every point, exactly once."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus, Metric, Param, RunTag, ViewType

import lakehouse
from lakehouse import storage
from lakehouse.cli import main
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.mlflow import import_runs, uri_for
from tests.integrations.mlflow.conftest import Recorder, number

T0 = 1_700_000_000_000
ROOT = Path(__file__).resolve().parents[3]


def _populate(client: MlflowClient) -> dict[str, str]:
    """Two experiments (one deleted), runs in every status, params, tags, NaN / inf, long and duplicate points."""
    ids: dict[str, str] = {}
    vision = client.create_experiment("vision", tags={"team": "cv"})
    audio = client.create_experiment("audio")
    for i, status in enumerate(["FINISHED", "FAILED", "KILLED", "RUNNING"]):
        run = client.create_run(vision, run_name=f"v{i}", start_time=T0 + i, tags={"mlflow.user": "ada", "i": str(i)})
        run_id = run.info.run_id
        ids[f"v{i}"] = run_id
        for chunk in range(3):
            steps = range(chunk * 700, (chunk + 1) * 700)
            client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (s + 1 + i), T0 + s, s) for s in steps])
        client.log_batch(
            run_id,
            metrics=[
                Metric("odd", math.nan, T0, 0),
                Metric("odd", math.inf, T0 + 1, 1),
                Metric("odd", -math.inf, T0 + 2, 2),
                Metric("odd", 4.0, T0 + 3, 3),
                Metric("odd", 4.0, T0 + 3, 3),  # logged twice: one point
                Metric("same_step", 1.0, T0, 5),
                Metric("same_step", 2.0, T0, 5),  # two values at one step: two points
            ],
            params=[Param("lr", str(0.1 * (i + 1))), Param("layers", "3")],
            tags=[RunTag("note", f"run {i}")],
        )
        if status != "RUNNING":
            client.set_terminated(run_id, status, end_time=T0 + 10_000 + i)
    deleted = client.create_run(audio, run_name="gone", start_time=T0)
    ids["gone"] = deleted.info.run_id
    client.log_metric(deleted.info.run_id, "x", 1.0, timestamp=T0, step=0)
    client.delete_run(deleted.info.run_id)
    client.delete_experiment(audio)
    return ids


def _view(client: MlflowClient, run_id: str) -> dict[str, object]:
    recorder = Recorder(client)
    run = client.get_run(run_id)
    out = recorder.plain(run)
    assert isinstance(out, dict)
    out["histories"] = {
        key: sorted(recorder.plain(client.get_metric_history(run_id, key)), key=repr) for key in run.data.metrics
    }
    out["artifact_uri"] = run.info.artifact_uri
    return out


def _table_state(root: Path) -> dict[str, tuple[int, int]]:
    lh = lakehouse.connect(root)
    tables = {**lh.layout.tracking_tables, "experiments": lh.layout.experiments}
    return {
        name: (storage.latest_version(path), storage.snapshot(path, storage.latest_version(path)).num_rows)
        for name, path in tables.items()
        if storage.exists(path)
    }


def test_import_round_trips_every_point_and_is_idempotent(sqlite_uri: str, root: Path) -> None:
    source = MlflowClient(sqlite_uri)
    ids = _populate(source)
    lh = lakehouse.connect(root)

    first = import_runs(sqlite_uri, lh)
    assert (first.experiments_created, first.runs_created) == (2, 5)
    assert first.points == 4 * (2100 + 6) + 1
    target = MlflowClient(uri_for(root))
    for name, run_id in ids.items():
        assert _view(target, run_id) == _view(source, run_id), name
    vision = target.get_experiment_by_name("vision")
    assert vision is not None
    assert vision.tags == {"team": "cv"}
    audio = target.get_experiment_by_name("audio")
    assert audio is not None
    assert audio.lifecycle_stage == "deleted"
    assert [
        r.info.run_name for r in target.search_runs([vision.experiment_id], order_by=["attributes.start_time"])
    ] == [
        "v0",
        "v1",
        "v2",
        "v3",
    ]
    assert len(target.search_runs([audio.experiment_id], run_view_type=ViewType.DELETED_ONLY)) == 1

    # Again: nothing new, nothing written.
    before = _table_state(root)
    second = import_runs(sqlite_uri, lh)
    assert (second.runs_created, second.runs_updated, second.points, second.params, second.tags) == (0, 0, 0, 0, 0)
    assert second.runs_unchanged == 5
    assert second.points_present == first.points
    assert _table_state(root) == before

    # The source moves on (a run goes on training and ends): only the new points and the status come over.
    source.log_batch(ids["v3"], metrics=[Metric("loss", 0.001, T0 + 5000 + s, 2100 + s) for s in range(10)])
    source.set_terminated(ids["v3"], end_time=T0 + 20_000)
    third = import_runs(sqlite_uri, lh)
    assert (third.runs_updated, third.points, third.runs_unchanged) == (1, 10, 4)
    assert _view(target, ids["v3"]) == _view(source, ids["v3"])
    assert lh.metrics(ids["v3"], "loss").height == 2110


def _models(client: MlflowClient, experiment_id: str) -> dict[str, dict[str, object]]:
    """The logged models of an experiment as the client returns them, by id, field by field."""
    found = client.search_logged_models([experiment_id])
    assert found.token is None
    return {m.model_id: _model(m) for m in found}


def _model(model: LoggedModel) -> dict[str, object]:
    return {
        "name": model.name,
        "status": str(model.status),
        "params": model.params,
        "tags": model.tags,
        "metrics": sorted(
            (m.key, number(m.value), m.timestamp, m.step, m.run_id, m.model_id, m.dataset_name, m.dataset_digest)
            for m in model.metrics or []
        ),
        "source_run_id": model.source_run_id,
        "model_type": model.model_type,
        "artifact_location": model.artifact_location,
        "created": model.creation_timestamp,
        "updated": model.last_updated_timestamp,
    }


def test_import_brings_logged_models_with_their_ids(sqlite_uri: str, root: Path) -> None:
    source = MlflowClient(sqlite_uri)
    experiment_id = source.create_experiment("models")
    run_id = source.create_run(experiment_id, run_name="train", start_time=T0).info.run_id
    net = source.create_logged_model(
        experiment_id, name="net", source_run_id=run_id, params={"lr": "0.1"}, tags={"stage": "dev"}, model_type="cnn"
    ).model_id
    draft = source.create_logged_model(experiment_id, name="draft", source_run_id=run_id).model_id
    source.log_outputs(run_id, [LoggedModelOutput(net, 2)])
    source.log_batch(
        run_id,
        metrics=[
            Metric("acc", 0.9, T0, 1, model_id=net, dataset_name="val", dataset_digest="d1"),
            Metric("acc", 0.95, T0 + 1, 2, model_id=net),
            Metric("loss", 0.5, T0, 1),
        ],
    )
    source.finalize_logged_model(net, LoggedModelStatus.READY)
    source.set_terminated(run_id)
    lh = lakehouse.connect(root)

    first = import_runs(sqlite_uri, lh)
    assert (first.runs_created, first.models_created, first.models_updated, first.models_unchanged) == (1, 2, 0, 0)
    target = MlflowClient(uri_for(root))
    home = target.get_experiment_by_name("models")
    assert home is not None
    expected = _models(source, experiment_id)
    assert {expected[net]["status"], expected[draft]["status"]} == {"READY", "PENDING"}
    assert _models(target, home.experiment_id) == expected
    assert _model(target.get_logged_model(net)) == expected[net]
    assert target.get_logged_model(draft).experiment_id == home.experiment_id
    assert target.get_run(run_id).outputs.model_outputs == [LoggedModelOutput(net, 2)]
    assert _view(target, run_id) == _view(source, run_id)

    # Again: nothing new, nothing written.
    before = _table_state(root)
    second = import_runs(sqlite_uri, lh)
    assert (second.models_created, second.models_updated, second.models_unchanged) == (0, 0, 2)
    assert _table_state(root) == before

    # The source moves on (the draft gets a tag and fails): only that model changes.
    source.set_logged_model_tags(draft, {"stage": "abandoned"})
    source.finalize_logged_model(draft, LoggedModelStatus.FAILED)
    third = import_runs(sqlite_uri, lh)
    assert (third.models_created, third.models_updated, third.models_unchanged) == (0, 1, 1)
    assert _models(target, home.experiment_id) == _models(source, experiment_id)
    assert target.get_logged_model(draft).tags == {"stage": "abandoned"}


def test_cli_and_job(sqlite_uri: str, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = MlflowClient(sqlite_uri)
    experiment_id = source.create_experiment("cli")
    run = source.create_run(experiment_id, run_name="r")
    source.log_metric(run.info.run_id, "m", 1.0, timestamp=T0, step=0)
    source.create_logged_model(experiment_id, name="model", source_run_id=run.info.run_id)

    assert main(["import-mlflow", "--from", sqlite_uri, "--root", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs_created"], report["points"], report["models_created"]) == (1, 1, 1)

    spec = importlib.util.spec_from_file_location("import_mlflow_job", ROOT / "jobs" / "import_mlflow.py")
    assert spec is not None
    assert spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    assert job.main(["--from", sqlite_uri, "--root", str(root)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["runs_created"], again["points"], again["runs_unchanged"], again["models_unchanged"]) == (0, 0, 1, 1)

    assert main(["import-mlflow", "--from", sqlite_uri, "--root", str(root), "--artifacts"]) == 0
    shown = capsys.readouterr().out
    assert "registered models" in shown
    assert "0 copied" in shown
    assert job.main(["--from", sqlite_uri, "--root", str(root), "--artifacts"]) == 0
    assert json.loads(capsys.readouterr().out)["artifacts_copied"] == 0

    assert main(["import-mlflow", "--from", uri_for(root), "--root", str(root)]) == 1
    assert "is a lakehouse already" in capsys.readouterr().err
    with pytest.raises(InvalidArgument, match="no experiment 'nope'"):
        import_runs(sqlite_uri, lakehouse.connect(root), experiments=["nope"])


def test_a_missing_source_is_refused_and_nothing_is_created(
    sqlite_uri: str, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = MlflowClient(sqlite_uri)
    run = source.create_run(source.create_experiment("there"), run_name="r")
    source.log_metric(run.info.run_id, "m", 1.0, timestamp=T0, step=0)
    assert main(["import-mlflow", "--from", sqlite_uri, "--root", str(root), "--json"]) == 0
    capsys.readouterr()
    before = _table_state(root)
    nowhere = tmp_path / "no" / "such" / "dir"
    missing = [
        f"sqlite:///{nowhere}/mlflow.db",  # MLflow would create the folders and an empty database
        f"sqlite:///{tmp_path}/absent.db",  # the folder exists, the file does not
        f"file://{nowhere}/mlruns",
        str(nowhere / "mlruns"),
    ]
    for uri in missing:
        assert main(["import-mlflow", "--from", uri, "--root", str(root)]) == 1, uri
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "does not exist" in err, err
        assert str(nowhere if "absent" not in uri else tmp_path / "absent.db") in err.replace("\n", ""), err
        assert "Traceback" not in err
        with pytest.raises(InvalidArgument, match="does not exist"):
            import_runs(uri, lakehouse.connect(root))
    assert not (tmp_path / "no").exists()
    assert not (tmp_path / "absent.db").exists()
    assert _table_state(root) == before


def _registry_state(root: Path) -> dict[str, tuple[int, int]]:
    layout = lakehouse.connect(root).layout
    paths = {"models": layout.models, "artifacts": layout.artifacts}
    out = {
        n: (storage.latest_version(p), storage.snapshot(p, storage.latest_version(p)).num_rows)
        for n, p in paths.items()
    }
    objects = sorted(p.relative_to(root).as_posix() for p in (root / "_objects").rglob("*") if p.is_file())
    return {**out, "objects": (len(objects), hash(tuple(objects)))}


def _registry_view(client: MlflowClient) -> list[object]:
    out: list[object] = []
    for model in sorted(client.search_registered_models(), key=lambda m: m.name):
        versions = client.search_model_versions(f"name = '{model.name}'")
        out.append(
            (
                model.name,
                model.description,
                model.tags,
                model.aliases,
                sorted((int(v.version), v.source, v.run_id, v.description, v.tags) for v in versions),
            )
        )
    return out


def test_import_copies_the_registry_and_the_artifact_files(sqlite_uri: str, root: Path, tmp_path: Path) -> None:
    source = MlflowClient(sqlite_uri)
    experiment_id = source.create_experiment("reg", artifact_location=(tmp_path / "mlartifacts").as_uri())
    run_ids = []
    for i in range(2):
        run_id = source.create_run(experiment_id, run_name=f"r{i}", start_time=T0 + i).info.run_id
        weights = tmp_path / f"weights{i}.bin"
        weights.write_bytes(bytes([i]) * 100)
        source.log_artifact(run_id, str(weights), "model")
        source.set_terminated(run_id)
        run_ids.append(run_id)
    (tmp_path / "notes.txt").write_text("first")
    source.log_artifact(run_ids[0], str(tmp_path / "notes.txt"))
    source.create_registered_model("clf", tags={"team": "cv"}, description="digits")
    for run_id in run_ids:
        source.create_model_version("clf", f"runs:/{run_id}/model", run_id=run_id, tags={"by": "ci"})
    source.set_registered_model_alias("clf", "production", "1")
    source.set_registered_model_alias("clf", "staging", "2")
    source.create_registered_model("empty")
    lh = lakehouse.connect(root)

    first = import_runs(sqlite_uri, lh, artifacts=True)
    assert (first.model_versions_created, first.aliases_set, first.artifacts_copied) == (2, 2, 3)
    target = MlflowClient(uri_for(root))
    assert _registry_view(target) == _registry_view(source)
    assert lh.model_version("clf:production").run_id == run_ids[0]
    assert lh.artifacts(run_ids[0]).get_column("path").to_list() == ["model/weights0.bin", "notes.txt"]
    assert lh.artifact(run_ids[1], "model/weights1.bin").read_bytes() == bytes([1]) * 100
    assert lh.model_files("clf:staging").get_column("path").to_list() == ["model/weights1.bin"]

    # Again: nothing new, nothing written (registry, index and object store alike).
    before = {**_table_state(root), **_registry_state(root)}
    second = import_runs(sqlite_uri, lh, artifacts=True)
    assert (second.model_versions_created, second.model_versions_matched, second.aliases_set) == (0, 2, 0)
    assert second.artifacts_copied == 0
    assert {**_table_state(root), **_registry_state(root)} == before

    # The source moves on: a third version takes production, a new file is logged; only those come over.
    source.create_model_version("clf", f"runs:/{run_ids[1]}/model", run_id=run_ids[1])
    source.set_registered_model_alias("clf", "production", "3")
    source.log_artifact(run_ids[1], str(tmp_path / "notes.txt"))
    third = import_runs(sqlite_uri, lh, artifacts=True)
    assert (third.model_versions_created, third.aliases_set, third.artifacts_copied) == (1, 1, 1)
    assert _registry_view(target) == _registry_view(source)
    assert [c.change for c in lh.model("clf").alias_history("production")] == ["set", "moved"]
