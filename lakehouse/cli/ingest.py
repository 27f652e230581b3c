"""``lakehouse ingest``: bulk-load files into a dataset version with Spark (malformed records quarantined)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import _common as c

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.client import Lakehouse

MasterOpt = Annotated[
    str | None,
    typer.Option("--master", help="Spark master, e.g. local[4] (default: settings, then conf/spark-defaults.conf)."),
]


def start_spark(lh: Lakehouse, master: str | None) -> SparkSession:
    """A Spark session for a CLI command (pyspark is imported only here, so other commands stay JVM-free)."""
    from lakehouse.spark import spark_session

    # The JVM's logs (jar resolution, warnings) go to a file so the terminal shows only our output;
    # failures still surface as one-line errors, which name the log.
    log = Path(lh.settings.spark_jars_cache).expanduser().parent / "spark-cli.log"
    with c.err_console.status("starting Spark (the first start downloads the Delta jars)..."):
        return spark_session(lh.settings, master=master, app_name="lakehouse-cli", log_file=log)


@contextmanager
def progress(spark: SparkSession, description: str, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from lakehouse.spark.progress import spark_progress

    with spark_progress(spark, description, console=c.err_console):
        yield


def ingest(
    name: Annotated[str, typer.Argument(help="Dataset name (created by the first ingest).")],
    paths: Annotated[list[str], typer.Argument(help="Input files, directories or globs (quote globs).")],
    input_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv (with header), json (lines) or parquet (default: extension); files: PATHS is one folder "
            "whose files become a file dataset.",
        ),
    ] = None,
    mode: Annotated[str, typer.Option(help="append, overwrite or upsert (MERGE on --key).")] = "append",
    key: Annotated[list[str] | None, typer.Option("--key", help="Key column for upsert (repeatable).")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")] = None,
    created_by: Annotated[str | None, typer.Option(help="Who created this version.")] = None,
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    labelled_by: Annotated[str | None, typer.Option(help="Who labelled the data.")] = None,
    job_id: Annotated[
        str | None, typer.Option("--job-id", help="Idempotency key: re-running the same job commits nothing new.")
    ] = None,
    schema_mode: Annotated[
        str | None, typer.Option(help="merge: allow new columns (missing ones null); overwrite: with --mode overwrite.")
    ] = None,
    schema_file: Annotated[
        Path | None, typer.Option(help="Input schema: Spark DDL ('id BIGINT NOT NULL, ...') or Spark JSON schema.")
    ] = None,
    partition_by: Annotated[list[str] | None, typer.Option(help="Partition column on creation (repeatable).")] = None,
    master: MasterOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Load CSV / JSON / Parquet files (or, with --format files, a folder of any files) into a new version of
    dataset NAME, with Spark.

    Malformed records never reach the dataset: they go to the table _quarantine/NAME with their source file and
    the reason, and the counts go into the version's metadata.
    """
    from lakehouse.cli._files import input_file, parse_meta
    from lakehouse.spark import ingest as run_ingest

    if schema_file is not None:
        input_file(schema_file, what="schema file")  # before Spark starts: a missing file costs no JVM
    lh = c.connect(root)
    metadata = parse_meta(meta)
    show_progress = not json_out and c.err_console.is_terminal
    watching = ExitStack()  # the progress bar, once Spark runs

    def spark() -> SparkSession:
        # Called by ingest only once there is work: a finished job's re-run or a missing path needs no JVM.
        session = start_spark(lh, master)
        if show_progress:
            watching.enter_context(progress(session, f"ingesting into {name}", True))
        return session

    with watching:
        result = run_ingest(
            lh,
            name,
            paths,
            format=input_format,
            mode=mode,  # type: ignore[arg-type]  # validated by ingest
            key=key or None,
            schema_mode=schema_mode,  # type: ignore[arg-type]
            schema_file=schema_file,
            partition_by=partition_by or None,
            metadata=metadata,
            created_by=created_by,
            description=description,
            labelled_by=labelled_by,
            job_id=job_id,
            spark=spark,
        )
    reasons = _top_reasons(lh, name, result.job_id) if result.rows_quarantined else []
    value = {**result.to_dict(), "top_reasons": reasons}
    c.emit(value, json_out, lambda: _render(result, reasons))


def _top_reasons(lh: Lakehouse, name: str, job_id: str, limit: int = 5) -> list[dict[str, Any]]:
    import polars as pl

    from lakehouse import storage

    path = lh.layout.quarantine(name)
    if not storage.exists(path):
        return []
    counts = (
        storage.scan(path)
        .filter(pl.col("job_id") == job_id)
        .group_by("reason")
        .agg(pl.len().alias("records"), pl.col("source_file").first().alias("example_file"))
        .sort("records", descending=True)
        .head(limit)
        .collect()
    )
    return counts.to_dicts()


def _render(result: Any, reasons: list[dict[str, Any]]) -> list[Any]:
    v = result.version
    if result.skipped:
        head = (
            f"job [bold]{result.job_id}[/] had already committed [bold]{v.ref}[/]; nothing new was written "
            f"({result.rows_written} rows, {result.rows_quarantined} quarantined)"
        )
    else:
        head = (
            f"ingested {len(result.files)} {result.format} file(s) into [bold]{v.ref}[/]: "
            f"{result.rows_written} rows written, {result.rows_quarantined} quarantined; "
            f"{v.num_rows} rows in total"
        )
    out: list[Any] = [head]
    if reasons:
        out.append(
            c.table(
                f"quarantined records (table _quarantine/{result.dataset}, version {result.quarantine_version})",
                ["records", "reason", "example file"],
                [[r["records"], r["reason"], r["example_file"]] for r in reasons],
            )
        )
    return out
