"""Table maintenance with Spark: ``OPTIMIZE``, a Delta checkpoint and ``VACUUM`` (see :mod:`lakehouse.maintenance`).

Vacuum keeps pinned versions readable, the same rule as the embedded vacuum (delta-rs ``keep_versions``).
Spark's ``VACUUM`` has no such option: it deletes every file the latest version does not reference once it
is older than the retention. It does take an *inventory*, the list of files it may consider
(``VACUUM ... USING INVENTORY``, Delta 3.2+), so we hand it every file under the table **except** the files
the pinned versions read: those are never candidates, so they are never deleted, while everything else
follows Delta's own rules (retention, tombstones, ``_change_data``, files no commit references).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import commit_rule, storage
from lakehouse.errors import CommitConflict, CommitRefused, StorageError
from lakehouse.maintenance import Facts, MaintenanceReport, Steps, Target, pins, run, targets
from lakehouse.spark._errors import translated
from lakehouse.spark.io import SessionSource, session_conf, session_for
from lakehouse.spark.object_store import check_delta_spark_commit, spark_location

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

# Our retention is explicit (settings.vacuum_retention_hours), as in the embedded vacuum; Spark would
# otherwise refuse any retention shorter than the table's delta.deletedFileRetentionDuration.
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def maintain_with_spark(
    lh: Lakehouse,
    *,
    datasets: Sequence[str] | None = None,
    tracking: Sequence[str] | None = None,
    steps: Steps | None = None,
    spark: SessionSource = None,
) -> MaintenanceReport:
    """Maintain the tables under ``lh`` with Spark; see :mod:`lakehouse.maintenance` for the plan."""
    steps = steps or Steps()
    work = targets(lh, datasets=datasets, tracking=tracking)
    steps.hours(lh)  # a bad retention is refused before Spark starts
    session = session_for(lh, spark)

    def one(target: Target, hours: int, facts: Facts) -> None:
        path = spark_location(target.path)
        try:
            # OPTIMIZE and VACUUM commit; on a bucket only tables Delta-Spark owns are Spark's to maintain.
            if commit_rule.on_object_store(target.path):
                check_delta_spark_commit(session, target.path)
        except CommitRefused as e:
            facts.skipped.append(f"spark: {e}")
            return
        if target.table == "metric_summaries" and steps.compact:
            # Which summary rows are superseded is the tracking layer's rule; it is a small delete.
            from lakehouse.tracking.maintenance import prune_summaries

            try:
                facts.rows_pruned = prune_summaries(target.path, lh.settings)
            except (CommitConflict, StorageError) as e:
                facts.skipped.append(f"prune: {e}")
        if steps.compact:
            rewritten, _ = optimize(session, path)
            facts.compacted = rewritten > 0
        if steps.checkpoint:
            create_checkpoint(session, path)
            facts.checkpointed = True
        if steps.vacuum:
            facts.pinned = pins(lh, target)
            facts.vacuumed = vacuum(
                session, path, retention_hours=hours, keep_versions=list(facts.pinned), dry_run=steps.dry_run
            )

    return run(lh, work, steps, one, engine="spark")


def _table(path: str) -> str:
    return "delta.`" + path.replace("`", "``") + "`"


def optimize(spark: SparkSession, path: str) -> tuple[int, int]:
    """``OPTIMIZE`` (bin-packing, partition by partition); returns (files rewritten, files written)."""
    statement = f"OPTIMIZE {_table(path)}"
    with translated("optimize", path):
        metrics = spark.sql(statement).collect()[0]["metrics"]
    return int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])


def create_checkpoint(spark: SparkSession, path: str) -> int:
    """Write a (classic, V1) checkpoint at the latest version; returns that version."""
    jvm: Any = spark.sparkContext._jvm
    with translated("checkpoint", path):
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
        log.checkpoint()
        return int(log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty()).version())


def files_of(spark: SparkSession, path: str, versions: Sequence[int]) -> DataFrame:
    """The data files (absolute URIs) the given versions read, as a one-column DataFrame ``path``."""
    found: set[str] = set()
    with translated("listing the files of pinned versions", path):
        for v in sorted(set(versions)):
            found.update(spark.read.format("delta").option("versionAsOf", v).load(path).inputFiles())
    return spark.createDataFrame([(f,) for f in sorted(found)], "path STRING")


def inventory(spark: SparkSession, path: str, *, exclude: DataFrame | None = None) -> DataFrame:
    """Every data and change-data file under the table (not its log), as Delta's vacuum inventory."""
    roots = [path]
    if (Path(path) / "_change_data").is_dir() or "://" in path:
        roots.append(path.rstrip("/") + "/_change_data")
    listed: DataFrame | None = None
    for root in roots:
        try:
            files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(root)
        except PySparkException:
            if root == path:
                raise
            continue  # a table without change files has no such folder
        # Delta checks the inventory's schema including nullability: every column must be nullable.
        listed_file = F.col("path").isNotNull()
        part = files.select(
            F.when(listed_file, F.col("path")).alias("path"),
            F.when(listed_file, F.col("length").cast("bigint")).alias("length"),
            F.when(listed_file, F.lit(False)).alias("isDir"),
            F.when(listed_file, F.unix_millis(F.col("modificationTime"))).alias("modificationTime"),
        )
        listed = part if listed is None else listed.unionByName(part)
    assert listed is not None
    if exclude is not None:
        listed = listed.join(exclude, on="path", how="left_anti")
    return listed


def vacuum(
    spark: SparkSession,
    path: str,
    *,
    retention_hours: int,
    keep_versions: Sequence[int] = (),
    dry_run: bool = False,
) -> list[str]:
    """``VACUUM`` keeping every file ``keep_versions`` read; returns the deleted files relative to the table.

    The inventory handed to Delta leaves out the files of the pinned versions and of the latest version
    (which VACUUM never deletes anyway). If no file left in it is older than the retention, VACUUM could not
    delete anything and is skipped: it is some thirty Spark jobs even on a small table.
    """
    latest = storage.latest_version(path)
    keep = files_of(spark, path, [*keep_versions, latest])
    listing = inventory(spark, path, exclude=keep).cache()
    cutoff_ms = int((time.time() - retention_hours * 3600) * 1000)
    view = f"lakehouse_inventory_{uuid.uuid4().hex}"
    try:
        with translated("vacuum", path):
            candidates = {str(r["path"]) for r in listing.where(F.col("modificationTime") < cutoff_ms).collect()}
            if not candidates:
                return []
            listing.createOrReplaceTempView(view)
            statement = (
                f"VACUUM {_table(path)} USING INVENTORY (SELECT * FROM {view}) RETAIN {int(retention_hours)} HOURS"
            )
            with session_conf(spark, {_RETENTION_CHECK: "false"}):
                if dry_run:
                    deleted = {str(r["path"]) for r in spark.sql(statement + " DRY RUN").collect()}
                else:
                    spark.sql(statement).collect()
                    remaining = {str(r["path"]) for r in inventory(spark, path).select("path").collect()}
                    deleted = candidates - remaining
    finally:
        spark.catalog.dropTempView(view)
        listing.unpersist()
    return sorted(_relative(path, f) for f in deleted)


def _relative(table: str, uri: str) -> str:
    parsed = urlparse(uri)
    local = unquote(parsed.path) if parsed.scheme in ("file", "") else uri
    root = str(Path(table).absolute()) if "://" not in table else table
    return local[len(root) :].lstrip("/") if local.startswith(root) else local
