"""Fold the run event tables into one row per run (``lh.runs()``) or one :class:`RunInfo` (``lh.run()``).

Inputs are the three small tracking tables, kept warm by :mod:`lakehouse.query.frames`: run events, dataset
inputs and per-run metric summaries. :func:`fold_events` is the one fold of run events; ``lh.runs()``,
``lh.run()`` and the MLflow view (:mod:`lakehouse.integrations.mlflow.view`) are shapes of its result. Rules:

- events apply in the one order of :mod:`lakehouse.query.events` (the order writers applied them, not the
  times they carry); "newest" and "oldest" below mean last and first in that order;
- a run exists once its ``created`` event is in (another writer's events may land first); experiment, job
  type and start time come from it; the name from the newest ``created``/``renamed`` event;
- status is the newest ``status`` event (``RUNNING`` if none); the end time is set by status events as
  :mod:`lakehouse.query.events` describes (the time of a terminal status, or one MLflow gave);
- lifecycle is the newest ``lifecycle`` event (``active`` if none); deleted runs are hidden by default;
- a param keeps its oldest value (params are immutable); a tag its newest value unless the newest event for
  the key is ``tag_deleted``;
- per metric: count and min/max over all writers, and the last value of the latest point
  (:func:`lakehouse.query.summaries.merged`).

Beside the fold, ``last_seen`` (the run's newest event of any kind) and ``lost`` (RUNNING and silent for
longer than ``tracking.lost_after``) are derived by :mod:`lakehouse.query.liveness`; ``lost`` at read time.

The folded frame of every run is a read model kept per root (:class:`RunsModel`): when the tables change by
appends only, just the runs those appends touched are folded again. It is arranged (columns and rows in the
order shown) once per fold, ``lost`` derived again only when the time crossed a run's ``last_seen``, and
filters apply to the arranged frame: a warm read of unchanged tables only filters.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES, RUN_EVENTS, RUN_INPUTS
from lakehouse.config import Settings
from lakehouse.entities import RUN_STATUSES, TERMINAL_STATUSES, MetricSummary, RunInfo, RunInput
from lakehouse.errors import InvalidArgument, RunNotFound, closest
from lakehouse.query import frames, liveness, summaries
from lakehouse.query.events import APPLIED, END_GIVEN, END_KEPT, Frame, in_order

_RUN_COLUMNS = ("run_id", "name", "experiment", "status", "lifecycle", "start_time", "end_time", "job_type")
FIXED_COLUMNS = (
    "run_id",
    "name",
    "experiment",
    "status",
    "lost",
    "lifecycle",
    "start_time",
    "end_time",
    "last_seen",
    "job_type",
    "user",
    "host",
    "git_commit",
    "inputs",
)
STATS = ("last", "min", "max")
_BASE_COLUMNS = (*_RUN_COLUMNS, "environment")  # of Folded.base
_ENVIRONMENT_FIELDS = pl.Struct({"user": pl.String, "host": pl.String, "git_commit": pl.String})
_MIN_PREFIX = 4
# The engine of polars' eager calls: the fold's group-bys take first()/last() in the order the rows come, and
# for frames this small it starts faster than the streaming engine (the default of collect()).
ENGINE: Final = "in-memory"
CATEGORICAL = {
    "runs": ("run_id", "kind", "key", "writer"),
    "summaries": ("run_id", "key", "writer"),
    "inputs": ("run_id",),
}


@dataclass(frozen=True)
class Tables:
    """The three tracking tables a fold reads, at one moment (identifier columns as categoricals)."""

    events: pl.DataFrame
    summaries: pl.DataFrame
    inputs: pl.DataFrame
    versions: tuple[int | None, int | None, int | None] = (None, None, None)

    @classmethod
    def load(cls, layout: Layout) -> Tables:
        (events, runs_version), (summaries, summaries_version), (inputs, inputs_version) = frames.versioned_frames(
            [
                (layout.runs, RUN_EVENTS, CATEGORICAL["runs"]),
                (layout.metric_summaries, METRIC_SUMMARIES, CATEGORICAL["summaries"]),
                (layout.inputs, RUN_INPUTS, CATEGORICAL["inputs"]),
            ]
        )
        versions = (runs_version, summaries_version, inputs_version)
        return cls(events=events, summaries=summaries, inputs=inputs, versions=versions)

    def run_ids(self) -> set[str]:
        return set(self.events.get_column("run_id").unique().cast(pl.String).to_list())

    def only(self, run_ids: pl.Series) -> Tables:
        """The rows of some runs only."""
        ids = run_ids.cast(pl.String)

        def keep(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.filter(pl.col("run_id").cast(pl.String).is_in(ids.implode()))

        return Tables(keep(self.events), keep(self.summaries), keep(self.inputs), self.versions)


def _as_list(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(i, str) for i in items):
        msg = f"{what} must be a string or a list of strings, got {value!r}"
        raise InvalidArgument(msg)
    return items


# --- the fold ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Folded:
    """Runs folded from their events, long-form: what every view of runs derives from.

    ``base``: run_id, name, experiment, status, lifecycle, start_time, end_time, job_type, environment (JSON).
    ``params``/``tags``: run_id, key, value (unordered).
    """

    base: pl.DataFrame
    params: pl.DataFrame
    tags: pl.DataFrame


def fold_plan(events: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The one fold of run events as lazy plans: the ``base``, ``params`` and ``tags`` of :class:`Folded`.

    Collect them together (``pl.collect_all``): the three share the ordered events and the runs that exist,
    which polars then computes once.
    """
    kind = pl.col("kind")
    # Everything but params is small: sort it once so first()/last() mean oldest/newest.
    other = in_order(events.filter(kind != "param"))
    base = _base(other)
    known = base.select("run_id")
    tags = (
        other.filter(kind.is_in(["tag", "tag_deleted"]))
        .group_by("run_id", "key")
        .agg(kind.last(), pl.col("value").last())
        .filter(kind == "tag")
        .join(known, on="run_id", how="semi")
        .select("run_id", "key", "value")
    )
    return base, _params(events.filter(kind == "param"), known), tags


