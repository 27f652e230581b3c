"""Keep importing a log dir that training is still writing, so its runs show up live."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.errors import InvalidArgument
from lakehouse.integrations.tensorboard.importer import TensorBoardReport, import_logdir

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse


def follow_logdir(
    logdir: Path | str,
    lakehouse: Lakehouse,
    *,
    experiment: str | None = None,
    interval: float = 2.0,
    max_seconds: float | None = None,
    on_pass: Callable[[TensorBoardReport], None] | None = None,
) -> TensorBoardReport:
    """Import ``logdir`` every ``interval`` seconds until Ctrl-C (or ``max_seconds``), then once more.

    While following, the runs are RUNNING; the last pass (after the interrupt) imports what is left and marks
    them FINISHED. Each pass is an incremental :func:`import_logdir`, so every point lands exactly once. Returns
    the passes' counts added up; ``stopped`` is the last pass's (where each file's reading stands now).
    """
    if not interval > 0:
        msg = f"the follow interval must be a positive number of seconds, got {interval!r}"
        raise InvalidArgument(msg)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    total: TensorBoardReport | None = None
    try:
        while True:
            report = import_logdir(logdir, lakehouse, experiment=experiment, status="RUNNING")
            total = report if total is None else _add(total, report)
            if on_pass is not None:
                on_pass(report)
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    last = import_logdir(logdir, lakehouse, experiment=experiment, status="FINISHED")
    return last if total is None else _add(total, last)


def _add(a: TensorBoardReport, b: TensorBoardReport) -> TensorBoardReport:
    """Two passes' counts as one: runs are counted once (created in any pass, else updated in any, else
    unchanged), numbers added, ``stopped`` taken from the later pass."""
    created = a.runs_created + b.runs_created
    updated = min(a.runs_updated + b.runs_updated, len(b.run_ids) - created)
    skipped = dict(a.skipped)
    for kind, n in b.skipped.items():
        skipped[kind] = skipped.get(kind, 0) + n
    return TensorBoardReport(
        source=b.source,
        experiment=b.experiment,
        runs_created=created,
        runs_updated=max(updated, 0),
        runs_unchanged=max(len(b.run_ids) - created - max(updated, 0), 0),
        params=a.params + b.params,
        tags=a.tags + b.tags,
        points=a.points + b.points,
        points_present=a.points_present + b.points_present,
        seconds=round(a.seconds + b.seconds, 3),
        run_ids=tuple(dict.fromkeys(a.run_ids + b.run_ids)),
        files=max(a.files, b.files),
        bytes_read=a.bytes_read + b.bytes_read,
        skipped=skipped,
        stopped=b.stopped,
    )
