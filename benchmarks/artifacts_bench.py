"""Logging a large checkpoint as a run artifact, beside a plain file copy and MLflow's local artifact store.

Goals (issue "model management"): logging a 1 GiB file ≥ 0.8× the speed of a plain copy on the same disk
(``shutil.copyfile``), digest included; logging it again unchanged ≤ 5 % of that time and 0 bytes written.

Each round runs these steps on the same file (so the page cache and disk see the same load), ``copy`` and ``log``
as an alternating pair (which goes first changes every round), then the others:

- ``copy``: ``shutil.copyfile(source, <dir>/copy.bin)`` (the kernel's ``sendfile``);
- ``sha256``: ``hashlib.file_digest`` of the source alone: the floor of any logging that computes its digest;
- ``log``: ``run.log_artifact(source)`` into a fresh lakehouse root (the kernel copies into a staging file while
  the process hashes the same bytes, then the index commit);
- ``relog``: the same call again (this process stored that file unchanged: a ``stat``, nothing read or written);
- ``relog_fresh``: again after ``lh.forget()``, as a new process would (the root's record of fingerprints is
  read again; the file is not read);
- ``mlflow``: MLflow's ``LocalArtifactRepository.log_artifact`` (what ``mlflow.log_artifact`` does on a local
  artifact root: a copy), into a fresh folder;
- ``mlflow_relog``: the same again (MLflow copies again).

Before each step ``os.sync()`` writes back what earlier steps left dirty, so no step pays for another's writeback
(without it, whichever step follows a 1 GiB write is throttled by the kernel). Bytes written are this process's
``wchar`` from ``/proc/self/io`` (every byte passed to ``write()`` or ``sendfile()``), CPU seconds its
``process_time`` (all threads), both read around each call. The source is left to settle
(:data:`lakehouse.known_digests.SETTLED_NS`) before the first round: a file changed a moment ago is never
remembered by its fingerprint. Outputs are deleted as soon as no later step needs them. Run:
``.venv/bin/python benchmarks/artifacts_bench.py`` (``--quick``: 128 MiB, 2 rounds).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import write_json  # noqa: E402

import lakehouse  # noqa: E402
from lakehouse.known_digests import SETTLED_NS  # noqa: E402

MiB = 1 << 20


def written() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def measure(fn: Callable[[], Any]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads) and bytes written by ``fn()``."""
    before = written()
    cpu = time.process_time()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu, written() - before


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def make_source(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with path.open("wb") as out:
        left = size
        while left > 0:
            n = min(left, len(block))
            out.write(block[:n] if n < len(block) else block)
            left -= n
            block = block[1:] + block[:1]  # every block different: no deduplication inside the file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB, 2 rounds")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temporary folder)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    size = (128 if args.quick else args.size_mib) * MiB
    rounds = 2 if args.quick else args.rounds

    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    work = Path(tempfile.mkdtemp(prefix="artifacts-bench-", dir=args.dir))
    source = work / "checkpoint.bin"
    make_source(source, size)
    time.sleep(SETTLED_NS / 1e9 + 0.1)
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    names = ("copy", "sha256", "log", "relog", "relog_fresh", "mlflow", "mlflow_relog")
    times: dict[str, list[float]] = {k: [] for k in names}
    cpus: dict[str, list[float]] = {k: [] for k in names}
    wrote: dict[str, list[int]] = {k: [] for k in names}
    try:
        for i in range(rounds):
            root = work / f"lh-{i}"
            lh = lakehouse.connect(root, flush_interval=60)
            run = lh.start_run(experiment="bench")
            run.flush()
            repo = LocalArtifactRepository(str(work / f"mlflow-{i}"))
            pair: list[tuple[str, Callable[[], Any]]] = [
                ("copy", lambda: shutil.copyfile(source, work / "copy.bin")),
                ("log", lambda run=run: run.log_artifact(source)),  # type: ignore[misc]
            ]
            rest: list[tuple[str, Callable[[], Any]]] = [
                ("sha256", lambda: sha256(source)),
                ("relog", lambda run=run: run.log_artifact(source)),  # type: ignore[misc]
                ("relog_fresh", lambda run=run, lh=lh: (lh.forget(), run.log_artifact(source))),  # type: ignore[misc]
                ("mlflow", lambda repo=repo: repo.log_artifact(str(source))),  # type: ignore[misc]
                ("mlflow_relog", lambda repo=repo: repo.log_artifact(str(source))),  # type: ignore[misc]
            ]
            steps = (pair if i % 2 == 0 else pair[::-1]) + rest  # copy and log alternate which goes first
            for name, fn in steps:
                # Every step starts with no dirty pages: otherwise the one after a 1 GiB write pays for its writeback.
                os.sync()
                seconds, cpu, nbytes = measure(fn)
                times[name].append(seconds)
                cpus[name].append(cpu)
                wrote[name].append(nbytes)
                print(
                    f"round {i + 1} {name:13s} {seconds:7.3f} s  cpu {cpu:6.3f} s  {nbytes / MiB:8.1f} MiB written",
                    flush=True,
                )
                # Outputs go as soon as no later step needs them (untimed): at most three copies of the file on disk.
                if name == "copy":
                    (work / "copy.bin").unlink()
                elif name == "relog_fresh":
                    run.finish()
                    shutil.rmtree(root)
            shutil.rmtree(work / f"mlflow-{i}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    gib = size / (1 << 30)
    print()
    when = f"{started:%Y-%m-%d %H:%M} UTC"
    print(f"{size // MiB} MiB, {rounds} rounds, {when}, load {load_start[0]:.1f} → {load_end[0]:.1f}")
    for k, v in med.items():
        print(
            f"  {k:13s} median {v:7.3f} s  ({gib / v:5.2f} GiB/s)  cpu {statistics.median(cpus[k]):6.3f} s"
            f"  written {statistics.median(wrote[k]) / MiB:8.1f} MiB"
        )
    speed = med["copy"] / med["log"]
    print(f"  log speed vs copy: {speed:.2f}× (goal ≥ 0.8×); sha256 alone vs copy: {med['copy'] / med['sha256']:.2f}×")
    for k in ("relog", "relog_fresh"):
        print(f"  {k} / log: {med[k] / med['log'] * 100:.1f} % (goal ≤ 5 %), written ≤ {max(wrote[k])} bytes")
    vs_mlflow = med["mlflow"] / med["log"]
    print(f"  log vs MLflow local artifact store: {vs_mlflow:.2f}×; relog {med['mlflow_relog'] / med['relog']:.1f}×")
    if args.json_out:
        results = [
            {"name": k, "median_s": med[k], "runs_s": times[k], "cpu_s": cpus[k], "written_bytes": wrote[k]}
            for k in times
        ]
        write_json(
            args.json_out,
            machine={"cpus": os.cpu_count(), "load": [load_start, load_end]},
            quick=args.quick,
            results=results,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
