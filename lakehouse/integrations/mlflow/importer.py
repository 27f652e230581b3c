"""Copy an existing MLflow store (any tracking URI: sqlite, a file store, a server) into the lakehouse.

Experiments are matched by name (created when missing, with their tags, lifecycle and artifact location);
runs keep their MLflow ids. The import is idempotent and incremental: for a run already imported it adds only
what is new in the source (params, changed tags, a new status or name, metric points not present yet), so
running it again imports nothing twice, and running it after more training imports the rest. Points are
compared as MLflow does (key, step, timestamp, value); a point logged twice in the source is one point.

The logged models of the imported experiments come along too, keeping their ids (``models:/<id>`` and the runs
that output them stay valid): name, model type, source run, status, params, tags, metrics and the run outputs
linking them. Their artifact location is kept as the source has it; the files themselves are not copied.
Then the registered models, their versions, aliases and tags, and with ``artifacts=True`` the runs' files
(:mod:`lakehouse.integrations.mlflow.import_registry`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from mlflow import MlflowClient
from mlflow.entities import Experiment, LoggedModel, LoggedModelStatus, Metric, Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND, ErrorCode
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from lakehouse.errors import InvalidArgument
from lakehouse.integrations._import import ImportReport as BaseReport
from lakehouse.integrations._import import (
    Progress,
    as_metric_times,
    create_run,
    new_points,
    pairs,
    update_params_and_tags,
)
from lakehouse.integrations.mlflow import inputs as mlflow_inputs
from lakehouse.integrations.mlflow import models as logged_models
from lakehouse.integrations.mlflow.import_registry import import_artifacts, import_registry
from lakehouse.integrations.mlflow.view import INPUT_EVENT, Cache
from lakehouse.tracking import experiments as registry
from lakehouse.tracking import starting
from lakehouse.tracking.run import Run as Handle

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

_PAGE = 1000


@dataclass
class ImportReport(BaseReport):
    """What one MLflow import did: the runs' counts (see :class:`lakehouse.integrations._import.ImportReport`),
    and the experiments and logged models matched or created."""

    experiments_created: int = 0
    experiments_matched: int = 0
    models_created: int = 0
    models_updated: int = 0
    models_unchanged: int = 0
    model_versions_created: int = 0
    model_versions_matched: int = 0
    aliases_set: int = 0
    artifacts_copied: int = 0


def import_runs(
    source_uri: str,
    lakehouse: Lakehouse,
    *,
    experiments: list[str] | None = None,
    artifacts: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every experiment (or the ones named in ``experiments``) of the MLflow store at ``source_uri``,
    then its registered models; with ``artifacts`` also the imported runs' files (see
    :mod:`lakehouse.integrations.mlflow.import_registry`)."""
    started = time.perf_counter()
    client = _source(source_uri)
    report = ImportReport(source=source_uri)
    wanted = _experiments(client, experiments)
    runs_by_experiment = [(e, list(_runs(client, e.experiment_id))) for e in wanted]
    total = sum(len(r) for _, r in runs_by_experiment)
    cache = Cache(lakehouse.layout)
    writer = starting.writer_of(lakehouse)
    writer.flush()
    done = 0
    imported: list[str] = []
    homes: dict[str, str] = {}  # source experiment id -> lakehouse experiment id
    for experiment, runs in runs_by_experiment:
        target = _experiment(lakehouse, experiment, report)
        key = target.key
        homes[experiment.experiment_id] = target.id
        present = cache.snapshot()
        for run in runs:
            _run(client, lakehouse, key, run, present, report)
            imported.append(run.info.run_id)
            done += 1
            if progress is not None:
                progress(done, total)
        writer.flush()
    # After the runs: a model's metrics and outputs are events of runs that must be in the lakehouse by now.
    source_runs = [run for _, runs in runs_by_experiment for run in runs]
    _import_models(client, lakehouse, cache, homes, source_runs, report)
    writer.flush()
    import_registry(client, lakehouse, report)
    if artifacts:
        import_artifacts(client, lakehouse, imported, report)
    report.seconds = round(time.perf_counter() - started, 3)
    report.run_ids = tuple(imported)
    return report


def _source(uri: str) -> MlflowClient:
    check_source(uri)
    return MlflowClient(tracking_uri=uri)


