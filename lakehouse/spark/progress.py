"""A progress bar for long Spark work, fed by Spark's status tracker (tasks done / tasks in running stages)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

_POLL_SECONDS = 0.5


@contextmanager
def spark_progress(spark: SparkSession, description: str, *, console: Console | None = None) -> Iterator[None]:
    """Show the tasks of the running Spark stages while the block runs (transient: gone when it ends)."""
    tracker = spark.sparkContext.statusTracker()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(description, total=None)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(_POLL_SECONDS):
            stages = [info for info in map(tracker.getStageInfo, tracker.getActiveStageIds()) if info is not None]
            if not stages:
                continue
            total = sum(s.numTasks for s in stages)
            done = sum(s.numCompletedTasks for s in stages)
            names = ", ".join(sorted({s.name.split(" at ")[0] for s in stages}))[:40]
            progress.update(task, total=total, completed=done, description=f"{description} [dim]({names})[/]")

    watcher = threading.Thread(target=poll, name="lakehouse-spark-progress", daemon=True)
    with progress:
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
