"""Tracking benchmarks, side by side with MLflow 3 on a sqlite backend, in one run.

    python benchmarks/tracking_bench.py            # full sizes (100M points, 10,000 runs): 15-30 minutes
    python benchmarks/tracking_bench.py --quick    # small sizes, about two minutes
    python benchmarks/tracking_bench.py --only log,throughput --json-out results.json

(1) ``run.log()`` cost on the caller's thread       vs ``MlflowClient.log_metric``
(2) sustained points/s into the fact table         vs ``MlflowClient.log_batch``
(3) one run's 20k-point history, 100M-point table  vs ``MlflowClient.get_metric_history``
(4) ``lh.runs()`` over 10,000 runs x 20 params x 10 metrics  vs ``mlflow.search_runs``
(5) ``start_run`` + 3 ``log`` + ``finish``         vs ``create_run`` + ``log_batch`` + ``set_terminated``
    (alternating, then again once the tables hold ``grown_runs`` runs)

Every figure is a median; ratios are MLflow time / lakehouse time (or lakehouse rate / MLflow rate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from bench_report import write_json

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import METRIC_SUMMARIES, METRICS, RUN_EVENTS, RUN_INPUTS
from lakehouse.tracking.writer import active_writers

warnings.filterwarnings("ignore")  # MLflow's own notices are not what we measure
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


@dataclass
class Sizes:
    log_calls: int
    mlflow_log_calls: int
    throughput_points: int
    mlflow_batch_points: int
    history_runs: int  # runs of 20k points in the big table
    runs: int  # runs for lh.runs()
    mlflow_runs: int
    short_runs: int
    grown_runs: int  # runs in the tables before (5c)


FULL = Sizes(
    log_calls=200_000,
    mlflow_log_calls=300,
    throughput_points=10_000_000,
    mlflow_batch_points=50_000,
    history_runs=5_000,
    runs=10_000,
    mlflow_runs=10_000,
    short_runs=200,
    grown_runs=2_000,
)
QUICK = Sizes(
    log_calls=50_000,
    mlflow_log_calls=100,
    throughput_points=1_000_000,
    mlflow_batch_points=10_000,
    history_runs=250,
    runs=1_000,
    mlflow_runs=300,
    short_runs=60,
    grown_runs=400,
)
POINTS_PER_HISTORY = 20_000
PARAMS, METRIC_KEYS = 20, 10


@dataclass
class Result:
    name: str
    ours: float
    theirs: float | None
    unit: str
    goal: str
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.theirs is None or not self.ours:
            return None
        return self.ours / self.theirs if self.unit.endswith("/s") else self.theirs / self.ours


def median_of(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def mlflow_client(workdir: Path) -> Any:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def mlflow_experiment(client: Any, name: str) -> str:
    return str(client.create_experiment(f"{name}-{uuid.uuid4().hex[:6]}"))


# --- (1) log() on the caller's thread ------------------------------------------------------------------------


def bench_log(workdir: Path, sizes: Sizes, client: Any) -> list[Result]:
    # (1a) the call itself: the background writer does not run during the timed loops (it flushes between
    # them); (1b) default settings: the writer flushes every 2 s meanwhile and competes for the GIL and cores.
    isolated = _log_cost(lakehouse.connect(workdir / "lh-log-a", flush_interval=3600, flush_points=10**9), sizes)
    default = lakehouse.connect(workdir / "lh-log-b")
    started = time.perf_counter()
    concurrent = _log_cost(default, sizes)
    commit_rate = _commits(default) / (time.perf_counter() - started)

    experiment = mlflow_experiment(client, "log")
    run_id = client.create_run(experiment).info.run_id
    times = []
    for i in range(sizes.mlflow_log_calls):
        start = time.perf_counter()
        client.log_metric(run_id, "loss", 0.5, step=i)
        times.append(time.perf_counter() - start)
    client.set_terminated(run_id)
    theirs = statistics.median(times) * 1e6
    notes = {"calls": sizes.log_calls, "mlflow_calls": sizes.mlflow_log_calls}
    return [
        Result(
            "(1a) one log() call (2 metrics), writer idle meanwhile",
            statistics.median(isolated) * 1e6,
            theirs,
            "µs",
            "≤ 3 µs",
            {**notes, "p90_us": round(_quantile(isolated, 0.9) * 1e6, 2)},
        ),
        Result(
            "(1b) one log() call (2 metrics), writer flushing meanwhile",
            statistics.median(concurrent) * 1e6,
            theirs,
            "µs",
            "≤ 3 µs",
            {
                **notes,
                "p90_us": round(_quantile(concurrent, 0.9) * 1e6, 2),
                "metrics_commits_per_s": round(commit_rate, 2),
            },
        ),
    ]


def _commits(lh: lakehouse.Lakehouse) -> int:
    """Commits on the metrics table so far (its version + 1)."""
    return storage.latest_version(lh.layout.metrics) + 1


def _log_cost(lh: lakehouse.Lakehouse, sizes: Sizes) -> list[float]:
    """Per-call seconds, one figure per batch of 10,000 calls."""
    run = lh.start_run(experiment="bench-log")
    log = run.log
    metrics = {"loss": 0.5, "acc": 0.9}
    batch = 10_000
    for i in range(batch):  # warm-up: first flush, lazy imports
        log(metrics, step=i)
    run.flush()
    per_call = []
    step = batch
    for _ in range(sizes.log_calls // batch):
        start = time.perf_counter()
        for _ in range(batch):
            log(metrics, step=step)
            step += 1
        per_call.append((time.perf_counter() - start) / batch)
        if lh.settings.flush_interval > 60:
            run.flush()  # outside the timed loop
    run.finish()
    return per_call


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- (2) sustained throughput ----------------------------------------------------------------------------


def timed_logging(lh: Any, values: dict[str, float], calls: int) -> tuple[Any, float, float]:
    """One run logging ``values`` at ``calls`` steps through ``run.log``: the run, the seconds the caller spent
    logging, and the seconds until everything was committed (the run's end flushes)."""
    start = time.perf_counter()
    with lh.start_run(experiment="bench-throughput") as run:
        log = run.log
        for step in range(calls):
            log(values, step=step)
        logged = time.perf_counter()
    return run, logged - start, time.perf_counter() - start


def bench_throughput(workdir: Path, sizes: Sizes, client: Any) -> list[Result]:
    keys = [f"m{k}" for k in range(10)]
    values = dict.fromkeys(keys, 0.5)
    n_calls = sizes.throughput_points // len(keys)

    lh = lakehouse.connect(workdir / "lh-throughput", flush_points=1_000_000)
    warm = lh.start_run(experiment="warm-up")
    warm.log(values)
    warm.finish()
    run, caller_seconds, total_seconds = timed_logging(lh, values, n_calls)
    commits = _commits(lh) - 1  # less the warm-up run's commit
    committed = lh.run(run.id).metrics["m0"].count * len(keys)
    assert committed == n_calls * len(keys), committed
    ours = committed / total_seconds

    frame_lh = lakehouse.connect(workdir / "lh-frames", flush_points=2_000_000)
    n_frame = sizes.throughput_points
    chunk = 1_000_000
    batches = [
        pl.DataFrame(
            {
                "key": pl.Series(keys * (chunk // len(keys))),
                "value": pl.Series([0.5] * chunk),
                "step": pl.int_range(offset, offset + chunk, eager=True) // len(keys),
            }
        )
        for offset in range(0, n_frame, chunk)
    ]
    start = time.perf_counter()
    with frame_lh.start_run(experiment="bench-frames") as frame_run:
        for b in batches:
            frame_run.log_frame(b)
    frame_rate = n_frame / (time.perf_counter() - start)

    from mlflow.entities import Metric

    experiment = mlflow_experiment(client, "batch")
    run_id = client.create_run(experiment).info.run_id
    now = int(time.time() * 1000)
    per_batch = 1000  # MLflow's maximum metrics per log_batch
    n_batches = sizes.mlflow_batch_points // per_batch
    payloads = [
        [Metric(keys[i % len(keys)], 0.5, now, b * per_batch + i) for i in range(per_batch)] for b in range(n_batches)
    ]
    start = time.perf_counter()
    for metrics in payloads:
        client.log_batch(run_id, metrics=metrics)
    theirs = n_batches * per_batch / (time.perf_counter() - start)
    client.set_terminated(run_id)
    return [
        Result(
            "(2) sustained points/s into the fact table, run.log() x 10 metrics",
            ours,
            theirs,
            "points/s",
            "≥ 1M/s, ≥ 200× MLflow log_batch",
            {
                "points": committed,
                "caller_seconds": round(caller_seconds, 2),
                "total_seconds": round(total_seconds, 2),
                "metrics_commits_per_s": round(commits / total_seconds, 2),
                "mlflow_points": n_batches * per_batch,
            },
        ),
        Result(
            "(2b) sustained points/s, run.log_frame() (columnar)",
            frame_rate,
            theirs,
            "points/s",
            "(bulk path)",
            {"points": n_frame},
        ),
    ]


# --- (3) one history out of a big table --------------------------------------------------------------------


def build_big_table(root: Path, n_runs: int) -> list[str]:
    """n_runs x 20k points written straight into the fact table in large batches (one file per run, the
    layout maintenance converges to), plus a 'created' event per run so the runs exist."""
    lh = lakehouse.connect(root)
    run_ids = [uuid.uuid4().hex for _ in range(n_runs)]
    runs_per_batch = 250
    base = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    step = pl.int_range(0, POINTS_PER_HISTORY, eager=True)
    started = time.perf_counter()
    for offset in range(0, n_runs, runs_per_batch):
        chunk = run_ids[offset : offset + runs_per_batch]
        frame = pl.DataFrame(
            {
                "run_id": pl.Series(chunk).repeat_by(POINTS_PER_HISTORY).explode(),
                "key": pl.repeat("loss", len(chunk) * POINTS_PER_HISTORY, eager=True),
                "step": pl.concat([step] * len(chunk)),
            }
        ).with_columns(
            (pl.lit(base) + pl.col("step") * 1000).cast(pl.Datetime("us", "UTC")).alias("timestamp"),
            (1.0 / (pl.col("step") + 1)).alias("value"),
        )
        storage.write(
            lh.layout.metrics,
            frame.select("run_id", "key", "step", "timestamp", "value").to_arrow().cast(METRICS.schema),
            mode="append",
            partition_by=["run_id"],
            configuration=METRICS.properties(lh.settings),
        )
        done = min(offset + runs_per_batch, n_runs)
        print(
            f"    big table: {done * POINTS_PER_HISTORY / 1e6:.0f}M points ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    now = datetime.now(UTC)
    events = [
        {
            "run_id": rid,
            "kind": "created",
            "at": now,
            "experiment": "big",
            "name": f"run-{i}",
            "writer": "bench",
            "seq": i,
        }
        for i, rid in enumerate(run_ids)
    ]
    storage.write(
        lh.layout.runs, RUN_EVENTS.from_rows(events), mode="append", configuration=RUN_EVENTS.properties(lh.settings)
    )
    storage.checkpoint(lh.layout.metrics)
    return run_ids


def bench_history(workdir: Path, sizes: Sizes, client: Any) -> Result:
    root = workdir / "lh-history"
    run_ids = build_big_table(root, sizes.history_runs)
    total = sizes.history_runs * POINTS_PER_HISTORY
    # Cold: a fresh process that opens the table and reads one history (what a CLI call pays).
    cold = _cold_history_seconds(root, run_ids[len(run_ids) // 2])
    lh = lakehouse.connect(root)
    lh.metrics(run_ids[0])  # warm the table listing once
    times = []
    for rid in run_ids[1 : 1 + 30]:
        start = time.perf_counter()
        frame = lh.metrics(rid)
        times.append(time.perf_counter() - start)
        assert frame.height == POINTS_PER_HISTORY
    ours = statistics.median(times) * 1e3

    from mlflow.entities import Metric

    experiment = mlflow_experiment(client, "history")
    now = int(time.time() * 1000)
    target = client.create_run(experiment).info.run_id
    for b in range(POINTS_PER_HISTORY // 1000):
        client.log_batch(
            target, metrics=[Metric("loss", 1.0 / (s + 1), now + s, s) for s in range(b * 1000, (b + 1) * 1000)]
        )
    mlflow_times = []
    for _ in range(5):
        start = time.perf_counter()
        history = client.get_metric_history(target, "loss")
        mlflow_times.append(time.perf_counter() - start)
    assert len(history) == POINTS_PER_HISTORY
    theirs = statistics.median(mlflow_times) * 1e3
    return Result(
        f"(3) one run's 20k-point history from a {total / 1e6:.0f}M-point table",
        ours,
        theirs,
        "ms",
        "≤ 20 ms",
        {
            "points_in_table": total,
            "runs": sizes.history_runs,
            "cold_process_first_read_ms": round(cold * 1e3, 1),
            "mlflow_points_in_db": POINTS_PER_HISTORY,
        },
    )


def _cold_history_seconds(root: Path, run_id: str) -> float:
    code = (
        f"import time, lakehouse; lh = lakehouse.connect({str(root)!r}); t = time.perf_counter(); "
        f"n = lh.metrics({run_id!r}).height; print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# --- (4) lh.runs() over many runs ---------------------------------------------------------------------------


def build_runs(root: Path, n_runs: int) -> None:
    """n_runs finished runs with 20 params, 10 metric summaries, an environment and an input, written straight
    into the event tables in large batches, then compacted as `lakehouse maintain` leaves them."""
    lh = lakehouse.connect(root)
    lh.dataset("bench-data").write(pl.DataFrame({"x": [1]}))
    now = datetime.now(UTC)
    env = json.dumps({"user": "bench", "host": "bench-host", "git_commit": "0" * 40, "python": "3.11"})
    per_commit = 2_000
    for offset in range(0, n_runs, per_commit):
        ids = [uuid.uuid4().hex for _ in range(min(per_commit, n_runs - offset))]
        events: list[dict[str, Any]] = []
        summaries: list[dict[str, Any]] = []
        inputs: list[dict[str, Any]] = []
        for i, rid in enumerate(ids):
            n = offset + i
            common = {"run_id": rid, "at": now, "writer": "bench", "seq": 0}
            events.append({**common, "kind": "created", "experiment": f"exp-{n % 10}", "name": f"run-{n}"})
            events.append({**common, "kind": "status", "value": "RUNNING"})
            events.extend(
                {**common, "kind": "param", "key": f"p{p:02d}", "value": str((n * 7 + p) % 13)} for p in range(PARAMS)
            )
            events.append({**common, "kind": "environment", "value": env})
            events.append({**common, "kind": "status", "value": "FINISHED"})
            summaries.extend(
                {
                    "run_id": rid,
                    "key": f"m{k}",
                    "writer": "bench",
                    "seq": 1,
                    "count": 100,
                    "min": 0.1 * k,
                    "max": 1.0 + k,
                    "last": 0.5 + k,
                    "last_step": 99,
                    "last_timestamp": now,
                }
                for k in range(METRIC_KEYS)
            )
            inputs.append(
                {"run_id": rid, "dataset": "bench-data", "version": 0, "ref": "bench-data", "context": None, "at": now}
            )
        for spec, path, rows in (
            (RUN_EVENTS, lh.layout.runs, events),
            (METRIC_SUMMARIES, lh.layout.metric_summaries, summaries),
            (RUN_INPUTS, lh.layout.inputs, inputs),
        ):
            storage.write(path, spec.from_rows(rows), mode="append", configuration=spec.properties(lh.settings))
    lh.maintain()


def bench_runs(workdir: Path, sizes: Sizes, client: Any) -> list[Result]:
    root = workdir / "lh-runs"
    build_runs(root, sizes.runs)
    lh = lakehouse.connect(root)
    cold = []
    for _ in range(3):
        lh.forget()  # drop warm tables and the folded runs: read every file again
        start = time.perf_counter()
        frame = lh.runs()
        cold.append(time.perf_counter() - start)
    assert frame.height == sizes.runs
    assert len(frame.columns) >= PARAMS + 3 * METRIC_KEYS
    warm = []
    for _ in range(5):
        start = time.perf_counter()
        lh.runs()
        warm.append(time.perf_counter() - start)
    filtered = []
    for _ in range(5):
        start = time.perf_counter()
        lh.runs("exp-3")
        filtered.append(time.perf_counter() - start)
    with lh.start_run(experiment="exp-1", params={"p00": 1}) as run:  # one new run: the next read is incremental
        run.log({"m0": 1.0})
    start = time.perf_counter()
    assert lh.runs().height == sizes.runs + 1
    incremental = time.perf_counter() - start

    import mlflow
    from mlflow.entities import Metric, Param

    experiment = mlflow_experiment(client, "search")
    now = int(time.time() * 1000)
    started = time.perf_counter()
    for n in range(sizes.mlflow_runs):
        rid = client.create_run(experiment).info.run_id
        client.log_batch(
            rid,
            metrics=[Metric(f"m{k}", 0.5 + k, now, 99) for k in range(METRIC_KEYS)],
            params=[Param(f"p{p:02d}", str((n * 7 + p) % 13)) for p in range(PARAMS)],
        )
        client.set_terminated(rid)
        if (n + 1) % 1000 == 0:
            print(f"    mlflow runs: {n + 1} ({time.perf_counter() - started:.0f}s)", flush=True)
    mlflow_times = []
    for _ in range(3):
        start = time.perf_counter()
        found = mlflow.search_runs(experiment_ids=[experiment], max_results=sizes.mlflow_runs + 10)
        mlflow_times.append(time.perf_counter() - start)
    assert len(found) == sizes.mlflow_runs
    theirs = statistics.median(mlflow_times) * 1e3
    scale = {"runs": sizes.runs, "mlflow_runs": sizes.mlflow_runs}
    return [
        Result(
            f"(4) lh.runs() over {sizes.runs:,} runs, cold (every file read)",
            statistics.median(cold) * 1e3,
            theirs,
            "ms",
            "≤ 500 ms",
            scale,
        ),
        Result(
            f"(4b) lh.runs() over {sizes.runs:,} runs, warm (tables cached)",
            statistics.median(warm) * 1e3,
            theirs,
            "ms",
            "≤ 500 ms",
            scale,
        ),
        Result(
            "(4c) lh.runs('exp-3'), warm (a tenth of the runs)",
            statistics.median(filtered) * 1e3,
            None,
            "ms",
            "",
            scale,
        ),
        Result(
            "(4d) lh.runs() right after one more run committed (incremental)",
            incremental * 1e3,
            theirs,
            "ms",
            "≤ 500 ms",
            scale,
        ),
    ]


# --- (5) a short run ------------------------------------------------------------------------------------------


def bench_short_run(workdir: Path, sizes: Sizes, client: Any) -> list[Result]:
    from mlflow.entities import Metric, Param

    lh = lakehouse.connect(workdir / "lh-short")
    with lh.start_run(experiment="warm-up") as run:  # writer thread, tables created
        run.log({"loss": 1.0})
    experiment = mlflow_experiment(client, "short")
    starts, totals, m_starts, m_totals = [], [], [], []
    # One of each in turn, so both see the same load of the (shared) machine.
    for _ in range(sizes.short_runs):
        t0 = time.perf_counter()
        run = lh.start_run(experiment="short", params={"lr": 0.1})
        t1 = time.perf_counter()
        for step in range(3):
            run.log({"loss": 0.5}, step=step)
        run.finish()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        totals.append(t2 - t0)

        t0 = time.perf_counter()
        rid = client.create_run(experiment).info.run_id
        t1 = time.perf_counter()
        now = int(time.time() * 1000)
        client.log_batch(
            rid, metrics=[Metric("loss", 0.5, now, step) for step in range(3)], params=[Param("lr", "0.1")]
        )
        client.set_terminated(rid)
        t2 = time.perf_counter()
        m_starts.append(t1 - t0)
        m_totals.append(t2 - t0)
    # (5c) the same once the tables hold many runs: a commit that rebuilds the table's file list (delta-rs')
    # grows with it; MLflow's sqlite store barely does. The runs in between are not timed.
    for _ in range(max(sizes.grown_runs - sizes.short_runs, 0)):
        with lh.start_run(experiment="grow", params={"lr": 0.1}) as run:
            run.log({"loss": 0.5}, step=0)
    grown, m_grown = [], []
    for _ in range(30):
        t0 = time.perf_counter()
        run = lh.start_run(experiment="short", params={"lr": 0.1})
        for step in range(3):
            run.log({"loss": 0.5}, step=step)
        run.finish()
        grown.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rid = client.create_run(experiment).info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            rid, metrics=[Metric("loss", 0.5, now, step) for step in range(3)], params=[Param("lr", "0.1")]
        )
        client.set_terminated(rid)
        m_grown.append(time.perf_counter() - t0)
    spread = {
        "runs": sizes.short_runs,
        "p90_ms": round(_quantile(totals, 0.9) * 1e3, 2),
        "mlflow_p90_ms": round(_quantile(m_totals, 0.9) * 1e3, 2),
    }
    return [
        Result(
            "(5a) start_run() on the caller's thread",
            statistics.median(starts) * 1e3,
            statistics.median(m_starts) * 1e3,
            "ms",
            "never waits for a commit",
            {"runs": sizes.short_runs},
        ),
        Result(
            "(5b) start_run + 3 log + finish (committed, visible)",
            statistics.median(totals) * 1e3,
            statistics.median(m_totals) * 1e3,
            "ms",
            "≤ 10 ms, ≥ 3× MLflow",
            spread,
        ),
        Result(
            f"(5c) the same once the tables hold {sizes.grown_runs:,} runs",
            statistics.median(grown) * 1e3,
            statistics.median(m_grown) * 1e3,
            "ms",
            "≤ 10 ms, ≥ 3× MLflow",
            {"runs": 30, "p90_ms": round(_quantile(grown, 0.9) * 1e3, 2)},
        ),
    ]


# --- driver -----------------------------------------------------------------------------------------------------

BENCHES: dict[str, Callable[[Path, Sizes, Any], Result | list[Result]]] = {
    "log": bench_log,
    "throughput": bench_throughput,
    "history": bench_history,
    "runs": bench_runs,
    "short": bench_short_run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (about two minutes)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the tables (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    import mlflow

    machine = (
        f"{os.cpu_count()} cores, {platform.python_version()}, mlflow {mlflow.__version__}, polars {pl.__version__}"
    )
    print(
        f"tracking benchmark ({'quick' if args.quick else 'full'}) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine}"
    )
    client = mlflow_client(workdir)
    results: list[Result] = []
    try:
        for name in args.only.split(","):
            print(f"== {name}", flush=True)
            started = time.perf_counter()
            out = BENCHES[name.strip()](workdir, sizes, client)
            for r in out if isinstance(out, list) else [out]:
                results.append(r)
                _print(r)
            print(f"   ({time.perf_counter() - started:.0f}s)", flush=True)
    finally:
        for writer in active_writers():  # commit and stop before the folders go away
            writer.close(timeout=60)
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary")
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
    theirs = "" if r.theirs is None else f"   MLflow {r.theirs:,.3f} {r.unit}"
    ratio = "" if r.ratio is None else f"   ratio {r.ratio:,.1f}x"
    print(f"  {r.name}: {r.ours:,.3f} {r.unit}{theirs}{ratio}   [goal {r.goal}]  {r.notes}", flush=True)


if __name__ == "__main__":
    main()
