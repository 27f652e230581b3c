"""A bucket root beside a local root, in one run: what object storage costs.

    python benchmarks/storage_bench.py            # full sizes: 10,000 runs, 1 GiB artifact (~5 minutes)
    python benchmarks/storage_bench.py --quick    # small sizes, about two minutes
    python benchmarks/storage_bench.py --only commit,throughput --json-out results.json

The bucket is served by a moto S3 server on 127.0.0.1 that this script starts in a child process (the one of
the test suite, ``tests/s3_server.py``), reached through the standard AWS variables alone. Every measure runs
on both roots, alternating local and bucket where it repeats, so both see the same load of the machine:

(1) commit latency: one small dataset append (one conditional PUT of the log entry on the bucket)
(1b) a short run: ``start_run`` + 3 ``log`` + ``finish`` (committed, visible)
(2) sustained points/s into the fact table through ``run.log()`` (10 metrics a call, default writer settings)
(3) ``lh.runs()`` over many runs (written in a few large commits), cold and warm
(4) one run's 20k-point history, cold and warm
(5) time travel: reading ``name:v0`` after N later versions, beside reading the latest
(6) ``run.log_artifact()`` of a large file (1 GiB; 128 MiB with ``--quick``; ``--artifact-mib``): on a bucket the
    object is hashed, then sent straight to its key as one multipart upload (``lakehouse.multipart``)

Every figure is a median over repeats; the ratio is bucket time / local time (local rate / bucket rate for
throughput), so 1.0 means "no dearer" and 2.0 "twice as dear".
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402
from artifacts_bench import MiB, make_source  # noqa: E402
from bench_report import write_json  # noqa: E402
from tracking_bench import POINTS_PER_HISTORY, build_big_table, build_runs, timed_logging  # noqa: E402

import lakehouse  # noqa: E402
from lakehouse import storage  # noqa: E402
from lakehouse.tracking.writer import active_writers  # noqa: E402
from tests.s3_server import S3Server  # noqa: E402


@dataclass
class Sizes:
    commits: int  # small appends per root
    short_runs: int
    throughput_points: int
    throughput_repeats: int
    runs: int  # runs for lh.runs()
    history_runs: int  # runs of 20k points in the history table
    versions: int  # versions after v0 for time travel
    version_rows: int
    reads: int  # repeats of each read
    artifact_mib: int
    artifact_rounds: int


FULL = Sizes(
    commits=30,
    short_runs=30,
    throughput_points=3_000_000,
    throughput_repeats=3,
    runs=10_000,
    history_runs=50,
    versions=50,
    version_rows=10_000,
    reads=7,
    artifact_mib=1024,
    artifact_rounds=3,
)
QUICK = Sizes(
    commits=10,
    short_runs=10,
    throughput_points=500_000,
    throughput_repeats=2,
    runs=1_000,
    history_runs=10,
    versions=10,
    version_rows=1_000,
    reads=5,
    artifact_mib=128,
    artifact_rounds=1,
)
KINDS = ("local", "bucket")


@dataclass
class Result:
    name: str
    local: float
    bucket: float
    unit: str
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """How much dearer the bucket is (>1: slower)."""
        if not self.local or not self.bucket:
            return float("nan")
        return self.local / self.bucket if self.unit.endswith("/s") else self.bucket / self.local


class Roots:
    """Fresh roots of both kinds: a folder under the work folder, a prefix in a fresh bucket of the server."""

    def __init__(self, workdir: Path, server: S3Server) -> None:
        self.workdir = workdir
        self.server = server

    def new(self, kind: str, name: str) -> str:
        if kind == "local":
            return str(self.workdir / name)
        return f"s3://{self.server.new_bucket('bench')}/{name}"


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def in_ms(name: str, seconds: dict[str, list[float]], notes: dict[str, Any]) -> Result:
    """The result of a timed measure: the median of each root's times, in milliseconds."""
    return Result(name, median_ms(seconds["local"]), median_ms(seconds["bucket"]), "ms", notes)


# --- (1) commit latency, a short run ---------------------------------------------------------------------------


def bench_commit(roots: Roots, sizes: Sizes) -> list[Result]:
    handles = {kind: lakehouse.connect(roots.new(kind, "commit")) for kind in KINDS}
    row = pl.DataFrame({"x": [1], "label": ["a"]})
    for lh in handles.values():  # the create, and the first append (lazy imports, warm table)
        lh.dataset("small").write(row)
        lh.dataset("small").write(row, mode="append")
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(sizes.commits):
        for kind, lh in handles.items():
            start = time.perf_counter()
            lh.dataset("small").write(row, mode="append")
            times[kind].append(time.perf_counter() - start)

    short: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for lh in handles.values():
        with lh.start_run(experiment="warm-up") as run:  # writer thread, tracking tables created
            run.log({"loss": 1.0})
    for _ in range(sizes.short_runs):
        for kind, lh in handles.items():
            start = time.perf_counter()
            run = lh.start_run(experiment="short", params={"lr": 0.1})
            for step in range(3):
                run.log({"loss": 0.5}, step=step)
            run.finish()
            short[kind].append(time.perf_counter() - start)
    return [
        in_ms("(1) one small dataset append (commit latency)", times, {"commits": sizes.commits}),
        in_ms("(1b) start_run + 3 log + finish (committed)", short, {"runs": sizes.short_runs}),
    ]


