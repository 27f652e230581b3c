"""How soon a run's start is in the spool: seconds from ``start_run`` returning to its segment being on disk.

    python benchmarks/start_spool_bench.py                # 20 rounds of three victims
    python benchmarks/start_spool_bench.py --rounds 5

Victims are forked from one interpreter that imported lakehouse once (as in the kill -9 tests), three at a
time 30 ms apart, each under a root of its round; each starts a run, then logs a point every 2 ms until it
is killed 0.6 s later. The moment the start segment was on disk is the change time of segment 1 (set by the
rename that completes it, after its fsync); the segment must hold the run's ``created`` event. A victim
whose start segment is missing after 0.6 s counts as never.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import tempfile
import time
from pathlib import Path

import lakehouse
import lakehouse.tracking.starting  # noqa: F401 - loaded once here, not by each victim's first start_run
from lakehouse.tracking.spool import WriterSpool, segment_name, writer_folders
from lakehouse.tracking.writer import spool_root


def _victim(root: Path, report: int) -> None:
    lh = lakehouse.connect(root, maintenance_commits=0)
    run = lh.start_run(experiment="victims", params={"lr": 0.1}, tags={"kind": "victim"})
    os.write(report, f"{os.getpid()} {time.time()!r}\n".encode())
    step = 0
    while True:
        run.log({"v": float(step)}, step=step)
        step += 1
        time.sleep(0.002)


def _round(root: Path, report: int) -> None:
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the victim
            try:
                _victim(root, report)
            finally:
                os._exit(1)
        pids.append(pid)
        time.sleep(0.03)
    time.sleep(0.6)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def _latencies(workdir: Path, rounds: int) -> list[float]:
    returned: dict[int, float] = {}
    for line in (workdir / "returned").read_text().splitlines():
        pid, at = line.split()
        returned[int(pid)] = float(at)
    spooled: dict[int, float] = {}
    for n in range(rounds):
        lh = lakehouse.connect(workdir / f"root{n}")
        for folder in writer_folders(spool_root(lh.settings, lh.layout)):
            spool = WriterSpool(folder)
            pid = spool.owner().get("pid")
            first = folder / segment_name(1)
            if isinstance(pid, int) and first.exists():
                kinds = spool.read(1).parts["runs"].column("kind").to_pylist()
                if "created" in kinds:
                    spooled[pid] = first.stat().st_ctime
    return sorted(spooled[pid] - at if pid in spooled else float("inf") for pid, at in returned.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="start-spool-"))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed victims are reaped by the kernel
    report = os.open(workdir / "returned", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    load = os.getloadavg()[0]
    try:
        for n in range(args.rounds):
            _round(workdir / f"root{n}", report)
        time.sleep(0.2)
        found = _latencies(workdir, args.rounds)
    finally:
        os.close(report)
    ms = [1000 * x for x in found]
    print(  # noqa: T201 - the benchmark's output
        f"{len(ms)} starts, load {load:.1f} -> {os.getloadavg()[0]:.1f}: p50 {statistics.median(ms):.1f} ms, "
        f"p90 {ms[int(0.9 * len(ms))]:.1f} ms, max {ms[-1]:.1f} ms, over 100 ms {sum(x > 100 for x in ms)}, "
        f"never {sum(x == float('inf') for x in ms)}"
    )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
