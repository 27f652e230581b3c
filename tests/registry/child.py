"""A process registering model versions and moving an alias, for the concurrency test (run as a script).

python child.py ROOT RUN_ID INDEX COUNT GATE   wait for the file GATE, then register COUNT versions of model
                                               "clf" from RUN_ID and point "production" at each; print the
                                               version numbers it got
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import lakehouse


def main(root: str, run_id: str, index: int, count: int, gate: str) -> None:
    lh = lakehouse.connect(root, maintenance_commits=0)
    model = lh.model("clf")
    while not Path(gate).exists():
        time.sleep(0.005)
    got = []
    for k in range(count):
        version = lh.register_model("clf", run=run_id, path=f"model-{index}-{k}")
        model.set_alias("production", version.version, reason=f"{index}-{k}")
        got.append(version.version)
    print(" ".join(map(str, got)), flush=True)  # noqa: T201 - the parent reads the numbers from stdout


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
