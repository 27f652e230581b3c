"""A real ``mlflow server --backend-store-uri lakehouse:///...`` answers the REST calls the MLflow UI makes, from
the Delta tables, while its worker processes write at once, exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow import MlflowClient

import lakehouse
from lakehouse.integrations.mlflow import uri_for

pytestmark = pytest.mark.slow

T0 = 1_700_000_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running ``mlflow server`` process group."""

    def __init__(self, proc: subprocess.Popen[bytes], base: str, root: Path | str) -> None:
        self.proc, self.base, self.root = proc, base, root

    @classmethod
    def start(cls, root: Path | str, options: list[str], *, cwd: Path, workers: int) -> Server:
        """``mlflow server --backend-store-uri <root's lakehouse URI> <options>`` on a free port, once it answers.

        Its log goes to ``cwd/server.log``; the AWS_* and LAKEHOUSE_* variables of this process are inherited.
        """
        port = _free_port()
        command = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            uri_for(root),
            *options,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        env = {**os.environ, "LAKEHOUSE_FLUSH_INTERVAL": "0.2"}
        log_path = cwd / "server.log"
        with log_path.open("w") as log:
            # Its own session: the CLI starts uvicorn, which starts the workers; the whole group is stopped.
            proc = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        running = cls(proc, f"http://127.0.0.1:{port}", root)
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"{running.base}/health", timeout=2).status_code == 200:
                    return running
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                running.stop()
                pytest.fail(f"mlflow server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM to the group: uvicorn's workers finish, flush at exit, and exit)."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """An MLflow server with two worker processes on the lakehouse root ``tmp_path/lh``."""
    root = tmp_path / "lh"
    lh = lakehouse.connect(root)
    with lh.start_run(experiment="native", name="logged-natively", params={"lr": 0.1}) as run:
        for step in range(50):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    running = Server.start(root, ["--default-artifact-root", str(tmp_path / "artifacts")], cwd=tmp_path, workers=2)
    try:
        yield running
    finally:
        running.stop()


def _ajax(base: str, method: str, path: str, **kwargs: Any) -> Any:
    """A call as the UI makes it (``/ajax-api/...``); a fresh connection each time, so both workers serve."""
    response = requests.request(method, f"{base}/ajax-api{path}", timeout=30, **kwargs)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text[:500]}"
    return response.json()


def test_ui_calls_and_concurrent_workers(server: Server) -> None:
    base, root = server.base, server.root

    # What the UI asks for, answered from tables written by lh.start_run before the server started.
    experiments = _ajax(base, "POST", "/2.0/mlflow/experiments/search", json={"max_results": 25})["experiments"]
    by_name = {e["name"]: e["experiment_id"] for e in experiments}
    assert set(by_name) == {"Default", "native"}
    found = _ajax(
        base,
        "POST",
        "/2.0/mlflow/runs/search",
        json={"experiment_ids": [by_name["native"]], "max_results": 100, "order_by": ["attributes.start_time DESC"]},
    )["runs"]
    assert [r["info"]["run_name"] for r in found] == ["logged-natively"]
    run_id = found[0]["info"]["run_id"]
    assert found[0]["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert found[0]["data"]["metrics"][0]["key"] == "loss"
    history = _ajax(base, "GET", "/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"})
    assert [m["step"] for m in history["metrics"]] == list(range(50))
    sampled = _ajax(
        base,
        "GET",
        "/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": run_id, "metric_key": "loss", "max_results": 10},
    )["metrics"]
    steps = [m["step"] for m in sampled]
    assert len(steps) == 10
    assert steps[0] == 0
    assert steps[-1] == 49
    assert _ajax(base, "GET", "/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]["info"]["status"] == "FINISHED"
    assert _ajax(base, "GET", "/2.0/mlflow/experiments/get", params={"experiment_id": "0"})["experiment"]["name"] == (
        "Default"
    )
    models = _ajax(base, "POST", "/2.0/mlflow/logged-models/search", json={"experiment_ids": ["0"]})
    assert models.get("models", []) == []
    # What the store does not keep (traces) is a clear 501, not a 500.
    refused = requests.get(f"{base}/ajax-api/3.0/mlflow/traces/tr-0123", timeout=30)
    assert refused.status_code == 501
    assert "lakehouse tracking store" in refused.json()["message"]
    # A malformed experiment id is MLflow's own refusal: its code, its message, its HTTP status.
    bad = requests.get(f"{base}/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": "abc"}, timeout=30)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert bad.json()["message"] == "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."

    # Concurrent writes through the REST API (which worker serves a request is up to the OS; several processes
    # writing into one run at once are tested deterministically in test_store.py).
    client = MlflowClient(base)
    experiment_id = client.create_experiment("over-rest")
    rest_run = client.create_run(experiment_id, run_name="rest").info.run_id
    batches_per_thread = 10

    def send(thread: int) -> None:
        requests.post(
            f"{base}/api/2.0/mlflow/experiments/create", json={"name": f"thread-{thread}"}, timeout=30
        ).raise_for_status()
        for batch in range(batches_per_thread):
            start = (thread * batches_per_thread + batch) * 100
            metrics = [
                {"key": "loss", "value": float(s), "timestamp": T0 + s, "step": s} for s in range(start, start + 100)
            ]
            body = {"run_id": rest_run, "metrics": metrics}
            # A new connection per request, so any worker may take it.
            response = requests.post(f"{base}/api/2.0/mlflow/runs/log-batch", json=body, timeout=30)
            assert response.status_code == 200, response.text

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = 4 * batches_per_thread * 100
    deadline = time.monotonic() + 60
    while len(client.get_metric_history(rest_run, "loss")) < expected and time.monotonic() < deadline:
        time.sleep(0.3)  # another worker's points become visible within its flush interval
    points = client.get_metric_history(rest_run, "loss")
    assert sorted(m.step for m in points) == list(range(expected))
    names = {e.name for e in client.search_experiments()}
    assert {f"thread-{i}" for i in range(4)} <= names
    client.set_terminated(rest_run)

    # After the server stopped, the tables hold every point exactly once.
    server.stop()
    lh = lakehouse.connect(root)
    lh.recover()  # a worker that could not flush at exit left its points in the spool: committed here, once
    lh.forget()
    stored = lh.metrics(rest_run, "loss")
    assert stored.height == expected
    assert stored.get_column("step").n_unique() == expected
    assert lh.run(rest_run).status == "FINISHED"


