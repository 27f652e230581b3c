"""``lakehouse import-mlflow``: copy an MLflow store into the lakehouse."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lakehouse.cli import _common as c
from lakehouse.cli._imports import run_rows, runs_progress, time_row


def import_mlflow(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="MLflow tracking URI to copy from: sqlite:///mlflow.db, file:///path/mlruns, http://host:5000 ...",
            show_default=False,
        ),
    ],
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Only this experiment, by name (repeatable).")
    ] = None,
    artifacts: Annotated[
        bool, typer.Option("--artifacts", help="Also copy the runs' artifact files into the object store.")
    ] = False,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Copy experiments, runs (params, tags, full metric histories), logged models and the model registry
    (registered models, versions, aliases, tags) from an MLflow store.

    Runs and logged models keep their MLflow ids; running it again imports only what is new in the source
    (nothing, if nothing changed). With --artifacts the runs' files are copied into the object store too;
    without it they stay where the source keeps them.
    """
    from lakehouse.integrations.mlflow import import_runs
    from lakehouse.integrations.mlflow.importer import check_source

    check_source(source)  # before the progress bar, so a refusal is the one line printed
    lh = c.connect(root)
    with runs_progress(disable=json_out) as progress:
        report = import_runs(source, lh, experiments=experiment or None, artifacts=artifacts, progress=progress)

    def render() -> Any:
        rows = [
            ["experiments", f"{report.experiments_created} created, {report.experiments_matched} already there"],
            *run_rows(report)[:1],
            [
                "logged models",
                f"{report.models_created} created, {report.models_updated} updated, "
                f"{report.models_unchanged} unchanged",
            ],
            [
                "registered models",
                f"{report.model_versions_created} versions created, {report.model_versions_matched} already there, "
                f"{report.aliases_set} aliases set",
            ],
            ["artifact files", f"{report.artifacts_copied} copied" if artifacts else "not copied (--artifacts)"],
            *run_rows(report)[1:],
            time_row(report),
        ]
        return c.table(f"import from {report.source} into {lh.root}", ["", ""], rows)

    c.emit(report, json_out, render)
