"""The embedded side of the bucket tests, run as separate processes (delta-rs must not share a process with moto).

``log ROOT PROCESS POINTS BATCH GATE``: one training process logging POINTS points of run ``p<PROCESS>`` with
``run.log``, committed every BATCH points; half-way it waits for the file GATE, so that whatever the
test does before creating GATE happens while every process is in the middle of its run.
``append TABLE``: one embedded append to TABLE (the message on stdout, exit 3, if the commit rule refuses it),
then its row count. ``count TABLE...``: row counts as delta-rs reads them, one per line.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pyarrow as pa

import lakehouse
from lakehouse import storage
from lakehouse.errors import CommitRefused

SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("key", pa.string()),
        pa.field("step", pa.int64()),
        pa.field("value", pa.float64()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
    ]
)


def log_points(root: str, process: int, points: int, batch: int, gate: Path) -> None:
    """A training process on a bucket root: run ``p<process>`` logs ``points`` points through ``run.log``,
    flushed every ``batch`` points (one commit per table each time, through the metrics writer and its spool)."""
    lh = lakehouse.connect(root)
    with lh.start_run(experiment="bucket", name=f"p{process}") as run:
        starts = range(0, points, batch)
        for number, start in enumerate(starts, start=1):
            if number == len(starts) // 2 + 1:
                deadline = time.monotonic() + 300
                while not gate.exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
            for step in range(start, min(start + batch, points)):
                run.log({"loss": 1.0 / (step + 1)}, step=step)
            if not run.flush(timeout=120):
                raise SystemExit(f"points {start}.. of p{process} did not commit")


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "log":
        log_points(args[0], int(args[1]), int(args[2]), int(args[3]), Path(args[4]))
    elif command == "append":
        row = pa.table({"id": pa.array([-1], pa.int64())})
        try:
            storage.write(args[0], row, mode="append")
        except CommitRefused as e:
            sys.stdout.write(f"{e}\n{storage.read_arrow(args[0]).num_rows}\n")
            return 3
    elif command == "count":
        sys.stdout.write("".join(f"{storage.read_arrow(table).num_rows}\n" for table in args))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    # Straight out: delta-rs' runtime can abort while the interpreter tears down after a failed commit
    # ("terminate called without an active exception"), which would hide the exit status that matters here.
    os._exit(code)