# --- (2) sustained throughput ----------------------------------------------------------------------------------


def bench_throughput(roots: Roots, sizes: Sizes) -> list[Result]:
    keys = [f"m{k}" for k in range(10)]
    values = dict.fromkeys(keys, 0.5)
    n_calls = sizes.throughput_points // len(keys)
    handles = {kind: lakehouse.connect(roots.new(kind, "throughput")) for kind in KINDS}
    for lh in handles.values():
        with lh.start_run(experiment="warm-up") as warm:
            warm.log(values)
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    notes: dict[str, Any] = {"points": n_calls * len(keys), "repeats": sizes.throughput_repeats}
    for _ in range(sizes.throughput_repeats):
        for kind, lh in handles.items():
            first = storage.latest_version(lh.layout.metrics)
            run, caller_s, total_s = timed_logging(lh, values, n_calls)
            committed = lh.run(run.id).metrics["m0"].count * len(keys)
            assert committed == n_calls * len(keys), committed
            rates[kind].append(committed / total_s)
            notes.setdefault(f"{kind}_caller_s", []).append(round(caller_s, 2))
            notes.setdefault(f"{kind}_total_s", []).append(round(total_s, 2))
            notes.setdefault(f"{kind}_commits", []).append(storage.latest_version(lh.layout.metrics) - first)
    return [
        Result(
            "(2) sustained points/s, run.log() x 10 metrics",
            statistics.median(rates["local"]),
            statistics.median(rates["bucket"]),
            "points/s",
            notes,
        )
    ]


# --- (3) lh.runs() ---------------------------------------------------------------------------------------------


def bench_runs(roots: Roots, sizes: Sizes) -> list[Result]:
    handles = {}
    build: dict[str, float] = {}
    for kind in KINDS:
        root = roots.new(kind, "runs")
        start = time.perf_counter()
        build_runs(root, sizes.runs)  # type: ignore[arg-type]  # a few commits of 2,000 runs, then maintain
        build[f"{kind}_build_s"] = round(time.perf_counter() - start, 1)
        handles[kind] = lakehouse.connect(root)
    cold: dict[str, list[float]] = {kind: [] for kind in KINDS}
    warm: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(3):
        for kind, lh in handles.items():
            lh.forget()  # every table read again
            start = time.perf_counter()
            frame = lh.runs()
            cold[kind].append(time.perf_counter() - start)
            assert frame.height == sizes.runs, frame.height
    for _ in range(sizes.reads):
        for kind, lh in handles.items():
            start = time.perf_counter()
            lh.runs()
            warm[kind].append(time.perf_counter() - start)
    notes = {"runs": sizes.runs, **build}
    return [
        in_ms(f"(3) lh.runs() over {sizes.runs:,} runs, cold", cold, notes),
        in_ms(f"(3b) lh.runs() over {sizes.runs:,} runs, warm", warm, notes),
    ]


# --- (4) one run's history ------------------------------------------------------------------------------------


def bench_history(roots: Roots, sizes: Sizes) -> list[Result]:
    handles, ids = {}, {}
    for kind in KINDS:
        root = roots.new(kind, "history")
        ids[kind] = build_big_table(root, sizes.history_runs)  # type: ignore[arg-type]
        handles[kind] = lakehouse.connect(root)
    cold: dict[str, list[float]] = {kind: [] for kind in KINDS}
    warm: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for i in range(sizes.reads):
        for kind, lh in handles.items():
            run_id = ids[kind][i % len(ids[kind])]
            lh.forget()
            start = time.perf_counter()
            assert lh.metrics(run_id).height == POINTS_PER_HISTORY
            cold[kind].append(time.perf_counter() - start)
            start = time.perf_counter()
            lh.metrics(ids[kind][(i + 1) % len(ids[kind])])
            warm[kind].append(time.perf_counter() - start)
    points = sizes.history_runs * POINTS_PER_HISTORY
    notes = {"points_in_table": points}
    name = f"one run's 20k-point history from {points / 1e6:g}M points"
    return [
        in_ms(f"(4) {name}, cold", cold, notes),
        in_ms(f"(4b) {name}, warm", warm, notes),
    ]


# --- (5) time travel ------------------------------------------------------------------------------------------


