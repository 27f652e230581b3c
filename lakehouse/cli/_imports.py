"""What the ``import-*`` commands share: the progress bar over runs and the rows every report has."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lakehouse.cli import _common as c

if TYPE_CHECKING:
    from lakehouse.integrations._import import ImportReport


@contextmanager
def runs_progress(*, disable: bool) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on stderr; yields the ``progress(done, total)`` callback the importers take."""
    columns = (TextColumn("importing runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=c.err_console, transient=True, disable=disable) as bar:
        task = bar.add_task("runs", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def run_rows(report: ImportReport) -> list[list[Any]]:
    """The table rows of the counts every importer reports (runs, params / tags, points)."""
    return [
        ["runs", f"{report.runs_created} created, {report.runs_updated} updated, {report.runs_unchanged} unchanged"],
        ["params / tags", f"{report.params} / {report.tags} new"],
        ["metric points", f"{report.points} new, {report.points_present} already there"],
    ]


def time_row(report: ImportReport) -> list[Any]:
    return ["time", f"{report.seconds:.1f} s"]
