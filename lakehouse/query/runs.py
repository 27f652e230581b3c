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

"Newest" orders events by time, then writer and sequence number (the order within one process).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES, RUN_EVENTS, RUN_INPUTS
from lakehouse.errors import InvalidArgument, RunNotFound, closest
from lakehouse.query import frames
from lakehouse.tracking.validate import RUN_STATUSES, TERMINAL_STATUSES
from lakehouse.tracking.values import MetricSummary, RunInfo, RunInput

ORDER = ("at", "writer", "seq")
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
_MIN_PREFIX = 4


@dataclass(frozen=True)
class Tables:
    """The three tracking tables a fold reads, at one moment."""

    events: pl.DataFrame
    summaries: pl.DataFrame
    inputs: pl.DataFrame

    @classmethod
    def load(cls, layout: Layout) -> Tables:
        return cls(
            events=frames.table_frame(layout.runs, RUN_EVENTS),
            summaries=frames.table_frame(layout.metric_summaries, METRIC_SUMMARIES),
            inputs=frames.table_frame(layout.inputs, RUN_INPUTS),
        )

    def run_ids(self) -> set[str]:
        return set(self.events.get_column("run_id").unique().to_list())


def _as_list(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(i, str) for i in items):
        msg = f"{what} must be a string or a list of strings, got {value!r}"
        raise InvalidArgument(msg)
    return items


def fold(
    tables: Tables,
    *,
    experiment: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    run_ids: str | Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    include_deleted: bool = False,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """One row per run; see the module docstring for the rules. Newest start first."""
    experiments = _as_list(experiment, "experiment")
    statuses = _as_list(status, "status")
    for s in statuses or []:
        if s not in RUN_STATUSES:
            msg = f"invalid status filter {s!r}; use one of {', '.join(RUN_STATUSES)}"
            raise InvalidArgument(msg)
    ids = _as_list(run_ids, "run_ids")
    lazy = tables.events.lazy()
    if ids is not None:
        lazy = lazy.filter(pl.col("run_id").is_in(ids))
    if experiments is not None:
        chosen = lazy.filter((pl.col("kind") == "created") & pl.col("experiment").is_in(experiments)).select("run_id")
        lazy = lazy.join(chosen, on="run_id", how="semi")
    events = lazy.sort(*ORDER).collect()

    base = _base(events)
    if not include_deleted:
        base = base.filter(pl.col("lifecycle") != "deleted")
    if statuses is not None:
        base = base.filter(pl.col("status").is_in(statuses))
    keep = base.select("run_id")
    events = events.join(keep, on="run_id", how="semi")
    params = _pivot(
        events.filter(pl.col("kind") == "param")
        .group_by("run_id", "key", maintain_order=True)
        .agg(pl.col("value").first()),
        "params.",
    )
    tag_state = (
        events.filter(pl.col("kind").is_in(["tag", "tag_deleted"]))
        .group_by("run_id", "key", maintain_order=True)
        .agg(pl.col("kind").last(), pl.col("value").last())
        .filter(pl.col("kind") == "tag")
        .drop("kind")
    )
    if tags:
        for key, value in tags.items():
            hit = tag_state.filter((pl.col("key") == key) & (pl.col("value") == str(value))).select("run_id")
            keep = keep.join(hit, on="run_id", how="semi")
        base = base.join(keep, on="run_id", how="semi")
    tag_columns = _pivot(tag_state, "tags.")
    metrics = _metric_columns(_merged_summaries(tables.summaries.join(keep, on="run_id", how="semi")))
    inputs = (
        tables.inputs.join(keep, on="run_id", how="semi")
        .group_by("run_id")
        .agg((pl.col("dataset") + pl.lit(":v") + pl.col("version").cast(pl.String)).unique().sort().alias("inputs"))
    )
    out = base.join(inputs, on="run_id", how="left")
    for extra in (params, tag_columns, metrics):
        if extra is not None:
            out = out.join(extra, on="run_id", how="left")
    out = out.with_columns(pl.col("inputs").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    fixed = [c for c in FIXED_COLUMNS if c in out.columns]
    rest = sorted(c for c in out.columns if c not in fixed and c.startswith(("params.", "tags.")))
    metric_columns = [c for c in out.columns if c.startswith("metrics.")]
    out = out.select([*fixed, *rest, *metric_columns]).sort("start_time", descending=True, nulls_last=True)
    if where is not None:
        out = out.filter(where)
    return out


def _base(events: pl.DataFrame) -> pl.DataFrame:
    kind = pl.col("kind")
    env = pl.col("environment")
    return (
        events.group_by("run_id", maintain_order=True)
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
            env.str.json_path_match("$.user").alias("user"),
            env.str.json_path_match("$.host").alias("host"),
            env.str.json_path_match("$.git_commit").alias("git_commit"),
        )
        .drop("_status_at", "environment")
    )


def _pivot(long: pl.DataFrame, prefix: str) -> pl.DataFrame | None:
    if long.height == 0:
        return None
    wide = long.pivot(on="key", index="run_id", values="value", aggregate_function=None)
    return wide.rename({c: prefix + c for c in wide.columns if c != "run_id"})


def _merged_summaries(summaries: pl.DataFrame) -> pl.DataFrame:
    """One summary per (run, key): newest row per writer, then merged across writers."""
    if summaries.height == 0:
        return summaries.select("run_id", "key", "count", "min", "max", "last", "last_step", "last_timestamp")
    newest = summaries.sort("seq").group_by("run_id", "key", "writer").agg(pl.all().last())
    order = ("last_step", "last_timestamp")
    return newest.group_by("run_id", "key").agg(
        pl.col("count").sum(),
        pl.col("min").min(),
        pl.col("max").max(),
        pl.col("last").sort_by(*order).last(),
        pl.col("last_step").sort_by(*order).last(),
        pl.col("last_timestamp").sort_by(*order).last(),
    )


def _metric_columns(merged: pl.DataFrame) -> pl.DataFrame | None:
    if merged.height == 0:
        return None
    stats = ("last", "min", "max")
    long = merged.select("run_id", "key", *stats).unpivot(index=["run_id", "key"], on=list(stats), variable_name="stat")
    long = long.with_columns((pl.lit("metrics.") + pl.col("key") + pl.lit(".") + pl.col("stat")).alias("column"))
    wide = long.pivot(on="column", index="run_id", values="value", aggregate_function=None)
    keys = sorted(merged.get_column("key").unique().to_list())
    ordered = [f"metrics.{k}.{s}" for k in keys for s in stats if f"metrics.{k}.{s}" in wide.columns]
    return wide.select("run_id", *ordered)


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


def experiments(tables: Tables) -> pl.DataFrame:
    """One row per experiment: number of runs (not deleted), running ones, newest start."""
    runs = fold(tables)
    if runs.height == 0:
        return pl.DataFrame(
            schema={
                "experiment": pl.String,
                "runs": pl.UInt32,
                "running": pl.UInt32,
                "last_start": pl.Datetime("us", "UTC"),
            }
        )
    return (
        runs.group_by("experiment")
        .agg(
            pl.len().alias("runs"),
            (pl.col("status") == "RUNNING").sum().cast(pl.UInt32).alias("running"),
            pl.col("start_time").max().alias("last_start"),
        )
        .sort("last_start", descending=True, nulls_last=True)
    )
