"""Runs side by side: the params that differ, metric summaries, and the dataset versions each used."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.entities import RunComparison
from lakehouse.errors import InvalidArgument, RunNotFound
from lakehouse.query.runs import runs as folded_runs

_STATS = ("last", "min", "max")


def compare(layout: Layout, run_ids: Sequence[str]) -> RunComparison:
    """Compare runs (ids already resolved). Columns of every frame are the run ids, in the given order."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        msg = "compare() needs at least one run id"
        raise InvalidArgument(msg)
    runs = folded_runs(layout, run_ids=ids, include_deleted=True)
    found = set(runs.get_column("run_id").to_list())
    missing = [i for i in ids if i not in found]
    if missing:
        msg = f"no run with id {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        raise RunNotFound(msg)
    by_id = {r["run_id"]: r for r in runs.iter_rows(named=True)}
    labels = _labels(ids, {i: by_id[i]["name"] for i in ids})

    param_keys = sorted(c for c in runs.columns if c.startswith("params."))
    differing: list[dict[str, str | None]] = []
    same: dict[str, str | None] = {}
    for column in param_keys:
        values = [by_id[i][column] for i in ids]
        key = column.removeprefix("params.")
        if len(set(values)) > 1:
            differing.append({"param": key, **dict(zip(ids, values, strict=True))})
        else:
            same[key] = values[0]
    params = pl.DataFrame(differing, schema={"param": pl.String, **dict.fromkeys(ids, pl.String)})

    metric_rows = []
    metric_columns = [c for c in runs.columns if c.startswith("metrics.")]
    keys = sorted({c.removeprefix("metrics.").rsplit(".", 1)[0] for c in metric_columns})
    for key in keys:
        for stat in _STATS:
            column = f"metrics.{key}.{stat}"
            if column in runs.columns:
                metric_rows.append({"metric": key, "stat": stat, **{i: by_id[i][column] for i in ids}})
    metrics = pl.DataFrame(
        metric_rows, schema={"metric": pl.String, "stat": pl.String, **dict.fromkeys(ids, pl.Float64)}
    )

    datasets: dict[str, dict[str, list[str]]] = {}
    for i in ids:
        for ref in by_id[i]["inputs"] or []:
            name, _, version = ref.rpartition(":")
            datasets.setdefault(name, {}).setdefault(i, []).append(version)
    inputs = pl.DataFrame(
        [{"dataset": d, **{i: ", ".join(per.get(i, [])) or None for i in ids}} for d, per in sorted(datasets.items())],
        schema={"dataset": pl.String, **dict.fromkeys(ids, pl.String)},
    )
    return RunComparison(
        run_ids=tuple(ids), labels=labels, params=params, same_params=same, metrics=metrics, inputs=inputs
    )


def _labels(ids: list[str], names: dict[str, str | None]) -> dict[str, str]:
    """Run names where they tell runs apart, else the first 8 characters of the id."""
    given = [names[i] for i in ids]
    out = {}
    for i in ids:
        name = names[i]
        out[i] = name if name and given.count(name) == 1 else i[:8]
    return out