def check_source(uri: str) -> None:
    """Refuse what cannot be an MLflow store to import from, before anything is opened or created."""
    if not isinstance(uri, str) or not uri:
        msg = (
            f"--from needs an MLflow tracking URI (sqlite:///mlflow.db, file:///mlruns, http://host:5000), got {uri!r}"
        )
        raise InvalidArgument(msg)
    if uri.startswith("lakehouse:"):
        msg = f"{uri!r} is a lakehouse already; import from another MLflow store"
        raise InvalidArgument(msg)
    _require_local_source(uri)


def _require_local_source(uri: str) -> None:
    """Refuse a sqlite database or file store that does not exist: MLflow would create an empty one (folders
    and all) and the import would report success at copying nothing."""
    from urllib.parse import urlparse

    from mlflow.utils.file_utils import local_file_uri_to_path

    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        from sqlalchemy.engine import make_url

        database = make_url(uri).database
        path = Path(database) if database and database != ":memory:" else None
        if path is not None and path.is_dir():
            msg = f"the MLflow store {uri!r} names a folder, {str(path)!r}; a sqlite store is a database file"
            raise InvalidArgument(msg)
        if path is None or not path.is_file():
            msg = f"the MLflow store {uri!r} does not exist: no database file {str(path or database)!r}"
            raise InvalidArgument(msg)
    elif scheme in ("", "file"):
        path = Path(local_file_uri_to_path(uri))
        if path.is_file():
            msg = f"the MLflow store {uri!r} names a file, {str(path)!r}; a file store is a folder (mlruns)"
            raise InvalidArgument(msg)
        if not path.is_dir():
            msg = f"the MLflow store {uri!r} does not exist: no folder {str(path)!r}"
            raise InvalidArgument(msg)


