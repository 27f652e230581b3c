"""Two checkouts of lakehouse side by side: the same small measurements, alternating processes, pair by pair.

    python benchmarks/ab_bench.py --before /path/to/old/checkout              # this checkout is "after"
    python benchmarks/ab_bench.py --before ../old --pairs 7 --only runs
    python benchmarks/ab_bench.py --before ../old --instructions              # also count instructions

A single run of the full benchmarks moves by up to 2x on a shared machine, which hides a change of a few
tenths of a millisecond. Here each side gets its own root, built once by its own code; then every pair runs
one process of the old code and one of the new code right after each other (which one goes first alternates),
each process timing many calls and printing their median. What the two sides of a pair measure ran at nearly
the same moment, so they saw nearly the same load. With ``--instructions`` each side also runs once under
``valgrind --tool=callgrind`` (with and without the timed calls): instructions per call do not depend on the
load at all.

Each line gives the median wall time per call and the mean CPU time of the process per call.

(runs)        ``lh.runs()`` warm: a root of 50 runs x 20,000 points, read once cold, then ``--reads`` times
(runs_cold)   ``lh.runs()`` cold over 1,000 runs (built as ``tracking_bench.py --quick`` builds them): every
              process times ``import lakehouse``, its first call (a fresh process: the lazy imports too), then
              ``--colds`` calls each after dropping the root's caches (the figure: what ``tracking_bench.py``'s
              cold read measures), then 200 warm calls
(runs_incremental)  ``lh.runs()`` over the same 1,000-run root right after one more run was committed (the run's
              commit not timed): what ``tracking_bench.py``'s (4d) measures once, ``--increments`` times per process
(log_metric)  ``MlflowClient.log_metric`` against a ``lakehouse:`` URI, one call (``--calls`` calls)

Both checkouts run on this checkout's virtual environment (the old code first on ``PYTHONPATH``), so only the
package code differs; use only public API calls that both sides have.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_EXTRAS = ("first_ms", "import_ms", "warm_ms")  # reported beside the median where a measure gives them
AFTER = HERE.parent
MEASURES = ("runs", "runs_cold", "runs_incremental", "log_metric")
COLD_RUNS = 1_000
RUNS, POINTS, PARAMS, TAGS = 50, 20_000, 20, 5
METRICS = 4  # POINTS points per run spread over this many metric keys


# --- inside a child process (the code under test is whatever `import lakehouse` finds) ------------------------


def _build_runs(root: Path) -> None:
    import polars as pl

    import lakehouse

    lh = lakehouse.connect(root)
    steps = POINTS // METRICS
    for n in range(RUNS):
        with lh.start_run(experiment=f"exp-{n % 5}", name=f"run-{n}") as run:
            run.log_params({f"p{p:02d}": (n * 7 + p) % 13 for p in range(PARAMS)})
            run.set_tags({f"t{t}": f"v{(n + t) % 3}" for t in range(TAGS)})
            run.log_frame(
                pl.DataFrame(
                    {
                        "key": [f"m{k}" for k in range(METRICS) for _ in range(steps)],
                        "value": [float(s) / (k + 1) for k in range(METRICS) for s in range(steps)],
                        "step": [s for _ in range(METRICS) for s in range(steps)],
                    }
                )
            )
    lh.flush()


def _measure_runs(root: Path, repeat: int) -> dict[str, Any]:
    import lakehouse

    lh = lakehouse.connect(root)
    start = time.perf_counter()
    frame = lh.runs()
    cold = time.perf_counter() - start
    assert frame.height == RUNS, frame.height
    times, cpu = _timed(lh.runs, repeat)
    return _summary(times, cpu, cold_ms=cold * 1e3)


def _timed(
    call: Callable[[], object], repeat: int, *, untimed: Callable[[], object] | None = None
) -> tuple[list[float], float]:
    """The wall time of each of ``repeat`` calls (each after ``untimed``, if given), and the CPU time of the
    process over all of them."""
    times = []
    cpu = time.process_time()
    for _ in range(repeat):
        if untimed is not None:
            untimed()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times, time.process_time() - cpu


def _forget(lh: Any) -> None:
    """Drop the root's caches: ``Lakehouse.forget()``, or what older code had for it."""
    if hasattr(lh, "forget"):
        lh.forget()
        return
    from lakehouse.query import frames, runs

    frames.forget()
    runs.forget_models()


