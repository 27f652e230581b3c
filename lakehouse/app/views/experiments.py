"""Experiments: the runs of an experiment as a sortable, filterable table; pick runs to compare."""

from __future__ import annotations

import streamlit as st

from lakehouse.app import filter_panels, filters, paging, params
from lakehouse.app import run_queries as rq
from lakehouse.app.shell import empty_lakehouse, guarded, table

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
    filter_panels.use_scope(experiment or ALL)
    filter_panels.labels_panel(runs)
    filter_panels.metrics_panel(runs)
    chosen_values, ranges = filter_panels.applied(runs)

matching = filters.RunFilter(text=text, statuses=statuses, values=chosen_values, ranges=ranges).apply(runs)
shown = filters.display(matching)
ids = shown.get_column("run_id").to_list()
names_by_id = dict(zip(ids, shown.get_column("name").to_list(), strict=True))

HEADINGS = {"start_time": "started", "duration_s": "duration (s)", "run_id": "run id"}
if st.session_state.get("sort") not in (None, *shown.columns):  # a column of another experiment
    del st.session_state["sort"]
order, direction, size_box, number_box = st.columns([3, 1.4, 1.2, 1.2], vertical_alignment="bottom")
sort_by = order.selectbox(
    "Sort by",
    shown.columns,
    index=shown.columns.index("start_time"),
    key="sort",
    format_func=lambda c: HEADINGS.get(c, c),
)
descending = direction.toggle("Descending", value=True, key="descending")
size = size_box.selectbox("Rows per page", paging.PAGE_SIZES, index=1, key="page_size")
pages = paging.page_count(shown.height, size)
if st.session_state.get("page", 1) > pages:  # fewer rows than before (a filter): the last page there is
    st.session_state.page = pages
number = number_box.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key="page")
page = paging.sorted_page(shown, by=sort_by, descending=descending, size=size, number=int(number))
visible = page.rows.get_column("run_id").to_list()
grid = paging.grid_key("runs_table_grid", visible)
st.caption(
    f"{page.first:,}–{page.last:,} of {page.total:,} matching runs ({runs.height:,} before filters) · "
    "tick rows to select them; selections on other pages are kept"
)


def _take_ticks() -> None:
    """Ticking or unticking rows of this page adds or drops those runs; other selections stay."""
    state = st.session_state.get(grid)
    now = set(state.selection.rows) if state is not None else set()
    last_grid, before = st.session_state.get("_ticks", ("", set()))
    if last_grid != grid:
        before = set()
    st.session_state.selected_runs = paging.merge_ticks(st.session_state.get("selected_runs", []), visible, before, now)
    st.session_state["_ticks"] = (grid, now)


with guarded("The runs table"):
    table(
        page.rows,
        key="runs_table",
        grid_key=grid,
        on_select=_take_ticks,
        selection_mode="multi-row",
        column_config={
            "start_time": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
            "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
            "run_id": st.column_config.TextColumn("run id"),
        },
    )

selected = [r for r in st.session_state.get("selected_runs", []) if r]
options = list(dict.fromkeys([*selected, *visible, *ids[: rq.PICKER_LIMIT]]))
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