def fold_events(events: pl.DataFrame) -> Folded:
    """Fold run events (any subset of whole runs; identifier columns strings or categoricals)."""
    base, params, tags = pl.collect_all(fold_plan(events.lazy()), engine=ENGINE)
    return Folded(base=base, params=params, tags=tags)


def _params(params: pl.LazyFrame, known: pl.LazyFrame) -> pl.LazyFrame:
    """The oldest value per (run, key), by application time. Params are most of the events: an ``arg_min``
    per key instead of sorting them all. Values of one key differ only when two processes raced to set it;
    should both have applied it in the same microsecond, the row read first wins."""
    return (
        params.with_columns(APPLIED.alias("_applied"))
        .group_by("run_id", "key")
        .agg(pl.col("value").get(pl.col("_applied").arg_min()))
        .join(known, on="run_id", how="semi")
    )


def _base(events: pl.LazyFrame) -> pl.LazyFrame:
    kind = pl.col("kind")
    created = kind == "created"
    # Status events that set the end time (see lakehouse.query.events): all but those keeping it.
    ending = (kind == "status") & (pl.col("key").is_null() | (pl.col("key") != END_KEPT))
    return (
        events.group_by("run_id")
        .agg(
            pl.col("name").filter(kind.is_in(["created", "renamed"])).last().alias("name"),
            pl.col("experiment").filter(created).first().alias("experiment"),
            pl.col("value").filter(kind == "status").last().alias("status"),
            pl.col("value").filter(kind == "lifecycle").last().alias("lifecycle"),
            pl.col("at").filter(created).first().alias("start_time"),
            pl.col("value").filter(created).first().alias("job_type"),
            pl.col("value").filter(kind == "environment").last().alias("environment"),
            pl.col("at").filter(ending).last().alias("_end_at"),
            pl.col("value").filter(ending).last().alias("_end_status"),
            pl.col("key").filter(ending).last().alias("_end_key"),
            created.any().alias("_created"),
        )
        .filter(pl.col("_created"))
        .with_columns(
            pl.col("status").fill_null("RUNNING"),
            pl.col("lifecycle").fill_null("active"),
            pl.when(
                (pl.col("_end_key").cast(pl.String) == END_GIVEN) | pl.col("_end_status").is_in(list(TERMINAL_STATUSES))
            )
            .then(pl.col("_end_at"))
            .alias("end_time"),
        )
        .select(*_BASE_COLUMNS)
    )


