"""The curve controls and the grid of metric charts that Compare and Run share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lakehouse.app import curves


@dataclass(frozen=True, kw_only=True)
class CurveOptions:
    """How the curves are drawn, as the visitor set it."""

    x_axis: curves.XAxis = "step"
    smoothing: float = 0.0
    log_y: bool = False
    ignore_outliers: bool = False


def controls(prefix: str, cells: Sequence[DeltaGenerator], *, horizontal: bool) -> CurveOptions:
    """The x axis, smoothing, log scale and outlier widgets in three ``cells`` (keys ``<prefix>_x`` ...)."""
    x_col, smooth_col, scale_col = cells
    x_axis = x_col.radio("x axis", curves.X_AXES, key=f"{prefix}_x", horizontal=horizontal)
    smoothing = smooth_col.slider(
        "Smoothing", 0.0, 0.99, 0.0, 0.01, key=f"{prefix}_smoothing", help="TensorBoard's debiased moving average"
    )
    log_y = scale_col.toggle("Log scale", key=f"{prefix}_log")
    outliers = scale_col.toggle("Ignore outliers", key=f"{prefix}_outliers", help="y from the 5th to 95th percentile")
    return CurveOptions(x_axis=x_axis, smoothing=smoothing, log_y=log_y, ignore_outliers=outliers)


def grid(
    points: pl.DataFrame,
    keys: Sequence[str],
    *,
    labels: dict[str, str],
    colors: dict[str, str],
    options: CurveOptions,
    key_prefix: str,
    height: int = 320,
) -> None:
    """One chart per metric in ``keys``, two side by side, each keyed ``<key_prefix>:<metric>``."""
    cells = st.columns(2)
    for i, key in enumerate(keys):
        with cells[i % 2]:
            chart = curves.lines(
                points,
                key,
                labels=labels,
                colors=colors,
                x_axis=options.x_axis,
                smoothing=options.smoothing,
                log_y=options.log_y,
                ignore_outliers=options.ignore_outliers,
                height=height,
            )
            curves.draw(chart, key=f"{key_prefix}:{key}")
