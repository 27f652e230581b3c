"""The entry point: ``lakehouse.connect(root)`` returns a :class:`Lakehouse`."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import polars as pl

from lakehouse import storage
from lakehouse.catalog import datasets_catalog
from lakehouse.catalog.layout import Layout
from lakehouse.config import Settings, load_settings
from lakehouse.datasets.dataset import Dataset, default_actor
from lakehouse.datasets.versions import DatasetInfo, DatasetVersion
from lakehouse.location import Location
from lakehouse.object_storage import storage_options
from lakehouse.refs import Ref, parse_ref
from lakehouse.state import RootState

if TYPE_CHECKING:
    from lakehouse.datasets.files import DownloadReport
    from lakehouse.entities import ModelLineage, ModelVersion, RegisteredModel
    from lakehouse.maintenance import MaintenanceReport
    from lakehouse.registry import Model
    from lakehouse.tracking import (
        Metric,
        RecoveryReport,
        Run,
        RunComparison,
        RunInfo,
        RunStatus,
    )
    from lakehouse.tracking.artifacts import Artifact


class Lakehouse:
    """All tables under one root: datasets, their catalog, and (in ``tracking/``) runs and metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Location.of(settings.root)
        self.layout = Layout(self.root, storage_options(settings))
        self.actor = settings.actor or default_actor()

    def __repr__(self) -> str:
        return f"Lakehouse(root={str(self.root)!r})"

    # --- datasets ----------------------------------------------------------------------------------------

    def dataset(self, name: str) -> Dataset:
        """A handle on dataset ``name`` (created by its first write)."""
        return Dataset(self, name)

    def datasets(self) -> list[DatasetInfo]:
        """Every dataset, by name, with its latest version, row count, live tags, and the time and author of
        its newest data-changing version (vacuum and optimize commits are maintenance, not updates)."""
        return [self.dataset(name).info() for name in datasets_catalog.dataset_names(self.layout)]

    def resolve(self, ref: str | Ref) -> DatasetVersion:
        """The concrete version a reference names (``name``, ``name:v3``, ``name:prod``, ``name@time``)."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        ds = self.dataset(parsed.name)
        return ds.version(ds.resolve(parsed.version, tag=parsed.tag, as_of=parsed.as_of))

    def scan(self, ref: str | Ref) -> pl.LazyFrame:
        """A lazy polars scan of the version a reference names."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        return self.dataset(parsed.name).scan(parsed.version, tag=parsed.tag, as_of=parsed.as_of)

    def read(self, ref: str | Ref, *, columns: list[str] | None = None) -> pl.DataFrame:
        """Read the version a reference names into a polars DataFrame."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        return self.dataset(parsed.name).read(parsed.version, tag=parsed.tag, as_of=parsed.as_of, columns=columns)

    # --- SQL (lakehouse.sql) -----------------------------------------------------------------------------

    @overload
    def sql(
        self, query: str, *, lazy: Literal[False] = False, limit: int | None = None, timeout: float | None = None
    ) -> pl.DataFrame: ...
    @overload
    def sql(self, query: str, *, lazy: Literal[True], limit: int | None = None) -> pl.LazyFrame: ...
    def sql(
        self, query: str, *, lazy: bool = False, limit: int | None = None, timeout: float | None = None
    ) -> pl.DataFrame | pl.LazyFrame:
        """Run a read-only SQL query over every table and every dataset version (polars' SQL engine).

        Names: ``runs``, ``params``, ``tags``, ``metrics``, ``metric_summaries``, ``inputs``, ``experiments``,
        ``artifacts``, ``models``, ``model_versions``, ``model_aliases``, ``datasets``, ``dataset_versions``, and
        any dataset by reference in double quotes (``"digits:v2"``, ``"digits:prod"``,
        ``"digits@2026-11-01T12:00:00Z"``; ``"digits:v2..v3"`` for the rows that changed).
        ``lazy=True`` returns a LazyFrame. ``limit`` keeps the first rows only; ``timeout`` (seconds) stops a
        query still running after that long (``QueryError``). See docs/SQL.md.

        Raises:
            QueryRefused: anything but a query (writes, DDL, several statements), or a file read.
            QueryError: an unknown table or column (with the closest names), or SQL the engine cannot run.
        """
        from lakehouse.sql import embedded

        return embedded.sql(self, query, lazy=lazy, limit=limit, timeout=timeout)

    def sql_tables(self) -> dict[str, str]:
        """The names a SQL query can read without a ref, with what each holds: the lakehouse's tables, then
        every dataset (whose versions are ``"name:v3"``, ``"name:<tag>"``...)."""
        from lakehouse.sql import catalog

        return {n: catalog.NAMES[n].about if n in catalog.NAMES else "dataset" for n in catalog.table_names(self)}

    def open_file(self, ref: str | Ref, path: str) -> io.BufferedIOBase:
        """A binary reader of the file ``path`` of the file dataset version ``ref`` names (verified first)."""
        version = self.resolve(ref)
        return self.dataset(version.name).open_file(path, version.version)

    def download(
        self,
        ref: str | Ref,
        dest: str | Path,
        *,
        overwrite: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> DownloadReport:
        """Write the files of the file dataset version ``ref`` names under ``dest`` (see ``Dataset.download``)."""
        version = self.resolve(ref)
        return self.dataset(version.name).download(dest, ref=version.version, overwrite=overwrite, progress=progress)

    # --- runs and metrics (lakehouse.tracking, lakehouse.query) -------------------------------------------

    def start_run(
        self,
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
        """Start a run (or continue run ``resume``) and return its handle; use it as a context manager.

        Args:
            experiment: groups runs (default ``"default"``).
            name: display name (default ``run-<first 8 characters of the id>``).
            params: immutable parameters, stored as strings as MLflow does.
            tags: mutable labels.
            job_type: what kind of run this is (``train``, ``eval``...).
            inputs: dataset references (``"mnist-train:v3"``, ``":prod"``, ``"@<time>"``) resolved now to the
                concrete versions that are recorded (and pinned against vacuum).
            resume: id of an existing run to continue: its params stay immutable and its step counter
                continues after its last logged step.
            start_time: when the run started, if not now.

        Nothing here waits for a commit: the run's events go through the background writer. User, host,
        command line, Python and package versions and the git commit are recorded automatically.
        """
        from lakehouse.tracking import starting

        return starting.start_run(
            self,
            experiment=experiment,
            name=name,
            params=params,
            tags=tags,
            job_type=job_type,
            inputs=inputs,
            resume=resume,
            start_time=start_time,
        )

    def attach_run(self, run_id: str) -> Run:
        """A handle that logs into an existing run without changing its status (for stateless clients)."""
        from lakehouse.tracking import starting

        return starting.attach_run(self, run_id)

    def run(self, run_id: str) -> RunInfo:
        """Everything recorded about one run (``run_id`` may be a unique prefix or a unique run name)."""
        from lakehouse.query.runs import Tables, resolve_run_id, run_info

        tables = Tables.load(self.layout)
        return run_info(tables, resolve_run_id(tables, run_id), lost_after=self.settings.lost_after)

    def runs(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        run_ids: str | Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
        include_deleted: bool = False,
        where: pl.Expr | None = None,
    ) -> pl.DataFrame:
        """One row per run, newest first: ``run_id, name, experiment, status, lost, lifecycle, start_time,
        end_time, last_seen, job_type, user, host, git_commit, inputs`` (list of ``dataset:vN``), then
        ``params.<key>``, ``tags.<key>`` and ``metrics.<key>.last|min|max`` columns.

        ``lost`` is true for a RUNNING run with no sign of life (``last_seen``, its newest event; live writers
        add heartbeats) for longer than ``tracking.lost_after``: its process is probably gone.

        Deleted runs are hidden unless ``include_deleted``; ``tags`` keeps runs having all those tag values;
        ``where`` is any polars filter applied to the result.
        """
        from lakehouse.query import runs

        return runs.runs(
            self.layout,
            lost_after=self.settings.lost_after,
            experiment=experiment,
            status=status,
            run_ids=run_ids,
            tags=tags,
            include_deleted=include_deleted,
            where=where,
        )

    def experiments(self) -> pl.DataFrame:
        """One row per experiment: runs, running runs, newest start."""
        from lakehouse.query.runs import experiments

        return experiments(self.layout)

    def metrics(
        self,
        run_ids: str | Sequence[str],
        keys: str | Sequence[str] | None = None,
        max_points: int | None = None,
    ) -> pl.DataFrame:
        """Metric points ``(run_id, key, step, timestamp, value)`` of some runs, sorted by run, key and step.

        ``max_points`` downsamples each (run, key) series to at most that many points, keeping every bucket's
        first, last, minimum and maximum (see :func:`lakehouse.query.metrics.downsample`).
        Raises :class:`RunNotFound` for an unknown run id.
        """
        from lakehouse.query import metrics
        from lakehouse.query.runs import Tables, resolve_run_id

        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        tables = Tables.load(self.layout)
        known = tables.run_ids()
        ids = [i if i in known else resolve_run_id(tables, i) for i in ids]
        wanted = [keys] if isinstance(keys, str) else (None if keys is None else list(keys))
        return metrics.history(self.layout, ids, keys=wanted, max_points=max_points)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric of one run, as :class:`Metric` values (step order)."""
        from lakehouse.tracking import Metric

        frame = self.metrics(run_id, keys=[key])
        return [
            Metric(key=r["key"], value=r["value"], step=r["step"], timestamp=r["timestamp"])
            for r in frame.iter_rows(named=True)
        ]

    def compare(self, run_ids: Sequence[str]) -> RunComparison:
        """Params that differ, metric summaries side by side, and dataset versions used, for some runs."""
        from lakehouse.query.compare import compare
        from lakehouse.query.runs import Tables, resolve_run_id

        tables = Tables.load(self.layout)
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        return compare(self.layout, [resolve_run_id(tables, i) for i in ids])

    def lineage(self, ref: str | Ref, *, include_deleted: bool = False) -> pl.DataFrame:
        """The runs (as :meth:`runs`) that used the version ``ref`` resolves to, each with the model versions built
        from it (``model_versions``: a list of ``name:vN``, live versions of live models).

        ``ref`` names a dataset version (``mnist:v3``, ``mnist:prod``, ``mnist@<time>``) or a version of a W&B
        artifact logged through :mod:`lakehouse.wandb`: ``wandb-artifacts/<name>:v0``, ``:latest`` or
        ``:<alias>``, the form the ``inputs`` column of :meth:`runs` shows. As in W&B, the run that logged an
        artifact is not one of its users: ``wandb.Api(root=...).artifact("<name>:v0").logged_by()`` names it.

        Raises :class:`DatasetNotFound` / :class:`ArtifactNotFound` (or ``VersionNotFound``) naming what is
        missing.
        """
        from lakehouse.query.models import registry
        from lakehouse.query.runs import Tables, runs
        from lakehouse.tracking import wandb_artifacts

        artifact = wandb_artifacts.lineage_ref(ref) if isinstance(ref, str) else None
        if artifact is not None:
            logged = wandb_artifacts.resolve(self.layout, artifact)
            name, number = logged.input_dataset, logged.version
        else:
            version = self.resolve(ref)
            name, number = version.name, version.version
        inputs = Tables.load(self.layout).inputs
        used = inputs.filter((pl.col("dataset") == name) & (pl.col("version") == number))
        ids = used.get_column("run_id").cast(pl.String).unique().to_list()
        found = runs(self.layout, run_ids=ids, include_deleted=include_deleted)
        built: dict[str, list[str]] = {}
        for mv in registry(self.layout).all_versions():
            if mv.run_id is not None:
                built.setdefault(mv.run_id, []).append(mv.ref)
        models = [sorted(built.get(run_id, [])) for run_id in found.get_column("run_id").to_list()]
        return found.with_columns(pl.Series("model_versions", models, dtype=pl.List(pl.String)))

    def wandb_artifacts(self) -> pl.DataFrame:
        """Every version of every W&B artifact logged through :mod:`lakehouse.wandb`, by name and version:
        ``ref`` (``wandb-artifacts/<name>:v<N>``, for :meth:`lineage`), ``name``, ``version``, ``type``,
        ``aliases`` (``latest`` on the newest), ``logged_by`` (the run that logged it and holds its files),
        ``logged_at``, ``description``, ``digest``."""
        from lakehouse.tracking import wandb_artifacts

        return wandb_artifacts.table(wandb_artifacts.versions(self.layout))

    # --- artifacts (lakehouse.tracking.artifacts, lakehouse.objects) -----------------------------------------

    def artifacts(self, run_id: str) -> pl.DataFrame:
        """The files a run holds now: ``path, size, digest, logged_at``, by path (``run_id`` as in :meth:`run`).

        ``digest`` is the sha256 of the file's object in the object store (``_objects/sha256/...``).
        """
        from lakehouse.tracking import artifacts

        return artifacts.listing(self.layout, self._run_id(run_id))

    def artifact(self, run_id: str, path: str) -> Artifact:
        """The run's file at ``path`` (``.download(dest)``, ``.open()``, ``.read_bytes()``, all verified).

        Raises :class:`ArtifactNotFound` (naming the nearest paths) if the run holds no such file.
        """
        from lakehouse.tracking import artifacts

        return artifacts.get(self.layout, self._run_id(run_id), path)

    def delete_artifact(self, run_id: str, path: str) -> None:
        """Remove ``path`` from the run (recorded as an event); vacuum frees its object once nothing refers to it."""
        from lakehouse.tracking import artifacts

        artifacts.delete(self.layout, self.settings, self._run_id(run_id), path, actor=self.actor)

    def _run_id(self, run_id: str) -> str:
        from lakehouse.query.runs import Tables, resolve_run_id

        return resolve_run_id(Tables.load(self.layout), run_id)

    def delete_run(self, run_id: str) -> str:
        """Mark a run deleted (hidden from :meth:`runs`; restorable). Returns the run id."""
        from lakehouse.tracking import starting

        return starting.set_lifecycle(self, run_id, "deleted")

    def restore_run(self, run_id: str) -> str:
        """Undo :meth:`delete_run`. Returns the run id."""
        from lakehouse.tracking import starting

        return starting.set_lifecycle(self, run_id, "active")

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything this process logged under this root; True if nothing is left pending."""
        from lakehouse.tracking import starting

        return starting.writer_of(self).flush(timeout)

    def recover(self, *, stale: float | str | None = None) -> RecoveryReport:
        """Commit, exactly once, what dead writers of this machine left in the spool.

        ``stale`` (seconds, or ``"10m"``, ``"2h"``...): then also mark FAILED, from this machine, every run
        of any machine left RUNNING without a sign of life for that long (see ``docs/TRACKING.md``).
        """
        from lakehouse.tracking import recovery

        seconds = None if stale is None else recovery.stale_seconds(stale, self.settings)
        return recovery.recover(self.layout, self.settings, stale=seconds)

    def maintain(
        self,
        *,
        datasets: Sequence[str] | None = None,
        tracking: Sequence[str] | None = None,
        vacuum: bool = False,
        retention_hours: int | None = None,
        dry_run: bool = False,
        engine: str = "embedded",
        spark: Any = None,
    ) -> MaintenanceReport:
        """Compact and checkpoint every table under the root (or only the named datasets and tracking tables),
        and with ``vacuum`` delete the files no kept version needs; what ``lakehouse maintain`` does.

        ``engine="spark"`` runs it with Spark (``spark``: a session, a function returning one, or None for the
        default session). ``dry_run`` (with ``vacuum``) lists the files vacuum would delete and deletes none.
        See docs/SPARK.md ("Maintenance").
        """
        from lakehouse import maintenance

        steps = maintenance.Steps(vacuum=vacuum, retention_hours=retention_hours, dry_run=dry_run)
        return maintenance.maintain_tables(
            self, datasets=datasets, tracking=tracking, steps=steps, engine=engine, spark=spark
        )

    # --- the model registry (lakehouse.registry) -----------------------------------------------------------

    def register_model(
        self,
        name: str,
        source: str | None = None,
        *,
        run: str | None = None,
        path: str | None = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register a new version (1, 2, 3… per name) of model ``name``, creating the model on first use.

        Args:
            name: the model's name (the dataset name grammar; not ``latest`` or ``v<digits>``).
            source: ``runs:/<run id>/<path>`` (a run's artifact) or ``models:/<model id>`` (a logged MLflow
                model); or give ``run=`` (an id, unique prefix or unique name) and ``path=`` instead.
            description: the version's description.
            tags: the version's tags.

        The run must exist under this root; the source is recorded with the run's full id. Concurrent
        registrations from many processes each get their own number.
        """
        from lakehouse.registry import models

        return models.register(self, name, source, run=run, path=path, description=description, tags=tags)

    def models(self, *, include_deleted: bool = False) -> list[RegisteredModel]:
        """Every registered model, by name: description, tags, aliases, latest version."""
        from lakehouse.registry import models

        return models.models(self, include_deleted=include_deleted)

    def model(self, name: str) -> Model:
        """A handle on registered model ``name``: versions, aliases (``set_alias``, ``alias_history``...), tags,
        delete / restore."""
        from lakehouse.registry import Model

        return Model(self, name)

    def model_version(self, ref: str | Ref) -> ModelVersion:
        """The model version a reference names: ``name:v3``, ``name:production`` (an alias), ``name`` or
        ``name:latest`` (the newest live version), ``name@<time>`` (the newest registered by then)."""
        from lakehouse.registry import models

        return models.resolve(self, ref)

    def model_lineage(self, ref: str | Ref) -> ModelLineage:
        """A model version with the run that built it: the run's params, final metrics and dataset versions."""
        from lakehouse.registry import models

        return models.lineage(self, ref)

    def model_files(self, ref: str | Ref) -> pl.DataFrame:
        """The files of a model version (``path, size, digest, logged_at``, by path): its run's artifacts under
        the version's source path, or a logged MLflow model's files. Read one with ``lh.artifact(run_id, path)``."""
        from lakehouse.registry import models

        return models.files(self, ref)

    # --- memory ------------------------------------------------------------------------------------------

    @property
    def state(self) -> RootState:
        """What this process keeps in memory for the root: caches and metrics writers (:mod:`lakehouse.state`)."""
        return self.layout.state

    def forget(self) -> None:
        """Drop everything this process caches for the root (warm tables, table frames, folded runs,
        experiments, logged models, snapshots): the next read loads the tables afresh. Writers stay."""
        self.layout.state.forget()

    # --- change detection --------------------------------------------------------------------------------

    def table_versions(self) -> dict[str, int]:
        """The current version of every table under the root, keyed by location (``datasets/mnist``...).

        Cheap: it lists the tables' log folders without loading them. Any change of the result means new
        commits, so readers that cache query results (the app) key their caches on it.
        """
        found: dict[str, int] = {}
        tables = [
            self.layout.datasets_catalog,
            self.layout.tags,
            self.layout.models,
            *self.layout.tracking_tables.values(),
        ]
        tables.extend(storage.tables_in(self.layout.datasets_dir))
        for path in tables:
            version = storage.peek_version(path)
            if version is not None:
                found[path.relative_to(self.root)] = version
        return found


def connect(root: str | Path | Location | None = None, **settings: Any) -> Lakehouse:
    """Open the lakehouse at ``root`` (default: ``LAKEHOUSE_ROOT``, then ``conf/lakehouse.toml``): a local folder
    or a bucket prefix (``s3://bucket/prefix``; a bucket with no tables yet is an empty lakehouse).

    Other keyword arguments override settings (see :class:`lakehouse.config.Settings`).

    Raises:
        RootUnavailable: a bucket root whose bucket is missing, whose endpoint cannot be reached, or whose
            endpoint refuses the credentials (checked here with one request; nothing is written).
    """
    lh = Lakehouse(load_settings(root=str(root) if isinstance(root, Location) else root, **settings))
    if lh.root.is_remote:
        lh.layout.objects.files.check_bucket()
    return lh
