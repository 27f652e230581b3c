"""Compare: overlaid metric curves, the params that differ, summaries and dataset versions of some runs.

The runs are in the URL (``?runs=<id>,<id>``), so a comparison can be shared as a link.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

import lakehouse
from lakehouse.app import curve_panel, curves, params, styling
from lakehouse.app import run_queries as rq
from lakehouse.app.shell import empty_lakehouse, error, guarded, handle, table

SECTIONS = {  # key (the URL's name for it) -> title
    "compare_params": "Params",
    "compare_mattered": "Which params mattered",
    "compare_summaries": "Metric summaries",
    "compare_inputs": "Dataset versions used",
}

st.title("Compare runs")

versions = rq.runs_stamp()
if not rq.has_runs(versions):
    empty_lakehouse("runs")
    st.stop()

# Runs named in the URL: ids, unique id prefixes or unique names. Unknown ones are reported, not fatal.
everyone = rq.runs(None, versions)
wanted: list[str] = []
for text in params.raw_list("runs"):
    try:
        wanted.append(rq.resolve_run(text, everyone))
    except lakehouse.LakehouseError as e:
        error(f"`runs={text}` in the URL: {e}")
wanted = list(dict.fromkeys(wanted))

if "compare_runs" not in st.session_state:
    st.session_state.compare_runs = wanted
# Once runs are picked, the pickers and chart options sit in popovers: a closed popover is not drawn, so a new
# tab does not load the picker, slider, radio and toggle code before the curves (docs/APP.md, "Compare from a
# new tab"). The runs' popover is not even filled while closed (its thousand options and a link per run cost a
# new tab a sixth of its time): the URL keeps the runs then, and opening it reruns the page. With no runs
# picked, the runs picker is the page.
picked = len(st.session_state.compare_runs)
bar = st.container(horizontal=True)
runs_box = (
    # A fixed label: a popover whose label changes is a new one, which would close at every pick.
    bar.popover("Runs", icon=":material/checklist:", key="compare_runs_open", on_change="rerun") if picked else None
)
if runs_box is None or runs_box.open:
    picked_rows = everyone.filter(pl.col("run_id").is_in(wanted))
    offered = pl.concat([picked_rows, everyone.head(rq.PICKER_LIMIT)]).unique(
        "run_id", keep="first", maintain_order=True
    )
    names = dict(zip(offered.get_column("run_id").to_list(), offered.get_column("name").to_list(), strict=True))
    chosen = (bar if runs_box is None else runs_box).multiselect(
        "Runs",
        list(dict.fromkeys([*wanted, *names])),
        key="compare_runs",
        format_func=lambda r: rq.label({"run_id": r, "name": names.get(r)}),
        placeholder="pick runs, or select them on the Experiments page",
    )
else:
    chosen = wanted
st.query_params["runs"] = ",".join(chosen)
if len(chosen) < 1:
    st.info("Pick runs to compare above, or tick them in the table on the Experiments page.")
    st.stop()

comparison = rq.comparison(tuple(chosen), versions)
labels = {r: comparison.labels[r] for r in comparison.run_ids}
if runs_box is not None and runs_box.open:
    for run_id in chosen:
        runs_box.page_link(
            "views/run.py", label=labels[run_id], icon=":material/monitoring:", query_params={"run": run_id}
        )
all_keys = comparison.metrics.get_column("metric").unique(maintain_order=True).to_list()
with bar.popover("Metrics and chart options", icon=":material/tune:"):
    keys = st.multiselect("Metrics", all_keys, default=curves.default_keys(all_keys), key="compare_keys")
    here = st.container()
    options = curve_panel.controls("compare", (here, here, here), horizontal=False)

colors = rq.colors(versions)
max_points = curves.points_per_curve(handle().settings.app_max_points, len(chosen))
with guarded("Metric curves"):
    points = rq.points(tuple(chosen), tuple(keys), max_points, rq.points_stamp())
    if not keys:
        st.info("Pick metrics to plot.")
    curve_panel.grid(points, keys, labels=labels, colors=colors, options=options, key_prefix="curve")
    st.caption(
        f"Each curve is downsampled to at most {max_points:,} points, keeping every extreme. Drag to zoom, "
        "shift-drag to pan, double-click to reset; click a run in a legend to hide or show it."
    )

# The sections below the curves are drawn only while open (opening one reruns the page), so a new tab draws
# the curves and the params, not four tables and two more charts. Which are open is kept in the URL.
params_tab, mattered_tab, summaries_tab, inputs_tab = (
    st.expander(title, expanded=key == "compare_params", key=key, on_change="rerun", bind="query-params")
    for key, title in SECTIONS.items()
)

if params_tab.open:
    with params_tab, guarded("Params"):
        differing = comparison.params
        shared = styling.shared_params(comparison)
        if differing.height == 0:
            st.caption("The runs share every param." if shared else "The runs have no params.")
        else:
            with st.container(key="params_table"):
                st.html(styling.params_html(differing, labels, colors))
        if shared and differing.height:
            same = ", ".join(f"{styling.code_span(k)} = {styling.code_span(v)}" for k, v in shared.items())
            st.caption(f"The same in every run: {same}")

if mattered_tab.open:
    with mattered_tab, guarded("Which params mattered"):
        if comparison.params.height == 0 or not all_keys:
            st.caption("These runs do not differ in any param." if all_keys else "These runs logged no metrics.")
        else:
            metric_col, stat_col, param_col = st.columns([2, 1, 2])
            first = all_keys.index(keys[0]) if keys else 0  # the first metric plotted above
            metric = metric_col.selectbox("Metric", all_keys, index=first, key="compare_hp_metric")
            stat = stat_col.radio("Value", curves.STATS, key="compare_hp_stat", horizontal=True)
            param_names = comparison.params.get_column("param").to_list()
            param = param_col.selectbox("Param (scatter)", param_names, key="compare_hp_param")
            assert metric is not None
            assert param is not None
            left, right = st.columns(2)
            with left:
                chart = curves.parallel(
                    comparison.params, comparison.metrics, metric=metric, stat=stat, labels=labels, colors=colors
                )
                curves.draw(chart, key="parallel")
            with right:
                chart = curves.scatter(
                    comparison.params,
                    comparison.metrics,
                    param=param,
                    metric=metric,
                    stat=stat,
                    labels=labels,
                    colors=colors,
                )
                curves.draw(chart, key="scatter")

if summaries_tab.open:
    with summaries_tab, guarded("Metric summaries"):
        table(comparison.metrics.rename(labels), key="metrics_table")

if inputs_tab.open:
    with inputs_tab, guarded("Datasets"):
        if comparison.inputs.height == 0:
            st.caption("None of these runs recorded a dataset input.")
        else:
            table(comparison.inputs.rename(labels), key="inputs_table")
