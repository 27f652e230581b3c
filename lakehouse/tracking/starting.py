"""Starting, resuming and attaching to runs, and run lifecycle (delete / restore).

``start_run`` validates everything and resolves the dataset inputs first (reads only), then queues the
run's events with the writer and returns: it never waits for a commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lakehouse.entities import RunInput
from lakehouse.errors import InvalidArgument
from lakehouse.query.runs import Tables, resolve_run_id, run_info
from lakehouse.refs import as_utc
from lakehouse.tracking import environment
from lakehouse.tracking.run import (
    DEFAULT_EXPERIMENT,
    Run,
    check_params,
    check_tags,
    environment_event,
    new_run_id,
    now_utc,
    resolve_input,
)
from lakehouse.tracking.validate import check_key, check_name
from lakehouse.tracking.writer import Writer, get_writer

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse


def writer_of(lakehouse: Lakehouse) -> Writer:
    return get_writer(lakehouse.layout, lakehouse.settings)


def start_run(
    lakehouse: Lakehouse,
    *,
    experiment: str | None = None,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    job_type: str | None = None,
    inputs: Iterable[str] = (),
    resume: str | None = None,
    start_time: datetime | None = None,
) -> Run:
    """See :meth:`lakehouse.Lakehouse.start_run`."""
    if resume is not None:
        return _resume(lakehouse, resume, experiment=experiment, name=name, params=params, tags=tags, inputs=inputs)
    experiment = check_name(DEFAULT_EXPERIMENT if experiment is None else experiment, what="experiment name")
    if name is not None:
        check_name(name, what="run name")
    if job_type is not None:
        check_key(job_type, what="job_type")
    run_id = new_run_id()
    fresh_params = check_params(params or {}, existing={}, run_id=run_id)
    fresh_tags = check_tags(tags or {})
    resolved = _resolve_inputs(lakehouse, run_id, inputs)
    at = as_utc(start_time) if start_time is not None else now_utc()
    name = name or f"run-{run_id[:8]}"

    writer = writer_of(lakehouse)
    run = Run(lakehouse, writer, run_id, name=name, experiment=experiment)
    writer.open_run(run)  # before its first event: the spool never holds a start without the run listed open
    writer.add_event(
        "runs",
        {"run_id": run_id, "kind": "created", "at": at, "experiment": experiment, "name": name, "value": job_type},
    )
    writer.add_event("runs", {"run_id": run_id, "kind": "status", "at": at, "value": "RUNNING"})
    _queue(run, writer, fresh_params, fresh_tags, resolved)
    writer.defer(environment_event(run_id, environment.start_facts(lakehouse.actor), at))
    writer.request_spool()  # durable within milliseconds: a process that dies at its first batch leaves the run
    writer.ensure_thread()
    return run


def attach_run(lakehouse: Lakehouse, run_id: str) -> Run:
    """A handle on an existing run that records into it without changing its status (for stateless clients).

    ``finish``/``end`` on it record a status as for any run; it is not finished automatically at exit.
    """
    writer = writer_of(lakehouse)
    open_run = writer.open_run_of(run_id)
    if open_run is not None:
        return open_run
    tables = Tables.load(lakehouse.layout)
    info = run_info(tables, resolve_run_id(tables, run_id))
    last = info.last_step
    return Run(
        lakehouse,
        writer,
        info.id,
        name=info.name,
        experiment=info.experiment,
        next_step=0 if last is None else last + 1,
        params=info.params,
        inputs=info.inputs,
    )


def _resume(
    lakehouse: Lakehouse,
    run_id: str,
    *,
    experiment: str | None,
    name: str | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    inputs: Iterable[str],
) -> Run:
    writer = writer_of(lakehouse)
    if writer.open_run_of(run_id) is not None:
        msg = f"run {run_id} is still active in this process; keep using its handle instead of resuming it"
        raise InvalidArgument(msg)
    writer.flush()  # a run this process finished a moment ago must be visible before we read it back
    run = attach_run(lakehouse, run_id)
    if experiment is not None and experiment != run.experiment:
        msg = f"run {run.id} belongs to experiment {run.experiment!r}, not {experiment!r}; a resumed run keeps it"
        raise InvalidArgument(msg)
    if name is not None:
        check_name(name, what="run name")
    fresh_params = check_params(params or {}, existing=run.params, run_id=run.id)
    fresh_tags = check_tags(tags or {})
    resolved = _resolve_inputs(lakehouse, run.id, inputs)
    at = now_utc()
    writer.open_run(run)
    writer.add_event("runs", {"run_id": run.id, "kind": "resumed", "at": at})
    writer.add_event("runs", {"run_id": run.id, "kind": "status", "at": at, "value": "RUNNING"})
    if name is not None and name != run.name:
        run.rename(name)
    _queue(run, writer, fresh_params, fresh_tags, resolved)
    writer.request_spool()
    writer.ensure_thread()
    return run


def _resolve_inputs(lakehouse: Lakehouse, run_id: str, inputs: Iterable[str]) -> list[dict[str, Any]]:
    if isinstance(inputs, str):
        inputs = [inputs]
    rows = []
    for ref in inputs:
        _, row = resolve_input(lakehouse, run_id, ref, context=None)
        rows.append(row)
    return rows


def _queue(
    run: Run, writer: Writer, params: Mapping[str, str], tags: Mapping[str, str], inputs: list[dict[str, Any]]
) -> None:
    at = now_utc()
    for key, value in params.items():
        writer.add_event("runs", {"run_id": run.id, "kind": "param", "at": at, "key": key, "value": value})
    run._params.update(params)
    for key, value in tags.items():
        writer.add_event("runs", {"run_id": run.id, "kind": "tag", "at": at, "key": key, "value": value})
    known = {(i.dataset, i.version, i.context) for i in run._inputs}
    for row in inputs:
        if (row["dataset"], row["version"], row["context"]) not in known:
            known.add((row["dataset"], row["version"], row["context"]))
            run._inputs.append(RunInput(**row))
            writer.add_event("inputs", row)


def set_lifecycle(lakehouse: Lakehouse, run_id: str, state: str) -> str:
    """Record ``deleted`` or ``active`` for a run and commit it; returns the run id."""
    tables = Tables.load(lakehouse.layout)
    resolved = resolve_run_id(tables, run_id)
    writer = writer_of(lakehouse)
    writer.add_event("runs", {"run_id": resolved, "kind": "lifecycle", "at": now_utc(), "value": state})
    writer.flush()
    return resolved


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def create_run(
    lakehouse: Lakehouse,
    *,
    experiment: str,
    run_id: str | None = None,
    name: str | None = None,
    start_time: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] | None = None,
) -> Run:
    """Create a run on behalf of a stateless client (the MLflow store, an importer) and return a handle on it.

    Unlike :func:`start_run`, the run is not tied to this process: it is not ended when the process exits (end
    it with ``run.end(...)``); its id may be given (letters, digits, ``-``, ``_``; at most 64 characters: an
    importer keeps MLflow's ids; the caller makes sure it is new); and ``environment`` is recorded as given
    instead of this process's facts (a server creating runs for its clients must not record itself). Like
    ``start_run`` it never waits for a commit.
    """
    experiment = check_name(experiment, what="experiment name")
    if run_id is None:
        run_id = new_run_id()
    elif not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        msg = f"run id {run_id!r} must be 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        raise InvalidArgument(msg)
    if name is not None:
        check_name(name, what="run name")
    fresh_params = check_params(params or {}, existing={}, run_id=run_id)
    fresh_tags = check_tags(tags or {})
    at = as_utc(start_time) if start_time is not None else now_utc()
    name = name or f"run-{run_id[:8]}"

    writer = writer_of(lakehouse)
    run = Run(lakehouse, writer, run_id, name=name, experiment=experiment)
    writer.add_event("runs", {"run_id": run_id, "kind": "created", "at": at, "experiment": experiment, "name": name})
    writer.add_event("runs", {"run_id": run_id, "kind": "status", "at": at, "value": "RUNNING"})
    _queue(run, writer, fresh_params, fresh_tags, [])
    if environment is not None:
        value = json.dumps(dict(environment), sort_keys=True, default=str)
        writer.add_event("runs", {"run_id": run_id, "kind": "environment", "at": at, "value": value})
    writer.ensure_thread()
    return run
