"""Metric curves, parallel coordinates and param-vs-metric scatters, drawn by the curves component.

The rules every chart of the app follows live here once: a run's colour (``run_colors``), smoothing
(``smooth``), the x axes (``X_AXES``) and which metrics to plot first (``default_keys``).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
import polars as pl

from lakehouse.app.components import curves as component
from lakehouse.app.components.curves import Chart, Series

# Distinct colours, in the order runs get them: twenty runs started one after another never share one.
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
    "#393b79",
    "#e6550d",
    "#31a354",
    "#843c39",
    "#7b4173",
    "#bd9e39",
    "#3182bd",
    "#636363",
    "#8ca252",
    "#d6616b",
)

XAxis = Literal["step", "relative time (s)", "wall time"]
X_AXES: tuple[XAxis, ...] = get_args(XAxis)
Stat = Literal["last", "min", "max"]
STATS: tuple[Stat, ...] = get_args(Stat)
RAW_ALPHA = 0.25  # the unsmoothed curve, faint behind the smoothed one
# Points one chart is sent at most, over all its curves. A chart is ~600 pixels wide: 2,000 points per curve
# for 100 runs (200,000 points, 3 MB per chart) draw no more than a few hundred per curve do, and the bytes
# are what a new tab waits for (measured in docs/BENCHMARKS.md). Downsampling keeps every extreme, so a
# thinner curve keeps its spikes: 4 runs get 2,000 points each, 12 runs 666 (a point per pixel; TensorBoard
# keeps 1,000 per curve, W&B samples 500), 100 runs 200.
CHART_POINTS = 8_000
MIN_CURVE_POINTS = 200


def run_colors(runs: pl.DataFrame) -> dict[str, str]:
    """One colour per run, the same on every chart and page: the palette in the order the runs started.

    ``runs`` is every run of the lakehouse (``run_id``, ``start_time``), so a run's colour does not depend on
    which runs share its chart.
    """
    ordered = runs.sort("start_time", "run_id", nulls_last=True).get_column("run_id").to_list()
    return {run_id: PALETTE[i % len(PALETTE)] for i, run_id in enumerate(ordered)}


def points_per_curve(max_points: int, curves: int) -> int:
    """Points asked for each of ``curves`` curves drawn on one chart: ``max_points`` (``app.max_points``) while
    the chart stays under ``CHART_POINTS`` in all, fewer for many curves (never under ``MIN_CURVE_POINTS``)."""
    return min(max_points, max(MIN_CURVE_POINTS, CHART_POINTS // max(curves, 1)))


def smooth(points: pl.DataFrame, weight: float) -> pl.DataFrame:
    """TensorBoard's smoothing: a debiased exponential moving average per (run, key) (0 = raw).

    ``adjust=True`` divides by the sum of the weights seen so far, which is TensorBoard's debiasing: the first
    points are not pulled towards zero.
    """
    if weight <= 0 or points.is_empty():
        return points.with_columns(pl.col("value").alias("smoothed"))
    return points.with_columns(
        pl.col("value")
        .fill_nan(None)
        .ewm_mean(alpha=1 - weight, adjust=True, ignore_nulls=True)
        .over("run_id", "key")
        .alias("smoothed")
    )


def _x(frame: pl.DataFrame, x_axis: XAxis) -> np.ndarray:
    """The x values of one run's points: steps, seconds since its first point, or wall time (epoch seconds)."""
    if x_axis == "step":
        return frame.get_column("step").cast(pl.Float64).to_numpy()
    seconds = frame.get_column("timestamp").dt.epoch("us").cast(pl.Float64) / 1e6
    if x_axis == "wall time":
        return seconds.to_numpy()
    return (seconds - seconds.min()).to_numpy()


def _finite(frame: pl.DataFrame, x_axis: XAxis) -> pl.DataFrame:
    """Points the chart can place, in x order (the browser finds the value under the cursor by bisection)."""
    order = "step" if x_axis == "step" else "timestamp"
    return frame.filter(pl.col("value").is_finite()).sort(order, "step")


def lines(
    points: pl.DataFrame,
    key: str,
    *,
    labels: dict[str, str],
    colors: dict[str, str],
    x_axis: XAxis = "step",
    smoothing: float = 0.0,
    log_y: bool = False,
    ignore_outliers: bool = False,
    height: int = 320,
) -> Chart:
    """One metric of several runs overlaid: a line per run (smoothed over a faint raw one when smoothing)."""
    by_run = smooth(points.filter(pl.col("key") == key), smoothing).partition_by("run_id", as_dict=True)
    series: list[Series] = []
    for run_id, name in labels.items():
        run = by_run.get((run_id,))
        if run is None:
            continue
        run = _finite(run, x_axis)
        if run.is_empty():
            continue
        x = _x(run, x_axis)
        color = colors.get(run_id, PALETTE[0])
        if smoothing > 0:
            raw = run.get_column("value").to_numpy()
            series.append(
                Series(group=run_id, name=name, color=color, x=x, y=raw, role="raw", width=1, alpha=RAW_ALPHA)
            )
        series.append(Series(group=run_id, name=name, color=color, x=x, y=run.get_column("smoothed").to_numpy()))
    return Chart(
        kind="lines",
        series=tuple(series),
        title=key,
        x_label=x_axis,
        x_format="wall" if x_axis == "wall time" else "number",
        log_y=log_y,
        ignore_outliers=ignore_outliers,
        height=height,
    )