def _api(base: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{base}/api/2.0/mlflow{path}", timeout=30, **kwargs)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text[:500]}"
    return response.json()


def test_the_registry_endpoints_answer_from_delta(server: Server) -> None:
    base, root = server.base, server.root
    lh = lakehouse.connect(root)
    (run_id,) = lh.runs().get_column("run_id").to_list()
    # Registered natively while the server runs: its next requests read the new table versions.
    lh.register_model("clf", run=run_id, path="model", description="baseline", tags={"team": "cv"})
    lh.register_model("clf", run=run_id, path="model-v2")
    lh.model("clf").set_alias("production", 1, reason="first release")
    lh.model("clf").set_description("digits")
    lh.model("clf").set_tag("team", "vision")

    found = _api(base, "GET", "/registered-models/search", params={"max_results": 10})["registered_models"]
    assert [m["name"] for m in found] == ["clf"]
    assert found[0]["description"] == "digits"
    assert found[0]["tags"] == [{"key": "team", "value": "vision"}]
    assert found[0]["aliases"] == [{"alias": "production", "version": "1"}]
    version = _api(base, "GET", "/model-versions/get", params={"name": "clf", "version": "2"})["model_version"]
    assert (version["version"], version["source"], version["run_id"]) == ("2", f"runs:/{run_id}/model-v2", run_id)
    by_alias = _api(base, "GET", "/registered-models/alias", params={"name": "clf", "alias": "production"})
    assert by_alias["model_version"]["version"] == "1"
    assert by_alias["model_version"]["description"] == "baseline"
    assert by_alias["model_version"]["tags"] == [{"key": "team", "value": "cv"}]
    assert by_alias["model_version"]["aliases"] == ["production"]

    # A move through REST lands in the Delta table: the lakehouse sees it and its history says who moved it.
    _api(base, "POST", "/registered-models/alias", json={"name": "clf", "alias": "production", "version": "2"})
    assert lh.model_version("clf:production").version == 2
    assert [c.change for c in lh.model("clf").alias_history("production")] == ["set", "moved"]
    # A missing version is MLflow's own error code.
    missing = requests.get(
        f"{base}/api/2.0/mlflow/model-versions/get", params={"name": "clf", "version": "9"}, timeout=30
    )
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_server_proxying_artifacts_to_a_lakehouse_destination_stores_them_in_the_object_store(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lh"
    lakehouse.connect(root)
    running = Server.start(root, ["--artifacts-destination", uri_for(root)], cwd=tmp_path, workers=1)
    try:
        client = MlflowClient(running.base)
        experiment = client.create_experiment("proxied")
        assert client.get_experiment(experiment).artifact_location.startswith("mlflow-artifacts:")
        run_id = client.create_run(experiment).info.run_id
        weights = tmp_path / "weights.bin"
        weights.write_bytes(os.urandom(3000))
        model = tmp_path / "model"
        model.mkdir()
        (model / "MLmodel").write_text("flavors: {}\n")
        client.log_artifact(run_id, str(weights))
        client.log_artifacts(run_id, str(model), artifact_path="model")
        assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id)] == [("model", True), ("weights.bin", False)]
        assert [f.path for f in client.list_artifacts(run_id, "model")] == ["model/MLmodel"]
        fetched = client.download_artifacts(run_id, "weights.bin", str(tmp_path / "fetched"))
        assert Path(fetched).read_bytes() == weights.read_bytes()
        lh = lakehouse.connect(root)
        assert sorted(lh.artifacts(run_id)["path"].to_list()) == ["model/MLmodel", "weights.bin"]
        objects = sorted(p.name for p in (root / "_objects").rglob("*") if p.is_file())
        # A path above a run's artifacts is refused, and nothing is written.
        stray = requests.put(
            f"{running.base}/api/2.0/mlflow-artifacts/artifacts/{experiment}/stray.bin", data=b"x", timeout=30
        )
        assert stray.status_code == 400, stray.text
        assert sorted(p.name for p in (root / "_objects").rglob("*") if p.is_file()) == objects
        assert not (tmp_path / "mlartifacts").exists()  # nothing went to the server's default local folder
    finally:
        running.stop()
