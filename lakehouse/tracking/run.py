"""The run handle: what training code holds while it logs.

Everything a run records goes through the process's :class:`~lakehouse.tracking.writer.Writer`: metrics as
buffered tuples, everything else as rows of the ``tracking/runs`` and ``tracking/inputs`` event tables.
Nothing here waits for a Delta commit except :meth:`Run.finish` and :meth:`Run.flush`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import _arrow
from lakehouse.catalog.tables import METRICS
from lakehouse.datasets.versions import DatasetVersion
from lakehouse.entities import ERROR_TAG, RunInfo, RunInput, RunStatus
from lakehouse.errors import InvalidArgument, InvalidData, ParamConflict, RunNotActive
from lakehouse.tracking import environment
from lakehouse.tracking.validate import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_mapping,
    check_name,
    check_status,
    metric_value,
    param_value,
    step_value,
    tag_value,
    timestamp_micros,
)
from lakehouse.tracking.writer import Writer

if TYPE_CHECKING:
    from pathlib import Path

    from lakehouse.client import Lakehouse
    from lakehouse.tracking.artifacts import Artifact

_now_ns = time.time_ns
DEFAULT_EXPERIMENT = "default"


def now_utc() -> datetime:
    return datetime.now(UTC)


class Run:
    """A run being logged. Use it as a context manager, or call :meth:`finish`.

    ``log()`` costs about a microsecond: it validates, appends to the writer's buffer and returns; a background
    thread commits. Leaving a ``with`` block marks the run FINISHED (FAILED on an exception, KILLED on Ctrl-C)
    and flushes, so the tables show the run and all its points right after.
    """

    __slots__ = (
        "_append",
        "_calls",
        "_active",
        "_flush_points",
        "_inputs",
        "_keys",
        "_keysets",
        "_lh",
        "_next_step",
        "_params",
        "_writer",
        "experiment",
        "id",
        "name",
        "__weakref__",
    )

    def __init__(
        self,
        lakehouse: Lakehouse,
        writer: Writer,
        run_id: str,
        *,
        name: str | None,
        experiment: str | None,
        next_step: int = 0,
        params: Mapping[str, str] | None = None,
        inputs: Iterable[RunInput] = (),
    ) -> None:
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self._lh = lakehouse
        self._writer = writer
        self._calls = writer.calls
        self._append = writer.calls.append
        self._keys: set[str] = set()  # validated keys (log_frame)
        # Validated key tuples of log(), each mapped to one canonical tuple object: one dict lookup per call,
        # and the flusher recognises calls with the same keys by identity.
        self._keysets: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._next_step = next_step
        self._params: dict[str, str] = dict(params or {})
        self._inputs: list[RunInput] = list(inputs)
        self._active = True
        self._flush_points = max(writer.settings.flush_points, 1)
        writer.handles.add(self)
        writer.ensure_thread()

    def __repr__(self) -> str:
        state = "active" if self._active else "finished"
        return f"Run(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r}, {state})"

    # --- metrics (the hot path) --------------------------------------------------------------------------

    def log(
        self,
        metrics: Mapping[str, Any],
        step: int | None = None,
        timestamp: datetime | float | None = None,
    ) -> None:
        """Record metric values at ``step`` (default: one past the greatest step logged so far).

        Values are floats (ints and numpy/torch scalars are converted; NaN and ±inf are kept). ``timestamp``
        defaults to now; pass a datetime or seconds since the epoch to record another time. Raises
        :class:`InvalidName` / :class:`InvalidArgument` for a bad key or value, and then records nothing.
        """
        if not self._active:
            raise RunNotActive(self._closed_message())
        ts = _now_ns() // 1000 if timestamp is None else timestamp_micros(timestamp)
        if step is None:
            step = self._next_step
        elif type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
            step = step_value(step)
        try:
            keys = tuple(metrics)
            values = tuple(metrics.values())
        except (TypeError, AttributeError):
            msg = f"log() takes a mapping of metric names to values, got {type(metrics).__name__} {metrics!r:.80}"
            raise InvalidArgument(msg) from None
        canonical = self._keysets.get(keys)
        if canonical is None:
            for k in keys:
                check_key(k)
            canonical = self._keysets[keys] = keys
        keys = canonical
        for v in values:
            if type(v) is not float:
                values = tuple(metric_value(k, v) for k, v in zip(keys, values, strict=True))
                break
        if not values:
            return
        # Tuples of atomic values only: the garbage collector stops tracking them at its first pass, so a
        # buffer of a million points does not make every collection in the training process slower.
        self._append((self.id, step, ts, keys, values))
        if step >= self._next_step:
            self._next_step = step + 1
        if len(self._calls) * len(values) >= self._flush_points:
            self._writer.request_flush()

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: datetime | float | None = None
    ) -> None:
        """Record one metric value (see :meth:`log`)."""
        self.log({key: value}, step=step, timestamp=timestamp)

    def log_frame(self, data: Any) -> int:
        """Record many points at once from columns ``key``, ``value`` and optionally ``step``, ``timestamp``.

        Accepts anything :meth:`Dataset.write` accepts (pyarrow, polars, pandas, row dicts). Missing steps are
        the next auto step; missing timestamps are now; ``timestamp`` may be a datetime column or seconds since
        the epoch. Returns the number of points recorded.
        """
        if not self._active:
            raise RunNotActive(self._closed_message())
        table = _arrow.to_arrow(data)
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        points = _points_from_table(table, run_id=self.id, default_step=self._next_step, keys=self._keys)
        if points.num_rows:
            self._writer.frames.append(points)
            top = int(pc.max(points.column("step")).as_py())
            self._next_step = max(self._next_step, top + 1)
            if points.num_rows >= self._flush_points:
                self._writer.request_flush()
        return int(points.num_rows)

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will use."""
        return self._next_step

    # --- params, tags, inputs ----------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters. They are immutable: logging a key again with another value raises ParamConflict."""
        self._require_active()
        fresh = check_params(params, existing=self._params, run_id=self.id)
        for key, value in fresh.items():
            self._params[key] = value
            self._event("param", key=key, value=value)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    @property
    def params(self) -> Mapping[str, str]:
        """Parameters recorded so far (as stored: strings)."""
        return dict(self._params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (overwriting earlier values of the same keys)."""
        self._require_active()
        for key, value in check_tags(tags).items():
            self._event("tag", key=key, value=value)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def delete_tag(self, key: str) -> None:
        self._require_active()
        self._event("tag_deleted", key=check_key(key, what="tag"))

    def rename(self, name: str) -> None:
        self._require_active()
        self.name = check_name(name, what="run name")
        self._event("renamed", name=self.name)

    def use_dataset(self, ref: str, *, context: str | None = None) -> DatasetVersion:
        """Record that this run uses the dataset version ``ref`` names (resolved now); returns that version.

        ``context`` says how it is used (``train``, ``validation``...). The version is pinned: dataset vacuum
        keeps it readable.
        """
        self._require_active()
        version, row = resolve_input(self._lh, self.id, ref, context=context)
        self.record_input(row)
        return version

    def record_input(self, row: Mapping[str, Any]) -> None:
        """Record one ``tracking/inputs`` row (``dataset, version, ref, context, at``) unless this run already
        holds the same input (same dataset, version and context)."""
        self._require_active()
        found = RunInput(**{**row, "run_id": self.id})
        if not any(
            i.dataset == found.dataset and i.version == found.version and i.context == found.context
            for i in self._inputs
        ):
            self._inputs.append(found)
            self._writer.add_event("inputs", {**row, "run_id": self.id})

    @property
    def inputs(self) -> tuple[RunInput, ...]:
        """The dataset versions this run used."""
        return tuple(self._inputs)

    # --- artifacts (lakehouse.tracking.artifacts) ----------------------------------------------------------

    def log_artifact(self, path: str | Path, *, name: str | None = None) -> Artifact:
        """Store the file at ``path`` as an artifact of this run, under ``name`` (default: its file name).

        The file is stored once in the object store however many runs log it (logging an unchanged file again
        writes no bytes) and indexed in ``tracking/artifacts`` in one commit, synchronously. A later log of the
        same ``name`` replaces it. Bad input (a missing file, a folder, a name leaving the run) raises
        :class:`InvalidArgument` and writes nothing.
        """
        from lakehouse.tracking import artifacts

        self._require_active()
        planned = artifacts.plan_file(path, name=name)
        (logged,) = artifacts.log_files(self._lh.layout, self._lh.settings, self.id, planned, actor=self._lh.actor)
        return logged

    def log_artifacts(self, folder: str | Path, *, prefix: str | None = None) -> list[Artifact]:
        """Store every file under ``folder`` as artifacts (``prefix/<path in folder>``), in one index commit.

        Symbolic links pointing outside ``folder`` are refused before anything is written.
        """
        from lakehouse.tracking import artifacts

        self._require_active()
        planned = artifacts.plan_folder(folder, prefix=prefix)
        return artifacts.log_files(self._lh.layout, self._lh.settings, self.id, planned, actor=self._lh.actor)

    def artifacts(self) -> pl.DataFrame:
        """This run's artifacts: ``path, size, digest, logged_at`` (see :meth:`Lakehouse.artifacts`)."""
        from lakehouse.tracking import artifacts

        return artifacts.listing(self._lh.layout, self.id)

    def artifact(self, path: str) -> Artifact:
        """This run's artifact at ``path``, to download, open or read."""
        from lakehouse.tracking import artifacts

        return artifacts.get(self._lh.layout, self.id, path)

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._active

    def finish(self, status: RunStatus = "FINISHED", *, end_time: datetime | None = None) -> bool:
        """Mark the run ended with ``status`` and flush; True once everything is committed.

        Never raises for a storage failure: the data stays in the spool and is committed later. Calling it
        again on a finished run does nothing.
        """
        check_status(status)
        if not self._active:
            return True
        self.end(status, end_time=end_time)
        return self._writer.flush()

    def end(self, status: RunStatus, *, end_time: datetime | None = None) -> None:
        """Record the end status without waiting for a commit (``finish`` = ``end`` + ``flush``)."""
        check_status(status)
        if not self._active:
            return
        self._event("status", value=status, at=end_time)
        self._active = False
        self._writer.close_run(self.id)

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything logged so far (by every run of this process); True if nothing is left pending."""
        return self._writer.flush(timeout)

    def info(self) -> RunInfo:
        """The run as the tables show it now (flushes first)."""
        self.flush()
        return self._lh.run(self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._active:
            return
        if exc_type is None:
            self.finish("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("KILLED")
        else:
            self._event("tag", key=ERROR_TAG, value=f"{exc_type.__name__}: {exc}"[:8000])
            self.finish("FAILED")

    # --- helpers -----------------------------------------------------------------------------------------

    def _event(self, kind: str, *, at: datetime | None = None, **fields: Any) -> None:
        self._writer.queue_event(self.id, kind, at=at, **fields)

    def _require_active(self) -> None:
        if not self._active:
            raise RunNotActive(self._closed_message())

    def _closed_message(self) -> str:
        return f"run {self.id} ({self.name}) is finished; resume it with lh.start_run(resume={self.id!r}) to log more"


# --- checks shared by start, resume and the handle ------------------------------------------------------


def check_params(params: Mapping[str, Any], *, existing: Mapping[str, str], run_id: str) -> dict[str, str]:
    """Validate ``params``; return the ones not recorded yet. Raises before anything is recorded."""
    check_mapping(params, what="params")
    fresh: dict[str, str] = {}
    for key, value in params.items():
        check_key(key, what="param")
        text = param_value(key, value)
        before = existing.get(key, fresh.get(key))
        if before is not None and before != text:
            msg = (
                f"param {key!r} of run {run_id} is already {before!r}; params are immutable, cannot set it to "
                f"{text!r} (log it under another key, or start a new run)"
            )
            raise ParamConflict(msg)
        if before is None:
            fresh[key] = text
    return fresh


def check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    check_mapping(tags, what="tags")
    return {check_key(k, what="tag"): tag_value(k, v) for k, v in tags.items()}


def resolve_input(
    lakehouse: Lakehouse, run_id: str, ref: object, *, context: str | None
) -> tuple[DatasetVersion, dict[str, Any]]:
    """Resolve a dataset reference to its concrete version and the ``tracking/inputs`` row recording it."""
    if not isinstance(ref, str):
        msg = f"a dataset input must be a reference string like 'mnist-train:v3', got {ref!r}"
        raise InvalidArgument(msg)
    if context is not None:
        check_key(context, what="input context")
    version = lakehouse.resolve(ref)
    row = {
        "run_id": run_id,
        "dataset": version.name,
        "version": version.version,
        "ref": ref,
        "context": context,
        "at": now_utc(),
    }
    return version, row


def new_run_id() -> str:
    """32 hex characters, like MLflow's run ids."""
    return uuid.uuid4().hex


def environment_event(run_id: str, facts: dict[str, Any], at: datetime) -> Any:
    """A deferred maker of the run's ``environment`` event (slow parts gathered on the writer thread)."""

    def make() -> list[tuple[str, dict[str, Any]]]:
        full = environment.complete(facts)
        row = {"run_id": run_id, "kind": "environment", "at": at, "value": json.dumps(full, sort_keys=True)}
        return [("runs", row)]

    return make


def _constant(value: int | str, n: int, dtype: type[pl.DataType]) -> pa.Array:
    # polars, not pa.array: pyarrow imports pandas the first time it converts Python objects.
    return pl.repeat(value, n, dtype=dtype, eager=True).to_arrow()


def _points_from_table(table: pa.Table, *, run_id: str, default_step: int, keys: set[str]) -> pa.Table:
    """Validate and convert a user table of points to the metrics schema (all checks before anything is kept)."""
    names = table.column_names
    for required in ("key", "value"):
        if required not in names:
            msg = f"log_frame() needs a {required!r} column; got columns {names}"
            raise InvalidData(msg)
    unknown = set(names) - {"key", "value", "step", "timestamp"}
    if unknown:
        msg = f"log_frame() got unexpected columns {sorted(unknown)}; use key, value, step, timestamp"
        raise InvalidData(msg)
    n = table.num_rows
    key = table.column("key")
    if not (pa.types.is_string(key.type) or pa.types.is_large_string(key.type) or pa.types.is_string_view(key.type)):
        msg = f"log_frame(): column 'key' must hold strings, got {key.type}"
        raise InvalidData(msg)
    if key.null_count:
        msg = f"log_frame(): column 'key' has {key.null_count} null(s); every point needs a key"
        raise InvalidData(msg)
    key = key.cast(pa.string())
    for k in pc.unique(key).to_pylist():
        if k not in keys:
            check_key(k)
    value = table.column("value")
    if pa.types.is_boolean(value.type) or not (
        pa.types.is_integer(value.type) or pa.types.is_floating(value.type) or pa.types.is_decimal(value.type)
    ):
        msg = f"log_frame(): column 'value' must be numeric, got {value.type}"
        raise InvalidData(msg)
    if value.null_count:
        msg = f"log_frame(): column 'value' has {value.null_count} null(s); log NaN for a missing value"
        raise InvalidData(msg)
    value = value.cast(pa.float64())
    if "step" in names:
        step = table.column("step")
        if not pa.types.is_integer(step.type) or step.null_count:
            msg = (
                f"log_frame(): column 'step' must be non-null integers, got {step.type} with {step.null_count} null(s)"
            )
            raise InvalidData(msg)
        step = step.cast(pa.int64())
    else:
        step = _constant(default_step, n, pl.Int64)
    if "timestamp" in names:
        stamp = table.column("timestamp")
        if stamp.null_count:
            msg = f"log_frame(): column 'timestamp' has {stamp.null_count} null(s)"
            raise InvalidData(msg)
        if pa.types.is_timestamp(stamp.type):
            stamp = (
                stamp.cast(pa.timestamp("us", tz="UTC"))
                if stamp.type.tz
                else stamp.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
            )
        elif pa.types.is_integer(stamp.type) or pa.types.is_floating(stamp.type):
            micros = pc.round(pc.multiply(stamp.cast(pa.float64()), 1_000_000)).cast(pa.int64())
            stamp = micros.cast(pa.timestamp("us", tz="UTC"))
        else:
            msg = f"log_frame(): column 'timestamp' must be datetimes or seconds since the epoch, got {stamp.type}"
            raise InvalidData(msg)
    else:
        stamp = _constant(_now_ns() // 1000, n, pl.Int64).cast(pa.timestamp("us", tz="UTC"))
    run = _constant(run_id, n, pl.String).cast(pa.string())
    keys.update(pc.unique(key).to_pylist())
    return pa.Table.from_arrays([run, key, step, stamp, value], schema=METRICS.schema)
