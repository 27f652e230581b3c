"""SQL over the lakehouse beside the same questions asked through MLflow's Python API on its sqlite store.

    python benchmarks/sql_bench.py --quick        # 1,000 runs, ~2M points (the app benchmark's quick lakehouse)
    python benchmarks/sql_bench.py                # 10,000 runs, 100M points (generation takes minutes)
    python benchmarks/sql_bench.py --runs 300 --points 600000   # small enough for MLflow to hold every run
    python benchmarks/sql_bench.py --workdir DIR --keep      # keep the generated stores; run again to reuse them

Goal (issue #18): on the 10,000-run / 100M-point lakehouse of the app benchmark, the showcase "best val
metric per dataset version with its card" ≤ 1 s cold, and a query over one run's points ≤ 50 ms warm.

(1) showcase, cold: ``lh.sql`` of the best ``val_loss`` per version of ``bench-digits`` with its card (joining
    ``dataset_versions``, ``inputs`` and ``metric_summaries``), every cache dropped before each run. MLflow:
    ``search_runs(filter_string="dataset.digest = 'v<N>'")`` per version, then ``get_metric_history`` of
    every run found, minimum taken in Python (MLflow keeps no card: the anchor answers less of the question).
(2) one run's points, warm: ``lh.sql("SELECT step, value FROM metrics WHERE run_id = ... AND key = 'val_loss'")``
    on a run of the longest kind; MLflow: ``get_metric_history`` of the same run's same points.

The MLflow store holds the same runs, inputs and ``val_loss`` points as the lakehouse (up to ``--mlflow-runs``
runs, default 300: MLflow's sqlite store takes about 1.7 s per run of ~900 points to fill on a loaded 2-core
machine; with fewer runs than the lakehouse, the showcase is compared on those runs only and the script says
so). Both sides run in the
same process, in alternating pairs; figures are medians and the ratio is MLflow time / lakehouse time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")  # MLflow's own notices are not what we measure
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import polars as pl  # noqa: E402
from app_bench import FULL, MARKER, QUICK, Sizes, generate  # noqa: E402
from bench_report import write_json  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Dataset, DatasetInput, Metric, Param, ViewType  # noqa: E402

import lakehouse  # noqa: E402
from lakehouse import state  # noqa: E402

DATASET = "bench-digits"
METRIC = "val_loss"
SHOWCASE = f"""
SELECT v.version, v.created_by, v.created_at, v.description, v.number_of_samples,
       COUNT(DISTINCT i.run_id) AS runs, MIN(s.min) AS best_{METRIC}
FROM dataset_versions v
JOIN inputs i ON i.dataset = v.dataset AND i.version = v.version
JOIN metric_summaries s ON s.run_id = i.run_id AND s.key = '{METRIC}'
WHERE v.dataset = '{DATASET}'
GROUP BY v.version, v.created_by, v.created_at, v.description, v.number_of_samples
ORDER BY v.version
"""


@dataclass
class Result:
    name: str
    lakehouse_ms: float
    mlflow_ms: float
    goal_ms: float | None
    notes: dict[str, Any]

    @property
    def ratio(self) -> float:
        return self.mlflow_ms / self.lakehouse_ms


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1e3, out


def points_of(lh: lakehouse.Lakehouse, run_ids: list[str]) -> pl.DataFrame:
    ids = ", ".join(f"'{r}'" for r in run_ids)
    return lh.sql(f"SELECT run_id, step, timestamp, value FROM metrics WHERE key = '{METRIC}' AND run_id IN ({ids})")


def populate_mlflow(lh: lakehouse.Lakehouse, client: MlflowClient, run_ids: list[str]) -> dict[str, str]:
    """The lakehouse's runs in MLflow: params, the dataset version as a dataset input, every val_loss point."""
    started = time.perf_counter()
    experiment = client.create_experiment("sweep")
    params = lh.sql("SELECT run_id, key, value FROM params")
    inputs = lh.sql("SELECT run_id, version FROM inputs")
    by_run_params = params.partition_by("run_id", as_dict=True)
    version_of = dict(inputs.iter_rows())
    mapping: dict[str, str] = {}
    for start in range(0, len(run_ids), 100):
        chunk = run_ids[start : start + 100]
        points = points_of(lh, chunk).partition_by("run_id", as_dict=True)
        for rid in chunk:
            run = client.create_run(experiment, run_name=rid[:8]).info.run_id
            mapping[rid] = run
            kv = by_run_params.get((rid,), pl.DataFrame(schema={"key": pl.String, "value": pl.String}))
            client.log_batch(run, params=[Param(k, v) for k, v in kv.select("key", "value").iter_rows()])
            version = version_of[rid]
            client.log_inputs(
                run, [DatasetInput(Dataset(DATASET, f"v{version}", "delta", f"{DATASET}:v{version}"), tags=[])]
            )
            frame = points.get((rid,))
            if frame is not None:
                metrics = [
                    Metric(METRIC, value, int(ts.timestamp() * 1000), step)
                    for step, ts, value in frame.select("step", "timestamp", "value").iter_rows()
                ]
                for offset in range(0, len(metrics), 1000):
                    client.log_batch(run, metrics=metrics[offset : offset + 1000])
            client.set_terminated(run, "FINISHED")
        print(f"    mlflow: {len(mapping):,} runs ({time.perf_counter() - started:.0f}s)", flush=True)
    return mapping


