"""M4 downsampling against a plain-Python reference, series by series."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from lakehouse.query.metrics import GROUP, downsample


def _reference(values: list[float], max_points: int) -> set[int]:
    """Positions M4 keeps: each bucket's first, last, lowest and highest (first of equals; NaN never)."""
    n = len(values)
    if n <= max_points:
        return set(range(n))
    buckets = max_points // 4
    kept: set[int] = set()
    for bucket in range(buckets):
        members = [i for i in range(n) if i * buckets // n == bucket]
        kept.update((members[0], members[-1]))
        numbers = [i for i in members if not math.isnan(values[i])]
        if numbers:
            kept.add(min(numbers, key=lambda i: (values[i], i)))
            kept.add(min(numbers, key=lambda i: (-values[i], i)))
    return kept


def _series(rng: random.Random) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for run in range(4):
        for key in ("loss", "acc"):
            n = rng.choice([1, 3, 8, 9, 57, 400, 1_001])
            values = [rng.choice([rng.random(), float(rng.randint(0, 3)), math.nan]) for _ in range(n)]
            out[(f"run{run}", key)] = values
    out[("run9", "all_nan")] = [math.nan] * 50
    out[("run9", "flat")] = [2.0] * 50
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("max_points", [4, 8, 9, 100])
def test_downsample_keeps_exactly_the_m4_points(seed: int, max_points: int) -> None:
    series = _series(random.Random(seed))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"run_id": run, "key": key, "step": step * 10, "timestamp": start + timedelta(seconds=step), "value": v}
        for (run, key), values in series.items()
        for step, v in enumerate(values)
    ]
    points = pl.DataFrame(rows).sort(*GROUP, "step")
    small = downsample(points, max_points)

    assert small.equals(small.sort(*GROUP, "step")), "the result keeps the input's order"
    for (run, key), values in series.items():
        got = small.filter((pl.col("run_id") == run) & (pl.col("key") == key))
        assert got.height <= max_points
        expected = sorted(_reference(values, max_points))
        assert got.get_column("step").to_list() == [i * 10 for i in expected], (run, key)


def test_downsample_of_nothing_and_of_short_series_is_the_input() -> None:
    empty = pl.DataFrame(
        schema={"run_id": pl.String, "key": pl.String, "step": pl.Int64, "timestamp": pl.Datetime, "value": pl.Float64}
    )
    assert downsample(empty, 8).equals(empty)
    short = pl.DataFrame({"run_id": ["a"] * 3, "key": ["k"] * 3, "step": [0, 1, 2], "value": [1.0, math.nan, 3.0]})
    assert downsample(short, 4).equals(short)