def _experiments(client: MlflowClient, names: list[str] | None) -> list[Experiment]:
    found: list[Experiment] = []
    token = None
    try:
        while True:
            page = client.search_experiments(view_type=ViewType.ALL, max_results=_PAGE, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                break
    except MlflowException as e:
        msg = f"cannot read the MLflow store: {e.message}"
        raise InvalidArgument(msg) from e
    if names is not None:
        known = {e.name for e in found}
        missing = [n for n in names if n not in known]
        if missing:
            msg = f"the MLflow store has no experiment {missing[0]!r}; it has {sorted(known)[:10]}"
            raise InvalidArgument(msg)
        found = [e for e in found if e.name in names]
    return sorted(found, key=lambda e: (e.creation_time or 0, e.experiment_id))


def _runs(client: MlflowClient, experiment_id: str) -> Iterator[Run]:
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            run_view_type=ViewType.ALL,
            max_results=_PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _experiment(lakehouse: Lakehouse, source: Experiment, report: ImportReport) -> registry.Experiment:
    """The lakehouse experiment of ``source`` (created or updated as needed); runs record its ``key``."""
    layout, settings, actor = lakehouse.layout, lakehouse.settings, lakehouse.actor
    state = registry.adopt(layout, settings, [], actor=actor)
    target = state.by_name(source.name)
    if target is None:
        created_at = datetime.fromtimestamp(source.creation_time / 1000, tz=UTC) if source.creation_time else None
        location = source.artifact_location or None
        target = registry.create(
            layout,
            settings,
            name=source.name,
            actor=actor,
            artifact_location=(lambda _id: location) if location else None,
            tags=dict(source.tags),
            created_at=created_at,
        )
        report.experiments_created += 1
    else:
        report.experiments_matched += 1
        changed = {k: v for k, v in source.tags.items() if target.tags.get(k) != v}
        if changed:
            registry.set_tags(layout, settings, target.id, changed, actor=actor)
    if source.lifecycle_stage != target.lifecycle:
        registry.set_lifecycle(layout, settings, target.id, source.lifecycle_stage, actor=actor)  # type: ignore[arg-type]
    return target


def _run(client: MlflowClient, lakehouse: Lakehouse, key: str, source: Run, present: Any, report: ImportReport) -> None:
    info = source.info
    run_id = info.run_id
    tags = {k: v for k, v in source.data.tags.items() if k != MLFLOW_RUN_NAME}
    params = dict(source.data.params)
    base = present.runs.base.filter(pl.col("run_id") == run_id)
    writer = starting.writer_of(lakehouse)
    changed = False
    if base.height == 0:
        handle = create_run(
            lakehouse,
            report,
            experiment=key,
            run_id=run_id,
            name=info.run_name or None,
            start_time=_time(info.start_time),
            params=params,
            tags=tags,
            points=pl.DataFrame(),
            environment={"user": info.user_id or "", "source": "mlflow-import"},
        )
        current: dict[str, Any] = {"status": "RUNNING", "end_time": None, "lifecycle": "active", "name": info.run_name}
        have_params: dict[str, str] = {}
        have_tags: dict[str, str] = {}
        inputs_present: set[str] = set()
    else:
        handle = Handle(lakehouse, writer, run_id, name=None, experiment=key)
        current = base.row(0, named=True)
        have_params = pairs(present.runs.params, run_id)
        have_tags = pairs(present.runs.tags, run_id)
        inputs_present = set(present.runs.inputs.filter(pl.col("run_id") == run_id).get_column("value").to_list())
        changed = update_params_and_tags(
            handle, params, tags, have_params=have_params, have_tags=have_tags, report=report
        )
        if info.run_name and info.run_name != current["name"]:
            handle.rename(info.run_name)
            changed = True
    if info.status != current["status"] or (info.end_time is not None and info.end_time != current["end_time"]):
        at = _time(info.end_time) if info.end_time is not None else datetime.now(UTC)
        writer.add_event("runs", {"run_id": run_id, "kind": "status", "at": at, "value": info.status})
        changed = True
    if info.lifecycle_stage != current["lifecycle"]:
        writer.add_event(
            "runs", {"run_id": run_id, "kind": "lifecycle", "at": datetime.now(UTC), "value": info.lifecycle_stage}
        )
        changed = True
    for item in source.inputs.dataset_inputs if source.inputs else []:
        text = mlflow_inputs.to_json(item)
        if text not in inputs_present:
            writer.add_event("runs", {"run_id": run_id, "kind": INPUT_EVENT, "at": datetime.now(UTC), "value": text})
            changed = True
    new_points = _points(client, lakehouse, run_id, list(source.data.metrics), report)
    if new_points.height:
        handle.log_frame(new_points)
        changed = True
    if base.height:
        if changed:
            report.runs_updated += 1
        else:
            report.runs_unchanged += 1
    writer.ensure_thread()


def _points(
    client: MlflowClient, lakehouse: Lakehouse, run_id: str, keys: list[str], report: ImportReport
) -> pl.DataFrame:
    """The source points of ``run_id`` not in the lakehouse yet, as a frame for ``run.log_frame``."""
    frames = []
    for key in sorted(keys):
        points = client.get_metric_history(run_id, key)
        if not points:
            continue
        frames.append(
            pl.DataFrame(
                {
                    "key": [key] * len(points),
                    "value": [float(m.value) for m in points],
                    "step": [int(m.step) for m in points],
                    "timestamp": [int(m.timestamp) for m in points],
                },
                schema={"key": pl.String, "value": pl.Float64, "step": pl.Int64, "timestamp": pl.Int64},
            )
        )
    if not frames:
        return pl.DataFrame()
    new, present = new_points(lakehouse.layout, run_id, as_metric_times(pl.concat(frames)))
    report.points += new.height
    report.points_present += present
    return new


def _import_models(
    client: MlflowClient,
    lakehouse: Lakehouse,
    cache: Cache,
    homes: dict[str, str],
    runs: list[Run],
    report: ImportReport,
) -> None:
    """Bring over the logged models of the experiments in ``homes``: new ones whole, known ones their changes.

    Model events are committed at once (as the store commits them); metric events are queued on the runs'
    writer, which the caller flushes.
    """
    present = logged_models.read(lakehouse.layout)
    have_metrics = logged_models.metrics_of(lakehouse.layout, cache.events())
    known_runs = set(cache.snapshot().runs.base.get_column("run_id").to_list())
    outputs = _outputs(runs, present)
    writer = starting.writer_of(lakehouse)
    rows: list[dict[str, Any]] = []
    for source_id, target_id in homes.items():
        for model in _logged_models(client, source_id):
            have = present.by_id.get(model.model_id)
            new_rows = _model_rows(model, target_id, have, outputs.get(model.model_id, []))
            new_metrics = _new_metrics(model, have_metrics.get(model.model_id, []), known_runs)
            for metric in new_metrics:
                value = logged_models.metric_event(metric)
                event = {"run_id": metric.run_id, "kind": logged_models.MODEL_METRIC_EVENT, "value": value}
                writer.add_event("runs", {**event, "at": datetime.now(UTC)})
            rows += new_rows
            if have is None:
                report.models_created += 1
            elif new_rows or new_metrics:
                report.models_updated += 1
            else:
                report.models_unchanged += 1
    if rows:
        logged_models.record(lakehouse.layout, lakehouse.settings, rows)


def _logged_models(client: MlflowClient, experiment_id: str) -> Iterator[LoggedModel]:
    """The logged models of a source experiment (none from a server older than MLflow 3, which has none)."""
    token = None
    while True:
        try:
            page = client.search_logged_models([experiment_id], page_token=token)
        except MlflowException as e:
            if e.error_code != ErrorCode.Name(ENDPOINT_NOT_FOUND):
                raise
            return
        yield from page
        token = page.token
        if not token:
            return


def _outputs(runs: list[Run], present: logged_models.Models) -> dict[str, list[tuple[str, int]]]:
    """The source runs' model outputs the lakehouse lacks, by model id: (run id, step)."""
    found: dict[str, list[tuple[str, int]]] = {}
    for run in runs:
        run_id = run.info.run_id
        have = {(o.model_id, o.step) for o in present.outputs.get(run_id, [])}
        for output in run.outputs.model_outputs if run.outputs else []:
            if (output.model_id, output.step) not in have:
                found.setdefault(output.model_id, []).append((run_id, int(output.step)))
    return found


def _model_rows(
    source: LoggedModel, experiment_id: str, have: logged_models.ModelState | None, outputs: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """The ``tracking/logged_models`` events that make the lakehouse's copy of ``source`` what the source has.

    A new model's events carry the source's times, so it reads back created and last updated when the source
    says. A change to a known model is stamped with the source's update time when that is newer than the copy,
    else now (the source does not move it for every change, and the newest event must win on read).
    """
    model_id = source.model_id
    created = _time(source.creation_timestamp) or datetime.now(UTC)
    updated = max(_time(source.last_updated_timestamp) or created, created)
    rows: list[dict[str, Any]] = []
    if have is None:
        rows.append(
            {
                "model_id": model_id,
                "kind": "created",
                "at": created,
                "experiment_id": experiment_id,
                "name": source.name,
                "artifact_location": source.artifact_location,
                "model_type": source.model_type,
                "run_id": source.source_run_id,
            }
        )
        status, tags, params = str(LoggedModelStatus.PENDING), {}, {}
        # A microsecond after ``created`` (the same millisecond): a model's events never sort before it.
        at = created + timedelta(microseconds=1)
        status_at = max(updated, at)
    else:
        status, tags, params = have.status, have.tags, have.params
        at = status_at = updated if updated > have.updated else datetime.now(UTC)
    base = {"model_id": model_id, "at": at}
    rows += [{**base, "kind": "param", "key": k, "value": v} for k, v in source.params.items() if params.get(k) != v]
    rows += [{**base, "kind": "tag", "key": k, "value": v} for k, v in source.tags.items() if tags.get(k) != v]
    rows += [{**base, "kind": "output", "run_id": run_id, "step": step} for run_id, step in outputs]
    if str(source.status) != status:
        rows.append({"model_id": model_id, "kind": "status", "at": status_at, "value": str(source.status)})
    return rows


def _new_metrics(source: LoggedModel, have: list[Metric], known_runs: set[str]) -> list[Metric]:
    """The source model's metric points the lakehouse lacks, of runs it has.

    A point is one per (key, timestamp, step, run), as the SQL store and :func:`models.metrics_of` key it.
    """
    seen = {(m.key, m.timestamp, m.step, m.run_id) for m in have}
    new: list[Metric] = []
    for m in source.metrics or []:
        ident = (m.key, m.timestamp, m.step, m.run_id)
        if m.run_id not in known_runs or ident in seen:
            continue
        seen.add(ident)
        # A store may leave the point's model id empty (it is implied by the model): the event needs it.
        new.append(Metric.from_dictionary({**m.to_dictionary(), "model_id": source.model_id}))
    return new


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