def train_vs_validation(
    points: pl.DataFrame, key: str, *, color: str, x_axis: XAxis = "step", log_y: bool = False, height: int = 320
) -> Chart:
    """``key`` and ``val_<key>`` of one run on one chart, in the run's colour (validation dashed): the gap
    between them is overfitting. The legend shows and hides each of the two."""
    series = []
    for name, dash in ((key, False), (f"val_{key}", True)):
        frame = _finite(points.filter(pl.col("key") == name), x_axis)
        if frame.is_empty():
            continue
        values = frame.get_column("value").to_numpy()
        series.append(Series(group=name, name=name, color=color, x=_x(frame, x_axis), y=values, dash=dash))
    return Chart(
        kind="lines",
        series=tuple(series),
        title=f"{key} (train vs validation)",
        x_label=x_axis,
        x_format="wall" if x_axis == "wall time" else "number",
        log_y=log_y,
        height=height,
    )


def _numeric(values: list[str | None]) -> list[float] | None:
    """The values as numbers when every present one is a number (``lr``, ``units``), else None."""
    out = []
    for value in values:
        if value is None:
            out.append(math.nan)
            continue
        try:
            out.append(float(value))
        except ValueError:
            return None
    return out


def _param_axis(values: list[str | None]) -> tuple[list[float], tuple[str, ...]]:
    """A param's values on an axis: numbers as they are; anything else as the index of its sorted label."""
    numbers = _numeric(values)
    if numbers is not None:
        return numbers, ()
    labels = tuple(sorted({v for v in values if v is not None}))
    return [labels.index(v) if v is not None else math.nan for v in values], labels


def _metric_values(metrics: pl.DataFrame, run_ids: list[str], metric: str, stat: Stat) -> list[float]:
    row = metrics.filter((pl.col("metric") == metric) & (pl.col("stat") == stat))
    if row.is_empty():
        return [math.nan] * len(run_ids)
    first = row.row(0, named=True)
    return [math.nan if first.get(r) is None else float(first[r]) for r in run_ids]


def parallel(
    params: pl.DataFrame,
    metrics: pl.DataFrame,
    *,
    metric: str,
    stat: Stat,
    labels: dict[str, str],
    colors: dict[str, str],
    height: int = 320,
) -> Chart:
    """Parallel coordinates: an axis per param (``params``: ``param`` column, one column per run id) and the
    metric's ``stat`` last (``metrics``: ``metric``, ``stat`` columns, one per run id); a line per run."""
    run_ids = list(labels)
    axes: list[dict[str, object]] = []
    columns: list[list[float]] = []
    for row in params.iter_rows(named=True):
        values, names = _param_axis([row.get(r) for r in run_ids])
        axes.append({"name": row["param"], "labels": list(names) or None})
        columns.append(values)
    axes.append({"name": f"{metric} ({stat})", "labels": None})
    columns.append(_metric_values(metrics, run_ids, metric, stat))
    positions = np.arange(len(axes), dtype=float)
    series = tuple(
        Series(
            group=run_id,
            name=labels[run_id],
            color=colors.get(run_id, PALETTE[0]),
            x=positions,
            y=np.array([column[i] for column in columns], dtype=float),
        )
        for i, run_id in enumerate(run_ids)
    )
    return Chart(kind="parallel", series=series, title=f"Params → {metric} ({stat})", axes=tuple(axes), height=height)


def scatter(
    params: pl.DataFrame,
    metrics: pl.DataFrame,
    *,
    param: str,
    metric: str,
    stat: Stat,
    labels: dict[str, str],
    colors: dict[str, str],
    log_y: bool = False,
    height: int = 320,
) -> Chart:
    """One point per run: a param's value (x) against a metric's ``stat`` (y)."""
    run_ids = list(labels)
    row = params.filter(pl.col("param") == param)
    found = row.row(0, named=True) if row.height else {}
    values: list[str | None] = [found.get(r) for r in run_ids]
    x, names = _param_axis(values)
    y = _metric_values(metrics, run_ids, metric, stat)
    series = tuple(
        Series(
            group=run_id,
            name=labels[run_id],
            color=colors.get(run_id, PALETTE[0]),
            x=np.array([x[i]], dtype=float),
            y=np.array([y[i]], dtype=float),
        )
        for i, run_id in enumerate(run_ids)
        if math.isfinite(x[i]) and math.isfinite(y[i])
    )
    return Chart(
        kind="points",
        series=series,
        title=f"{metric} ({stat}) by {param}",
        x_label=param,
        y_label=f"{metric} ({stat})",
        x_format="category" if names else "number",
        x_labels=names,
        log_y=log_y,
        height=height,
    )


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


def draw(chart: Chart, *, key: str) -> None:
    """Draw ``chart`` in the page (``key`` keeps it the same chart across reruns)."""
    component.draw(chart, key=key)
