"""Logs a large file as an artifact slowly (a progress callback that sleeps), to be SIGKILLed mid-copy."""

from __future__ import annotations

import sys
import time

import lakehouse
from lakehouse.fileio import CHUNK
from lakehouse.tracking import artifacts


def main(root: str, source: str) -> None:
    lh = lakehouse.connect(root, flush_interval=60)
    run = lh.start_run(experiment="kill")
    seen = [0]

    def slowly(n: int) -> None:
        seen[0] += n
        if seen[0] >= CHUNK:  # the first chunk is read, so its copy into the staging file has begun
            time.sleep(0.5)

    artifacts.log_files(lh.layout, lh.settings, run.id, artifacts.plan_file(source), progress=slowly)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