def fold_all(tables: Tables) -> pl.DataFrame:
    """One row per run in ``tables`` (deleted ones included), ``run_id`` as a string, arranged (see
    :func:`arrange`; without ``lost``, which is derived at read time).

    Two collects: the long-form fold with its neighbours (inputs, merged metric summaries, ``last_seen``, the
    keys that become columns) in one ``collect_all``, then one plan that spreads, joins and arranges them.
    """
    events, summary_rows = tables.events.lazy(), tables.summaries.lazy()
    base, params, tags = fold_plan(events)
    metrics = summaries.merged(summary_rows)
    inputs = (
        tables.inputs.lazy()
        .group_by("run_id")
        .agg((pl.col("dataset") + pl.lit(":v") + pl.col("version").cast(pl.String)).unique().sort().alias("inputs"))
    )
    seen = liveness.last_seen(events, summary_rows)
    base_rows, input_rows, seen_rows, *long_rows = pl.collect_all(
        [base, inputs, seen, params, tags, metrics], engine=ENGINE
    )
    out = (
        base_rows.lazy()
        .with_columns(  # one parse for the three fields
            pl.col("environment").str.json_decode(dtype=_ENVIRONMENT_FIELDS).alias("_env")
        )
        .unnest("_env")
        .drop("environment")
        .join(input_rows.lazy(), on="run_id", how="left")
    )
    for long, prefix, values in zip(
        long_rows, ("params.", "tags.", "metrics."), (("value",), ("value",), STATS), strict=True
    ):
        if long.height:
            out = out.join(_spread(long, prefix, values).lazy(), on="run_id", how="left")
    out = out.with_columns(
        pl.col("run_id").cast(pl.String), pl.col("inputs").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    ).join(seen_rows.lazy(), on="run_id", how="left")
    return arrange(out).collect(engine=ENGINE)


_SEP = "\0"  # in the pivot's column names: no key or value name holds it


def _spread(long: pl.DataFrame, prefix: str, values: tuple[str, ...]) -> pl.DataFrame:
    """Long (run_id, key, values...), one row per run and key, to one column per key (and value):
    ``prefix + key`` for a single value, ``prefix + key + "." + value`` for several."""
    index = _SEP + "run_id"  # a key may be called run_id too
    wide = long.rename({"run_id": index}).pivot(
        on="key", index=index, values=list(values), aggregate_function="first", separator=_SEP
    )
    names = {index: "run_id"}
    for column in wide.columns[1:]:
        value, _, key = column.partition(_SEP) if len(values) > 1 else (values[0], "", column)
        names[column] = prefix + key + ("" if len(values) == 1 else f".{value}")
    return wide.rename(names)


def arrange(runs: Frame) -> Frame:
    """Folded runs in the order ``lh.runs()`` shows them: columns fixed, params, tags, metrics; rows newest first.

    The rows are in a total order (``run_id`` breaks ties), so filtering before or after arranging gives the
    same frame: a reader can arrange once and filter many times. A lazy frame gives the plan.
    """
    names = runs.collect_schema().names()
    fixed = [c for c in FIXED_COLUMNS if c in names]
    labels = sorted(c for c in names if c.startswith(("params.", "tags.")))
    metrics = sorted(
        (c for c in names if c.startswith("metrics.")),
        key=lambda c: (c.rsplit(".", 1)[0], STATS.index(c.rsplit(".", 1)[1])),
    )
    return runs.select(*fixed, *labels, *metrics).sort("start_time", "run_id", descending=True, nulls_last=True)


def with_lost(runs: pl.DataFrame, lost: pl.Series) -> pl.DataFrame:
    """Arranged runs with their ``lost`` column, in its place among the fixed columns (a new frame; the
    rows are not sorted again)."""
    out = runs.clone()  # shares the columns: cheap
    if "lost" in runs.columns:
        out.replace_column(runs.get_column_index("lost"), lost)
    else:
        before = FIXED_COLUMNS[: FIXED_COLUMNS.index("lost")]
        out.insert_column(sum(c in before for c in runs.columns), lost)
    return out


