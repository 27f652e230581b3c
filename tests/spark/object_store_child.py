"""The embedded side of the bucket tests, run as separate processes (delta-rs must not share a process with moto).

``log ROOT PROCESS POINTS BATCH GATE``: one training process logging POINTS points to ``ROOT/tracking/metrics``
in commits of BATCH points, each commit exactly once; half-way it waits for the file GATE, so that whatever the
test does before creating GATE happens while every process is in the middle of its run.
``append TABLE``: one embedded append to TABLE (the message on stdout, exit 3, if the commit rule refuses it),
then its row count. ``count TABLE...``: row counts as delta-rs reads them, one per line.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from lakehouse import storage
from lakehouse.errors import CommitConflict, CommitRefused

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
    """A training process on a bucket root: ``points`` metric points of run ``p<process>``, ``batch`` per commit.

    Each commit is a delta-rs append through ``lakehouse.storage`` (what the metrics writer's appends are on
    remote storage) under the app transaction (writer, segment), retried with backoff until it is in, as the
    writer does with its spool. Once ``lakehouse.connect("s3://...")`` serves bucket roots, this is
    ``run.log`` on such a root.
    """
    table = f"{root}/tracking/metrics"
    writer = f"writer-{process}"
    starts = range(0, points, batch)
    for segment, start in enumerate(starts, start=1):
        if segment == len(starts) // 2 + 1:
            deadline = time.monotonic() + 300
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        steps = list(range(start, min(start + batch, points)))
        rows = pa.table(
            {
                "run_id": [f"p{process}"] * len(steps),
                "key": ["loss"] * len(steps),
                "step": steps,
                "value": [1.0 / (s + 1) for s in steps],
                "timestamp": [datetime.now(UTC)] * len(steps),
            },
            schema=SCHEMA,
        )
        for attempt in range(20):
            try:
                storage.write(table, rows, mode="append", app_transaction=(writer, segment))
                break
            except CommitConflict:
                # A create lost to another process's, or retries ran out: in already, or try again later.
                if storage.exists(table) and (storage.transaction_version(table, writer) or 0) >= segment:
                    break
                time.sleep(0.05 * 2 ** min(attempt, 5))
        else:
            raise SystemExit(f"segment {segment} of {writer} did not commit")


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