def _measure_runs_cold(root: Path, repeat: int) -> dict[str, Any]:
    start = time.perf_counter()
    import lakehouse

    imported = time.perf_counter() - start
    lh = lakehouse.connect(root)
    start = time.perf_counter()
    frame = lh.runs()
    first = time.perf_counter() - start
    assert frame.height == COLD_RUNS, frame.height
    times, cpu = _timed(lh.runs, repeat, untimed=lambda: _forget(lh))
    warm, _ = _timed(lh.runs, 200)
    return _summary(times, cpu, import_ms=imported * 1e3, first_ms=first * 1e3, warm_ms=statistics.median(warm) * 1e3)


def _measure_runs_incremental(root: Path, repeat: int) -> dict[str, Any]:
    import lakehouse

    lh = lakehouse.connect(root)
    lh.runs()
    count = [0]

    def one_more_run() -> None:
        count[0] += 1
        with lh.start_run(experiment="exp-1", params={"p00": count[0]}) as run:
            run.log({"m0": 1.0})

    times, cpu = _timed(lh.runs, repeat, untimed=one_more_run)
    return _summary(times, cpu)


def _summary(times: list[float], cpu: float, **extra: float) -> dict[str, Any]:
    """The median wall time per call, and the mean CPU time of the process per call (less moved by the load)."""
    if not times:
        return {"median_ms": 0.0, "cpu_ms": 0.0, "calls": 0, **extra}
    return {
        "median_ms": statistics.median(times) * 1e3,
        "cpu_ms": cpu / len(times) * 1e3,
        "calls": len(times),
        **extra,
    }


def _mlflow_client(root: Path) -> Any:
    from mlflow import MlflowClient

    from lakehouse.integrations.mlflow import uri_for

    return MlflowClient(tracking_uri=uri_for(root))


def _measure_log_metric(root: Path, repeat: int) -> dict[str, Any]:
    import lakehouse

    client = _mlflow_client(root)
    run_id = client.create_run("0", run_name="log-metric").info.run_id
    client.log_metric(run_id, "warmup", 0.0, step=0)
    lakehouse.connect(root).flush()
    times = []
    cpu = time.process_time()
    for i in range(repeat):
        start = time.perf_counter()
        client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
        times.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu
    client.set_terminated(run_id)
    return _summary(times, cpu)


def child(args: argparse.Namespace) -> None:
    warnings.filterwarnings("ignore")  # MLflow's own notices are not what we measure
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    root = Path(args.root)
    if args.child == "build":
        _build_runs(root / "runs")
        return
    if args.child == "build_cold":
        from tracking_bench import build_runs  # this checkout's script, on the code under test

        build_runs(root / "cold", COLD_RUNS)
        return
    measure = {
        "runs": _measure_runs,
        "runs_cold": _measure_runs_cold,
        "runs_incremental": _measure_runs_incremental,
        "log_metric": _measure_log_metric,
    }[args.child]
    if args.child == "log_metric":  # a fresh root each time: the run's buffer starts empty
        target = root / f"mlflow-{os.getpid()}"
    else:
        target = root / ("runs" if args.child == "runs" else "cold")
    out = measure(target, args.repeat)
    if args.child == "log_metric":
        shutil.rmtree(target, ignore_errors=True)
    print("RESULT " + json.dumps(out), flush=True)


# --- the driver ---------------------------------------------------------------------------------------------


