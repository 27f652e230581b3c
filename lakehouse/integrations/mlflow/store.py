"""The MLflow tracking store on lakehouse tables: ``mlflow.set_tracking_uri("lakehouse:///path/to/root")``.

Writes go where ``lh.start_run`` writes: run events, params, tags and metric points through the process's
background writer (:mod:`lakehouse.tracking.writer`), so ``log_batch`` validates, appends to a buffer and
returns; the writer spools and commits with exactly-once app transactions. Experiments live in the experiment
registry (:mod:`lakehouse.tracking.experiments`), committed synchronously.

Read-your-writes: before any read that may concern data this process logged, the store flushes the writer
when (and only when) something is pending. Reads then see exactly the Delta tables, one code path for every
reader; the cost, one commit, is paid by the first read after a burst of writes, never by the writes.

Semantics follow MLflow's SQL store (the differential tests compare the two call by call); the differences
that remain are listed in docs/MLFLOW.md.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from mlflow.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from mlflow.entities.dataset_summary import _DatasetSummary
from mlflow.entities.metric import MetricWithRunId
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, INVALID_STATE, RESOURCE_ALREADY_EXISTS
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import (
    SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_THRESHOLD,
)
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_LOGGED_MODELS, MLFLOW_RUN_NAME, MLFLOW_SOURCE_NAME
from mlflow.utils.name_utils import _generate_random_name
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchLoggedModelsUtils, SearchUtils
from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local
from mlflow.utils.validation import _parse_experiment_id as _experiment_number
from mlflow.utils.validation import _parse_experiment_ids as _experiment_numbers
from mlflow.utils.validation import (
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
    _validate_logged_model_name,
    _validate_metric,
    _validate_param,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag,
    _validate_tag_value,
    missing_value,
)

import lakehouse
from lakehouse.errors import ExperimentExists
from lakehouse.integrations.mlflow import entities, history, search
from lakehouse.integrations.mlflow import inputs as mlflow_inputs
from lakehouse.integrations.mlflow import models as logged_models
from lakehouse.integrations.mlflow._errors import invalid, not_found, translated, unsupported
from lakehouse.integrations.mlflow._server import flush_on_uvicorn_shutdown
from lakehouse.integrations.mlflow.artifacts import artifact_root
from lakehouse.integrations.mlflow.uri import connect_root
from lakehouse.integrations.mlflow.view import INPUT_EVENT, Cache, RunsFrames
from lakehouse.query.events import END_GIVEN, END_KEPT, in_order
from lakehouse.tracking import experiments as registry
from lakehouse.tracking import starting
from lakehouse.tracking.run import Run as Handle
from lakehouse.tracking.run import check_tags
from lakehouse.tracking.validate import check_key, metric_value, step_value, timestamp_micros
from lakehouse.tracking.writer import Writer, active_writers

#: Set by ``mlflow server`` for its worker processes (mlflow.server.constants.BACKEND_STORE_URI_ENV_VAR; not
#: imported: ``mlflow.server`` pulls in the whole web stack).
SERVER_ENV = "_MLFLOW_SERVER_FILE_STORE"

#: How long this process trusts what it knows of a run's lifecycle before looking at the table again (a run
#: deleted by another process is refused here within this many seconds).
LIFECYCLE_TTL_S = 2.0
Point = tuple[str, int, int, float]  # key, step, timestamp (ms), value
#: Points remembered per run to drop exact repeats (MLflow stores a point once; linking metrics to a logged model
#: logs the last step's points again).
RECENT_POINTS = 4096
_MAX_MS = 253_402_300_799_000  # 9999-12-31, the latest time a timestamp[us] column holds here

#: Lifecycle stages each MLflow view type shows.
_STAGES = {ViewType.ACTIVE_ONLY: {"active"}, ViewType.DELETED_ONLY: {"deleted"}, ViewType.ALL: {"active", "deleted"}}
#: Runs remembered per store (a long-running server touches many); the least recently checked are forgotten.
MAX_KNOWN_RUNS = 10_000


@dataclass
class _Known:
    """What this process knows of a run it logs into: enough to answer ``update_run_info`` without a read."""

    handle: Handle
    info: RunInfo
    lifecycle_at: float  # µs since the epoch of the lifecycle this process last decided (0: read from the table)
    checked: float  # time.monotonic() of the last look at the table
    recent: dict[Point, None] = field(default_factory=dict)  # the last points logged, oldest first
    datasets: set[tuple[str, str]] | None = None  # (name, digest) of the dataset inputs logged (None: not read)

    def remember(self, points: list[Point]) -> None:
        recent = self.recent
        recent.update(dict.fromkeys(points))
        while len(recent) > RECENT_POINTS:
            try:
                del recent[next(iter(recent))]
            except (KeyError, StopIteration, RuntimeError):  # another thread trimmed it meanwhile
                break


class LakehouseStore(AbstractStore):
    """MLflow ``AbstractStore`` over a lakehouse root. Built by MLflow from a ``lakehouse:`` URI."""

    def __init__(self, store_uri: str, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.lakehouse = lakehouse.connect(connect_root(store_uri))
        self.layout = self.lakehouse.layout
        # New experiments keep their files in the lakehouse object store (integrations.mlflow.artifacts).
        self.artifact_root_uri = artifact_uri or artifact_root(str(self.layout.root))
        self._cache = Cache(self.layout)
        self._versions = mlflow_inputs.VersionInputs(self.lakehouse)
        self._known: dict[str, _Known] = {}
        self._lock = threading.RLock()
        self._open_writer: Writer | None = None
        self._adopted_events: pl.DataFrame | None = None
        self._unnamed: tuple[pl.DataFrame, frozenset[str]] | None = None  # events read, runs without name tag
        # Inside the MLflow server, the next request about a run may reach another worker process.
        self.serving = bool(os.environ.get(SERVER_ENV))
        registry.adopt(self.layout, self.lakehouse.settings, [], actor=self._actor, artifact_location=self._location)
        flush_on_uvicorn_shutdown(_flush_writers)

    def __repr__(self) -> str:
        return f"LakehouseStore(root={str(self.layout.root)!r})"

    # --- plumbing ---------------------------------------------------------------------------------------

    @property
    def _actor(self) -> str:
        return self.lakehouse.actor

    @property
    def _settings(self) -> lakehouse.Settings:
        return self.lakehouse.settings

    def _location(self, experiment_id: str) -> str:
        return str(append_to_uri_path(self.artifact_root_uri, experiment_id))

    def _writer(self) -> Writer:
        # Asked on every logged batch: the root's writer is kept until it is closed (looking it up again, with
        # the machine's name for its spool folder, cost a fifth of a single log_metric).
        writer = self._open_writer
        if writer is None or writer.closed:
            writer = self._open_writer = starting.writer_of(self.lakehouse)
        return writer

    def _sync(self) -> None:
        """Commit what this process logged, if anything is pending, so the next read sees it."""
        writer = self._writer()
        if writer.has_pending_work():
            writer.flush()

    def _registry(self) -> registry.FoldedExperiments:
        return registry.registry(self.layout)

    def _adopt_all(self) -> registry.FoldedExperiments:
        """Register the experiments runs name but the registry does not know yet (runs of ``lh.start_run``)."""
        events = self._cache.events()
        if events is self._adopted_events:
            return self._registry()
        keys = events.filter(pl.col("kind") == "created").get_column("experiment").unique().drop_nulls().to_list()
        found = registry.adopt(self.layout, self._settings, keys, actor=self._actor, artifact_location=self._location)
        self._adopted_events = events
        return found

    def _home(self, state: registry.FoldedExperiments, key: str) -> entities.Home:
        found = state.by_key(key)
        if found is None:
            state = registry.adopt(
                self.layout, self._settings, [key], actor=self._actor, artifact_location=self._location
            )
            found = state.by_key(key)
            assert found is not None
        return entities.Home(found.id, found.artifact_location)

    def _experiment(self, experiment_id: object, view_type: int = ViewType.ALL) -> registry.Experiment:
        # Ids are integers, as in MLflow's SQL store: "abc" is refused as MLflow refuses it, "01" is "1".
        wanted = str(_experiment_number(experiment_id)) if experiment_id else registry.DEFAULT_ID  # type: ignore[arg-type]
        found = self._registry().get(wanted)
        if found is None or found.lifecycle not in _STAGES[view_type]:
            msg = f"No Experiment with id={experiment_id} exists"
            raise not_found(msg)
        return found

    @staticmethod
    def _require_active_experiment(found: registry.Experiment) -> None:
        if not found.active:
            msg = f"The experiment {found.id} must be in the 'active' state. Current state is {found.lifecycle}."
            raise invalid(msg)

    # --- experiments ------------------------------------------------------------------------------------

    @translated
    def create_experiment(self, name: str, artifact_location: str | None = None, tags: Any = None) -> str:
        _validate_experiment_name(name)
        if artifact_location:
            artifact_location = resolve_uri_if_local(artifact_location)
            _validate_experiment_artifact_location_length(artifact_location)
        for tag in tags or []:
            _validate_experiment_tag(tag.key, tag.value)
        self._adopt_all()  # runs already logged under this name join the new experiment, not a second one
        fixed = artifact_location

        def location(experiment_id: str) -> str:
            return fixed or self._location(experiment_id)

        try:
            created = registry.create(
                self.layout,
                self._settings,
                name=name,
                actor=self._actor,
                artifact_location=location,
                tags={t.key: t.value for t in tags or []},
            )
        except ExperimentExists as e:
            msg = f"Experiment(name={name}) already exists. Error: {e}"
            raise MlflowException(msg, error_code=RESOURCE_ALREADY_EXISTS) from e
        return created.id

    @translated
    def get_experiment(self, experiment_id: str) -> Experiment:
        return entities.experiment(self._experiment(experiment_id))

    @translated
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        found = self._adopt_all().by_name(experiment_name)
        return None if found is None else entities.experiment(found)

    @translated
    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        _check_max_results(max_results)
        stages = _STAGES[view_type]
        found = [entities.experiment(e) for e in self._adopt_all().experiments if e.lifecycle in stages]
        found = SearchExperimentsUtils.filter(found, filter_string)
        found = sorted(found, key=_experiment_sort_key(order_by or ["creation_time DESC", "experiment_id ASC"]))
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        page = found[offset : offset + max_results]
        more = len(found) > offset + max_results
        token = SearchUtils.create_page_token(offset + max_results) if more else None
        return PagedList(page, token)

    @translated
    def delete_experiment(self, experiment_id: str) -> None:
        found = self._experiment(experiment_id, ViewType.ACTIVE_ONLY)
        registry.set_lifecycle(self.layout, self._settings, found.id, "deleted", actor=self._actor)
        self._set_runs_lifecycle(found, "deleted")

    @translated
    def restore_experiment(self, experiment_id: str) -> None:
        found = self._experiment(experiment_id, ViewType.DELETED_ONLY)
        registry.set_lifecycle(self.layout, self._settings, found.id, "active", actor=self._actor)
        self._set_runs_lifecycle(found, "active")

    def _set_runs_lifecycle(self, found: registry.Experiment, state: str) -> None:
        """As MLflow's SQL store: deleting an experiment deletes its runs, restoring it restores them all."""
        self._sync()
        base = self._cache.snapshot().runs.base
        ids = base.filter(pl.col("experiment") == found.key).get_column("run_id").to_list()
        for run_id in ids:
            self._queue_lifecycle(run_id, state)

    @translated
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        _validate_experiment_name(new_name)
        found = self._experiment(experiment_id)
        if not found.active:
            msg = "Cannot rename a non-active experiment."
            raise MlflowException(msg, error_code=INVALID_STATE)
        registry.rename(self.layout, self._settings, found.id, new_name, actor=self._actor)

    @translated
    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        _validate_experiment_tag(tag.key, tag.value)
        found = self._experiment(experiment_id)
        self._require_active_experiment(found)
        registry.set_tags(self.layout, self._settings, found.id, {tag.key: tag.value}, actor=self._actor)

    @translated
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        found = self._experiment(experiment_id)
        self._require_active_experiment(found)
        if key not in found.tags:
            msg = f"No tag with name: {key} in experiment with id {experiment_id}"
            raise not_found(msg)
        registry.delete_tag(self.layout, self._settings, found.id, key, actor=self._actor)

    # --- runs -------------------------------------------------------------------------------------------

    @translated
    def create_run(
        self, experiment_id: str, user_id: str, start_time: int, tags: Sequence[RunTag] | None, run_name: str | None
    ) -> Run:
        found = self._experiment(experiment_id)
        self._require_active_experiment(found)
        tags = list(tags or [])
        named = [t.value for t in tags if t.key == MLFLOW_RUN_NAME]
        if run_name and named and run_name != named[-1]:
            msg = (
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                f"(run_name='{run_name}', mlflow.runName='{named[-1]}')."
            )
            raise invalid(msg)
        run_name = run_name or (named[-1] if named else None) or _generate_random_name()
        plain = {t.key: t.value for t in tags if t.key != MLFLOW_RUN_NAME}
        check_tags(plain)
        user_id = user_id or ""
        environment = {"user": user_id, "source": "mlflow"}
        by_tag = {MLFLOW_GIT_COMMIT: "git_commit", MLFLOW_SOURCE_NAME: "command"}
        environment.update({field: plain[tag] for tag, field in by_tag.items() if tag in plain})
        handle = starting.create_run(
            self.lakehouse,
            experiment=found.key,
            name=run_name,
            start_time=_from_ms(start_time),
            tags=plain,
            environment=environment,
        )
        home = entities.Home(found.id, found.artifact_location)
        info = RunInfo(
            run_id=handle.id,
            experiment_id=found.id,
            user_id=user_id,
            status=RunStatus.to_string(RunStatus.RUNNING),
            start_time=int(start_time),
            end_time=None,
            lifecycle_stage="active",
            artifact_uri=home.artifact_uri(handle.id),
            run_name=run_name,
        )
        self._remember(handle.id, _Known(handle, info, lifecycle_at=0.0, checked=time.monotonic()))
        if self.serving:
            # In the MLflow server a created run is committed before it is returned: the next request (logging
            # into it) may reach another worker process, which must find it. Logging never waits for a commit.
            self._sync()
        run_tags = [RunTag(k, v) for k, v in plain.items()] + [RunTag(MLFLOW_RUN_NAME, run_name)]
        return Run(info, RunData(tags=run_tags), RunInputs(dataset_inputs=[]))

    def _snapshot_of(self, run_id: str) -> RunsFrames:
        self._sync()
        found = self._cache.one(run_id)
        if found is None:
            msg = f"Run with id={run_id} not found"
            raise not_found(msg)
        return found

    @translated
    def get_run(self, run_id: str) -> Run:
        _validate_run_id(run_id)
        snapshot = self._snapshot_of(run_id)
        state = self._registry()
        models = logged_models.read(self.layout)
        unnamed = self._without_name_tag(run_id)
        home = functools.partial(self._home, state)
        return entities.runs(snapshot, [run_id], home, self._versions, models, unnamed=unnamed)[0]

    def _without_name_tag(self, run_id: str | None = None) -> frozenset[str]:
        """Runs (of all, or the one ``run_id``) whose ``mlflow.runName`` tag is deleted, from committed events
        (for all runs: worked out once per version of the table, as the server searches many times between)."""
        events = self._cache.events()
        if run_id is not None:
            return entities.without_name_tag(events.filter(pl.col("run_id") == run_id))
        memo = self._unnamed
        if memo is None or memo[0] is not events:
            memo = self._unnamed = (events, entities.without_name_tag(events))
        return memo[1]

    def _run_known(self, run_id: str) -> _Known:
        """This process's record of a run (read once from the tables), its lifecycle refreshed every few seconds."""
        with self._lock:
            known = self._known.get(run_id)
        now = time.monotonic()
        if known is not None and now - known.checked < LIFECYCLE_TTL_S:
            return known
        if known is None:
            snapshot = self._snapshot_of(run_id)
            row = snapshot.runs.base.row(0, named=True)
            home = self._home(self._registry(), row["experiment"])
            handle = self.lakehouse.attach_run(run_id)
            known = _Known(handle, entities.run_info(row, home), lifecycle_at=0.0, checked=now)
        else:
            committed = self._committed_lifecycle(run_id)
            if committed is not None and committed[0] > known.lifecycle_at:
                known.info = _with(known.info, lifecycle_stage=committed[1])
                known.lifecycle_at = committed[0]
            known.checked = now
        self._remember(run_id, known)
        return known

    def _remember(self, run_id: str, known: _Known) -> None:
        with self._lock:
            self._known[run_id] = known
            if len(self._known) > MAX_KNOWN_RUNS:
                oldest = sorted(self._known, key=lambda r: self._known[r].checked)[: MAX_KNOWN_RUNS // 2]
                for forgotten in oldest:
                    del self._known[forgotten]

    def _committed_lifecycle(self, run_id: str) -> tuple[float, str] | None:
        events = self._cache.events()
        rows = in_order(events.filter((pl.col("run_id") == run_id) & (pl.col("kind") == "lifecycle")))
        if rows.height == 0:
            return None
        last = rows.row(-1, named=True)
        return _micros(last["at"]), str(last["value"])

    def _active_run(self, run_id: str) -> _Known:
        known = self._run_known(run_id)
        if known.info.lifecycle_stage != "active":
            msg = f"The run {run_id} must be in the 'active' state. Current state is {known.info.lifecycle_stage}."
            raise invalid(msg)
        return known

    def _queue_event(self, run_id: str, kind: str, *, at: datetime | None = None, **fields: Any) -> None:
        self._writer().queue_event(run_id, kind, at=at, **fields)

    def _queue_lifecycle(self, run_id: str, state: str) -> None:
        at = datetime.now(UTC)
        self._queue_event(run_id, "lifecycle", at=at, value=state)
        with self._lock:
            known = self._known.get(run_id)
            if known is not None:
                known.info = _with(known.info, lifecycle_stage=state)
                known.lifecycle_at = _micros(at)

    @translated
    def update_run_info(
        self, run_id: str, run_status: int | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        known = self._active_run(run_id)
        info = known.info
        if run_status is not None or end_time is not None:
            # As MLflow's SQL store: the status and the end time are set independently, each only when given.
            status = info.status if run_status is None else RunStatus.to_string(run_status)
            if status != info.status or (end_time is not None and end_time != info.end_time):
                if end_time is None:
                    self._queue_event(run_id, "status", value=status, key=END_KEPT)
                else:
                    self._queue_event(run_id, "status", at=_from_ms(end_time), value=status, key=END_GIVEN)
            info = _with(info, status=status, end_time=info.end_time if end_time is None else end_time)
        if run_name:
            known.handle.rename(run_name)
            info = _with(info, run_name=run_name)
        known.info = info
        if run_status is not None and RunStatus.is_terminated(run_status):
            # Ending a run commits it, as leaving ``lh.start_run``'s block does: any reader in this process
            # (lh.runs(), polars, the app) sees the finished run with all its points, not only the store's reads.
            self._sync()
        return info

    @translated
    def delete_run(self, run_id: str) -> None:
        self._run_known(run_id)
        self._queue_lifecycle(run_id, "deleted")

    @translated
    def restore_run(self, run_id: str) -> None:
        self._run_known(run_id)
        self._queue_lifecycle(run_id, "active")

    # --- params, tags, metrics --------------------------------------------------------------------------

    @translated
    def log_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        _validate_run_id(run_id)
        metrics, params, tags = _validate_batch_log_data(metrics, params, tags)
        _validate_batch_log_limits(metrics, params, tags)
        _validate_param_keys_unique(params)
        _check_param_values(params)
        known = self._active_run(run_id)
        # Everything is checked before anything is queued: a bad batch records nothing.
        fresh_params = self._new_params(known, params) if params else {}
        plain_tags = check_tags({t.key: t.value for t in tags if t.key != MLFLOW_RUN_NAME})
        new_name = next((t.value for t in reversed(tags) if t.key == MLFLOW_RUN_NAME), None)
        calls, points = _metric_calls(metrics, known.recent)
        handle = known.handle
        if fresh_params:
            handle.log_params(fresh_params)
        if plain_tags:
            handle.set_tags(plain_tags)
        if new_name is not None and (new_name != known.info.run_name or self._name_tag_deleted(run_id)):
            handle.rename(new_name)  # setting the name tag names the run (and brings a deleted tag back)
            known.info = _with(known.info, run_name=new_name)
        log = handle.log
        for step, seconds, values in calls:
            log(values, step=step, timestamp=seconds)
        known.remember(points)
        for m in metrics:
            if m.model_id is not None:  # rare (a model's final metrics): one event per point is cheap enough
                self._queue_event(run_id, logged_models.MODEL_METRIC_EVENT, value=logged_models.metric_event(m))
        if calls:
            # A process that only logs points (a server worker that did not create the run) must still have
            # its background thread running, or the points would wait in memory for the next read.
            self._writer().ensure_thread()

    # One metric, param or tag: logged as a batch of one. MLflow's SQL store checks it alone, so a refusal is
    # worded for it (``value``, not ``metrics[0].value``): a refused one is checked again alone, which raises
    # that wording; the accepted ones (nearly all calls) pay nothing for it.

    def log_metric(self, run_id: str, metric: Metric) -> None:
        try:
            self.log_batch(run_id, [metric], [], [])
        except MlflowException:
            _validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
            raise

    def log_param(self, run_id: str, param: Param) -> None:
        try:
            self.log_batch(run_id, [], [param], [])
        except MlflowException:
            _validate_param(param.key, param.value)
            _check_param_values([param], path="")
            raise

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        try:
            self.log_batch(run_id, [], [], [tag])
        except MlflowException:
            _validate_tag(tag.key, tag.value)
            raise

    def _name_tag_deleted(self, run_id: str) -> bool:
        self._sync()  # the deletion may still be in this process's buffer
        return run_id in self._without_name_tag(run_id)

    def _new_params(self, known: _Known, params: Sequence[Param]) -> dict[str, str]:
        """Params not recorded yet; raises if one is recorded with another value (params are immutable).

        Checked against the committed table and what this process queued; two processes racing to set
        different values for one key are the one case not caught (the one applied first wins on read).
        """
        committed = self._cache.snapshot().runs.params
        existing = dict(committed.filter(pl.col("run_id") == known.handle.id).select("key", "value").iter_rows())
        existing.update(known.handle.params)
        conflicts = [
            {"key": p.key, "old_value": existing[p.key], "new_value": p.value}
            for p in params
            if p.key in existing and existing[p.key] != p.value
        ]
        if conflicts:
            msg = (
                f"Changing param values is not allowed. Params were already logged='{conflicts}' for run "
                f"ID='{known.handle.id}'."
            )
            raise invalid(msg)
        return {p.key: p.value for p in params if p.key not in existing}

    @translated
    def delete_tag(self, run_id: str, key: str) -> None:
        known = self._active_run(run_id)
        tags = self._snapshot_of(run_id).runs.tags
        if key == MLFLOW_RUN_NAME:  # the tag goes, the run keeps its name (as in MLflow's SQL store)
            present = run_id not in self._without_name_tag(run_id)
        else:
            present = tags.filter(pl.col("key") == key).height > 0
        if not present:
            msg = f"No tag with name: {key} in run with id {run_id}"
            raise not_found(msg)
        known.handle.delete_tag(key)

    @translated
    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        from mlflow.models import Model

        if not isinstance(mlflow_model, Model):
            msg = f"Argument 'mlflow_model' should be mlflow.models.Model, got '{type(mlflow_model)}'"
            raise TypeError(msg)
        known = self._active_run(run_id)
        tags = self._snapshot_of(run_id).runs.tags.filter(pl.col("key") == MLFLOW_LOGGED_MODELS)
        previous = json.loads(tags.item(0, "value")) if tags.height else []
        value = json.dumps([*previous, mlflow_model.get_tags_dict()])
        _validate_tag(MLFLOW_LOGGED_MODELS, value)
        known.handle.set_tags({MLFLOW_LOGGED_MODELS: value})

    @translated
    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Metric]:
        self._sync()
        frame = history.history(self.layout, run_id, metric_key)
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        token = None
        if max_results is not None:
            if frame.height > offset + max_results:
                token = SearchUtils.create_page_token(offset + max_results)
            frame = frame.slice(offset, max_results)
        elif offset:
            frame = frame.slice(offset)
        return PagedList(_metrics(frame), token)

    @translated
    def get_metric_history_bulk(self, run_ids: Sequence[str], metric_key: str, max_results: int) -> list[Any]:
        self._sync()
        frame = history.points(self.layout, list(run_ids), metric_key)
        frame = frame.sort("run_id", "timestamp", "step", "value").head(max_results)
        return _with_run_ids(frame)

    @translated
    def get_metric_history_bulk_interval_from_steps(
        self, run_id: str, metric_key: str, steps: Iterable[int], max_results: int
    ) -> list[Any]:
        self._sync()
        frame = history.points(self.layout, [run_id], metric_key)
        frame = frame.filter(pl.col("step").is_in(list(steps))).sort("step", "timestamp", "value").head(max_results)
        return _with_run_ids(frame)

    @translated
    def get_metric_history_bulk_interval(
        self,
        run_ids: list[str],
        metric_key: str,
        max_results: int,
        start_step: int | None,
        end_step: int | None,
    ) -> list[Any]:
        if (start_step is None) != (end_step is None):
            msg = "Both start_step and end_step must be specified together, or neither may be specified."
            raise invalid(msg)
        self._sync()
        sampled = history.sample(
            history.points(self.layout, list(run_ids), metric_key), max_results, start_step, end_step
        )
        by_run = sampled.partition_by("run_id", as_dict=True, include_key=True) if sampled.height else {}
        out: list[Any] = []
        for run_id in dict.fromkeys(run_ids):
            part = by_run.get((run_id,))
            if part is not None:
                out.extend(_with_run_ids(part))
        return out

    # --- search -----------------------------------------------------------------------------------------

    @translated
    def _search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int | None,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        numbers = _experiment_numbers(list(experiment_ids))
        if max_results is not None:
            _check_max_results(max_results)
        self._sync()
        state = self._registry()
        wanted = [state.get(str(i)) for i in numbers]
        homes = pl.DataFrame(
            {
                "experiment": [e.key for e in wanted if e is not None],
                "experiment_id": [e.id for e in wanted if e is not None],
                "artifact_location": [e.artifact_location for e in wanted if e is not None],
            },
            schema={"experiment": pl.String, "experiment_id": pl.String, "artifact_location": pl.String},
        )
        snapshot = self._cache.snapshot()
        unnamed = self._without_name_tag()
        page = search.search(
            snapshot,
            homes=homes,
            filter_string=filter_string,
            view_type=run_view_type,
            order_by=order_by,
            offset=SearchUtils.parse_start_offset_from_page_token(page_token),
            max_results=max_results,
            unnamed=unnamed,
        )
        homes_by_key = {e.key: entities.Home(e.id, e.artifact_location) for e in wanted if e is not None}
        models = logged_models.read(self.layout)
        runs = entities.runs(snapshot, page.run_ids, homes_by_key.__getitem__, self._versions, models, unnamed=unnamed)
        token = None if page.next_offset is None else SearchUtils.create_page_token(page.next_offset)
        return runs, token

    @translated
    def _search_datasets(self, experiment_ids: Sequence[str]) -> list[_DatasetSummary]:
        numbers = _experiment_numbers(list(experiment_ids))
        self._sync()
        state = self._registry()
        wanted = {e.key: e.id for e in (state.get(str(i)) for i in numbers) if e is not None}
        snapshot = self._cache.snapshot()
        base = snapshot.runs.base.filter(pl.col("experiment").is_in(list(wanted)))
        homes = {r: wanted[k] for r, k in base.select("run_id", "experiment").iter_rows()}
        ids = list(homes)
        found = entities.runs(snapshot, ids, lambda key: entities.Home(wanted[key], None), self._versions)
        out: dict[tuple[str, str, str, str | None], None] = {}
        for run in found:
            for item in run.inputs.dataset_inputs if run.inputs else []:
                key = (homes[run.info.run_id], item.dataset.name, item.dataset.digest, mlflow_inputs.context_of(item))
                out[key] = None
        return [_DatasetSummary(experiment_id=e, name=n, digest=d, context=c) for e, n, d, c in list(out)[:1000]]

    # --- inputs -----------------------------------------------------------------------------------------

    @translated
    def log_inputs(
        self,
        run_id: str,
        datasets: list[DatasetInput] | None = None,
        models: list[LoggedModelInput] | None = None,
    ) -> None:
        from mlflow.utils.validation import _validate_dataset_inputs

        _validate_run_id(run_id)
        if datasets is not None:
            if not isinstance(datasets, list):
                msg = f"Argument 'datasets' should be a list, got '{type(datasets)}'"  # type: ignore[unreachable]
                raise TypeError(msg)
            _validate_dataset_inputs(datasets)
        known = self._active_run(run_id)
        for used in models or []:
            self._model(used.model_id)
        resolved: list[tuple[DatasetInput, str | None]] = []
        for item in self._new_datasets(known, datasets) if datasets else []:
            found = mlflow_inputs.lakehouse_version(self.lakehouse, item.dataset)
            if found is None:
                resolved.append((item, None))
                continue
            name, version = found
            if version is None:  # "the latest": record the version it is now, so the run names it exactly
                version = self.lakehouse.resolve(name).version
                item = mlflow_inputs.with_version(item, version)
            resolved.append((item, f"{name}:v{version}"))
        for item, ref in resolved:
            if ref is not None:
                known.handle.use_dataset(ref, context=mlflow_inputs.context_of(item))
            self._queue_event(run_id, INPUT_EVENT, value=mlflow_inputs.to_json(item))
        if known.datasets is not None:
            known.datasets.update(mlflow_inputs.identity(item) for item, _ in resolved)
        if models:  # the models a run used: logged once per run and model, committed now
            rows = [{"model_id": m.model_id, "kind": "input", "run_id": run_id} for m in models]
            logged_models.record(self.layout, self._settings, rows)

    def _new_datasets(self, known: _Known, datasets: Sequence[DatasetInput]) -> list[DatasetInput]:
        """The inputs not logged to the run yet: MLflow ignores a dataset (name and digest) logged again, in the
        same call or a later one, and keeps the first one's tags. Marked logged by ``log_inputs`` once queued."""
        if known.datasets is None:
            self._sync()
            events = self._cache.events()
            mine = events.filter((pl.col("run_id") == known.handle.id) & (pl.col("kind") == INPUT_EVENT))
            known.datasets = {mlflow_inputs.identity(mlflow_inputs.from_json(v)) for v in mine.get_column("value")}
        seen = set(known.datasets)
        fresh = []
        for item in datasets:
            key = mlflow_inputs.identity(item)
            if key not in seen:
                seen.add(key)
                fresh.append(item)
        return fresh

    # --- logged models --------------------------------------------------------------------------------

    def _model_entity(self, state: logged_models.ModelState) -> LoggedModel:
        return state.entity(self._model_metrics().get(state.model_id))

    def _model_metrics(self) -> dict[str, list[Metric]]:
        self._sync()  # metrics logged with a model id are run events: commit this process's first
        return logged_models.metrics_of(self.layout, self._cache.events())

    def _model(self, model_id: str, *, allow_deleted: bool = False) -> logged_models.ModelState:
        found = logged_models.read(self.layout).by_id.get(model_id)
        if found is None or (found.deleted and not allow_deleted):
            msg = f"Logged model with ID '{model_id}' not found."
            raise not_found(msg)
        return found

    @translated
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: list[LoggedModelTag] | None = None,
        params: list[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        _validate_logged_model_name(name)
        _check_model_entries(tags, params)
        found = self._experiment(experiment_id)
        self._require_active_experiment(found)
        model_id = logged_models.new_model_id()
        location = str(append_to_uri_path(found.artifact_location or self._location(found.id), "models", model_id))
        rows: list[dict[str, Any]] = [
            {
                "model_id": model_id,
                "kind": "created",
                "experiment_id": found.id,
                "name": name or _generate_random_name(),
                "artifact_location": f"{location}/artifacts",
                "model_type": model_type,
                "run_id": source_run_id,
            }
        ]
        rows += [{"model_id": model_id, "kind": "param", "key": p.key, "value": p.value} for p in params or []]
        rows += [{"model_id": model_id, "kind": "tag", "key": t.key, "value": t.value} for t in tags or []]
        logged_models.record(self.layout, self._settings, rows)
        return self._model_entity(self._model(model_id))

    @translated
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return self._model_entity(self._model(model_id, allow_deleted=allow_deleted))

    @translated
    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        self._model(model_id)
        logged_models.record(
            self.layout, self._settings, [{"model_id": model_id, "kind": "status", "value": str(status)}]
        )
        return self._model_entity(self._model(model_id))

    @translated
    def set_logged_model_tags(self, model_id: str, tags: list[LoggedModelTag]) -> None:
        _check_model_entries(tags, None)
        self._model(model_id)
        rows = [
            {"model_id": model_id, "kind": "tag", "key": k, "value": v}
            for k, v in {t.key: t.value for t in tags}.items()
        ]
        logged_models.record(self.layout, self._settings, rows)

    @translated
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        if key not in self._model(model_id).tags:
            msg = f"No tag with key {key!r} found for model with ID {model_id!r}."
            raise not_found(msg)
        logged_models.record(self.layout, self._settings, [{"model_id": model_id, "kind": "tag_deleted", "key": key}])

    @translated
    def log_logged_model_params(self, model_id: str, params: list[LoggedModelParameter]) -> None:
        _check_model_entries(None, params)
        self._model(model_id)
        rows = [{"model_id": model_id, "kind": "param", "key": p.key, "value": p.value} for p in params]
        logged_models.record(self.layout, self._settings, rows)

    @translated
    def delete_logged_model(self, model_id: str) -> None:
        self._model(model_id)
        logged_models.record(self.layout, self._settings, [{"model_id": model_id, "kind": "deleted"}])

    @translated
    def log_outputs(self, run_id: str, models: list[LoggedModelOutput]) -> None:
        self._active_run(run_id)
        for output in models:
            self._model(output.model_id)
        rows = [{"model_id": m.model_id, "kind": "output", "run_id": run_id, "step": m.step} for m in models]
        logged_models.record(self.layout, self._settings, rows)

    @translated
    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        if datasets and not all(d.get("dataset_name") for d in datasets):
            msg = "`dataset_name` in the `datasets` clause must be specified."
            raise invalid(msg)
        wanted = {str(e) for e in _experiment_numbers([*experiment_ids])}
        metrics = self._model_metrics()
        found = [
            s.entity(metrics.get(s.model_id))
            for s in logged_models.read(self.layout).by_id.values()
            if s.experiment_id in wanted and not s.deleted
        ]
        found = SearchLoggedModelsUtils.filter_logged_models(found, filter_string, datasets)
        ordered = SearchLoggedModelsUtils.sort(found, order_by)
        page, token = SearchLoggedModelsUtils.paginate(
            ordered, page_token, max_results or SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
        )
        return PagedList(page, token)

    # --- what this store does not keep ------------------------------------------------------------------

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        unsupported("Traces")

    def search_traces(self, *args: Any, **kwargs: Any) -> tuple[list[Any], None]:
        return [], None  # nothing is traced here; the UI's traces tab shows an empty list

    def search_datasets(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)  # GenAI evaluation datasets: none are kept here


#: 3.x features this store does not keep: each raises a clear NOT_IMPLEMENTED MlflowException.
_UNSUPPORTED = {
    "Traces": (
        "start_trace",
        "get_trace_info",
        "get_trace",
        "batch_get_traces",
        "batch_get_trace_infos",
        "set_trace_tag",
        "delete_trace_tag",
        "log_spans",
        "_delete_traces",
        "deprecated_start_trace_v2",
        "deprecated_end_trace_v2",
        "create_assessment",
        "get_assessment",
        "update_assessment",
        "delete_assessment",
        "unlink_traces_from_run",
    ),
    "Evaluation datasets": ("create_dataset", "get_dataset", "delete_dataset", "upsert_dataset_records"),
    "Scorers": ("register_scorer", "list_scorers", "get_scorer", "list_scorer_versions", "delete_scorer"),
}


def _unsupported_method(feature: str, name: str) -> Any:
    def method(self: LakehouseStore, *args: Any, **kwargs: Any) -> Any:
        unsupported(f"{feature} ({name})")

    method.__name__ = name
    method.__doc__ = f"Not supported: raises a NOT_IMPLEMENTED MlflowException ({feature})."
    return method


def _refusing_not_implemented(name: str, base: Callable[..., Any]) -> Any:
    """``base`` (an ``AbstractStore`` method this store does not override), with its ``NotImplementedError``
    (the server's 500) turned into the clear NOT_IMPLEMENTED ``MlflowException`` (a 501)."""

    @functools.wraps(base)
    def method(self: LakehouseStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return base(self, *args, **kwargs)
        except NotImplementedError:
            unsupported(f"MLflow's {name}")

    return method


for _feature, _names in _UNSUPPORTED.items():
    for _name in _names:
        setattr(LakehouseStore, _name, _unsupported_method(_feature, _name))
# Every other feature newer MLflow versions add to AbstractStore (gateway, MCP servers, review queues, ...)
# raises NotImplementedError there; here it is refused as clearly as the ones above.
for _name, _base in inspect.getmembers(AbstractStore, inspect.isfunction):
    if not _name.startswith("__") and _name not in LakehouseStore.__dict__:
        setattr(LakehouseStore, _name, _refusing_not_implemented(_name, _base))


# --- helpers ----------------------------------------------------------------------------------------------


def _check_max_results(max_results: object) -> None:
    if not isinstance(max_results, int) or max_results < 1:
        msg = f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        raise MlflowException(msg, INVALID_PARAMETER_VALUE)
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        limit = SEARCH_MAX_RESULTS_THRESHOLD
        msg = f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most {limit}"
        raise MlflowException(msg, INVALID_PARAMETER_VALUE)


def _check_param_values(params: Sequence[Param], *, path: str = "params") -> None:
    """Refuse a param without a value, as the SQL store's NOT NULL column does (naming it as MLflow would)."""
    for i, p in enumerate(params):
        if p.value is None:
            raise invalid(missing_value(f"{path}[{i}].value" if path else "value"))


def _check_model_entries(tags: Sequence[LoggedModelTag] | None, params: Sequence[LoggedModelParameter] | None) -> None:
    """A logged model's tags and params need values (the SQL store's columns are NOT NULL)."""
    for tag in tags or []:
        _validate_tag_value(tag.value)
    for i, p in enumerate(params or []):
        if p.value is None:
            raise invalid(missing_value(f"params[{i}].value"))


def _from_ms(ms: int | float | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _micros(when: datetime) -> float:
    return when.timestamp() * 1_000_000


def _flush_writers() -> None:
    """Commit what every writer of this process still buffers (each one, even after another failed)."""
    for writer in active_writers():
        writer.flush()


def _with(info: RunInfo, **changes: Any) -> RunInfo:
    fields = {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "artifact_uri": info.artifact_uri,
        "run_name": info.run_name,
    }
    fields.update(changes)
    return RunInfo(**fields)


def _metric_calls(
    metrics: Sequence[Metric], recent: Mapping[Point, None]
) -> tuple[list[tuple[int, float, dict[str, float]]], list[Point]]:
    """Validated metric points grouped into ``run.log`` calls, and the points they hold.

    Consecutive points of one (step, timestamp) become one call, as long as no key repeats (two values of one
    key at one step are two points). A point already in ``recent`` (logged a moment ago through this store) is
    left out: MLflow keeps a point once, and it logs the same points again when it links them to a model.
    """
    calls: list[tuple[int, float, dict[str, float]]] = []
    points: list[Point] = []
    current: dict[str, float] | None = None
    last: tuple[int, int] | None = None
    checked: set[str] = set()
    for m in metrics:
        key = m.key
        if key not in checked:
            check_key(key)
            checked.add(key)
        value = m.value if type(m.value) is float else metric_value(key, m.value)
        step = m.step if type(m.step) is int else step_value(m.step)
        stamp = m.timestamp if type(m.timestamp) is int else int(m.timestamp)
        if not 0 <= stamp <= _MAX_MS:
            timestamp_micros(stamp / 1000)  # raises, naming the value, before anything is queued
        point = (key, step, stamp, value)
        if point in recent:
            continue
        points.append(point)
        if current is None or last != (step, stamp) or key in current:
            current = {}
            last = (step, stamp)
            calls.append((step, stamp / 1000, current))
        current[key] = value
    return calls, points


def _metrics(frame: pl.DataFrame) -> list[Metric]:
    return [
        Metric(key=k, value=v, timestamp=t, step=s)
        for k, v, t, s in zip(
            frame.get_column("key").to_list(),
            frame.get_column("value").to_list(),
            frame.get_column("timestamp").to_list(),
            frame.get_column("step").to_list(),
            strict=True,
        )
    ]


def _with_run_ids(frame: pl.DataFrame) -> list[MetricWithRunId]:
    runs = frame.get_column("run_id").to_list()
    return [MetricWithRunId(run_id=r, metric=m) for r, m in zip(runs, _metrics(frame), strict=True)]


def _experiment_sort_key(order_by: Sequence[str]) -> Any:
    """MLflow's SQL ordering of experiments (ids compare as numbers), with experiment id as the tie-breaker."""
    clauses = [SearchExperimentsUtils.parse_order_by_for_search_experiments(o) for o in order_by]
    for type_, _key, _asc in clauses:
        if type_ != "attribute":
            msg = f"Invalid order_by entity: {type_}"
            raise invalid(msg)
    if not any(key == "experiment_id" for _t, key, _a in clauses):
        clauses.append(("attribute", "experiment_id", False))

    def value(e: Experiment, key: str) -> Any:
        raw = getattr(e, key)
        if key == "experiment_id" and isinstance(raw, str) and raw.isdigit():
            return int(raw)
        return raw

    class _Key:
        __slots__ = ("e",)

        def __init__(self, e: Experiment) -> None:
            self.e = e

        def __lt__(self, other: _Key) -> bool:
            for _type, key, ascending in clauses:
                a, b = value(self.e, key), value(other.e, key)
                if a == b:
                    continue
                if a is None or b is None:
                    return b is None
                return bool(a < b) if ascending else bool(b < a)
            return False

    return _Key
