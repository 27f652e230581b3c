"""Plotly figures: the dataset timeline and charts of SQL results (curves of runs are drawn by
``lakehouse.app.curves``)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from lakehouse.app.curves import PALETTE

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
        style = {"marker": {"color": PALETTE[index % len(PALETTE)]}, "name": y}
        if kind == "bar":
            fig.add_trace(go.Bar(x=xs, y=values, **style))
        else:
            fig.add_trace(go.Scatter(x=xs, y=values, mode="lines+markers" if kind == "line" else "markers", **style))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=ys[0] if len(ys) == 1 else "value", **_LAYOUT)
    return fig
