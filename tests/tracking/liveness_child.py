"""A training process that is alive but logs nothing (run as a script, never imported by pytest).

python liveness_child.py quiet ROOT HEARTBEAT   start a run, log one point, commit it, print the run id, then
                                                 log nothing at all until killed (its writer still heartbeats)
"""

from __future__ import annotations

import sys
import time

import lakehouse


def quiet(root: str, heartbeat: float) -> None:
    lh = lakehouse.connect(root, flush_interval=0.05, heartbeat_interval=heartbeat, maintenance_commits=0)
    run = lh.start_run(experiment="liveness", name="quiet")
    run.log({"loss": 1.0}, step=0)
    run.flush()
    print(run.id, flush=True)  # noqa: T201 - the parent reads the run id from stdout
    while True:
        time.sleep(1)


if __name__ == "__main__":
    quiet(sys.argv[2], float(sys.argv[3]))
