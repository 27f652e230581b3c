"""Datasets benchmark: what a version costs to write, to read back in time, and to diff.

Each number is the median of several runs and is printed next to the anchor it is judged against, measured
in the same run:

* **append 1 %** — appending 1 % of the rows as a new version, as a fraction of writing all of them
  (goal ≤ 3 %).
* **time travel** — reading an old version (v0, with later commits and checkpoints after it) against
  reading the latest version, which holds the same rows plus a few (goal ≤ 1.1×).
* **keyed diff** — diffing two versions that differ by an upsert of 0.1 %, 1 % and 5 % of the rows, on 1M
  and 10M rows, by the change data feed (what ``diff`` picks) against reading and joining both versions.
  It should grow with the change, not with the table.

``python benchmarks/datasets_bench.py`` runs the full sizes; ``--quick`` runs small ones to try it out.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import lakehouse

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def frame(rows: int, *, start: int = 0, seed: int = 0) -> pl.DataFrame:
    """Rows shaped like a labelled ML dataset: a key, a label, two features, a group and a timestamp."""
    rng = np.random.default_rng(seed)
    ids = np.arange(start, start + rows, dtype=np.int64)
    return pl.DataFrame(
        {
            "id": ids,
            "label": rng.integers(0, 10, rows),
            "score": rng.random(rows),
            "feature": rng.normal(size=rows).astype(np.float32),
            "group": pl.Series(ids % 1000).cast(pl.Utf8),
            "at": pl.Series(ids * 1_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        }
    )


def changed_rows(rows: int, fraction: float, seed: int) -> pl.DataFrame:
    """An upsert touching ``fraction`` of ``rows``: random existing keys get new labels and scores."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(rows, size=max(1, int(rows * fraction)), replace=False))
    base = frame(rows)[ids]
    return base.with_columns(
        pl.Series("label", rng.integers(10, 20, len(ids))), pl.Series("score", rng.random(len(ids)))
    )


def median_time(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(first: Callable[[], Any], second: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Medians of two operations run alternately, so drift on a shared machine hits both alike."""
    a, b = [], []
    for _ in range(runs):
        for fn, out in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def bench_append(root: Path, rows: int, runs: int) -> dict[str, float]:
    """Full writes (each a new dataset) and 1 % appends (to one dataset of ``rows``), run alternately."""
    data, extra = frame(rows), frame(rows // 100, start=rows, seed=1)
    lh = lakehouse.connect(root / "append")
    counter = iter(range(1000))
    ds = lh.dataset("appended")
    ds.write(data)
    full, append = interleaved(lambda: lh.dataset(f"full-{next(counter)}").write(data), lambda: ds.write(extra), runs)
    return {"full_write_s": full, "append_1pct_s": append, "fraction": append / full}


def bench_time_travel(root: Path, rows: int, runs: int, commits: int = 25) -> dict[str, float]:
    """The same rows and files read as the latest version of one dataset and as v0 of another that has
    ``commits`` later versions (and checkpoints) to look past."""
    lh = lakehouse.connect(root / "travel")
    data = frame(rows)
    latest, travelled = lh.dataset("latest"), lh.dataset("travelled")
    latest.write(data)
    travelled.write(data)
    for i in range(commits):
        travelled.write(frame(1, start=rows + i))
    old, now = interleaved(lambda: travelled.read(0), lambda: latest.read(), max(runs, 5))
    return {"old_read_s": old, "latest_read_s": now, "ratio": old / now, "versions": commits + 1}


def bench_diff(root: Path, sizes: list[int], fractions: list[float], runs: int) -> list[dict[str, Any]]:
    results = []
    for rows in sizes:
        lh = lakehouse.connect(root / f"diff-{rows}")
        ds = lh.dataset("diff")
        ds.write(frame(rows))
        for i, fraction in enumerate(fractions):
            change = changed_rows(rows, fraction, seed=10 + i)
            version = ds.write(change, mode="upsert", key="id").version
            check = ds.diff(version - 1, version, key="id")
            assert check.method == "cdf", check.method
            assert check.num_changed == change.height, (check.num_changed, change.height)
            cdf = median_time(lambda d=ds, v=version: d.diff(v - 1, v, key="id", method="cdf"), runs)
            join = median_time(lambda d=ds, v=version: d.diff(v - 1, v, key="id", method="join"), max(1, runs // 2))
            results.append({"rows": rows, "changed": change.height, "fraction": fraction, "cdf_s": cdf, "join_s": join})
            print(f"  diff {rows:>11,} rows, {change.height:>9,} changed: feed {cdf:7.3f} s, join {join:7.3f} s")
    return results


def machine() -> str:
    memory = ""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        kib = next(int(line.split()[1]) for line in lines if line.startswith("MemTotal"))
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"{os.cpu_count()} cores{memory}, {system}{load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows for the append and time-travel runs")
    parser.add_argument("--diff-sizes", default="1000000,10000000", help="comma-separated table sizes for diffs")
    parser.add_argument("--changes", default="0.001,0.01,0.05", help="comma-separated changed fractions")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (medians are reported)")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script out")
    parser.add_argument("--root", type=Path, help="where to write (default: a temporary folder)")
    parser.add_argument("--skip-diff", action="store_true", help="only the append and time-travel runs")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.diff_sizes.split(",")]
    fractions = [float(f) for f in args.changes.split(",")]
    print(f"datasets benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}")
    import deltalake

    print(f"lakehouse {lakehouse.__version__}, deltalake {deltalake.__version__}, polars {pl.__version__}")
    with tempfile.TemporaryDirectory(dir=args.root) as folder:
        root = Path(folder)
        a = bench_append(root, rows, args.runs)
        print(
            f"append 1 % of {rows:,} rows: {a['append_1pct_s']:.3f} s vs full write {a['full_write_s']:.3f} s "
            f"= {a['fraction']:.2%} (goal ≤ 3 %) {'OK' if a['fraction'] <= 0.03 else 'MISSED'}"
        )
        t = bench_time_travel(root, rows, args.runs)
        print(
            f"time travel to v0 of {t['versions']:.0f} versions, {rows:,} rows: {t['old_read_s']:.3f} s vs the same "
            f"rows as latest "
            f"{t['latest_read_s']:.3f} s = {t['ratio']:.2f}x (goal ≤ 1.1x) {'OK' if t['ratio'] <= 1.1 else 'MISSED'}"
        )
        if not args.skip_diff:
            print("keyed diff of two versions (an upsert of the changed rows between them):")
            bench_diff(root, sizes, fractions, args.runs)


if __name__ == "__main__":
    main()
