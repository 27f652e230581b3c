"""Keep the tracking tables fast as commits pile up: prune, compact, checkpoint.

Every flush of every writer adds a small file (per run, in the partitioned fact table) and a commit. Left
alone, a run's history would be spread over thousands of files and every read would replay a long log. So,
table by table:

1. ``metric_summaries``: delete rows superseded by a newer cumulative row of the same writer and run;
2. compact: delta-rs ``optimize.compact`` bins the small files of each partition into one (incrementally: a
   partition with a single file is left alone), so after maintenance a run's history is one file;
3. checkpoint, so readers start from a parquet snapshot of the log instead of replaying JSON commits.

Vacuum, and maintenance of every other table, is :mod:`lakehouse.maintenance` (``lh.maintain()``), which runs
these steps for the tracking tables.

Compaction and deletes only conflict with commits that remove the same files; the writers only append, so
they never fail because of maintenance (a maintenance step that loses a race is skipped and reported).
Writers run this automatically (``only_if_needed``) every ``maintenance_commits`` of their own commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakehouse import storage
from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import METRIC_SUMMARIES
from lakehouse.config import Settings
from lakehouse.entities import TableMaintenance
from lakehouse.errors import CommitConflict, InvalidArgument, StorageError, TableNotFound
from lakehouse.location import Location
from lakehouse.query import frames
from lakehouse.tracking import commit as committing

#: Below this many files that compaction could merge, ``only_if_needed`` leaves a table alone.
SMALL_FILES_THRESHOLD = 32
#: Delete predicates are built from at most this many (writer, run) clauses each.
_PRUNE_CHUNK = 400


def maintain_tracking_tables(
    layout: Layout, settings: Settings, *, tables: Sequence[str] | None = None, only_if_needed: bool = False
) -> list[TableMaintenance]:
    """Prune, compact and checkpoint the tracking tables (all, or ``tables`` by short name).

    With ``only_if_needed`` (the writers' automatic run) a table is left alone until it has enough small files.
    """
    known = layout.tracking_tables
    chosen = list(known) if tables is None else list(tables)
    for name in chosen:
        if name not in known:
            msg = f"unknown tracking table {name!r}; choose from {', '.join(known)}"
            raise InvalidArgument(msg)
    return [_maintain_table(name, known[name], settings, only_if_needed=only_if_needed) for name in chosen]


def _maintain_table(name: str, path: Location, settings: Settings, *, only_if_needed: bool) -> TableMaintenance:
    try:
        before = storage.live_files(path)
    except TableNotFound:
        return TableMaintenance(name, compacted=False, skipped="table does not exist yet")
    partitions = len(before.by_partition(before.partition_columns[0])) if before.partition_columns else 1
    mergeable = len(before.files) - partitions  # files compaction could fold into others
    pruned = 0
    skipped: list[str] = []
    try:
        # Tables created before transactions expired get the property once (a no-op read afterwards).
        committing.ensure_transaction_retention(path, settings)
    except (CommitConflict, StorageError) as e:
        skipped.append(f"transaction retention: {e}")
    if name == "metric_summaries":
        try:
            pruned = prune_summaries(path, settings, minimum=SMALL_FILES_THRESHOLD if only_if_needed else 1)
        except (CommitConflict, StorageError) as e:
            skipped.append(f"prune: {e}")
    compacted = False
    if pruned or not only_if_needed or mergeable >= SMALL_FILES_THRESHOLD:
        try:
            metrics = storage.compact(path, max_commit_retries=settings.max_commit_retries)
            compacted = bool(metrics.get("numFilesRemoved"))
        except (CommitConflict, StorageError) as e:
            skipped.append(f"compact: {e}")
    checkpointed = False
    if compacted or pruned or not only_if_needed:
        try:
            storage.checkpoint(path)
            checkpointed = True
        except StorageError as e:
            skipped.append(f"checkpoint: {e}")
    return TableMaintenance(
        table=name,
        compacted=compacted,
        rows_pruned=pruned,
        checkpointed=checkpointed,
        skipped="; ".join(skipped) or None,
    )


def superseded_summaries(summaries: pl.DataFrame) -> pl.DataFrame:
    """(writer, run_id, newest seq) for every writer and run that has rows older than its newest flush.

    Each flush of a writer carries its cumulative summary of *every* key of each run it touched, so all of
    that writer's rows for the run with a smaller ``seq`` are superseded.
    """
    return (
        summaries.group_by("writer", "run_id")
        .agg(pl.col("seq").max().alias("newest"), (pl.col("seq") < pl.col("seq").max()).sum().alias("old"))
        .filter(pl.col("old") > 0)
        .sort("writer", "run_id")
    )


def prune_summaries(path: Location, settings: Settings, *, minimum: int = 1) -> int:
    """Delete superseded summary rows (at least ``minimum`` must exist); returns how many were deleted."""
    from lakehouse.query.runs import CATEGORICAL

    stale = superseded_summaries(frames.table_frame(path, METRIC_SUMMARIES, categorical=CATEGORICAL["summaries"]))
    total = int(stale.get_column("old").sum()) if stale.height else 0
    if total < minimum:
        return 0
    for start in range(0, stale.height, _PRUNE_CHUNK):
        chunk = stale.slice(start, _PRUNE_CHUNK)
        clauses = [
            f"(writer = {_sql(w)} AND run_id = {_sql(r)} AND seq < {int(n)})"
            for w, r, n in chunk.select("writer", "run_id", "newest").iter_rows()
        ]
        storage.delete(path, " OR ".join(clauses), max_commit_retries=settings.max_commit_retries)
    return total


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
