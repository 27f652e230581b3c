"""Filters of the runs table: text search, status, param/tag values and metric ranges (polars)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

MAX_CHOICES = 50  # a param or tag with more distinct (non-numeric) values gets no value picker


def label_columns(runs: pl.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.startswith(("params.", "tags."))]


def metric_columns(runs: pl.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.startswith("metrics.")]


def numeric(series: pl.Series) -> pl.Series | None:
    """``series`` as floats if every value is a number (params are stored as strings), else None."""
    if series.dtype.is_numeric():
        return series.cast(pl.Float64)
    values = series.cast(pl.Float64, strict=False)
    return values if values.null_count() == series.null_count() and series.null_count() < len(series) else None


@dataclass(frozen=True)
class RunFilter:
    """What the visitor asked for; :meth:`apply` keeps the matching runs."""

    text: str = ""
    statuses: Sequence[str] = ()
    values: Mapping[str, Sequence[str]] = field(default_factory=dict)  # column -> accepted values
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # column -> [low, high]

    def apply(self, runs: pl.DataFrame) -> pl.DataFrame:
        conditions: list[pl.Expr] = []
        if self.text.strip():
            needle = self.text.strip().lower()
            searchable = ["run_id", "name", *label_columns(runs)]
            text = pl.concat_str(
                [pl.col(c).cast(pl.String).fill_null("") for c in searchable if c in runs.columns]
                + [pl.col("inputs").list.join(" ")],
                separator="\u0000",
            ).str.to_lowercase()
            conditions.append(text.str.contains(needle, literal=True))
        if self.statuses:
            conditions.append(pl.col("status").is_in(list(self.statuses)))
        for column, accepted in self.values.items():
            if accepted and column in runs.columns:
                conditions.append(pl.col(column).cast(pl.String).is_in(list(accepted)))
        for column, (low, high) in self.ranges.items():
            if column in runs.columns:
                value = pl.col(column).cast(pl.Float64, strict=False)
                conditions.append(value.is_between(low, high) & value.is_not_nan())
        return runs.filter(pl.all_horizontal(conditions)) if conditions else runs


def display(runs: pl.DataFrame, *, metrics_first: bool = False) -> pl.DataFrame:
    """The runs table as shown: duration in seconds, inputs as text, ids last.

    ``metrics_first`` puts the last value of each metric before the params (and drops min/max).
    """
    out = runs.with_columns(
        ((pl.col("end_time") - pl.col("start_time")).dt.total_milliseconds() / 1000).alias("duration_s"),
        pl.col("inputs").list.join(", "),
    )
    if "model_versions" in out.columns:  # lineage: the model versions built from each run
        out = out.with_columns(pl.col("model_versions").list.join(", "))
    first = ["name", "status", "lost", "experiment", "start_time", "duration_s"]
    rest = [c for c in out.columns if c.startswith(("params.", "tags.", "metrics."))]
    if metrics_first:
        rest = [c for c in rest if c.startswith("metrics.") and c.endswith(".last")] + [
            c for c in rest if not c.startswith("metrics.")
        ]
    tail = ["inputs", "model_versions", "job_type", "user", "git_commit", "run_id"]
    return out.select([c for c in [*first, *rest, *tail] if c in out.columns])