def narrow(
    runs: pl.DataFrame,
    *,
    experiment: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    run_ids: str | Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    include_deleted: bool = False,
    where: pl.Expr | None = None,
    active: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The runs of an :func:`arrange`-d frame that pass the filters (``lh.runs()``'s), in its order (always a
    new frame).

    ``active``, when given, is ``runs`` without its deleted runs, already filtered: the default read returns it.
    """
    experiments = _as_list(experiment, "experiment")
    statuses = _as_list(status, "status")
    for s in statuses or []:
        if s not in RUN_STATUSES:
            msg = f"invalid status filter {s!r}; use one of {', '.join(RUN_STATUSES)}"
            raise InvalidArgument(msg)
    ids = _as_list(run_ids, "run_ids")
    conditions = []
    if ids is not None:
        conditions.append(pl.col("run_id").is_in(ids))
    if experiments is not None:
        conditions.append(pl.col("experiment").is_in(experiments))
    if statuses is not None:
        conditions.append(pl.col("status").is_in(statuses))
    if not include_deleted:
        if active is not None:
            runs = active
        else:
            conditions.append(pl.col("lifecycle") != "deleted")
    for key, value in (tags or {}).items():
        column = f"tags.{key}"
        conditions.append(pl.col(column) == str(value) if column in runs.columns else pl.lit(False))
    # A clone shares the columns: cheap, and what a caller changes in place stays out of any cache.
    out = runs.filter(*conditions) if conditions else runs.clone()
    if where is not None:
        out = out.filter(where)
    return out


def fold(tables: Tables, *, lost_after: float = Settings.lost_after, **filters: object) -> pl.DataFrame:
    """:func:`fold_all`, :func:`arrange`, :func:`narrow` (no caching): the runs of ``tables`` as ``lh.runs()``
    shows them."""
    runs = fold_all(tables)
    lost = liveness.lost(runs, liveness.cutoff(lost_after)).column
    return narrow(with_lost(runs, lost), **filters)  # type: ignore[arg-type]


# --- the cached read model ------------------------------------------------------------------------------------


class RunsModel:
    """Every run of one root, folded, and refolded incrementally as the tables grow.

    When the three tables changed by appends only since the last call (the common case: writers append), the
    runs named in the appended rows are folded again and replace their old rows; when files were removed
    (maintenance compacted or pruned) or the history of refreshes is unknown, everything is folded again.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.lock = threading.Lock()
        self.versions: tuple[int | None, int | None, int | None] | None = None
        self.frame: pl.DataFrame | None = None
        self.shown: _Shown | None = None

    def get(self) -> tuple[Tables, pl.DataFrame]:
        tables = Tables.load(self.layout)
        with self.lock:
            if self.frame is not None and self.versions == tables.versions:
                return tables, self.frame
            changed = self._changed_runs(tables)
            if self.frame is None or changed is None:
                frame = fold_all(tables)
            elif changed.len() == 0:
                frame = self.frame
            else:
                fresh = fold_all(tables.only(changed))
                kept = self.frame.filter(~pl.col("run_id").is_in(changed.cast(pl.String).implode()))
                frame = arrange(pl.concat([kept, fresh], how="diagonal_relaxed"))
            self.versions, self.frame = tables.versions, frame
            return tables, frame

    def shown_now(self, lost_after: float) -> _Shown:
        """Every run arranged as ``lh.runs()`` shows them, ``lost`` as of now.

        Arranged once per fold; ``lost`` is derived again only when the time crossed a run's ``last_seen``
        (see :class:`lakehouse.query.liveness.Lost`), so a warm read of unchanged tables only filters.
        """
        _, frame = self.get()
        at = liveness.cutoff(lost_after)
        with self.lock:
            shown = self.shown
            if shown is None or shown.folded is not frame or shown.lost_after != lost_after:
                lost = liveness.lost(frame, at)
                every = with_lost(frame, lost.column)
            elif shown.lost.holds(at):
                return shown
            else:  # the same runs in the same order: only lost changes
                lost = liveness.lost(shown.every, at)
                every = with_lost(shown.every, lost.column)
            active = every.filter(pl.col("lifecycle") != "deleted")
            self.shown = shown = _Shown(folded=frame, lost_after=lost_after, lost=lost, every=every, active=active)
            return shown

    def _changed_runs(self, tables: Tables) -> pl.Series | None:
        if self.versions is None:
            return None
        touched: list[pl.Series] = []
        paths = (self.layout.runs, self.layout.metric_summaries, self.layout.inputs)
        for path, before in zip(paths, self.versions, strict=True):
            changes = frames.changes_since(path, before)
            if changes is None:
                if before is None and frames.table_version(path) is None:
                    continue  # the table still does not exist
                return None
            for change in changes:
                if change.removed:
                    return None
                touched.append(change.added.get_column("run_id").cast(pl.String).unique())
        if not touched:
            return pl.Series("run_id", [], dtype=pl.String)
        return pl.concat(touched).unique()


@dataclass(frozen=True)
class _Shown:
    """The runs of one fold as ``lh.runs()`` shows them, at one cutoff of ``lost``."""

    folded: pl.DataFrame  # the folded frame they were arranged from
    lost_after: float
    lost: liveness.Lost  # for which cutoffs ``every``'s lost column holds
    every: pl.DataFrame  # every run (deleted ones too), arranged
    active: pl.DataFrame  # the same without the deleted runs


class _Models:
    """The runs read model of one root (held by its ``RootState``: ``Lakehouse.forget()`` drops it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: RunsModel | None = None


def runs_model(layout: Layout) -> RunsModel:
    models = layout.state.cache(_Models)
    with models.lock:
        if models.model is None:
            models.model = RunsModel(layout)
        return models.model


def runs(layout: Layout, *, lost_after: float = Settings.lost_after, **filters: object) -> pl.DataFrame:
    """``lh.runs()``: the cached read model with ``lost`` derived as of now, filtered."""
    shown = runs_model(layout).shown_now(lost_after)
    return narrow(shown.every, active=shown.active, **filters)  # type: ignore[arg-type]


# --- one run ------------------------------------------------------------------------------------------------


def resolve_run_id(tables: Tables, text: object) -> str:
    """A run id from an id, a unique id prefix (at least 4 characters) or a unique run name."""
    if not isinstance(text, str) or not text:
        msg = f"a run id must be a non-empty string, got {text!r}"
        raise InvalidArgument(msg)
    ids = tables.run_ids()
    if text in ids:
        return text
    if len(text) >= _MIN_PREFIX:
        matches = sorted(i for i in ids if i.startswith(text))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            msg = f"run id prefix {text!r} is ambiguous: {', '.join(matches[:5])}"
            raise InvalidArgument(msg)
    named = tables.events.filter(pl.col("kind").is_in(["created", "renamed"]) & (pl.col("name") == text))
    by_name = sorted(set(named.get_column("run_id").to_list()))
    if len(by_name) == 1:
        return str(by_name[0])
    if len(by_name) > 1:
        msg = f"run name {text!r} is used by {len(by_name)} runs ({', '.join(by_name[:5])}); give the run id"
        raise InvalidArgument(msg)
    names = tables.events.filter(pl.col("kind") == "created").get_column("name").drop_nulls().to_list()
    msg = f"no run {text!r}{closest(text, names) if names else ''}"
    raise RunNotFound(msg)


def run_info(tables: Tables, run_id: str, *, lost_after: float = Settings.lost_after) -> RunInfo:
    """Everything recorded about one run (``lost`` as of now)."""
    events = tables.events.filter(pl.col("run_id") == run_id)
    folded = fold_events(events)
    if folded.base.height == 0:
        msg = f"no run with id {run_id!r}"
        raise RunNotFound(msg)
    row = folded.base.row(0, named=True)
    merged = summaries.merged(tables.summaries.filter(pl.col("run_id") == run_id))
    metrics = {
        r["key"]: MetricSummary(
            key=r["key"],
            count=r["count"],
            min=r["min"],
            max=r["max"],
            last=r["last"],
            last_step=r["last_step"],
            last_timestamp=r["last_timestamp"],
        )
        for r in merged.sort("key").iter_rows(named=True)
    }
    inputs = tuple(
        RunInput(**r)
        for r in tables.inputs.filter(pl.col("run_id") == run_id)
        .sort("at", maintain_order=True)  # in the order of use: rows of separate commits come in any order
        .unique(subset=["dataset", "version", "context"], keep="first", maintain_order=True)
        .iter_rows(named=True)
    )
    # The rule lh.runs() follows (liveness.last_seen), on this run's rows.
    seen = liveness.last_seen(events, tables.summaries.filter(pl.col("run_id") == run_id)).get_column("last_seen")[0]
    return RunInfo(
        id=run_id,
        name=row["name"],
        experiment=row["experiment"],
        status=row["status"],
        lifecycle=row["lifecycle"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        job_type=row["job_type"],
        params=dict(folded.params.select("key", "value").iter_rows()),
        tags=dict(folded.tags.select("key", "value").iter_rows()),
        metrics=metrics,
        inputs=inputs,
        environment=json.loads(row["environment"]) if row["environment"] else {},
        last_seen=seen,
        lost=liveness.is_lost(row["status"], seen, lost_after),
    )


def experiments(layout: Layout) -> pl.DataFrame:
    """One row per experiment: number of runs (not deleted), running ones, newest start."""
    folded = runs(layout)
    if folded.height == 0:
        return pl.DataFrame(
            schema={
                "experiment": pl.String,
                "runs": pl.UInt32,
                "running": pl.UInt32,
                "last_start": pl.Datetime("us", "UTC"),
            }
        )
    return (
        folded.group_by("experiment")
        .agg(
            pl.len().alias("runs"),
            (pl.col("status") == "RUNNING").sum().cast(pl.UInt32).alias("running"),
            pl.col("start_time").max().alias("last_start"),
        )
        .sort("last_start", descending=True, nulls_last=True)
    )
