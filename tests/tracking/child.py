"""A training process for the crash and concurrency tests (run as a script, never imported by pytest).

python child.py crash ROOT           log steps 0, 1, 2... of metric "v" forever (until killed)
python child.py steady ROOT          the same at a training pace: a step every 5 ms, committed every 0.1 s
python child.py concurrent ROOT N I [GATE]  log N points into a run named "writer-I", then finish; with GATE,
                                     commit the first half, print "halfway" and wait for the file GATE
python child.py hang ROOT            finish one run, leave a second one open with its points committed; wait
python child.py victims              read "ROOT TIMELINE" lines on stdin; fork a logging victim for each

A victim (forked from one interpreter that imported lakehouse once, so each costs milliseconds to start) starts
a run with the default spool and flush settings, reports ``<pid> <run id> <monotonic time start_run returned>``
on stdout, then logs step after step of metric ``v`` until killed, appending ``<step> <monotonic time>`` to
TIMELINE just before each ``log`` call: the parent knows what was logged when.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import lakehouse


def crash(root: str) -> None:
    # Tiny flushes so a kill lands anywhere: while buffering, writing a segment, committing, deleting.
    _log_forever(root, "crash", pause_every=50, pause=0.001, flush_interval=0.01, flush_points=300)


def steady(root: str) -> None:
    _log_forever(root, "steady", pause_every=1, pause=0.005, flush_interval=0.1, retry_max_backoff=0.5)


def _log_forever(root: str, experiment: str, *, pause_every: int, pause: float, **settings: Any) -> None:
    lh = lakehouse.connect(root, maintenance_commits=0, **settings)
    run = lh.start_run(experiment=experiment, name="victim")
    print(run.id, flush=True)  # noqa: T201 - the parent reads the run id from stdout
    step = 0
    while True:
        run.log({"v": float(step), "w": -float(step)}, step=step)
        step += 1
        if step % pause_every == 0:
            time.sleep(pause)


def hang(root: str) -> None:
    lh = lakehouse.connect(root, flush_interval=0.05, maintenance_commits=0)
    with lh.start_run(experiment="hang", name="finished") as done:
        done.log({"loss": 1.0}, step=0)
    run = lh.start_run(experiment="hang", name="victim")
    run.log({"loss": 0.5}, step=0)
    run.flush()
    print(run.id, flush=True)  # noqa: T201 - the parent reads the run id from stdout
    while True:
        time.sleep(1)


def concurrent(root: str, points: int, index: int, gate: str | None = None) -> None:
    lh = lakehouse.connect(root, flush_interval=0.05, flush_points=2_000, maintenance_commits=0)
    with lh.start_run(experiment="concurrent", name=f"writer-{index}", params={"index": index}) as run:
        for step in range(points):
            if gate is not None and step in (points // 4, points // 2):
                # Two commits at least before the gate: the run's partition has files compaction can merge.
                if not run.flush(timeout=120):
                    sys.exit("the first half of the points was not committed within 120 s")
            if gate is not None and step == points // 2:
                print("halfway", flush=True)  # noqa: T201 - the parent compacts, then opens the gate
                while not Path(gate).exists():
                    time.sleep(0.02)
            run.log({"loss": 1.0 / (step + 1), "index": float(index)}, step=step)
            if step % 500 == 0:
                time.sleep(0.002)
    writer = run._writer
    print(f"{run.id} pending={writer.pending_segments} failures={writer._failures}", flush=True)  # noqa: T201


def victims() -> None:
    import lakehouse.tracking.starting  # noqa: F401 - loaded once here, not by each victim's first start_run

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed victims are reaped by the kernel
    for line in sys.stdin:
        root, timeline = line.split()
        if os.fork() == 0:  # pragma: no cover - runs in the victim
            try:
                victim(root, timeline)
            finally:
                os._exit(1)


def victim(root: str, timeline: str) -> None:
    lh = lakehouse.connect(root, maintenance_commits=0)
    out = os.open(timeline, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    run = lh.start_run(experiment="victims", params={"lr": 0.1}, tags={"kind": "victim"})
    started = time.monotonic()
    os.write(1, f"{os.getpid()} {run.id} {started!r}\n".encode())
    step = 0
    while True:
        os.write(out, f"{step} {time.monotonic()!r}\n".encode())
        run.log({"v": float(step)}, step=step)
        step += 1
        time.sleep(0.002)  # a training step: about 400 steps a second


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "victims":
        victims()
        sys.exit(0)
    root = sys.argv[2]
    if mode == "crash":
        crash(root)
    elif mode == "steady":
        steady(root)
    elif mode == "hang":
        hang(root)
    else:
        concurrent(root, int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
