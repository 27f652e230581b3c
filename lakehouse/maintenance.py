"""Table maintenance: compact, cluster, checkpoint and vacuum every table under a root, with either engine.

The plan is the same for both engines (``lakehouse maintain --engine embedded|spark``):

* **datasets** are compacted (small files rewritten into larger ones; a version with ``data_change`` false),
  checkpointed, and vacuumed keeping every file a *pinned* version needs (tagged, or used by a run);
* the **metrics** fact table is Z-ordered by ``run_id`` so one run's points sit in few files, then
  checkpointed and vacuumed;
* the other lakehouse tables (catalog, runs, run inputs, quarantines) are compacted, checkpointed and
  vacuumed.

This module runs the plan with delta-rs; :mod:`lakehouse.spark.maintain` runs it with Spark.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakehouse import storage
from lakehouse.catalog import registry
from lakehouse.datasets import retention
from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

Kind = Literal["dataset", "metrics", "table"]
Engine = Literal["embedded", "spark"]
ENGINES: tuple[Engine, ...] = ("embedded", "spark")
METRICS_CLUSTER_BY = ("run_id",)
# Tables lakehouse keeps besides datasets, by folder under the root.
_TABLE_FOLDERS = ("_catalog", "tracking", "_quarantine")


@dataclass(frozen=True)
class Target:
    """One table to maintain."""

    table: str  # location relative to the root, e.g. "datasets/mnist"
    path: Path
    kind: Kind
    dataset: str | None = None
    z_order: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableReport:
    """What maintenance did to one table."""

    table: str
    kind: Kind
    version_before: int
    version_after: int
    files_compacted: int = 0  # files rewritten by compaction / Z-order
    files_written: int = 0  # files they became
    z_order: tuple[str, ...] = ()
    checkpoint_version: int | None = None
    vacuumed: tuple[str, ...] = ()  # data files deleted (or, with dry_run, that would be)
    pinned_versions: Mapping[int, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["vacuumed"] = list(self.vacuumed)
        out["pinned_versions"] = {str(k): v for k, v in self.pinned_versions.items()}
        return out


@dataclass(frozen=True)
class MaintenanceReport:
    engine: Engine
    dry_run: bool
    tables: tuple[TableReport, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "dry_run": self.dry_run, "tables": [t.to_dict() for t in self.tables]}


@dataclass(frozen=True)
class Steps:
    """Which steps to run, and how."""

    compact: bool = True
    checkpoint: bool = True
    vacuum: bool = True
    retention_hours: int | None = None  # default: settings.vacuum_retention_hours
    dry_run: bool = False  # vacuum lists files instead of deleting them (compaction still runs)

    def hours(self, lh: Lakehouse) -> int:
        hours = lh.settings.vacuum_retention_hours if self.retention_hours is None else self.retention_hours
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 0:
            msg = f"retention_hours must be a non-negative integer, got {self.retention_hours!r}"
            raise InvalidArgument(msg)
        return hours


def targets(lh: Lakehouse, *, datasets: Sequence[str] | None = None, tables: bool = True) -> list[Target]:
    """Tables to maintain: the named datasets (default all), the metrics table and the other tables."""
    names = registry.dataset_names(lh.layout)
    if datasets is not None:
        for name in datasets:
            _ = lh.dataset(name).latest_version  # a clear DatasetNotFound (with a hint) for a typo
        names = [n for n in names if n in set(datasets)]
    found = [Target(f"datasets/{n}", lh.layout.dataset(n), "dataset", dataset=n) for n in names]
    if not tables:
        return found
    metrics = lh.layout.metrics
    if storage.exists(metrics):
        columns = storage.arrow_schema(metrics).names
        z_order = tuple(c for c in METRICS_CLUSTER_BY if c in columns)
        found.append(Target("tracking/metrics", metrics, "metrics", z_order=z_order))
    for folder in _TABLE_FOLDERS:
        base = lh.root / folder
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            if child != metrics and child.is_dir() and storage.exists(child):
                found.append(Target(str(child.relative_to(lh.root)), child, "table"))
    return found


def pins(lh: Lakehouse, target: Target) -> dict[int, list[str]]:
    """Versions vacuum must keep readable; for datasets their log retention is stretched to cover them."""
    if target.dataset is None:
        return {}
    ds = lh.dataset(target.dataset)
    pinned = ds.pinned_versions()
    if pinned:
        retention.ensure_log_covers(str(ds.path), ds.version(min(pinned)).created_at)
    return pinned


def run(
    lh: Lakehouse,
    work: Sequence[Target],
    steps: Steps,
    one_table: Callable[[Target, int], TableReport],
    *,
    engine: Engine,
) -> MaintenanceReport:
    """Run ``one_table`` over ``work`` (after checking the retention) and collect the report."""
    hours = steps.hours(lh)
    return MaintenanceReport(engine, steps.dry_run, tuple(one_table(t, hours) for t in work))


def maintain_embedded(
    lh: Lakehouse,
    *,
    datasets: Sequence[str] | None = None,
    tables: bool = True,
    steps: Steps | None = None,
) -> MaintenanceReport:
    """Maintain tables with delta-rs (no JVM)."""
    steps = steps or Steps()

    def one(target: Target, hours: int) -> TableReport:
        before = storage.latest_version(target.path)
        compacted = written = 0
        if steps.compact:
            metrics = storage.compact(
                target.path, z_order=target.z_order or None, max_commit_retries=lh.settings.max_commit_retries
            )
            compacted, written = int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0))
        checkpoint = None
        if steps.checkpoint:
            storage.checkpoint(target.path)
            checkpoint = storage.latest_version(target.path)
        pinned: dict[int, list[str]] = {}
        vacuumed: list[str] = []
        if steps.vacuum:
            pinned = pins(lh, target)
            vacuumed = storage.vacuum(
                target.path, retention_hours=hours, dry_run=steps.dry_run, keep_versions=list(pinned)
            )
        return TableReport(
            table=target.table,
            kind=target.kind,
            version_before=before,
            version_after=storage.latest_version(target.path),
            files_compacted=compacted,
            files_written=written,
            z_order=target.z_order,
            checkpoint_version=checkpoint,
            vacuumed=tuple(vacuumed),
            pinned_versions=pinned,
        )

    return run(lh, targets(lh, datasets=datasets, tables=tables), steps, one, engine="embedded")
