"""Plotly figures: the dataset timeline (curves of runs are drawn by ``lakehouse.app.curves``)."""

from __future__ import annotations

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
