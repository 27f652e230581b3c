"""Maintenance of every table under a root, with either engine: ``lh.maintain()``, ``lakehouse maintain``.

The plan is the same for both engines; what differs is who rewrites the files:

* **datasets**: compact small files into larger ones (a version with ``data_change`` false), checkpoint, and
  with ``vacuum`` delete the files no version needs any more, except those of *pinned* versions (tagged, or
  used by a run), whose log entries are kept too, and what killed Spark writes left
  (:mod:`lakehouse.datasets.spark_leftovers`);
* **tracking tables** (``runs``, ``inputs``, ``metric_summaries``, ``metrics``): the steps of
  :mod:`lakehouse.tracking.maintenance` (prune superseded summary rows, compact each run's partition into one
  file, checkpoint), then vacuum. The metrics fact table is partitioned by ``run_id``, so compacting it is
  what clusters it by run: one file per run (Z-ordering by a partition column is not possible, nor needed);
* **the object store** (``_objects/``, see docs/ARTIFACTS.md): with ``vacuum``, objects nothing refers to (no
  current artifact; later no model version or file dataset either: :data:`OBJECT_REFERENCES`) and older than
  the retention are deleted, with the staging files of writes that died; a young object may belong to a write in
  flight whose index row is not committed yet, so it stays. Dry runs list them. Both engines share this step;
* **other tables** (``_catalog/*``, ``_quarantine/*``, and the tracking tables written synchronously rather than
  by the metrics writer: ``tracking/experiments``, ``tracking/logged_models``): compact, checkpoint, vacuum. None
  of them has versions to pin: readers fold every row of the latest version.

This module runs the plan with delta-rs; :mod:`lakehouse.spark.maintain` runs it with Spark (OPTIMIZE,
a Delta checkpoint and VACUUM), with the same vacuum rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from lakehouse import storage
from lakehouse.catalog import datasets_catalog
from lakehouse.catalog.layout import Layout
from lakehouse.datasets import files as file_datasets
from lakehouse.datasets import retention, spark_leftovers
from lakehouse.errors import InvalidArgument, TableNotFound
from lakehouse.location import Location
from lakehouse.objects import PREFIX
from lakehouse.tracking import artifacts

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

Kind = Literal["dataset", "tracking", "table", "objects"]
Engine = Literal["embedded", "spark"]
ENGINES: tuple[Engine, ...] = ("embedded", "spark")
# Tables lakehouse keeps besides datasets and the tracking tables, by folder under the root.
_TABLE_FOLDERS = ("_catalog", "_quarantine")
OBJECTS_TARGET = "_objects"

#: Who refers to objects of the object store: each provider returns the digests its feature needs kept. Model
#: versions and file datasets add theirs here; vacuum keeps the union and never deletes when one fails.
ObjectReferences = Callable[[Layout], Iterable[str]]
OBJECT_REFERENCES: list[ObjectReferences] = [artifacts.referenced_digests, file_datasets.referenced_digests]


@dataclass(frozen=True)
class Target:
    """One table to maintain."""

    table: str  # "datasets/<name>", a tracking table's short name, or a location under the root
    path: Location
    kind: Kind
    dataset: str | None = None


@dataclass(frozen=True)
class TableReport:
    """What maintenance did to one table."""

    table: str
    kind: Kind
    files_before: int = 0
    files_after: int = 0
    version_before: int | None = None
    version_after: int | None = None
    compacted: bool = False  # files were rewritten
    rows_pruned: int = 0  # superseded metric summaries deleted
    checkpointed: bool = False
    vacuumed_files: int = 0  # deleted (or, with dry_run, that would be)
    vacuumed: tuple[str, ...] = ()  # their paths relative to the table
    pinned_versions: Mapping[int, list[str]] = field(default_factory=dict)
    skipped: str | None = None  # what was not done, and why

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["vacuumed"] = list(self.vacuumed)
        out["pinned_versions"] = {str(k): v for k, v in self.pinned_versions.items()}
        return out


@dataclass(frozen=True)
class MaintenanceReport:
    """What maintenance did, table by table, with which engine."""

    engine: Engine
    dry_run: bool
    tables: tuple[TableReport, ...]
    seconds: float = 0.0

    def table(self, name: str) -> TableReport:
        """The report of one table, by the name it has in ``tables`` (``metrics``, ``datasets/mnist``...)."""
        for report in self.tables:
            if report.table == name:
                return report
        msg = f"no table {name!r} in this report; it has {', '.join(t.table for t in self.tables) or 'none'}"
        raise KeyError(msg)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "dry_run": self.dry_run,
            "seconds": self.seconds,
            "tables": [t.to_dict() for t in self.tables],
        }


@dataclass(frozen=True)
class Steps:
    """Which steps to run, and how."""

    compact: bool = True
    checkpoint: bool = True
    vacuum: bool = False
    retention_hours: int | None = None  # default: settings.vacuum_retention_hours
    dry_run: bool = False  # vacuum lists the files instead of deleting them

    def hours(self, lh: Lakehouse) -> int:
        return retention.vacuum_hours(lh.settings, self.retention_hours)


def targets(
    lh: Lakehouse,
    *,
    datasets: Sequence[str] | None = None,
    tracking: Sequence[str] | None = None,
) -> list[Target]:
    """Tables to maintain: everything, or only the named datasets and tracking tables (short names)."""
    everything = datasets is None and tracking is None
    names = datasets_catalog.dataset_names(lh.layout)
    if datasets is not None:
        for name in datasets:
            _ = lh.dataset(name).latest_version  # a clear DatasetNotFound (with a hint) for a typo
        names = [n for n in names if n in set(datasets)]
    found = [Target(f"datasets/{n}", lh.layout.dataset(n), "dataset", dataset=n) for n in names]
    known = lh.layout.tracking_tables
    synchronous = lh.layout.synchronous_tables
    for name in tracking or []:
        if name not in known and name not in synchronous:
            msg = f"unknown tracking table {name!r}; choose from {', '.join([*known, *synchronous])}"
            raise InvalidArgument(msg)
    for name, path in known.items():
        if everything or (tracking is not None and name in tracking):
            found.append(Target(name, path, "tracking"))
    for name, path in synchronous.items():
        # Only where MLflow (or the registry) created them: most roots have neither.
        if (everything or (tracking is not None and name in tracking)) and storage.exists(path):
            found.append(Target(f"tracking/{name}", path, "table"))
    if everything:
        for folder in _TABLE_FOLDERS:
            found.extend(
                Target(child.relative_to(lh.root), child, "table") for child in storage.tables_in(lh.root / folder)
            )
        if lh.layout.objects.files.has_folder(OBJECTS_TARGET):
            found.append(Target(OBJECTS_TARGET, lh.root / OBJECTS_TARGET, "objects"))
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


@dataclass
class Facts:
    """What one engine did to one table, gathered step by step."""

    compacted: bool = False
    rows_pruned: int = 0
    checkpointed: bool = False
    vacuumed: list[str] = field(default_factory=list)
    pinned: dict[int, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def run(
    lh: Lakehouse,
    work: Sequence[Target],
    steps: Steps,
    one_table: Callable[[Target, int, Facts], None],
    *,
    engine: Engine,
) -> MaintenanceReport:
    """Run ``one_table`` (an engine's steps) over ``work`` and report before/after facts of every table."""
    hours = steps.hours(lh)
    started = time.perf_counter()
    reports = []
    for target in work:
        if target.kind == "objects":
            reports.append(vacuum_objects(lh.layout, hours=hours, steps=steps))
            continue
        try:
            before = storage.live_files(target.path)
        except TableNotFound:
            reports.append(TableReport(target.table, target.kind, skipped="table does not exist yet"))
            continue
        facts = Facts()
        one_table(target, hours, facts)
        if steps.vacuum:  # what Delta's vacuum does not look at: staging folders of killed Spark writes
            facts.vacuumed.extend(
                spark_leftovers.remove_leftovers(target.path, retention_hours=hours, dry_run=steps.dry_run)
            )
        after = storage.live_files(target.path)
        reports.append(
            TableReport(
                table=target.table,
                kind=target.kind,
                files_before=len(before.files),
                files_after=len(after.files),
                version_before=before.version,
                version_after=after.version,
                compacted=facts.compacted,
                rows_pruned=facts.rows_pruned,
                checkpointed=facts.checkpointed,
                vacuumed_files=len(facts.vacuumed),
                vacuumed=tuple(facts.vacuumed),
                pinned_versions=facts.pinned,
                skipped="; ".join(facts.skipped) or None,
            )
        )
    return MaintenanceReport(engine, steps.dry_run, tuple(reports), round(time.perf_counter() - started, 3))


def referenced_digests(layout: Layout) -> set[str]:
    """Every digest some feature refers to (the union of :data:`OBJECT_REFERENCES`)."""
    found: set[str] = set()
    for provider in OBJECT_REFERENCES:
        found.update(provider(layout))
    return found


def vacuum_objects(layout: Layout, *, hours: int, steps: Steps) -> TableReport:
    """With ``steps.vacuum``: delete (or list, on a dry run) the unreferenced objects older than ``hours``."""
    store = layout.objects
    before = sum(1 for _ in store.objects())
    if not steps.vacuum:
        return TableReport(OBJECTS_TARGET, "objects", before, before, skipped="objects are only removed by vacuum")
    cutoff = datetime.now(UTC) - timedelta(hours=hours)
    removed = store.sweep(referenced_digests(layout), older_than=cutoff, dry_run=steps.dry_run)
    objects_removed = 0 if steps.dry_run else sum(1 for key in removed if key.startswith(PREFIX))
    return TableReport(
        OBJECTS_TARGET,
        "objects",
        files_before=before,
        files_after=before - objects_removed,
        vacuumed_files=len(removed),
        vacuumed=tuple(removed),
    )


def maintain_embedded(
    lh: Lakehouse,
    *,
    datasets: Sequence[str] | None = None,
    tracking: Sequence[str] | None = None,
    steps: Steps | None = None,
) -> MaintenanceReport:
    """Maintain tables with delta-rs (no JVM)."""
    steps = steps or Steps()

    def one(target: Target, hours: int, facts: Facts) -> None:
        if target.kind == "tracking":
            # The tracking tables' own routine: prune summaries, compact by run, checkpoint.
            from lakehouse.tracking import maintenance as tracking_maintenance

            if steps.compact or steps.checkpoint:
                (done,) = tracking_maintenance.maintain_tracking_tables(lh.layout, lh.settings, tables=[target.table])
                facts.compacted, facts.rows_pruned = done.compacted, done.rows_pruned
                facts.checkpointed = done.checkpointed
                facts.skipped.extend([done.skipped] if done.skipped else [])
        else:
            if steps.compact:
                metrics = storage.compact(target.path, max_commit_retries=lh.settings.max_commit_retries)
                facts.compacted = bool(metrics.get("numFilesRemoved"))
            if steps.checkpoint:
                storage.checkpoint(target.path)
                facts.checkpointed = True
        if steps.vacuum:
            facts.pinned = pins(lh, target)
            facts.vacuumed = storage.vacuum(
                target.path, retention_hours=hours, dry_run=steps.dry_run, keep_versions=list(facts.pinned)
            )

    return run(lh, targets(lh, datasets=datasets, tracking=tracking), steps, one, engine="embedded")


def check_engine(engine: str) -> Engine:
    """``engine`` if it is one of :data:`ENGINES`, else a clear error naming it."""
    if engine not in ENGINES:
        msg = f"unknown maintenance engine {engine!r}; choose from {', '.join(ENGINES)}"
        raise InvalidArgument(msg)
    return engine


def maintain_tables(
    lh: Lakehouse,
    *,
    datasets: Sequence[str] | None = None,
    tracking: Sequence[str] | None = None,
    steps: Steps | None = None,
    engine: str = "embedded",
    spark: Any = None,
) -> MaintenanceReport:
    """Maintain the tables under ``lh`` with delta-rs (``embedded``) or Spark; see the module docstring.

    Bad arguments (engine, table names, retention) are refused before any table, or the JVM, is touched.
    """
    steps = steps or Steps()
    chosen = check_engine(engine)
    steps.hours(lh)
    if chosen == "spark":
        from lakehouse._optional import import_optional

        spark_maintenance = import_optional("lakehouse.spark", extra="spark", purpose="maintenance with Spark")
        report: MaintenanceReport = spark_maintenance.maintain_with_spark(
            lh, datasets=datasets, tracking=tracking, steps=steps, spark=spark
        )
        return report
    return maintain_embedded(lh, datasets=datasets, tracking=tracking, steps=steps)
