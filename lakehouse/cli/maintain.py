"""``lakehouse maintain``: compact, checkpoint and vacuum every table, with delta-rs or Spark."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import _common as c
from lakehouse.cli.ingest import MasterOpt, progress, start_spark

if TYPE_CHECKING:
    from lakehouse.maintenance import MaintenanceReport


def maintain_command(
    engine: Annotated[str, typer.Option(help="embedded (delta-rs, no JVM) or spark (OPTIMIZE, VACUUM).")] = "embedded",
    dataset: Annotated[list[str] | None, typer.Option("--dataset", help="Only this dataset (repeatable).")] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help=(
                "Only this tracking table: runs, inputs, metric_summaries, metrics, experiments, logged_models "
                "(repeatable)."
            ),
        ),
    ] = None,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Also delete files no kept version needs (tagged and used ones are kept).")
    ] = False,
    retention_hours: Annotated[
        int | None, typer.Option(help="With --vacuum: keep files removed less than this long ago (default: settings).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --vacuum: list the files, delete nothing.")] = False,
    master: MasterOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Compact and checkpoint every table (one file per run for the metrics), and optionally vacuum.

    Without --dataset or --table: all datasets, the tracking tables and the catalog and quarantine tables.
    Vacuum never deletes a file that a tagged dataset version or a version used by a run needs.
    """
    from lakehouse.maintenance import Steps, check_engine, maintain_embedded

    check_engine(engine)
    lh = c.connect(root)
    steps = Steps(vacuum=vacuum, retention_hours=retention_hours, dry_run=dry_run)
    steps.hours(lh)  # refuse a bad retention before any work (or JVM)
    if engine == "spark":
        from lakehouse.spark import maintain_with_spark

        spark = start_spark(lh, master)
        with progress(spark, "maintaining tables", not json_out and c.err_console.is_terminal):
            report = maintain_with_spark(lh, datasets=dataset, tracking=table, steps=steps, spark=spark)
    else:
        with c.err_console.status("maintaining tables...") if not json_out else nullcontext():
            report = maintain_embedded(lh, datasets=dataset, tracking=table, steps=steps)
    c.emit(report, json_out, lambda: _render(report))


def _render(report: MaintenanceReport) -> Any:
    if not report.tables:
        return "No tables under this root yet."
    verb = "would delete" if report.dry_run else "vacuumed"
    rows = [
        [
            t.table,
            "" if t.version_before is None else f"v{t.version_before} → v{t.version_after}",
            f"{t.files_before} → {t.files_after}",
            t.rows_pruned or "",
            "yes" if t.checkpointed else "",
            t.vacuumed_files or "",
            ", ".join(f"v{v} ({'/'.join(why)})" for v, why in t.pinned_versions.items()),
            t.skipped,
        ]
        for t in report.tables
    ]
    return c.table(
        f"maintenance ({report.engine})",
        ["table", "versions", "files", "summary rows pruned", "checkpoint", verb, "pinned versions kept", "note"],
        rows,
    )