def mlflow_showcase(client: MlflowClient, experiment_id: str) -> list[tuple[int, int, float]]:
    """(version, runs, best val_loss) through MLflow's API: search by dataset digest, then every history."""
    out = []
    for version in range(3):
        runs, token = [], None
        while True:
            page = client.search_runs(
                [experiment_id],
                filter_string=f"dataset.digest = 'v{version}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                break
        best = min(
            (m.value for r in runs for m in client.get_metric_history(r.info.run_id, METRIC)), default=float("nan")
        )
        out.append((version, len(runs), best))
    return out


def cold_lakehouse(root: Path) -> pl.DataFrame:
    state.forget()  # every cache of every root: warm tables, frames, the runs read model, snapshots
    return lakehouse.connect(root).sql(SHOWCASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 runs and ~2M points")
    parser.add_argument("--workdir", type=Path, help="where to build the stores (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stores for another run")
    parser.add_argument("--runs", type=int, help="runs in the lakehouse (default: 10,000, or 1,000 with --quick)")
    parser.add_argument("--points", type=int, help="points in the fact table (default: 100M, or 2M with --quick)")
    parser.add_argument("--mlflow-runs", type=int, default=300, help="runs copied into MLflow's sqlite store")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    sizes: Sizes = QUICK if args.quick else FULL
    if args.runs or args.points:
        runs = args.runs or sizes.runs
        points = args.points or sizes.points
        long_runs = max(1, runs // 100)
        sizes = Sizes(runs, long_runs, min(sizes.long_points, points // (2 * long_runs)), points, sizes.repeat)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sql-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    root, db = work / "lh", work / "mlflow.db"
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()}
    print(f"machine: {machine}; sizes: {sizes}", flush=True)
    try:
        if not (root / MARKER).exists():
            print("generating the lakehouse", flush=True)
            generate(root, sizes)
        lh = lakehouse.connect(root)
        # Fewest points first: with a subset, MLflow gets the one long run and the shortest others.
        all_ids = (
            lh.sql(f"SELECT run_id FROM metric_summaries WHERE key = '{METRIC}' ORDER BY count, run_id")
            .get_column("run_id")
            .to_list()
        )
        long_id = lh.sql(
            f"SELECT run_id FROM metric_summaries WHERE key = '{METRIC}' ORDER BY count DESC, run_id LIMIT 1"
        ).item()
        copied = [long_id, *[r for r in all_ids if r != long_id][: args.mlflow_runs - 1]]
        fresh = not db.exists()
        client = MlflowClient(f"sqlite:///{db}")
        if fresh:
            print(f"copying {len(copied):,} runs into MLflow's sqlite store", flush=True)
            mapping = populate_mlflow(lh, client, copied)
            (work / "mlflow-ids.txt").write_text("\n".join(f"{k} {v}" for k, v in mapping.items()))
        mapping = dict(line.split() for line in (work / "mlflow-ids.txt").read_text().splitlines())
        experiment = client.get_experiment_by_name("sweep")
        assert experiment is not None
        subset = len(mapping) < len(all_ids)

        results: list[Result] = []
        # (1) showcase, cold, alternating pairs.
        ours, theirs = [], []
        answer: pl.DataFrame | None = None
        anchor: list[tuple[int, int, float]] = []
        for _ in range(args.repeat):
            ms, answer = timed(lambda: cold_lakehouse(root))
            ours.append(ms)
            ms, anchor = timed(lambda: mlflow_showcase(MlflowClient(f"sqlite:///{db}"), experiment.experiment_id))
            theirs.append(ms)
        assert answer is not None
        print(answer, flush=True)
        print(f"    mlflow: {anchor}", flush=True)
        if not subset:  # the same data: the same answer
            got = [(r["version"], r["runs"], r[f"best_{METRIC}"]) for r in answer.iter_rows(named=True)]
            assert got == anchor, (got, anchor)
        results.append(
            Result(
                "showcase: best val_loss per dataset version with its card (cold)",
                statistics.median(ours),
                statistics.median(theirs),
                1000.0,
                {"lakehouse_runs": len(all_ids), "mlflow_runs": len(mapping), "runs_ms": (ours, theirs)},
            )
        )
        # (2) one run's points, warm.
        query = f"SELECT step, value FROM metrics WHERE run_id = '{long_id}' AND key = '{METRIC}' ORDER BY step"
        lh = lakehouse.connect(root)
        warm_up = lh.sql(query)
        history = client.get_metric_history(mapping[long_id], METRIC)
        assert warm_up.height == len(history), (warm_up.height, len(history))
        ours, theirs = [], []
        for _ in range(max(args.repeat, 7)):
            ours.append(timed(lambda: lh.sql(query))[0])
            theirs.append(timed(lambda: client.get_metric_history(mapping[long_id], METRIC))[0])
        results.append(
            Result(
                f"one run's {warm_up.height:,} points (warm)",
                statistics.median(ours),
                statistics.median(theirs),
                50.0,
                {"runs_ms": (ours, theirs)},
            )
        )
        machine["load_after"] = os.getloadavg()
        print(f"\nload average before {machine['load']}, after {machine['load_after']}")
        for r in results:
            goal = f" (goal ≤ {r.goal_ms:g} ms)" if r.goal_ms else ""
            print(
                f"{r.name}: lakehouse {r.lakehouse_ms:,.1f} ms{goal}, MLflow sqlite {r.mlflow_ms:,.1f} ms, "
                f"ratio {r.ratio:,.1f}x"
            )
        if subset:
            print(f"note: MLflow holds {len(mapping):,} of the {len(all_ids):,} runs; its showcase covers those only")
        if args.json_out:
            write_json(
                args.json_out,
                machine=machine,
                quick=args.quick,
                results=[{**r.__dict__, "ratio": r.ratio} for r in results],
            )
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
