"""``lakehouse import-wandb``: the runs the ``wandb`` client wrote in offline mode, into the lakehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lakehouse.cli import _common as c
from lakehouse.cli._imports import run_rows, runs_progress, time_row


def import_wandb(
    path: Annotated[
        Path, typer.Argument(help="A wandb/ folder of offline-run-* folders, the folder holding it, or one run.")
    ],
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Import W&B offline runs (WANDB_MODE=offline): config, history, summary, tags, notes and state.

    Runs keep their W&B ids; the project becomes the experiment. Running it again imports only what is new.
    """
    from lakehouse.integrations.wandb import import_offline, run_files

    run_files(path)  # before the progress bar, so a refusal is the one line printed
    lh = c.connect(root)
    with runs_progress(disable=json_out) as progress:
        report = import_offline(path, lh, progress=progress)

    def render() -> Any:
        rows = [*run_rows(report), ["skipped", f"{report.skipped} history values that are not numbers"]]
        rows.append(time_row(report))
        out = [c.table(f"import from {report.source} into {lh.root}", ["", ""], rows)]
        if report.stopped:
            stops = [[s["file"], s["offset"], s["reason"]] for s in report.stopped]
            out.append(c.table("files read up to a damaged or unfinished record", ["file", "byte", "why"], stops))
        return out

    c.emit(report, json_out, render)
