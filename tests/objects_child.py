"""Logs a large file as an artifact slowly (a progress callback that sleeps), to be SIGKILLed mid-copy.

Run as a script by :func:`kill_mid_put`, which the tests call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import lakehouse
from lakehouse.fileio import CHUNK
from lakehouse.tracking import artifacts

T = TypeVar("T")


def main(root: str, source: str) -> None:
    lh = lakehouse.connect(root, flush_interval=60)
    run = lh.start_run(experiment="kill")
    seen = [0]

    def slowly(n: int) -> None:
        seen[0] += n
        if seen[0] >= CHUNK:  # the first chunk is read, so its copy into the staging file has begun
            time.sleep(0.5)

    artifacts.log_files(lh.layout, lh.settings, run.id, artifacts.plan_file(source), progress=slowly)


def kill_mid_put(root: str, source: str, started: Callable[[], T | None]) -> T:
    """Run this script on ``root`` and ``source``, SIGKILL it once ``started()`` finds its write under way, and
    return what ``started()`` found then."""
    child = subprocess.Popen([sys.executable, __file__, root, source], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = started()
            if found:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)
                return found
            assert child.poll() is None, "the child ended before it was killed"
            time.sleep(0.02)
        raise AssertionError("the child never started writing")
    finally:
        if child.poll() is None:
            child.kill()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
