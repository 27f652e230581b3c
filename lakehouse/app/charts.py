"""Plotly figures the pages share."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "hovermode": "closest"}


def dataset_timeline(history: pl.DataFrame, *, title: str) -> go.Figure:
    """Rows per version over time, one marker per version, tags written next to their version."""
    frame = history.sort("version")
    hover = [
        f"v{r['version']} · {r['operation']} by {r['created_by'] or '?'}<br>"
        f"+{r['rows_added']} −{r['rows_removed']} ~{r['rows_updated']} rows"
        + (f"<br>{r['description']}" if r["description"] else "")
        for r in frame.iter_rows(named=True)
    ]
    labels = [f"v{r['version']}" + (f" [{r['tags']}]" if r["tags"] else "") for r in frame.iter_rows(named=True)]
    fig = go.Figure(
        go.Scatter(
            x=frame.get_column("created_at").to_list(),
            y=frame.get_column("number_of_samples").to_list(),
            mode="lines+markers+text",
            text=labels,
            textposition="top center",
            hovertext=hover,
            hoverinfo="text",
            line={"shape": "hv"},
            name="rows",
        )
    )
    fig.update_layout(title=title, xaxis_title="committed at", yaxis_title="rows", **_LAYOUT)
    return fig


PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

XAxis = str  # "step" | "relative time (s)" | "wall time"
# Above this many points in one figure, curves are drawn with WebGL (fast for many points); below it, as SVG:
# a browser gives a page only a dozen or so WebGL contexts, and a Run page can hold many small charts.
WEBGL_POINTS = 50_000
X_AXES: tuple[XAxis, ...] = ("step", "relative time (s)", "wall time")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def smooth(points: pl.DataFrame, weight: float) -> pl.DataFrame:
    """Exponential moving average per (run, key), as TensorBoard's smoothing slider (0 = raw)."""
    if weight <= 0 or points.is_empty():
        return points.with_columns(pl.col("value").alias("smoothed"))
    return points.with_columns(
        pl.col("value")
        .fill_nan(None)
        .ewm_mean(alpha=1 - weight, adjust=True, ignore_nulls=True)
        .over("run_id", "key")
        .alias("smoothed")
    )


def _x(frame: pl.DataFrame, x_axis: XAxis) -> Any:
    """The x values as a numpy array: plotly takes arrays without checking every element, lists it does not."""
    if x_axis == "step":
        return frame.get_column("step").to_numpy()
    if x_axis == "wall time":
        return frame.get_column("timestamp").dt.replace_time_zone(None).to_numpy()
    elapsed = frame.get_column("timestamp") - frame.get_column("timestamp").min()
    return (elapsed.dt.total_microseconds() / 1e6).to_numpy()


