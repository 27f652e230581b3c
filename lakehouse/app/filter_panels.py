"""The Experiments page's filter panels: their widgets are built only while the panel is open.

A closed panel sends no widgets to the browser. With 20 params that is 20 sliders and pickers fewer to draw,
about half a second of a page load on two cores (docs/BENCHMARKS.md). The filters a panel holds stay
applied while it is closed: they live in ``st.session_state[CHOSEN]``, not in the widgets, which Streamlit
forgets when they are not drawn. Each experiment keeps its own filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import streamlit as st
from streamlit.elements.lib.mutable_expander_container import ExpanderContainer

from lakehouse.app import filters

CHOSEN = "run_filters"  # experiment -> Chosen
SCOPE = "run_filters_scope"  # the experiment the filter widgets were last drawn for
WIDGETS = ("range:", "values:", "metric_filters")  # the keys of the panels' widgets
LABELS_PANEL = "labels_panel"
METRICS_PANEL = "metrics_panel"


@dataclass
class Chosen:
    """Filters picked in the panels; a range equal to the column's full span is not kept."""

    values: dict[str, list[str]] = field(default_factory=dict)  # param/tag column -> accepted values
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> [low, high]
    metrics: list[str] = field(default_factory=list)  # metric columns offered a range slider

    def describe(self, columns: list[str]) -> str:
        """The filters on ``columns`` in words, e.g. ``params.lr 0.05–1 · params.optimizer: adam``."""
        parts = [f"{c}: {', '.join(v)}" for c, v in self.values.items() if c in columns]
        parts += [f"{c} {low:g}–{high:g}" for c, (low, high) in self.ranges.items() if c in columns]
        return " · ".join(parts)


def use_scope(experiment: str) -> None:
    """Filter the runs of ``experiment``: after a switch, the widgets start from that experiment's filters."""
    if st.session_state.get(SCOPE) != experiment:
        for key in [k for k in st.session_state if str(k).startswith(WIDGETS)]:
            del st.session_state[key]
        st.session_state[SCOPE] = experiment


def chosen() -> Chosen:
    """The filters of the experiment in scope."""
    if CHOSEN not in st.session_state:
        st.session_state[CHOSEN] = {}
    store: dict[str, Chosen] = st.session_state[CHOSEN]
    return store.setdefault(st.session_state.get(SCOPE, ""), Chosen())


def _keep_values(column: str) -> None:
    picked = list(st.session_state[f"values:{column}"])
    if picked:
        chosen().values[column] = picked
    else:
        chosen().values.pop(column, None)


def _keep_range(column: str, span: tuple[float, float]) -> None:
    picked = tuple(st.session_state[f"range:{column}"])
    if picked == span:
        chosen().ranges.pop(column, None)
    else:
        chosen().ranges[column] = (float(picked[0]), float(picked[1]))


def _keep_metrics(offered: list[str]) -> None:
    state = chosen()
    state.metrics = list(st.session_state["metric_filters"])
    for column in offered:
        if column not in state.metrics:  # a metric taken off the list stops filtering
            state.ranges.pop(column, None)


def _range_slider(column: str, low: float, high: float) -> None:
    picked = chosen().ranges.get(column, (low, high))
    start = (min(max(picked[0], low), high), max(min(picked[1], high), low))
    st.slider(column, low, high, start, key=f"range:{column}", on_change=_keep_range, args=(column, (low, high)))


def _open_panel(title: str, key: str, columns: list[str]) -> ExpanderContainer | None:
    """The panel's expander if it is open; None (and a note on what it filters by) if it is closed or empty."""
    if not columns:
        return None
    # The title is part of the expander's identity: it stays the same, or the panel would close on every pick.
    panel = st.expander(title, key=key, on_change="rerun")
    if panel.open:
        return panel
    active = chosen().describe(columns)
    if active:
        st.caption(f"Filtering by {active}")
    return None


def labels_panel(runs: pl.DataFrame) -> None:
    """Value pickers for text params and tags, range sliders for numeric ones."""
    columns = filters.label_columns(runs)
    panel = _open_panel("Filter by params and tags", LABELS_PANEL, columns)
    if panel is None:
        return
    with panel:
        cells = st.columns(3)
        for i, column in enumerate(columns):
            series = runs.get_column(column)
            with cells[i % 3]:
                as_numbers = filters.numeric(series)
                low = as_numbers.min() if as_numbers is not None else None
                high = as_numbers.max() if as_numbers is not None else None
                if isinstance(low, float) and isinstance(high, float) and low < high:
                    _range_slider(column, low, high)
                    continue
                distinct = series.drop_nulls().cast(pl.String).unique().sort().to_list()
                if 1 < len(distinct) <= filters.MAX_CHOICES:
                    st.multiselect(
                        column,
                        distinct,
                        default=[v for v in chosen().values.get(column, []) if v in distinct],
                        key=f"values:{column}",
                        on_change=_keep_values,
                        args=(column,),
                    )


def metrics_panel(runs: pl.DataFrame) -> None:
    """Range sliders for the metrics the visitor picks."""
    columns = filters.metric_columns(runs)
    panel = _open_panel("Filter by metric ranges", METRICS_PANEL, columns)
    if panel is None:
        return
    with panel:
        picked = st.multiselect(
            "Metrics to filter on",
            columns,
            default=[c for c in chosen().metrics if c in columns],
            key="metric_filters",
            on_change=_keep_metrics,
            args=(columns,),
        )
        for column in picked:
            series = runs.get_column(column).fill_nan(None).drop_nulls()
            if series.is_empty() or series.min() == series.max():
                st.caption(f"`{column}` has a single value; nothing to filter.")
                continue
            _range_slider(column, float(series.min()), float(series.max()))  # type: ignore[arg-type]


def applied(runs: pl.DataFrame) -> tuple[dict[str, list[str]], dict[str, tuple[float, float]]]:
    """The value and range filters that apply to ``runs`` (filters on columns it lacks are left aside)."""
    state = chosen()
    values = {c: v for c, v in state.values.items() if c in runs.columns}
    ranges = {c: r for c, r in state.ranges.items() if c in runs.columns}
    return values, ranges
