"""The MLflow client against ``sqlite:///`` and against ``lakehouse:///``, side by side in one run.

    python benchmarks/mlflow_bench.py            # full sizes (10,000 runs): about 10-25 minutes, mostly sqlite
    python benchmarks/mlflow_bench.py --quick    # small sizes, a couple of minutes
    python benchmarks/mlflow_bench.py --only log_metric,history --json-out results.json

(1) ``MlflowClient.log_metric``, one call                      (median per call)
(2) ``MlflowClient.log_batch`` of 1000 metrics                 (median per call)
(3) ``MlflowClient.get_metric_history`` of a 20,000-point metric (median per call)
(4) ``MlflowClient.search_runs`` over 10,000 runs: first page (1000 runs), a filtered and ordered search, and
    every run through pagination

Both stores get exactly the same calls through the same client API; every figure is a median over repeats,
and the ratio is sqlite time / lakehouse time (above 1: lakehouse ahead). The lakehouse store commits in the
background: (1) and (2) are what the caller waits for, and the time to commit what they logged is reported
next to them (``commit``), amortised per call.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")  # MLflow's own notices are not what we measure
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import polars as pl  # noqa: E402
from bench_report import write_json  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402

import lakehouse  # noqa: E402
from lakehouse.integrations.mlflow import uri_for  # noqa: E402
from lakehouse.integrations.mlflow.store import LakehouseStore  # noqa: E402

T0 = 1_700_000_000_000


@dataclass(frozen=True)
class Sizes:
    log_metric_calls: int
    log_batch_calls: int
    history_points: int
    history_reads: int
    runs: int
    search_repeats: int


FULL = Sizes(
    log_metric_calls=500, log_batch_calls=30, history_points=20_000, history_reads=7, runs=10_000, search_repeats=5
)
QUICK = Sizes(
    log_metric_calls=100, log_batch_calls=5, history_points=5_000, history_reads=3, runs=500, search_repeats=3
)


@dataclass
class Result:
    name: str
    lakehouse_ms: float
    sqlite_ms: float
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.sqlite_ms / self.lakehouse_ms


@dataclass
class Stores:
    """One MLflow client per store, and the lakehouse root."""

    sqlite: MlflowClient
    lakehouse: MlflowClient
    root: Path

    def both(self) -> list[tuple[str, MlflowClient]]:
        return [("sqlite", self.sqlite), ("lakehouse", self.lakehouse)]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def flush(stores: Stores) -> float:
    """Commit what the lakehouse store buffered; returns the milliseconds it took."""
    return timed(lambda: lakehouse.connect(stores.root).flush())


# --- (1) log_metric ------------------------------------------------------------------------------------------


def bench_log_metric(stores: Stores, sizes: Sizes) -> list[Result]:
    medians: dict[str, float] = {}
    notes: dict[str, Any] = {"calls": sizes.log_metric_calls}
    for name, client in stores.both():
        run_id = client.create_run("0", run_name="log-metric").info.run_id
        client.log_metric(run_id, "warmup", 0.0, step=0)
        flush(stores)
        times = [
            timed(lambda c=client, r=run_id, i=i: c.log_metric(r, "loss", 1.0 / (i + 1), step=i))
            for i in range(sizes.log_metric_calls)
        ]
        medians[name] = statistics.median(times)
        if name == "lakehouse":
            commit = flush(stores)
            notes["lakehouse_commit_ms_per_call"] = round(commit / sizes.log_metric_calls, 4)
            notes["lakehouse_p99_ms"] = round(sorted(times)[int(0.99 * len(times))], 4)
        else:
            notes["sqlite_p99_ms"] = round(sorted(times)[int(0.99 * len(times))], 4)
        assert len(client.get_metric_history(run_id, "loss")) == sizes.log_metric_calls
    return [Result("(1) log_metric, one call", medians["lakehouse"], medians["sqlite"], notes)]


# --- (2) log_batch of 1000 -----------------------------------------------------------------------------------


def bench_log_batch(stores: Stores, sizes: Sizes) -> list[Result]:
    medians: dict[str, float] = {}
    notes: dict[str, Any] = {"calls": sizes.log_batch_calls, "metrics_per_call": 1000}
    for name, client in stores.both():
        run_id = client.create_run("0", run_name="log-batch").info.run_id
        # Ten metrics at 100 steps per batch, as a training loop logs them.
        batches = [
            [Metric(f"m{i % 10}", float(b * 1000 + i), T0 + b * 1000 + i, b * 100 + i // 10) for i in range(1000)]
            for b in range(sizes.log_batch_calls)
        ]
        client.log_batch(run_id, metrics=[Metric("warmup", 0.0, T0, 0)])
        flush(stores)
        times = [timed(lambda c=client, r=run_id, b=b: c.log_batch(r, metrics=b)) for b in batches]
        medians[name] = statistics.median(times)
        if name == "lakehouse":
            notes["lakehouse_commit_ms_per_call"] = round(flush(stores) / sizes.log_batch_calls, 3)
        total = sum(len(client.get_metric_history(run_id, f"m{k}")) for k in range(10))
        assert total == 1000 * sizes.log_batch_calls, total
    return [Result("(2) log_batch of 1000 metrics", medians["lakehouse"], medians["sqlite"], notes)]


# --- (3) get_metric_history ----------------------------------------------------------------------------------


def bench_history(stores: Stores, sizes: Sizes) -> list[Result]:
    medians: dict[str, float] = {}
    notes: dict[str, Any] = {"points": sizes.history_points, "reads": sizes.history_reads}
    n = sizes.history_points
    for name, client in stores.both():
        run_id = client.create_run("0", run_name="history").info.run_id
        for start in range(0, n, 1000):
            client.log_batch(
                run_id, metrics=[Metric("loss", 1.0 / (s + 1), T0 + s, s) for s in range(start, min(n, start + 1000))]
            )
            client.log_batch(
                run_id, metrics=[Metric("other", float(s), T0 + s, s) for s in range(start, min(n, start + 1000))]
            )
        if name == "lakehouse":
            # The first read after logging commits what is pending (read-your-writes): reported, not in the median.
            read = lambda c=client, r=run_id: c.get_metric_history(r, "loss")  # noqa: E731
            notes["lakehouse_first_read_with_commit_ms"] = round(timed(read), 1)
            lakehouse.state.forget()
            notes["lakehouse_cold_read_ms"] = round(timed(read), 1)
        times = []
        for _ in range(sizes.history_reads):
            history: list[Any] = []
            times.append(timed(lambda h=history, c=client, r=run_id: h.extend(c.get_metric_history(r, "loss"))))
            assert len(history) == n
        medians[name] = statistics.median(times)
    return [Result(f"(3) get_metric_history, {n:,} points", medians["lakehouse"], medians["sqlite"], notes)]


# --- (4) search_runs over many runs --------------------------------------------------------------------------


def populate(client: MlflowClient, experiment_id: str, runs: int, label: str) -> float:
    """The same runs in either store, through the client: params, tags, three metrics, an end status."""
    started = time.perf_counter()
    for n in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"run-{n:05d}", start_time=T0 + n).info.run_id
        client.log_batch(
            run_id,
            metrics=[
                Metric("loss", (n * 7919 % 1000) / 1000, T0 + n, 10),
                Metric("accuracy", (n * 104729 % 1000) / 1000, T0 + n, 10),
                Metric("epoch", 10.0, T0 + n, 10),
            ],
            params=[
                Param("optimizer", ["adam", "sgd", "rmsprop"][n % 3]),
                Param("lr", str([0.1, 0.01, 0.001, 0.0001][n % 4])),
                Param("batch_size", str(2 ** (4 + n % 4))),
                Param("layers", str(2 + n % 5)),
                Param("seed", str(n)),
            ],
            tags=[RunTag("team", ["vision", "audio"][n % 2]), RunTag("sweep", f"s{n // 100}")],
        )
        client.set_terminated(run_id, "FINISHED" if n % 10 else "FAILED", end_time=T0 + n + 1000)
        if (n + 1) % 2000 == 0:
            print(f"    {label}: {n + 1:,} runs ({time.perf_counter() - started:.0f}s)", flush=True)
    return time.perf_counter() - started


SEARCHES: list[tuple[str, str, list[str]]] = [
    ("first page (1000 runs), default order", "", []),
    (
        "filtered and ordered",
        "metrics.loss < 0.5 AND params.optimizer = 'adam' AND tags.team = 'vision'",
        ["metrics.accuracy DESC"],
    ),
]


def bench_search(stores: Stores, sizes: Sizes) -> list[Result]:
    experiments = {}
    populate_s = {}
    for name, client in stores.both():
        experiments[name] = client.create_experiment("search")
        populate_s[name] = populate(client, experiments[name], sizes.runs, name)
    flush(stores)
    results = []
    expected: dict[str, list[str]] = {}
    for label, filter_string, order_by in SEARCHES:
        medians = {}
        notes: dict[str, Any] = {"runs": sizes.runs}
        for name, client in stores.both():

            def search(
                c: MlflowClient = client, e: str = experiments[name], f: str = filter_string, o: list[str] = order_by
            ) -> list[str]:
                found = c.search_runs([e], f, max_results=1000, order_by=o)
                return [r.info.run_name for r in found]

            if name == "lakehouse":
                # Cold: a new store object and no table read or folded yet (as after a server start).
                lakehouse.state.forget()
                cold = LakehouseStore(uri_for(stores.root))
                notes["lakehouse_cold_ms"] = round(
                    timed(
                        lambda s=cold, e=experiments[name], f=filter_string, o=order_by: s.search_runs(
                            [e], f, ViewType.ACTIVE_ONLY, max_results=1000, order_by=o
                        )
                    ),
                    1,
                )
            found_names: list[str] = []
            times = []
            for _ in range(sizes.search_repeats):
                times.append(timed(lambda f=found_names: f.__setitem__(slice(None), search())))
            medians[name] = statistics.median(times)
            expected.setdefault(label, found_names)
            assert found_names == expected[label], f"{label}: the stores disagree"
            notes["matches"] = len(found_names)
        results.append(
            Result(f"(4) search_runs over {sizes.runs:,} runs: {label}", medians["lakehouse"], medians["sqlite"], notes)
        )

    medians = {}
    for name, client in stores.both():

        def walk(c: MlflowClient = client, e: str = experiments[name]) -> int:
            token, total = None, 0
            while True:
                page = c.search_runs([e], "", max_results=1000, page_token=token)
                total += len(page)
                token = page.token
                if not token:
                    return total

        times = [timed(walk) for _ in range(max(1, sizes.search_repeats - 2))]
        assert walk() == sizes.runs
        medians[name] = statistics.median(times)
    notes = {"runs": sizes.runs, "populate_s": {k: round(v, 1) for k, v in populate_s.items()}}
    results.append(
        Result(
            f"(4) search_runs: all {sizes.runs:,} runs, 1000 per page", medians["lakehouse"], medians["sqlite"], notes
        )
    )
    return results


BENCHES: dict[str, Callable[[Stores, Sizes], list[Result]]] = {
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "history": bench_history,
    "search": bench_search,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a couple of minutes)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put both stores (default: a temp folder)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-mlflow-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    import mlflow

    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, mlflow {mlflow.__version__}, "
        f"polars {pl.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    mode = "quick" if args.quick else "full"
    print(f"MLflow client: sqlite vs lakehouse ({mode}) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine}")
    stores = Stores(
        sqlite=MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}"),
        lakehouse=MlflowClient(uri_for(workdir / "lh")),
        root=workdir / "lh",
    )
    results: list[Result] = []
    try:
        for name in args.only.split(","):
            print(f"== {name}", flush=True)
            started = time.perf_counter()
            for r in BENCHES[name.strip()](stores, sizes):
                results.append(r)
                _print(r)
            print(f"   ({time.perf_counter() - started:.0f}s)", flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary (ratio = sqlite / lakehouse; above 1 means lakehouse is faster)")
    for r in results:
        _print(r)
    if args.json_out:
        write_json(
            args.json_out,
            machine=machine,
            quick=args.quick,
            results=[{**r.__dict__, "ratio": r.ratio} for r in results],
        )


def _print(r: Result) -> None:
    figures = f"lakehouse {r.lakehouse_ms:,.3f} ms   sqlite {r.sqlite_ms:,.3f} ms   ratio {r.ratio:,.1f}x"
    print(f"  {r.name}: {figures}   {r.notes}", flush=True)


if __name__ == "__main__":
    main()
