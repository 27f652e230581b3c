"""A training process for the metrics interop test (run as a script, never imported by pytest).

python metrics_writer.py ROOT INDEX STOPFILE   log steps into run "writer-INDEX" until STOPFILE exists,
                                              then finish and print "<run id> steps=<n> pending=<p> failures=<f>"
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import lakehouse


def main(root: str, index: int, stop: Path) -> None:
    # A commit every half second per writer: many small appends while Spark works, at a pace the writers sustain.
    lh = lakehouse.connect(root, flush_interval=0.5, maintenance_commits=0)
    with lh.start_run(experiment="spark-interop", name=f"writer-{index}") as run:
        step = 0
        while not stop.exists():
            run.log({"loss": 1.0 / (step + 1), "index": float(index)}, step=step)
            step += 1
            time.sleep(0.002)  # a training loop's pace
    writer = run._writer
    print(f"{run.id} steps={step} pending={writer.pending_segments} failures={writer._failures}", flush=True)  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
