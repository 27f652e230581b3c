"""Fixtures for the MLflow integration: real MLflow clients on a lakehouse root and on a sqlite store."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Experiment, Metric, Run
from mlflow.exceptions import MlflowException

from lakehouse.integrations.mlflow import uri_for

_SQL_FLOAT_MAX = 1.7976931348623157e308  # MLflow's SQL store keeps ±inf as ±max float


@pytest.fixture(autouse=True)
def _fresh_mlflow_globals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow's fluent API keeps the active experiment and tracking URI in module globals: reset them."""
    import mlflow.tracking.fluent as fluent

    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    yield
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent._active_experiment_id = None
    mlflow.set_tracking_uri(None)


@pytest.fixture
def lakehouse_uri(tmp_path: Path) -> str:
    return uri_for(tmp_path / "lh")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQL store, migrated once (MLflow's schema migrations take seconds per database)."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def sqlite_uri(tmp_path: Path, _sqlite_template: Path) -> str:
    path = tmp_path / "mlflow.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clients(lakehouse_uri: str, sqlite_uri: str) -> Iterator[dict[str, MlflowClient]]:
    return {"sqlite": MlflowClient(sqlite_uri), "lakehouse": MlflowClient(lakehouse_uri)}


def number(value: float) -> float | str:
    """A metric value comparable across stores (SQL keeps ±inf as ±max float; NaN != NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if value == _SQL_FLOAT_MAX:
        return math.inf
    if value == -_SQL_FLOAT_MAX:
        return -math.inf
    return value


class Recorder:
    """Runs MLflow client calls and records store-independent outcomes (run ids shown as run names)."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.names: dict[str, str] = {}  # run id -> run name
        self.outcomes: list[tuple[str, Any]] = []

    def __call__(
        self,
        label: str,
        fn: Callable[..., Any],
        *args: Any,
        http_status: bool = False,
        message: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn``; record its result, or its error code (with ``http_status``: the HTTP status the MLflow
        server would answer with, where the stores pick different codes of the same status; with ``message``:
        also the error's message, run ids in it shown as run names)."""
        try:
            result = fn(*args, **kwargs)
        except MlflowException as e:
            outcome = ("error", e.get_http_status_code() if http_status else e.error_code)
            if message:
                outcome = (*outcome, self.named(e.message))
            self.outcomes.append((label, outcome))
            return None
        self.outcomes.append((label, self.plain(result)))
        return result

    def run(self, name: str, experiment_id: str, **kwargs: Any) -> str:
        run = self.client.create_run(experiment_id, run_name=name, **kwargs)
        self.names[run.info.run_id] = name
        return str(run.info.run_id)

    def named(self, text: str) -> str:
        """``text`` with every run id in it replaced by its run name."""
        for run_id, name in self.names.items():
            text = text.replace(run_id, f"<{name}>")
        return text

    def plain(self, value: Any) -> Any:
        if isinstance(value, Run):
            info = value.info
            return {
                "name": info.run_name,
                "status": info.status,
                "start": info.start_time,
                "end": info.end_time,
                "lifecycle": info.lifecycle_stage,
                "user": info.user_id,
                "params": dict(value.data.params),
                "tags": dict(value.data.tags.items()),
                "metrics": {k: number(v) for k, v in value.data.metrics.items()},
                "inputs": sorted(
                    (d.dataset.name, d.dataset.digest, d.dataset.source_type, tuple((t.key, t.value) for t in d.tags))
                    for d in (value.inputs.dataset_inputs if value.inputs else [])
                ),
            }
        if isinstance(value, Experiment):
            return {"name": value.name, "lifecycle": value.lifecycle_stage, "tags": dict(value.tags)}
        if isinstance(value, Metric):
            return (value.key, number(value.value), value.timestamp, value.step)
        if isinstance(value, list | tuple):
            return [self.plain(v) for v in value]
        if isinstance(value, str) and value in self.names:
            return self.names[value]
        return value


def differential(clients: dict[str, MlflowClient], scenario: Callable[[Recorder], None]) -> list[tuple[str, Any]]:
    """Play ``scenario`` against both stores; assert every recorded outcome is the same; return them."""
    results = {}
    for name, client in clients.items():
        recorder = Recorder(client)
        scenario(recorder)
        results[name] = recorder.outcomes
    sqlite, lakehouse = results["sqlite"], results["lakehouse"]
    assert [label for label, _ in lakehouse] == [label for label, _ in sqlite]
    for (label, expected), (_, got) in zip(sqlite, lakehouse, strict=True):
        assert got == expected, f"{label}: lakehouse {got!r} != sqlite {expected!r}"
    return sqlite