def bench_time_travel(roots: Roots, sizes: Sizes) -> list[Result]:
    handles = {}
    for kind in KINDS:
        lh = lakehouse.connect(roots.new(kind, "time-travel"))
        ds = lh.dataset("tt")
        for v in range(sizes.versions + 1):
            ds.write(
                pl.DataFrame({"id": range(v * sizes.version_rows, (v + 1) * sizes.version_rows), "v": v}),
                mode="append",
            )
        handles[kind] = lh
    old: dict[str, list[float]] = {kind: [] for kind in KINDS}
    latest: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(sizes.reads):
        for kind, lh in handles.items():
            lh.forget()
            start = time.perf_counter()
            assert lh.read("tt:v0").height == sizes.version_rows
            old[kind].append(time.perf_counter() - start)
            lh.forget()
            start = time.perf_counter()
            assert lh.read("tt").height == (sizes.versions + 1) * sizes.version_rows
            latest[kind].append(time.perf_counter() - start)
    notes = {"versions": sizes.versions + 1, "rows_per_version": sizes.version_rows}
    return [
        in_ms(f"(5) read tt:v0 behind {sizes.versions} versions", old, notes),
        in_ms("(5b) read the latest version", latest, notes),
    ]


# --- (6) a large artifact -------------------------------------------------------------------------------------


def bench_artifact(roots: Roots, sizes: Sizes) -> list[Result]:
    source = roots.workdir / "checkpoint.bin"
    make_source(source, sizes.artifact_mib * MiB)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(sizes.artifact_rounds):
        for kind in KINDS:
            lh = lakehouse.connect(roots.new(kind, f"artifact-{len(times[kind])}"))  # nothing stored yet
            with lh.start_run(experiment="artifacts") as run:
                os.sync()
                start = time.perf_counter()
                run.log_artifact(source)
                times[kind].append(time.perf_counter() - start)
            _drop_objects(roots, lh.root)  # the stored copy goes at once: memory and disk are shared
    source.unlink()
    mib = sizes.artifact_mib
    return [
        Result(
            f"(6) log_artifact of {mib} MiB (hash, upload, index commit)",
            statistics.median(times["local"]),
            statistics.median(times["bucket"]),
            "s",
            {
                "rounds": sizes.artifact_rounds,
                "local_s": [round(t, 2) for t in times["local"]],
                "bucket_s": [round(t, 2) for t in times["bucket"]],
                "local_mib_per_s": round(mib / statistics.median(times["local"]), 1),
                "bucket_mib_per_s": round(mib / statistics.median(times["bucket"]), 1),
            },
        )
    ]


def _drop_objects(roots: Roots, root: lakehouse.Location) -> None:
    objects = root / "_objects"
    if objects.local is not None:
        shutil.rmtree(objects.local, ignore_errors=True)
        return
    assert objects.bucket is not None
    client: Any = roots.server.client()
    for key in roots.server.keys(objects.bucket, objects.key):
        client.delete_object(Bucket=objects.bucket, Key=key)


# --- driver ---------------------------------------------------------------------------------------------------

BENCHES: dict[str, Callable[[Roots, Sizes], list[Result]]] = {
    "commit": bench_commit,
    "throughput": bench_throughput,
    "runs": bench_runs,
    "history": bench_history,
    "time-travel": bench_time_travel,
    "artifact": bench_artifact,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (about two minutes)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--artifact-mib", type=int, default=None, help="size of the artifact (default 1024, quick 128)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for the local roots, the spools and the S3 server's spilled objects (default: a temp folder)",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.artifact_mib:
        sizes.artifact_mib = args.artifact_mib
    workdir = Path(tempfile.mkdtemp(prefix="lakehouse-storage-bench-", dir=args.workdir))
    os.environ["TMPDIR"] = str(workdir)  # where moto spills large objects (the server inherits it)
    server = S3Server.start()
    # The standard AWS variables alone, as a user's machine would have them; the spools go to the work folder.
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(server.environ)
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}"
    print(
        f"storage benchmark ({'quick' if args.quick else 'full'}) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine}"
    )
    print(f"load: {_uptime()}; S3 server: moto on {server.endpoint}", flush=True)
    results: list[Result] = []
    try:
        for name in args.only.split(","):
            print(f"== {name}", flush=True)
            started = time.perf_counter()
            for r in BENCHES[name.strip()](Roots(workdir, server), sizes):
                results.append(r)
                _print(r)
            print(f"   ({time.perf_counter() - started:.0f}s; load {_uptime()})", flush=True)
    finally:
        try:
            for writer in active_writers():  # commit and stop before the server goes away
                writer.close(timeout=60)
        finally:
            server.close()
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary (ratio: bucket / local time)")
    for r in results:
        _print(r)
    if args.json_out:
        write_json(
            args.json_out,
            machine=machine,
            quick=args.quick,
            results=[{**r.__dict__, "ratio": r.ratio} for r in results],
        )


def _uptime() -> str:
    return (
        subprocess.run(["uptime"], capture_output=True, text=True, check=False)
        .stdout.strip()
        .split("load average: ")[-1]
    )


def _print(r: Result) -> None:
    print(
        f"  {r.name}: local {r.local:,.2f} {r.unit}   bucket {r.bucket:,.2f} {r.unit}"
        f"   ratio {r.ratio:,.2f}x  {r.notes}",
        flush=True,
    )


if __name__ == "__main__":
    main()
