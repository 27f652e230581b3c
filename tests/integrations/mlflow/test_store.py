"""The lakehouse tracking store beyond MLflow parity: shared tables with ``lh.start_run``, the write path,
dataset inputs as lineage, refusals that change nothing, and what is not supported."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

import lakehouse
from lakehouse import Location, storage
from lakehouse.errors import InvalidArgument, NotInstalled
from lakehouse.integrations.mlflow import dataset_input, root_from_uri, tracking_store, uri_for
from lakehouse.tracking.writer import get_writer

T0 = 1_700_000_000_000


def _writers_of(root: Path, run_id: str) -> set[str]:
    from lakehouse.catalog.tables import METRIC_SUMMARIES
    from lakehouse.query import frames

    summaries = frames.table_frame(lakehouse.connect(root).layout.metric_summaries, METRIC_SUMMARIES)
    return set(summaries.filter(pl.col("run_id") == run_id).get_column("writer").to_list())


def _versions(root: Path) -> dict[str, int | None]:
    lh = lakehouse.connect(root)
    tables = {**lh.layout.tracking_tables, "experiments": lh.layout.experiments}
    return {name: storage.latest_version(p) if storage.exists(p) else None for name, p in tables.items()}


def test_runs_of_lh_start_run_show_in_mlflow(root: Path) -> None:
    lh = lakehouse.connect(root)
    lh.dataset("mnist").write(pl.DataFrame({"x": [1, 2, 3]}))
    with lh.start_run(experiment="mnist", name="native", params={"lr": 0.1}, tags={"k": "v"}, inputs=["mnist"]) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    with lh.start_run(name="in-default") as other:
        other.log({"acc": 0.5})

    client = MlflowClient(uri_for(root))
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in found] == [run.id]
    mlrun = found[0]
    assert mlrun.info.run_name == "native"
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.params == {"lr": "0.1"}
    assert mlrun.data.tags["k"] == "v"
    assert mlrun.data.metrics == {"loss": pytest.approx(0.2)}
    assert [m.value for m in client.get_metric_history(run.id, "loss")] == pytest.approx([1, 0.5, 1 / 3, 0.25, 0.2])
    (used,) = mlrun.inputs.dataset_inputs
    assert used.dataset.name == "mnist"
    assert used.dataset.source_type == "delta_table"
    assert '"delta_table_version": 0' in used.dataset.source
    # lh.start_run's default experiment is MLflow's Default experiment, id "0".
    assert [r.info.run_id for r in client.search_runs(["0"])] == [other.id]


def test_mlflow_runs_show_in_lakehouse(root: Path) -> None:
    mlflow.set_tracking_uri(uri_for(root))
    try:
        mlflow.set_experiment("from-mlflow")
        with mlflow.start_run(run_name="ml") as active:
            mlflow.log_params({"depth": 4})
            mlflow.log_metrics({"loss": 0.5, "acc": 0.9}, step=3)
            mlflow.set_tag("stage", "dev")
    finally:
        mlflow.set_tracking_uri(None)
    lh = lakehouse.connect(root)  # no flush: ending the run committed it
    info = lh.run(active.info.run_id)
    assert info.experiment == "from-mlflow"
    assert info.name == "ml"
    assert info.status == "FINISHED"
    assert info.params == {"depth": "4"}
    assert info.tags["stage"] == "dev"
    assert info.metrics["acc"].last == 0.9
    assert info.metrics["loss"].last_step == 3
    frame = lh.runs(experiment="from-mlflow")
    assert frame.get_column("run_id").to_list() == [active.info.run_id]


def test_log_batch_returns_without_a_commit_and_reads_see_it(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_FLUSH_INTERVAL", "3600")  # no background commit during the test
    client = MlflowClient(uri_for(root))
    run_id = client.create_run("0").info.run_id
    client.get_run(run_id)  # commits the run's creation
    before = _versions(root)
    client.log_batch(
        run_id,
        metrics=[Metric("loss", float(i), T0 + i, i) for i in range(1000)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x")],
    )
    for i in range(50):
        client.log_metric(run_id, "single", float(i), timestamp=T0, step=i)
    assert _versions(root) == before, "log_batch / log_metric must not commit on the caller's path"
    writer = get_writer(lakehouse.connect(root).layout, lakehouse.connect(root).settings)
    assert writer.buffered_points() == 1050
    # Read-your-writes: the next read in this process sees everything (it flushes what is pending first).
    assert len(client.get_metric_history(run_id, "loss")) == 1000
    run = client.get_run(run_id)
    assert run.data.params == {"p": "1"}
    assert run.data.metrics["single"] == 49.0
    after = _versions(root)
    assert after["metrics"] is not None
    assert after["metrics"] > (before["metrics"] or -1)


def test_refused_batches_change_nothing(root: Path) -> None:
    client = MlflowClient(uri_for(root))
    store = client._tracking_client.store
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_metric(run_id, "loss", 1.0, timestamp=T0, step=0)
    lh = lakehouse.connect(root)
    lh.flush()
    before_versions = _versions(root)
    before_run = client.get_run(run_id)
    refusals = [
        {"metrics": [Metric("ok", 1.0, T0, 1)], "params": [Param("lr", "0.2")], "tags": []},  # param changed
        {"metrics": [Metric("ok", 1.0, T0, 1), Metric("bad key ", 1.0, T0, 1)], "params": [], "tags": []},
        {"metrics": [Metric("ok", 1.0, T0, 1)], "params": [], "tags": [RunTag("t", None)]},  # type: ignore[arg-type]
        {"metrics": [Metric("ok", 1.0, T0, i) for i in range(1001)], "params": [], "tags": []},
        {"metrics": [Metric("ok", 1.0, -5, 1)], "params": [], "tags": []},
    ]
    for batch in refusals:
        with pytest.raises(MlflowException) as refused:
            store.log_batch(run_id, **batch)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    lh.flush()
    assert _versions(root) == before_versions
    after_run = client.get_run(run_id)
    assert after_run.data.to_dictionary() == before_run.data.to_dictionary()


def test_dataset_inputs_are_lineage_and_round_trip(root: Path) -> None:
    import pandas as pd

    lh = lakehouse.connect(root)
    lh.dataset("mnist-train").write(pl.DataFrame({"x": [1, 2]}))
    lh.dataset("mnist-train").write(pl.DataFrame({"x": [3]}), mode="overwrite")
    mlflow.set_tracking_uri(uri_for(root))
    try:
        with mlflow.start_run() as active:
            mlflow.log_input(dataset_input(lh, "mnist-train:v0"), context="training")
            frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
            mlflow.log_input(mlflow.data.from_pandas(frame, name="side", source="s3://bucket/side.csv"), context="eval")
    finally:
        mlflow.set_tracking_uri(None)
    client = MlflowClient(uri_for(root))
    inputs = {i.dataset.name: i for i in client.get_run(active.info.run_id).inputs.dataset_inputs}
    assert set(inputs) == {"mnist-train", "side"}
    delta = inputs["mnist-train"]
    assert delta.dataset.source_type == "delta_table"
    assert str(lh.layout.dataset("mnist-train")) in delta.dataset.source
    assert '"delta_table_version": 0' in delta.dataset.source
    assert [(t.key, t.value) for t in delta.tags] == [("mlflow.data.context", "training")]
    assert inputs["side"].dataset.source_type == "http" or "side.csv" in inputs["side"].dataset.source
    # The lakehouse version is lineage: lh.lineage finds the run, and vacuum would keep that version.
    assert lh.lineage("mnist-train:v0").get_column("run_id").to_list() == [active.info.run_id]
    assert lh.lineage("mnist-train:v1").height == 0
    lh.dataset("mnist-train").vacuum(retention_hours=0)  # the version the run used stays readable
    assert lh.read("mnist-train:v0").get_column("x").to_list() == [1, 2]
    hits = client.search_runs(["0"], "dataset.name = 'mnist-train' AND dataset.context = 'training'")
    assert [r.info.run_id for r in hits] == [active.info.run_id]
    summaries = client._tracking_client.store._search_datasets(["0"])  # the UI's dataset filter
    assert {(s.name, s.context) for s in summaries} == {("mnist-train", "training"), ("side", "eval")}


def test_unsupported_features_raise_not_implemented(root: Path) -> None:
    store = tracking_store(uri_for(root))
    with pytest.raises(MlflowException) as refused:
        store.get_trace_info("tr-1")
    assert refused.value.error_code == "NOT_IMPLEMENTED"
    assert "lakehouse tracking store" in refused.value.message
    with pytest.raises(MlflowException) as refused:
        store.link_traces_to_run(["t"], "r")
    assert refused.value.get_http_status_code() == 501
    with pytest.raises(MlflowException, match="Scorers"):
        store.list_scorers("0")
    # Features AbstractStore leaves to NotImplementedError (a 500 from the server) are refused clearly too.
    with pytest.raises(MlflowException, match="list_gateway_endpoints is not supported") as refused:
        store.list_gateway_endpoints()
    assert refused.value.error_code == "NOT_IMPLEMENTED"
    assert store.search_traces(experiment_ids=["0"]) == ([], None)
    assert list(store.search_datasets(experiment_ids=["0"])) == []


def test_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert root_from_uri("lakehouse:rel/lh") == Location.of(tmp_path / "rel" / "lh")
    assert root_from_uri(uri_for(tmp_path / "abs")) == Location.of(tmp_path / "abs")
    assert root_from_uri("lakehouse:") is None
    with pytest.raises(InvalidArgument, match="host"):
        root_from_uri("lakehouse://elsewhere/x")
    with pytest.raises(MlflowException, match="host"):
        tracking_store("lakehouse://elsewhere/x")
    client = MlflowClient("lakehouse:rel/lh")
    client.create_experiment("relative")
    assert (tmp_path / "rel" / "lh" / "tracking" / "experiments" / "_delta_log").is_dir()


def test_missing_mlflow_names_the_extra(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(NotInstalled, match=r"lakehouse\[mlflow\]"):
        tracking_store(uri_for(root))


def _worker(uri: str, run_id: str, worker: int, batches: int) -> None:
    """A process logging through its own MLflow client (as one of the MLflow server's workers does)."""
    client = MlflowClient(uri)
    client.create_experiment(f"worker-{worker}")
    for b in range(batches):
        steps = range((worker * batches + b) * 100, (worker * batches + b + 1) * 100)
        client.log_batch(run_id, metrics=[Metric("loss", float(s), T0 + s, s) for s in steps])
    # No flush here: the process exit does it (the writer's atexit handler).


def test_processes_write_at_once_exactly_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several processes, each with its own writer id, log into one run and create experiments at once."""
    monkeypatch.setenv("LAKEHOUSE_FLUSH_INTERVAL", "0.05")  # many small concurrent commits
    client = MlflowClient(uri_for(root))
    run_id = client.create_run("0").info.run_id
    client.get_run(run_id)  # committed: the other processes find it (the MLflow server commits at creation)
    workers, batches = 2, 15
    # Spawned, as uvicorn starts the MLflow server's workers (delta-rs cannot be used across a fork).
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker, args=(uri_for(root), run_id, w, batches)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers
    steps = sorted(m.step for m in client.get_metric_history(run_id, "loss"))
    assert steps == list(range(workers * batches * 100))  # nothing lost, nothing twice
    lh = lakehouse.connect(root)
    assert lh.metrics(run_id).height == workers * batches * 100
    ids = {client.get_experiment_by_name(f"worker-{w}").experiment_id for w in range(workers)}
    assert len(ids) == workers
    writers = _writers_of(root, run_id)
    assert len(writers) == workers  # one writer id per process


def test_maintain_compacts_experiments_and_logged_models(root: Path) -> None:
    from lakehouse.maintenance import Steps, maintain_embedded
    from tests.integrations.mlflow.registry_records import assert_unchanged, record

    recorded = record(root)
    report = maintain_embedded(lakehouse.connect(root), steps=Steps(vacuum=True, retention_hours=0))
    by_table = {t.table: t for t in report.tables}
    for name in ("tracking/experiments", "tracking/logged_models"):
        done = by_table[name]
        assert done.files_before > 1
        assert done.files_after == 1
        assert done.compacted
        assert done.checkpointed
        assert done.vacuumed_files == done.files_before
    assert_unchanged(root, recorded)
