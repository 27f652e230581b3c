"""A training process for the crash and concurrency tests (run as a script, never imported by pytest).

python child.py crash ROOT           log steps 0, 1, 2... of metric "v" forever (until killed)
python child.py concurrent ROOT N I [GATE]  log N points into a run named "writer-I", then finish; with GATE,
                                     commit the first half, print "halfway" and wait for the file GATE
python child.py hang ROOT            finish one run, leave a second one open with its points committed; wait
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import lakehouse


def crash(root: str) -> None:
    # Tiny flushes so a kill lands anywhere: while buffering, writing a segment, committing, deleting.
    lh = lakehouse.connect(root, flush_interval=0.01, flush_points=300, maintenance_commits=0)
    run = lh.start_run(experiment="crash", name="victim")
    print(run.id, flush=True)  # noqa: T201 - the parent reads the run id from stdout
    step = 0
    while True:
        run.log({"v": float(step), "w": -float(step)}, step=step)
        step += 1
        if step % 50 == 0:
            time.sleep(0.001)


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


if __name__ == "__main__":
    mode, root = sys.argv[1], sys.argv[2]
    if mode == "crash":
        crash(root)
    elif mode == "hang":
        hang(root)
    else:
        concurrent(root, int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
