"""Experiments: the runs of an experiment as a sortable, filterable table; pick runs to compare."""

from __future__ import annotations

import polars as pl
import streamlit as st

from lhapp import filters, params
from lhapp import run_queries as rq
from lhapp.shell import empty_lakehouse, guarded, table

st.title("Experiments")

versions = rq.runs_stamp()
experiments = rq.experiments(versions)
if experiments.is_empty():
    empty_lakehouse("runs")
    st.stop()

ALL = "(all experiments)"
names = [ALL, *experiments.get_column("experiment").fill_null("default").to_list()]
experiment = params.choice("Experiment", names, key="experiment", index=1 if len(names) > 1 else 0)
runs = rq.runs(None if experiment == ALL else experiment, versions)

with st.container(border=True):
    search, status = st.columns([3, 2])
    text = search.text_input(
        "Search", key="q", bind="query-params", placeholder="run name, id, param or tag value, dataset"
    )
    statuses = status.multiselect("Status", sorted(runs.get_column("status").unique().to_list()), key="status")
    chosen_values: dict[str, list[str]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    labels = filters.label_columns(runs)
    if labels:
        with st.expander("Filter by params and tags"):
            cells = st.columns(3)
            for i, column in enumerate(labels):
                series = runs.get_column(column)
                with cells[i % 3]:
                    as_numbers = filters.numeric(series)
                    low = as_numbers.min() if as_numbers is not None else None
                    high = as_numbers.max() if as_numbers is not None else None
                    if as_numbers is not None and isinstance(low, float) and isinstance(high, float) and low < high:
                        picked = st.slider(column, low, high, (low, high), key=f"range:{column}")
                        if picked != (low, high):
                            ranges[column] = picked
                    else:
                        distinct = series.drop_nulls().cast(pl.String).unique().sort().to_list()
                        if 1 < len(distinct) <= filters.MAX_CHOICES:
                            chosen_values[column] = st.multiselect(column, distinct, key=f"values:{column}")
    metric_columns = filters.metric_columns(runs)
    if metric_columns:
        with st.expander("Filter by metric ranges"):
            for column in st.multiselect("Metrics to filter on", metric_columns, key="metric_filters"):
                series = runs.get_column(column).fill_nan(None).drop_nulls()
                if series.is_empty() or series.min() == series.max():
                    st.caption(f"`{column}` has a single value; nothing to filter.")
                    continue
                low, high = float(series.min()), float(series.max())  # type: ignore[arg-type]
                ranges[column] = st.slider(column, low, high, (low, high), key=f"range:{column}")

matching = filters.RunFilter(text=text, statuses=statuses, values=chosen_values, ranges=ranges).apply(runs)
shown = filters.display(matching)
ids = shown.get_column("run_id").to_list()
names_by_id = dict(zip(ids, shown.get_column("name").to_list(), strict=True))
st.caption(f"{shown.height:,} of {runs.height:,} runs · click a column header to sort · tick rows to select")


def _take_table_selection() -> None:
    """Ticked rows replace the selection among the rows shown; selected runs filtered out stay selected."""
    state = st.session_state.get("runs_table_grid")
    rows = state.selection.rows if state is not None else []
    visible = st.session_state.get("_shown_ids", [])
    kept = [r for r in st.session_state.get("selected_runs", []) if r not in set(visible)]
    st.session_state.selected_runs = kept + [visible[i] for i in rows if i < len(visible)]


st.session_state["_shown_ids"] = ids
with guarded("The runs table"):
    table(
        shown,
        key="runs_table",
        on_select=_take_table_selection,
        selection_mode="multi-row",
        column_config={
            "start_time": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
            "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
            "run_id": st.column_config.TextColumn("run id"),
        },
    )

selected = [r for r in st.session_state.get("selected_runs", []) if r]
options = list(dict.fromkeys([*selected, *ids[: rq.PICKER_LIMIT]]))
everyone = dict(zip(runs.get_column("run_id").to_list(), runs.get_column("name").to_list(), strict=True))
picked = st.multiselect(
    "Selected runs",
    options,
    key="selected_runs",
    format_func=lambda r: rq.label({"run_id": r, "name": names_by_id.get(r) or everyone.get(r)}),
    placeholder="tick rows above, or pick runs here",
)
compare, run, _ = st.columns([1.5, 1.2, 2])
with compare:
    st.page_link(
        "views/compare.py",
        label=f"Compare {len(picked)} runs" if len(picked) > 1 else "Compare (select 2 or more runs)",
        icon=":material/compare_arrows:",
        query_params={"runs": ",".join(picked)},
        disabled=len(picked) < 2,
    )
with run:
    st.page_link(
        "views/run.py",
        label="Open run" if len(picked) == 1 else "Open run (select one)",
        icon=":material/monitoring:",
        query_params={"run": picked[0]} if len(picked) == 1 else None,
        disabled=len(picked) != 1,
    )
