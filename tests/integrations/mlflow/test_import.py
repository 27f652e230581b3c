"""``lakehouse import-mlflow``: a sqlite MLflow store round-trips into the lakehouse, every point, exactly once."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

import lakehouse
from lakehouse import storage
from lakehouse.cli import main
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.mlflow import import_runs, uri_for
from tests.integrations.mlflow.conftest import Recorder

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


def test_cli_and_job(sqlite_uri: str, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = MlflowClient(sqlite_uri)
    run = source.create_run(source.create_experiment("cli"), run_name="r")
    source.log_metric(run.info.run_id, "m", 1.0, timestamp=T0, step=0)

    assert main(["import-mlflow", "--from", sqlite_uri, "--root", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs_created"], report["points"]) == (1, 1)

    spec = importlib.util.spec_from_file_location("import_mlflow_job", ROOT / "jobs" / "import_mlflow.py")
    assert spec is not None
    assert spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    assert job.main(["--from", sqlite_uri, "--root", str(root)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["runs_created"], again["points"], again["runs_unchanged"]) == (0, 0, 1)

    assert main(["import-mlflow", "--from", uri_for(root), "--root", str(root)]) == 1
    assert "is a lakehouse already" in capsys.readouterr().err
    with pytest.raises(InvalidArgument, match="no experiment 'nope'"):
        import_runs(sqlite_uri, lakehouse.connect(root), experiments=["nope"])
