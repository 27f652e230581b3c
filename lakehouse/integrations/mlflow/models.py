"""MLflow 3 logged models, kept as append-only events in ``tracking/logged_models``.

A logged model (what ``mlflow.<flavor>.log_model`` and autologging create) has an id, a name, an artifact
location, a status (PENDING until its artifacts are written, then READY or FAILED), tags, params, and the runs
that output it. Models are created and changed rarely, by one process each, and carry random ids: plain Delta
appends (which never conflict) record them, committed before the call returns; the newest event wins on read.
The model files themselves live at the artifact location, like run artifacts.

Metrics logged with a ``model_id`` are points of the run that logged them (``tracking/metrics``) and, in
addition, ``model_metric`` events of that run in ``tracking/runs``: queued with the run's other events, so a
``log_batch`` still returns without a commit; :func:`metrics_of` folds them into each model's metrics.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from mlflow.entities import LoggedModel, LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import LOGGED_MODEL_EVENTS, append_rows
from lakehouse.config import Settings
from lakehouse.query import frames
from lakehouse.query.events import in_order

#: The kind of ``tracking/runs`` event holding one point logged with a ``model_id`` (JSON in ``value``).
MODEL_METRIC_EVENT = "model_metric"


@dataclass
class ModelState:
    """One logged model as its events left it (mutable only while :func:`fold` builds it)."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    model_type: str | None
    source_run_id: str | None
    created: datetime
    updated: datetime
    status: str = str(LoggedModelStatus.PENDING)
    deleted: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def entity(self, metrics: list[Metric] | None = None) -> LoggedModel:
        """The MLflow entity, with the model's ``metrics`` (None when it has none, as the SQL store gives)."""
        return LoggedModel(
            experiment_id=self.experiment_id,
            model_id=self.model_id,
            name=self.name,
            artifact_location=self.artifact_location,
            creation_timestamp=_ms(self.created),
            last_updated_timestamp=_ms(self.updated),
            model_type=self.model_type,
            source_run_id=self.source_run_id,
            status=LoggedModelStatus(self.status),
            tags=dict(self.tags),
            params=dict(self.params),
            metrics=metrics or None,
        )


@dataclass(frozen=True)
class Models:
    """Every logged model of a root, folded from its events, and the models each run output and used."""

    by_id: Mapping[str, ModelState]
    outputs: Mapping[str, list[LoggedModelOutput]]
    inputs: Mapping[str, list[LoggedModelInput]]


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def new_model_id() -> str:
    """``m-`` and 32 hex characters, as MLflow's SQL store makes them."""
    return f"m-{uuid.uuid4().hex}"


def record(layout: Layout, settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Append events (``at`` defaults to now) and commit them."""
    now = datetime.now(UTC)
    append_rows(layout.logged_models, LOGGED_MODEL_EVENTS, [{"at": now, **r} for r in rows], settings)


class _Folded:
    """A root's logged models and model metrics, each with the frame it was folded from (held by its
    ``RootState``: ``Lakehouse.forget()`` drops it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: tuple[pl.DataFrame, Models] | None = None
        self.metrics: tuple[pl.DataFrame, dict[str, list[Metric]]] | None = None


def read(layout: Layout) -> Models:
    """The logged models now (folded once per table version)."""
    events = frames.table_frame(layout.logged_models, LOGGED_MODEL_EVENTS)
    folded = layout.state.cache(_Folded)
    with folded.lock:
        if folded.models is not None and folded.models[0] is events:
            return folded.models[1]
    models = fold(events)
    with folded.lock:
        folded.models = (events, models)
    return models


def fold(events: pl.DataFrame) -> Models:
    """Fold ``tracking/logged_models`` events, oldest first: the newest status, tag and param win."""
    states: dict[str, ModelState] = {}
    outputs: dict[str, list[LoggedModelOutput]] = {}
    inputs: dict[str, list[LoggedModelInput]] = {}
    for row in events.sort("at", maintain_order=True).iter_rows(named=True):
        kind, model_id, at = row["kind"], row["model_id"], row["at"]
        if kind == "created":
            states[model_id] = ModelState(
                model_id=model_id,
                experiment_id=row["experiment_id"],
                name=row["name"],
                artifact_location=row["artifact_location"],
                model_type=row["model_type"],
                source_run_id=row["run_id"],
                created=at,
                updated=at,
            )
            continue
        state = states.get(model_id)
        if state is None:
            continue
        state.updated = max(state.updated, at)
        if kind == "status":
            state.status = row["value"]
        elif kind == "tag":
            state.tags[row["key"]] = row["value"]
        elif kind == "tag_deleted":
            state.tags.pop(row["key"], None)
        elif kind == "param":
            state.params[row["key"]] = row["value"]
        elif kind == "deleted":
            state.deleted = True
        elif kind == "output":
            output = LoggedModelOutput(model_id, int(row["step"] or 0))
            if output not in outputs.setdefault(row["run_id"], []):
                outputs[row["run_id"]].append(output)
        elif kind == "input":
            used = LoggedModelInput(model_id)
            if used not in inputs.setdefault(row["run_id"], []):
                inputs[row["run_id"]].append(used)
    return Models(by_id=states, outputs=outputs, inputs=inputs)


def metric_event(metric: Metric) -> str:
    """The ``value`` of a ``model_metric`` event (NaN and ±inf kept, as the run's own points keep them)."""
    return json.dumps(
        {
            "model_id": metric.model_id,
            "key": metric.key,
            "value": metric.value,
            "timestamp": metric.timestamp,
            "step": metric.step,
            "dataset_name": metric.dataset_name,
            "dataset_digest": metric.dataset_digest,
        }
    )


def metrics_of(layout: Layout, run_events: pl.DataFrame) -> dict[str, list[Metric]]:
    """Each model's metrics from the ``model_metric`` events of ``tracking/runs`` (folded once per version).

    A point is kept once per (model, key, timestamp, step, run), as the SQL store's key does.
    """
    folded = layout.state.cache(_Folded)
    with folded.lock:
        if folded.metrics is not None and folded.metrics[0] is run_events:
            return folded.metrics[1]
    rows = in_order(run_events.filter(pl.col("kind") == MODEL_METRIC_EVENT))
    found: dict[str, list[Metric]] = {}
    seen: set[tuple[str, str, int, int, str]] = set()
    for run_id, value in rows.select("run_id", "value").iter_rows():
        point = json.loads(value)
        ident = (point["model_id"], point["key"], point["timestamp"], point["step"], run_id)
        if ident in seen:
            continue
        seen.add(ident)
        found.setdefault(point["model_id"], []).append(
            Metric(
                key=point["key"],
                value=float(point["value"]),
                timestamp=point["timestamp"],
                step=point["step"],
                model_id=point["model_id"],
                dataset_name=point["dataset_name"],
                dataset_digest=point["dataset_digest"],
                run_id=run_id,
            )
        )
    with folded.lock:
        folded.metrics = (run_events, found)
    return found