def _env(checkout: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The checkout's package first: it shadows the editable install of this checkout in the venv.
    env["PYTHONPATH"] = str(checkout) + os.pathsep + str(HERE)
    env["PYTHONHASHSEED"] = "0"
    return env


def _run_child(checkout: Path, root: Path, what: str, repeat: int, *, prefix: list[str] | None = None) -> str:
    command = [*(prefix or []), sys.executable, str(Path(__file__).resolve()), "--child", what]
    command += ["--root", str(root), "--repeat", str(repeat)]
    done = subprocess.run(command, env=_env(checkout), capture_output=True, text=True, check=False, cwd=root)
    if done.returncode != 0:
        sys.exit(f"{what} with {checkout} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def _result(output: str) -> dict[str, Any]:
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def _instructions(checkout: Path, root: Path, what: str, repeat: int) -> float:
    """Instructions per call: a callgrind run with ``repeat`` calls minus one with none, divided by ``repeat``."""
    totals = []
    for n in (0, repeat):
        out = root / f"callgrind-{what}-{n}.out"
        prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        log = _run_child(checkout, root, what, n, prefix=prefix)
        found = re.findall(r"Collected : (\d+)", log)
        if not found:
            sys.exit(f"no instruction count from callgrind:\n{log}")
        totals.append(int(found[-1]))
        out.unlink(missing_ok=True)
    return (totals[1] - totals[0]) / repeat


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--", "lakehouse"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="the checkout to compare against (its lakehouse/ is used)")
    parser.add_argument("--after", type=Path, default=AFTER, help="the new checkout (default: this one)")
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs per measure")
    parser.add_argument("--only", default=",".join(MEASURES), help=f"comma-separated subset of {', '.join(MEASURES)}")
    parser.add_argument("--reads", type=int, default=300, help="warm lh.runs() calls per process")
    parser.add_argument("--colds", type=int, default=7, help="cold lh.runs() calls per process (runs_cold)")
    parser.add_argument(
        "--increments", type=int, default=10, help="runs committed and read per process (runs_incremental)"
    )
    parser.add_argument("--calls", type=int, default=2000, help="log_metric calls per process")
    parser.add_argument("--instructions", action="store_true", help="also count instructions per call (callgrind)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the roots go (default: a temp folder)")
    parser.add_argument("--child", choices=("build", "build_cold", *MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.before is None:
        parser.error("--before is required")
    only = [m for m in args.only.split(",") if m]
    unknown = set(only) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measure(s): {', '.join(sorted(unknown))}")
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    workdir = Path(tempfile.mkdtemp(prefix="lh-ab-", dir=args.workdir))
    roots = {name: workdir / name for name in sides}
    print(f"python {platform.python_version()}, {os.cpu_count()} cores; load average {_load()}")
    for name, checkout in sides.items():
        print(f"{name}: {checkout} at {_commit(checkout)}")
        roots[name].mkdir()
        if "runs" in only:
            _run_child(checkout, roots[name], "build", 0)
        if "runs_cold" in only or "runs_incremental" in only:
            _run_child(checkout, roots[name], "build_cold", 0)
    repeats = {
        "runs": args.reads,
        "runs_cold": args.colds,
        "runs_incremental": args.increments,
        "log_metric": args.calls,
    }
    try:
        for what in only:
            print(f"\n({what}) median ms per call, pair by pair")
            medians: dict[str, list[float]] = {"before": [], "after": []}
            cpus: dict[str, list[float]] = {"before": [], "after": []}
            extras: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
            for pair in range(args.pairs):
                order = ["before", "after"] if pair % 2 == 0 else ["after", "before"]
                got = {}
                for name in order:
                    got[name] = _result(_run_child(sides[name], roots[name], what, repeats[what]))
                    medians[name].append(got[name]["median_ms"])
                    cpus[name].append(got[name]["cpu_ms"])
                    for key in _EXTRAS:
                        if key in got[name]:
                            extras[name].setdefault(key, []).append(got[name][key])
                b, a = got["before"], got["after"]
                more = "".join(
                    f"  |  {key} before {b[key]:.3f}  after {a[key]:.3f}" for key in _EXTRAS if key in a and key in b
                )
                print(
                    f"  pair {pair + 1}: before {b['median_ms']:.4f}  after {a['median_ms']:.4f}  "
                    f"after/before {a['median_ms'] / b['median_ms']:.2f}  |  CPU before {b['cpu_ms']:.4f}  "
                    f"after {a['cpu_ms']:.4f}{more}  (load {_load()}, {order[0]} first)",
                    flush=True,
                )
            b_med, a_med = statistics.median(medians["before"]), statistics.median(medians["after"])
            b_cpu, a_cpu = statistics.median(cpus["before"]), statistics.median(cpus["after"])
            print(
                f"  median of pairs: before {b_med:.4f}  after {a_med:.4f}  after/before {a_med / b_med:.2f}  |  "
                f"CPU before {b_cpu:.4f}  after {a_cpu:.4f}  after/before {a_cpu / b_cpu:.2f}"
            )
            for key, found in extras["after"].items():
                b_x, a_x = statistics.median(extras["before"][key]), statistics.median(found)
                print(f"  median of pairs, {key}: before {b_x:.3f}  after {a_x:.3f}  after/before {a_x / b_x:.2f}")
            if args.instructions:
                n = max(1, repeats[what] // 10)
                counts = {name: _instructions(sides[name], roots[name], what, n) for name in sides}
                print(
                    f"  instructions per call (callgrind, {n} calls): before {counts['before']:,.0f}  "
                    f"after {counts['after']:,.0f}  after/before {counts['after'] / counts['before']:.2f}"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average at the end {_load()}")


if __name__ == "__main__":
    main()
