"""Cached reads behind the Experiments, Compare, Run and Live pages (public ``lakehouse`` API only).

Run tables depend on the run events, inputs and metric summaries; curves on the metric points. Each
function takes the versions of what it reads as ``stamp`` (see :func:`lakehouse.app.shell.stamp`).
"""

from __future__ import annotations

import time

import polars as pl
import streamlit as st

import lakehouse
from lakehouse.app import curves, params
from lakehouse.app.shell import Stamp, empty_lakehouse, error, handle, stamp

RUN_TABLES = ("tracking/runs", "tracking/inputs", "tracking/metric_summaries")
POINT_TABLES = (*RUN_TABLES, "tracking/metrics")
PICKER_LIMIT = 1000  # runs offered in a picker; the rest are reached by filtering or by link
LOST_CHECK_SECONDS = 30  # a run turns "lost" as time passes, not as tables change: re-read this often


def _with_clock(found: Stamp) -> Stamp:
    """``found`` plus the lost-check clock: it changes every ``LOST_CHECK_SECONDS`` even when no table does."""
    root, versions = found
    return root, (*versions, ("clock", int(time.time() // LOST_CHECK_SECONDS)))


def runs_stamp() -> Stamp:
    return _with_clock(stamp(*RUN_TABLES))


def live_stamp() -> Stamp:
    """What the Live page shows depends on: the versions of the run and point tables, and the lost-check clock.

    Reading it lists the tables' logs and loads none, so the page can ask it every second while it sits idle.
    """
    return _with_clock(stamp(*POINT_TABLES))


def lineage_stamp() -> Stamp:
    """The runs' stamp and the model registry's: lineage lists the model versions built from each run."""
    root, versions = runs_stamp()
    return root, (*versions, *stamp("_catalog/models")[1])


def points_stamp() -> Stamp:
    return stamp(*POINT_TABLES)


@st.cache_data(show_spinner=False, max_entries=16)
def experiments(stamp: Stamp) -> pl.DataFrame:
    return handle().experiments()


@st.cache_data(show_spinner=False, max_entries=16)
def runs(experiment: str | None, stamp: Stamp) -> pl.DataFrame:
    """``lh.runs()`` of one experiment (all if None), newest first."""
    return handle().runs(experiment)


@st.cache_data(show_spinner=False, max_entries=16)
def colors(stamp: Stamp) -> dict[str, str]:
    """Every run's colour on every chart (:func:`lakehouse.app.curves.run_colors` over all runs)."""
    return curves.run_colors(runs(None, stamp))


@st.cache_data(show_spinner=False, max_entries=64)
def run_info(run_id: str, stamp: Stamp) -> lakehouse.RunInfo:
    return handle().run(run_id)


@st.cache_data(show_spinner=False, max_entries=64)
def comparison(run_ids: tuple[str, ...], stamp: Stamp) -> lakehouse.RunComparison:
    return handle().compare(list(run_ids))


@st.cache_data(show_spinner=False, max_entries=64)
def points(run_ids: tuple[str, ...], keys: tuple[str, ...] | None, max_points: int, stamp: Stamp) -> pl.DataFrame:
    """Metric points of some runs, downsampled by the query layer to ``max_points`` per curve."""
    if not run_ids:
        return pl.DataFrame(
            schema={
                "run_id": pl.String,
                "key": pl.String,
                "step": pl.Int64,
                "timestamp": pl.Datetime("us", "UTC"),
                "value": pl.Float64,
            }
        )
    return handle().metrics(list(run_ids), keys=None if keys is None else list(keys), max_points=max_points)


@st.cache_data(show_spinner=False, max_entries=64)
def lineage(ref: str, stamp: Stamp) -> pl.DataFrame:
    """The runs that used the dataset version ``ref`` names, with the model versions built from each
    (``stamp``: :func:`lineage_stamp`)."""
    return handle().lineage(ref)


def wandb_artifacts_stamp() -> Stamp:
    return stamp("tracking/wandb_artifacts")


@st.cache_data(show_spinner=False, max_entries=16)
def wandb_artifacts(stamp: Stamp) -> pl.DataFrame:
    """``lh.wandb_artifacts()``: every W&B artifact version, with the run that logged it."""
    return handle().wandb_artifacts()


@st.cache_data(show_spinner=False, max_entries=16)
def usage(dataset: str, stamp: Stamp) -> pl.DataFrame:
    """How many runs used each version of ``dataset``: ``version, runs``."""
    table = handle().runs().select("run_id", "inputs").explode("inputs").drop_nulls("inputs")
    prefix = f"{dataset}:v"
    return (
        table.filter(pl.col("inputs").str.starts_with(prefix))
        .with_columns(pl.col("inputs").str.strip_prefix(prefix).cast(pl.Int64).alias("version"))
        .group_by("version")
        .agg(pl.col("run_id").n_unique().alias("runs"))
        .sort("version", descending=True)
    )


def has_runs(stamp: Stamp) -> bool:
    """Whether any run was ever recorded (without folding the runs)."""
    return any(table == "tracking/runs" for table, _ in stamp[1])


def resolve_run(text: str, known: pl.DataFrame | None = None) -> str:
    """The run id ``text`` names (id, unique prefix or unique name); raises ``RunNotFound`` otherwise.

    A full id found in ``known`` (a runs table already at hand) needs no lookup.
    """
    if known is not None and known.filter(pl.col("run_id") == text).height:
        return text
    return run_info(text, runs_stamp()).id


def lost_warning(info: lakehouse.RunInfo) -> str:
    """What the Run and Live pages say about a lost run (RUNNING, silent for longer than ``lost_after``)."""
    seen = f"{info.last_seen:%Y-%m-%d %H:%M:%S} UTC" if info.last_seen else "its start"
    return (
        f"Lost: no sign of life from this run's process since {seen}, although a live one sends a heartbeat "
        "every minute or so; it was probably killed or its machine is gone. `lakehouse runs recover --stale 10m`, "
        "from any machine, marks it FAILED."
    )


def label(row: dict[str, object]) -> str:
    """How a run is shown in pickers: its name and the start of its id."""
    name = row.get("name") or ""
    rid = str(row["run_id"])
    return f"{name} · {rid[:8]}" if name else rid[:8]


def all_runs_or_stop(stamp: Stamp) -> pl.DataFrame:
    """Every run, newest first; on a lakehouse without runs, the empty state ends the page."""
    found = runs(None, stamp)
    if found.is_empty():
        empty_lakehouse("runs")
        st.stop()
    return found


def run_in_url(known: pl.DataFrame) -> str | None:
    """The run ``?run=`` names (an id, a unique id prefix or a unique run name); a bad value is shown, not raised."""
    given = params.raw("run")
    if given is None:
        return None
    try:
        return resolve_run(given, known)
    except lakehouse.LakehouseError as e:
        error(f"`run={given}` in the URL: {e}")
        return None
