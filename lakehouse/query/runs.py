"""Fold the run event tables into one row per run (``lh.runs()``) or one :class:`RunInfo` (``lh.run()``).

Inputs are the three small tracking tables, kept warm by :mod:`lakehouse.query.frames`: run events, dataset
inputs and per-run metric summaries. Folding rules (the same everywhere, including ``RunInfo``):

- experiment, job type and start time come from the ``created`` event; the name from the newest
  ``created``/``renamed`` event;
- status is the newest ``status`` event (``RUNNING`` if none); end time is its time when it is terminal;
- lifecycle is the newest ``lifecycle`` event (``active`` if none); deleted runs are hidden by default;
- a param keeps its first value (params are immutable); a tag its newest value unless the newest event for
  the key is ``tag_deleted``;
- per metric: count and min/max over all writers, and the last value of the greatest (step, timestamp).

"Newest" orders events by time, then sequence number (the order within one process).

The folded frame of every run is a read model kept per root (:class:`RunsModel`): when the tables change by
appends only, just the runs those appends touched are folded again; filters apply to the cached frame.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES, RUN_EVENTS, RUN_INPUTS
from lakehouse.entities import RUN_STATUSES, TERMINAL_STATUSES, MetricSummary, RunInfo, RunInput
from lakehouse.errors import InvalidArgument, RunNotFound, closest
from lakehouse.query import frames

ORDER = ("at", "seq")
FIXED_COLUMNS = (
    "run_id",
    "name",
    "experiment",
    "status",
    "lifecycle",
    "start_time",
    "end_time",
    "job_type",
    "user",
    "host",
    "git_commit",
    "inputs",
)
STATS = ("last", "min", "max")
_ENVIRONMENT_FIELDS = pl.Struct({"user": pl.String, "host": pl.String, "git_commit": pl.String})
_MIN_PREFIX = 4
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
        events = frames.table_frame(layout.runs, RUN_EVENTS, categorical=CATEGORICAL["runs"])
        summaries = frames.table_frame(layout.metric_summaries, METRIC_SUMMARIES, categorical=CATEGORICAL["summaries"])
        inputs = frames.table_frame(layout.inputs, RUN_INPUTS, categorical=CATEGORICAL["inputs"])
        versions = (
            frames.table_version(layout.runs),
            frames.table_version(layout.metric_summaries),
            frames.table_version(layout.inputs),
        )
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


def fold_all(tables: Tables) -> pl.DataFrame:
    """One row per run in ``tables`` (deleted ones included), unordered, ``run_id`` as a string."""
    kind = pl.col("kind")
    # Everything but params is small: sort it once so first()/last() mean oldest/newest.
    other = tables.events.filter(kind != "param").sort(*ORDER)
    base = _base(other)
    # Params are most of the events: the oldest value per key via arg_min, without sorting them (values of
    # one key can only differ across a race of two processes, and then the oldest wins).
    params = (
        tables.events.filter(kind == "param").group_by("run_id", "key").agg(pl.col("value").get(pl.col("at").arg_min()))
    )
    tag_state = (
        other.filter(kind.is_in(["tag", "tag_deleted"]))
        .group_by("run_id", "key")
        .agg(kind.last(), pl.col("value").last())
        .filter(pl.col("kind") == "tag")
    )
    merged = _merged_summaries(tables.summaries)
    inputs = tables.inputs.group_by("run_id").agg(
        (pl.col("dataset") + pl.lit(":v") + pl.col("version").cast(pl.String)).unique().sort().alias("inputs")
    )
    out = base.join(inputs, on="run_id", how="left")
    for wide in (
        _spread(params, "params.", ("value",)),
        _spread(tag_state, "tags.", ("value",)),
        _spread(merged, "metrics.", STATS),
    ):
        if wide is not None:
            out = out.join(wide, on="run_id", how="left")
    return out.with_columns(
        pl.col("run_id").cast(pl.String), pl.col("inputs").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )


def _base(events: pl.DataFrame) -> pl.DataFrame:
    kind = pl.col("kind")
    env = pl.col("environment")
    return (
        events.group_by("run_id")
        .agg(
            pl.col("name").filter(kind.is_in(["created", "renamed"])).last().alias("name"),
            pl.col("experiment").filter(kind == "created").first().alias("experiment"),
            pl.col("value").filter(kind == "status").last().alias("status"),
            pl.col("at").filter(kind == "status").last().alias("_status_at"),
            pl.col("value").filter(kind == "lifecycle").last().alias("lifecycle"),
            pl.col("at").filter(kind == "created").first().alias("start_time"),
            pl.col("value").filter(kind == "created").first().alias("job_type"),
            pl.col("value").filter(kind == "environment").last().alias("environment"),
        )
        .with_columns(
            pl.col("status").fill_null("RUNNING"),
            pl.col("lifecycle").fill_null("active"),
        )
        .with_columns(
            pl.when(pl.col("status").is_in(list(TERMINAL_STATUSES))).then(pl.col("_status_at")).alias("end_time"),
            env.str.json_decode(dtype=_ENVIRONMENT_FIELDS).alias("_env"),  # one parse for the three fields
        )
        .unnest("_env")
        .drop("_status_at", "environment")
    )


def _spread(long: pl.DataFrame, prefix: str, values: tuple[str, ...]) -> pl.DataFrame | None:
    """Long (run_id, key, values...) to one column per key (and value): a group-by with one filtered
    aggregation per column, several times faster than ``pivot`` for a few dozen keys."""
    if long.height == 0:
        return None
    keys = sorted(long.get_column("key").unique().cast(pl.String).to_list())
    key = pl.col("key")
    columns = [
        pl.col(v).filter(key == k).first().alias(prefix + k + ("" if values == ("value",) else f".{v}"))
        for k in keys
        for v in values
    ]
    return long.group_by("run_id").agg(columns)


def _merged_summaries(summaries: pl.DataFrame) -> pl.DataFrame:
    """One summary per (run, key): newest row per writer, then merged across writers."""
    columns = ("run_id", "key", "count", "min", "max", "last", "last_step", "last_timestamp")
    if summaries.height == 0:
        return summaries.select(columns)
    newest = summaries.sort("seq").unique(subset=["run_id", "key", "writer"], keep="last")
    order = ("last_step", "last_timestamp")
    return (
        newest.sort(*order)
        .group_by("run_id", "key")
        .agg(
            pl.col("count").sum(),
            pl.col("min").min(),
            pl.col("max").max(),
            pl.col("last").last(),
            pl.col("last_step").last(),
            pl.col("last_timestamp").last(),
        )
    )


def select(
    runs: pl.DataFrame,
    *,
    experiment: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    run_ids: str | Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    include_deleted: bool = False,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Filter folded runs, order the columns (fixed, params, tags, metrics) and the rows (newest first)."""
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
        conditions.append(pl.col("lifecycle") != "deleted")
    for key, value in (tags or {}).items():
        column = f"tags.{key}"
        conditions.append(pl.col(column) == str(value) if column in runs.columns else pl.lit(False))
    out = runs.filter(*conditions) if conditions else runs
    fixed = [c for c in FIXED_COLUMNS if c in out.columns]
    labels = sorted(c for c in out.columns if c.startswith(("params.", "tags.")))
    metrics = sorted(
        (c for c in out.columns if c.startswith("metrics.")),
        key=lambda c: (c.rsplit(".", 1)[0], STATS.index(c.rsplit(".", 1)[1])),
    )
    out = out.select(*fixed, *labels, *metrics).sort("start_time", "run_id", descending=True, nulls_last=True)
    if where is not None:
        out = out.filter(where)
    return out