def curves(
    points: pl.DataFrame,
    key: str,
    *,
    labels: dict[str, str],
    x_axis: XAxis = "step",
    smoothing: float = 0.0,
    log_y: bool = False,
    height: int = 360,
) -> go.Figure:
    """One metric of several runs overlaid: a line per run (raw faded under smoothed when smoothing).

    Traces get numpy arrays and the figure is built once: with 100 runs of 2,000 points, plotly's
    per-element checks of Python lists and the copy ``add_trace`` makes took seconds.
    """
    series = smooth(points.filter(pl.col("key") == key), smoothing)
    trace = go.Scattergl if series.height > WEBGL_POINTS else go.Scatter
    by_run = series.partition_by("run_id", as_dict=True)
    traces = []
    for index, run_id in enumerate(labels):
        run = by_run.get((run_id,))
        if run is None or run.is_empty():
            continue
        x = _x(run, x_axis)
        name = labels[run_id]
        if smoothing > 0:
            traces.append(
                trace(
                    x=x,
                    y=run.get_column("value").to_numpy(),
                    mode="lines",
                    line={"color": color(index), "width": 1},
                    opacity=0.25,
                    name=name,
                    legendgroup=run_id,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        traces.append(
            trace(
                x=x,
                y=run.get_column("smoothed").to_numpy(),
                mode="lines+markers" if run.height <= 50 else "lines",
                line={"color": color(index), "width": 2},
                marker={"size": 5},
                name=name,
                legendgroup=run_id,
            )
        )
    fig = go.Figure(data=traces)
    fig.update_layout(
        title=key,
        height=height,
        xaxis_title=x_axis,
        yaxis_type="log" if log_y else "linear",
        legend={"orientation": "h", "y": -0.2},
        **_LAYOUT,
    )
    _pad_flat(fig, series.get_column("value"), log_y=log_y)
    return fig


def _pad_flat(fig: go.Figure, values: pl.Series, *, log_y: bool) -> None:
    """A constant series (a fixed learning rate) gets a y range around its value, not plotly's ±1."""
    finite = values.fill_nan(None).drop_nulls()
    if log_y or finite.is_empty() or finite.min() != finite.max():
        return
    value = float(finite[0])
    margin = abs(value) * 0.5 or 1.0
    fig.update_yaxes(range=[value - margin, value + margin])


def train_vs_validation(points: pl.DataFrame, key: str, *, x_axis: XAxis = "step", log_y: bool = False) -> go.Figure:
    """``key`` and ``val_<key>`` of one run on one chart: the gap between them is overfitting."""
    fig = go.Figure()
    for index, (name, dash) in enumerate(((key, "solid"), (f"val_{key}", "dot"))):
        series = points.filter(pl.col("key") == name)
        if series.is_empty():
            continue
        fig.add_trace(
            go.Scatter(
                x=_x(series, x_axis),
                y=series.get_column("value").to_numpy(),
                mode="lines+markers" if series.height <= 100 else "lines",
                line={"color": color(index), "dash": dash, "width": 2},
                name=name,
            )
        )
    fig.update_layout(
        title=f"{key} (train vs validation)",
        height=340,
        xaxis_title=x_axis,
        yaxis_type="log" if log_y else "linear",
        legend={"orientation": "h", "y": -0.25},
        **_LAYOUT,
    )
    return fig


def default_keys(keys: list[str], *, limit: int = 4) -> list[str]:
    """The metrics worth plotting first: train/validation pairs (``loss``, ``val_loss``...), then the other
    epoch-level metrics; per-batch (``batch/...``) and learning-rate curves only when nothing else is there."""

    def rank(key: str) -> tuple[int, int, str]:
        base = key.removeprefix("val_")
        paired = key.startswith("val_") and base in keys or f"val_{key}" in keys
        if "/" in key or "learning_rate" in key:
            return (3, 0, key)
        # Losses first; each validation curve right after its training curve.
        return (0 if paired else 1, 0 if "loss" in base else 1, base + ("~" if key.startswith("val_") else ""))

    return sorted(keys, key=rank)[:limit]


ResultChart = str  # "line" | "bar" | "scatter"
RESULT_CHARTS: tuple[ResultChart, ...] = ("line", "bar", "scatter")


def numeric_columns(frame: pl.DataFrame) -> list[str]:
    """The columns a query result can be charted by (numbers)."""
    return [c for c, t in frame.schema.items() if t.is_numeric()]


def result_chart(frame: pl.DataFrame, *, kind: ResultChart, x: str, ys: list[str], title: str) -> go.Figure:
    """A query result as one trace per ``ys`` column against ``x`` (line, bar or scatter)."""
    fig = go.Figure()
    xs = frame.get_column(x).to_list()
    for index, y in enumerate(ys):
        values = frame.get_column(y).to_list()
        style = {"marker": {"color": color(index)}, "name": y}
        if kind == "bar":
            fig.add_trace(go.Bar(x=xs, y=values, **style))
        else:
            fig.add_trace(go.Scatter(x=xs, y=values, mode="lines+markers" if kind == "line" else "markers", **style))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=ys[0] if len(ys) == 1 else "value", **_LAYOUT)
    return fig
