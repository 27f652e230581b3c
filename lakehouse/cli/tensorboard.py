"""``lakehouse import-tensorboard``: TensorBoard log dirs into the lakehouse, once or while training writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import _common as c
from lakehouse.cli._imports import run_rows, runs_progress, time_row

if TYPE_CHECKING:
    from lakehouse.integrations.tensorboard import TensorBoardReport


def import_tensorboard(
    logdir: Annotated[Path, typer.Argument(help="The log dir: a folder of run folders holding events.out.tfevents.*")],
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Experiment of the runs (default: the log dir's name).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep importing what training writes, until Ctrl-C.")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between imports with --follow.")] = 2.0,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Import every run folder of a TensorBoard log dir: scalars as metric points, HParams as params.

    Each folder holding event files becomes a run named by its path under LOGDIR. Histograms, images and text
    are skipped (and counted). Running it again imports only what was written since; with --follow the runs
    stay RUNNING while it follows and are FINISHED when it stops. A damaged or cut-short file is imported up to
    the damage, and the report says where reading stopped.
    """
    from lakehouse.integrations.tensorboard import check_logdir, follow_logdir, import_logdir

    check_logdir(logdir)  # before the progress bar, so a refusal is the one line printed
    lh = c.connect(root)
    if follow:
        if not json_out:
            c.err_console.print(f"following {logdir} every {interval:g} s; Ctrl-C stops")
        report = follow_logdir(logdir, lh, experiment=experiment, interval=interval, on_pass=_passed(json_out))
    else:
        with runs_progress(disable=json_out) as progress:
            report = import_logdir(logdir, lh, experiment=experiment, progress=progress)
    c.emit(report, json_out, lambda: _render(report, str(lh.root)))


def _passed(json_out: bool) -> Any:
    def show(report: TensorBoardReport) -> None:
        if not json_out and (report.points or report.runs_created):
            c.err_console.print(f"{report.points} new points, {report.runs_created} new runs", highlight=False)

    return show


def _render(report: TensorBoardReport, root: str) -> Any:
    skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(report.skipped.items())) or "nothing"
    rows = [
        ["experiment", report.experiment],
        *run_rows(report),
        ["files", f"{report.files} read, {report.bytes_read} bytes"],
        ["skipped", skipped],
        time_row(report),
    ]
    out = [c.table(f"import from {report.source} into {root}", ["", ""], rows)]
    if report.stopped:
        stops = [[s["file"], s["offset"], s["reason"]] for s in report.stopped]
        out.append(c.table("files read up to a damaged or unfinished record", ["file", "byte", "why"], stops))
    return out
