"""``lakehouse maintain``: compact, cluster, checkpoint and vacuum every table, with delta-rs or Spark."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer

from lakehouse.cli import _common as c
from lakehouse.cli.ingest import MasterOpt, progress, start_spark
from lakehouse.errors import InvalidArgument
from lakehouse.maintenance import ENGINES, MaintenanceReport, Steps, maintain_embedded


def maintain(
    engine: Annotated[str, typer.Option(help="embedded (delta-rs, no JVM) or spark (OPTIMIZE / VACUUM).")] = "embedded",
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets (repeatable; default: all).")
    ] = None,
    tables: Annotated[
        bool, typer.Option("--tables/--no-tables", help="Also the metrics, catalog, runs and quarantine tables.")
    ] = True,
    compact: Annotated[bool, typer.Option("--compact/--no-compact", help="Compact files (Z-order metrics).")] = True,
    checkpoint: Annotated[bool, typer.Option("--checkpoint/--no-checkpoint", help="Write checkpoints.")] = True,
    vacuum: Annotated[bool, typer.Option("--vacuum/--no-vacuum", help="Delete files no kept version needs.")] = True,
    retention_hours: Annotated[
        int | None, typer.Option(help="Vacuum keeps files removed less than this long ago (default: settings).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Vacuum lists files instead of deleting them.")] = False,
    master: MasterOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Keep tables fast and small: compact datasets, Z-order the metrics by run, checkpoint, vacuum.

    Vacuum never deletes a file that a tagged dataset version or a version used by a run needs.
    """
    if engine not in ENGINES:
        msg = f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}"
        raise InvalidArgument(msg)
    lh = c.connect(root)
    steps = Steps(
        compact=compact, checkpoint=checkpoint, vacuum=vacuum, retention_hours=retention_hours, dry_run=dry_run
    )
    steps.hours(lh)  # refuse a bad retention before starting a JVM
    if engine == "spark":
        from lakehouse.spark.maintain import maintain as maintain_spark

        spark = start_spark(lh, master)
        with progress(spark, "maintaining tables", not json_out and c.err_console.is_terminal):
            report = maintain_spark(lh, datasets=dataset, tables=tables, steps=steps, spark=spark)
    else:
        with c.err_console.status("maintaining tables...") if not json_out else nullcontext():
            report = maintain_embedded(lh, datasets=dataset, tables=tables, steps=steps)
    c.emit(report, json_out, lambda: _render(report))


def _render(report: MaintenanceReport) -> Any:
    verb = "would delete" if report.dry_run else "deleted"
    rows = [
        [
            t.table,
            t.kind,
            f"v{t.version_before} → v{t.version_after}",
            f"{t.files_compacted} → {t.files_written}" + (f" (z-order {', '.join(t.z_order)})" if t.z_order else ""),
            "" if t.checkpoint_version is None else f"v{t.checkpoint_version}",
            len(t.vacuumed),
            ", ".join(f"v{v} ({'/'.join(why)})" for v, why in t.pinned_versions.items()),
        ]
        for t in report.tables
    ]
    if not rows:
        return "No tables under this root yet."
    return c.table(
        f"maintenance ({report.engine})",
        ["table", "kind", "versions", "files compacted", "checkpoint", f"files {verb}", "pinned versions kept"],
        rows,
    )