def fold(tables: Tables, **filters: object) -> pl.DataFrame:
    """:func:`fold_all` then :func:`select` (no caching): the runs of ``tables`` as ``lh.runs()`` shows them."""
    return select(fold_all(tables), **filters)  # type: ignore[arg-type]


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
                frame = pl.concat([kept, fresh], how="diagonal_relaxed")
            self.versions, self.frame = tables.versions, frame
            return tables, frame

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


def runs(layout: Layout, **filters: object) -> pl.DataFrame:
    """``lh.runs()``: the cached read model, filtered."""
    _, frame = runs_model(layout).get()
    return select(frame, **filters)  # type: ignore[arg-type]


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


def run_info(tables: Tables, run_id: str) -> RunInfo:
    """Everything recorded about one run."""
    events = tables.events.filter(pl.col("run_id") == run_id).sort(*ORDER)
    if events.height == 0:
        msg = f"no run with id {run_id!r}"
        raise RunNotFound(msg)
    row = _base(events).row(0, named=True)
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    environment: dict[str, object] = {}
    for kind, key, value in events.select("kind", "key", "value").iter_rows():
        if kind == "param" and key not in params:
            params[key] = value
        elif kind == "tag":
            tags[key] = value
        elif kind == "tag_deleted":
            tags.pop(key, None)
        elif kind == "environment" and value:
            environment = json.loads(value)
    merged = _merged_summaries(tables.summaries.filter(pl.col("run_id") == run_id))
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
        .unique(subset=["dataset", "version", "context"], keep="first", maintain_order=True)
        .iter_rows(named=True)
    )
    return RunInfo(
        id=run_id,
        name=row["name"],
        experiment=row["experiment"],
        status=row["status"],
        lifecycle=row["lifecycle"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        job_type=row["job_type"],
        params=params,
        tags=tags,
        metrics=metrics,
        inputs=inputs,
        environment=environment,
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
