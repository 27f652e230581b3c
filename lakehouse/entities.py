"""Frozen values the tracking API returns: runs, metric points and summaries, inputs, comparisons, reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import polars as pl

RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})
Lifecycle = Literal["active", "deleted"]


@dataclass(frozen=True)
class Metric:
    """One logged point, as in MLflow: key, value, step, timestamp (UTC)."""

    key: str
    value: float
    step: int
    timestamp: datetime


@dataclass(frozen=True)
class MetricSummary:
    """A metric of one run at a glance: points logged, min and max (NaN ignored), and the last value."""

    key: str
    count: int
    min: float | None
    max: float | None
    last: float
    last_step: int
    last_timestamp: datetime


@dataclass(frozen=True)
class RunInput:
    """A dataset version a run used. ``ref`` is what the run asked for (``mnist:prod``), ``version`` what it got."""

    run_id: str
    dataset: str
    version: int
    ref: str | None
    context: str | None
    at: datetime

    @property
    def version_ref(self) -> str:
        """The immutable reference to the version used, e.g. ``mnist-train:v3``."""
        return f"{self.dataset}:v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["version_ref"] = self.version_ref
        out["at"] = self.at.isoformat()
        return out


#: The tag that says why a run failed: an uncaught exception, or recovery's note on a process that died.
ERROR_TAG = "lakehouse.error"


@dataclass(frozen=True)
class RunInfo:
    """Everything recorded about one run, folded from its events (see ``Lakehouse.run``)."""

    id: str
    name: str | None
    experiment: str | None
    status: RunStatus
    lifecycle: Lifecycle
    start_time: datetime | None
    end_time: datetime | None
    job_type: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, MetricSummary] = field(default_factory=dict)
    inputs: tuple[RunInput, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    #: The run's newest event or point (a live writer adds heartbeats), and whether, RUNNING, it has been
    #: silent for longer than ``tracking.lost_after`` when read (see ``docs/TRACKING.md``).
    last_seen: datetime | None = None
    lost: bool = False

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    @property
    def error(self) -> str | None:
        """Why the run failed (its ``lakehouse.error`` tag), if it says."""
        return self.tags.get(ERROR_TAG)

    @property
    def last_step(self) -> int | None:
        """The greatest step of any metric, or None if nothing was logged."""
        return max((m.last_step for m in self.metrics.values()), default=None)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_time"] = self.start_time.isoformat() if self.start_time else None
        out["end_time"] = self.end_time.isoformat() if self.end_time else None
        out["last_seen"] = self.last_seen.isoformat() if self.last_seen else None
        out["metrics"] = {
            k: {**asdict(m), "last_timestamp": m.last_timestamp.isoformat()} for k, m in self.metrics.items()
        }
        out["inputs"] = [i.to_dict() for i in self.inputs]
        out["params"], out["tags"], out["environment"] = dict(self.params), dict(self.tags), dict(self.environment)
        out["duration_s"] = self.duration_s
        return out


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side (``Lakehouse.compare``). Frames have one column per run, named by run id.

    ``params``: the params whose values differ (``param`` column first); ``same_params``: those all runs share;
    ``metrics``: last/min/max of every metric (``metric``, ``stat`` columns first); ``inputs``: the dataset
    versions each run used (``dataset`` column first); ``labels``: a short display name per run id.
    """

    run_ids: tuple[str, ...]
    labels: Mapping[str, str]
    params: pl.DataFrame
    same_params: Mapping[str, str | None]
    metrics: pl.DataFrame
    inputs: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_ids": list(self.run_ids),
            "labels": dict(self.labels),
            "params": self.params.to_dicts(),
            "same_params": dict(self.same_params),
            "metrics": self.metrics.to_dicts(),
            "inputs": self.inputs.to_dicts(),
        }


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` did with the spool of this machine."""

    spool: str
    writers_recovered: tuple[str, ...] = ()
    writers_alive: tuple[str, ...] = ()
    segments_committed: int = 0
    segments_already_committed: int = 0
    segments_quarantined: int = 0
    points_committed: int = 0
    runs_failed: tuple[str, ...] = ()  # runs a dead writer left RUNNING, now FAILED
    stale_runs_failed: tuple[str, ...] = ()  # runs silent for longer than ``stale``, now FAILED (any machine's)
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableMaintenance:
    """What the tracking tables' own steps did to one of them (file counts are in the shared report,
    :class:`lakehouse.maintenance.TableReport`)."""

    table: str
    compacted: bool
    rows_pruned: int = 0
    checkpointed: bool = False
    skipped: str | None = None  # what was not done, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the model registry ---------------------------------------------------------------------------------------

AliasChangeKind = Literal["set", "moved", "deleted"]


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model as its events fold (``lh.models()``, ``lh.model(name).info()``).

    ``aliases`` maps each live alias to the version it points at; ``latest_version`` is the highest live
    version number (None before the first version).
    """

    name: str
    model_id: str
    lifecycle: Lifecycle
    description: str | None
    tags: Mapping[str, str]
    aliases: Mapping[str, int]
    latest_version: int | None
    version_count: int
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"], out["aliases"] = dict(self.tags), dict(self.aliases)
        out["created_at"], out["updated_at"] = self.created_at.isoformat(), self.updated_at.isoformat()
        return out


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model: where it came from (``source``, ``run_id``) and what points at it."""

    name: str
    version: int
    model_id: str
    lifecycle: Lifecycle
    source: str
    run_id: str | None
    description: str | None
    tags: Mapping[str, str]
    aliases: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    run_link: str | None = None
    logged_model_id: str | None = None  # the MLflow logged model the version promotes, if any

    @property
    def ref(self) -> str:
        """The immutable reference to this version, e.g. ``digits-classifier:v3``."""
        return f"{self.name}:v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"], out["aliases"] = dict(self.tags), list(self.aliases)
        out["created_at"], out["updated_at"] = self.created_at.isoformat(), self.updated_at.isoformat()
        out["ref"] = self.ref
        return out


@dataclass(frozen=True)
class AliasChange:
    """One change of an alias: ``set`` (new), ``moved`` (from ``previous_version`` to ``version``) or
    ``deleted`` (``version`` None); who did it, when and why. A version's deletion deletes its aliases."""

    name: str
    alias: str
    change: AliasChangeKind
    version: int | None
    previous_version: int | None
    actor: str | None
    at: datetime
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out


@dataclass(frozen=True)
class ModelLineage:
    """A model version with the run that built it: its params, final metrics and the dataset versions it used
    (``run`` None when the version's source names no run, or the run is unknown under this root)."""

    version: ModelVersion
    run: RunInfo | None

    @property
    def params(self) -> Mapping[str, str]:
        return dict(self.run.params) if self.run else {}

    @property
    def metrics(self) -> Mapping[str, float]:
        """The final (last logged) value of every metric of the run."""
        return {k: m.last for k, m in self.run.metrics.items()} if self.run else {}

    @property
    def inputs(self) -> tuple[RunInput, ...]:
        return self.run.inputs if self.run else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.to_dict(),
            "run": self.run.to_dict() if self.run else None,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "inputs": [i.version_ref for i in self.inputs],
        }
