"""The curves component: uPlot charts drawn in the app's page (Streamlit components v2, no iframe).

The browser code is ``frontend/src/index.js``, bundled with uPlot by ``make`` (``npm ci`` + esbuild) into
``static/`` (shipped in the package, never fetched at run time). Streamlit finds ``static/`` through the
manifest in ``lakehouse/pyproject.toml``.

A chart travels as one bytes payload, never as JSON of points: a little-endian ``uint32`` length, that many
bytes of a JSON header, zero padding to a multiple of 4, then float32 columns. Each series of the header names
its ``x`` and ``y`` columns by ``[offset, length]`` in float32 units. An x column holds the distance from the
header's ``x_origin`` (the smallest x, a float64), so wall-clock seconds keep their precision in 32 bits.

Why float32: a page's payload is what a new tab waits for (the bytes cross the server's message loop and the
browser's), and a canvas a few hundred pixels tall needs no 16 digits; TensorBoard keeps its scalars as float32
too. The tooltip shows values to 7 significant digits at most.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import streamlit as st

NAME = "lakehouse.curves"  # "<project>.<component>", as the manifest declares it
_HEAD = struct.Struct("<I")

Kind = Literal["lines", "points", "parallel"]
XFormat = Literal["number", "wall", "category"]


@dataclass(frozen=True, kw_only=True)
class Series:
    """One drawn line (or set of points).

    ``group`` is what the legend shows and hides (a run, or a metric on the Live page); a ``raw`` series is
    the faint unsmoothed curve drawn behind the ``main`` one of the same group and name.
    """

    group: str
    name: str
    color: str
    x: np.ndarray
    y: np.ndarray
    legend: str | None = None
    role: Literal["main", "raw"] = "main"
    width: float = 2.0
    alpha: float = 1.0
    dash: bool = False


@dataclass(frozen=True, kw_only=True)
class Chart:
    """What the component draws: the series, and how (title, axes, scales)."""

    kind: Kind
    series: tuple[Series, ...]
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    x_format: XFormat = "number"
    x_labels: tuple[str, ...] = ()
    axes: tuple[dict[str, Any], ...] = ()  # parallel coordinates: {"name", "labels"} per axis
    log_y: bool = False
    ignore_outliers: bool = False
    height: int = 320


def encode(chart: Chart) -> bytes:
    """The chart as the component's bytes payload (header, then float64 columns)."""
    columns: list[np.ndarray] = []
    offset = 0
    origin = _x_origin(chart.series)

    def place(values: np.ndarray) -> list[int]:
        nonlocal offset
        column = np.ascontiguousarray(values, dtype="<f4")
        columns.append(column)
        where = [offset, int(column.size)]
        offset += int(column.size)
        return where

    series = []
    placed: dict[int, list[int]] = {}  # a raw curve shares its x column with its smoothed one
    for s in chart.series:
        x = placed.get(id(s.x)) or place(np.asarray(s.x, dtype=np.float64) - origin)
        placed[id(s.x)] = x
        series.append(
            {
                "group": s.group,
                "name": s.name,
                "legend": s.legend,
                "color": s.color,
                "role": s.role,
                "width": s.width,
                "alpha": s.alpha,
                "dash": s.dash,
                "x": x,
                "y": place(s.y),
            }
        )
    header = {
        "kind": chart.kind,
        "style": "points" if chart.kind == "points" else "lines",
        "title": chart.title,
        "x_label": chart.x_label,
        "y_label": chart.y_label,
        "x_format": chart.x_format,
        "x_labels": list(chart.x_labels),
        "x_origin": origin,
        "axes": list(chart.axes),
        "log_y": chart.log_y,
        "ignore_outliers": chart.ignore_outliers,
        "height": chart.height,
        "series": series,
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    padding = -(_HEAD.size + len(text)) % 4
    return b"".join([_HEAD.pack(len(text)), text, b"\0" * padding, *(c.tobytes() for c in columns)])


def _x_origin(series: Sequence[Series]) -> float:
    """The smallest finite x of the chart (0 without one): x columns travel as their distance from it."""
    lows = [float(np.nanmin(s.x)) for s in series if np.isfinite(s.x).any()]
    return min(lows, default=0.0)


def decode(payload: bytes) -> tuple[dict[str, Any], Callable[[Sequence[int]], np.ndarray]]:
    """The header of a payload and a function giving a column by its ``[offset, length]`` as float64 (what the
    browser code does; the tests read charts with it). Add the header's ``x_origin`` to an x column."""
    (length,) = _HEAD.unpack_from(payload)
    header: dict[str, Any] = json.loads(payload[_HEAD.size : _HEAD.size + length])
    start = _HEAD.size + length + (-(_HEAD.size + length) % 4)
    values = np.frombuffer(payload, dtype="<f4", offset=start)

    def column(where: Sequence[int]) -> np.ndarray:
        offset, count = where
        return values[offset : offset + count].astype(np.float64)

    return header, column


@functools.cache
def _component() -> Any:
    # Registered on first use: the script run's runtime (a server's, or an AppTest's) resolves the asset paths
    # against the manifest's asset_dir.
    return st.components.v2.component(NAME, js="curves.js", css="curves.css")


def draw(chart: Chart, *, key: str) -> None:
    """Mount the component for ``chart`` (keyed: a rerun with new data updates the same chart in place)."""
    _component()(data=encode(chart), key=key)
