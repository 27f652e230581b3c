"""Dataset versions as Spark DataFrames, and DataFrames as new dataset versions.

A Spark write executes the same plan as an embedded one (:mod:`lakehouse.datasets.write_plan` decides the
schema, partitioning, merge keys and the commit's ``userMetadata``), so it refuses what ``Dataset.write``
refuses and ``Dataset.history()`` shows versions alike whichever engine wrote them. References are resolved by
the embedded side and read with ``versionAsOf``, so both engines agree on what ``name:prod`` or ``name@time`` is.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

import pyarrow as pa
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse import commit_rule, storage
from lakehouse.catalog.tables import table_properties
from lakehouse.datasets import files as file_rows
from lakehouse.datasets import write_plan
from lakehouse.datasets.dataset import Dataset
from lakehouse.datasets.schema import SchemaMode
from lakehouse.datasets.versions import SECTION, DatasetVersion
from lakehouse.datasets.write_plan import WriteOptions, WritePlan
from lakehouse.errors import (
    CommitConflict,
    InvalidArgument,
    InvalidData,
    LakehouseError,
    TableNotFound,
    VersionNotFound,
)
from lakehouse.fileio import check_relative
from lakehouse.location import Where
from lakehouse.refs import Ref, parse_ref
from lakehouse.spark import _schema, parquet_stats
from lakehouse.spark._errors import translated
from lakehouse.spark.object_store import (
    check_delta_spark_commit,
    creation_properties,
    spark_location,
)
from lakehouse.spark.session import spark_session

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

JOB_APP_PREFIX = "lakehouse.job/"
# Delta's idempotent-write confs for DML (MERGE); DataFrame writes take the txnAppId/txnVersion options.
_TXN_APP_CONF = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class SparkWrite:
    """The outcome of a Spark write: the version, and whether a retried job found its work already done."""

    version: DatasetVersion
    skipped: bool = False


SessionSource = SparkSession | Callable[[], SparkSession] | None


def session_for(lh: Lakehouse, spark: SessionSource) -> SparkSession:
    """The session to use: the given one, one from a factory (started only when needed), or the default."""
    if spark is None:
        return spark_session(lh.settings)
    if isinstance(spark, SparkSession):
        return spark
    return spark()


def read_dataset(lh: Lakehouse, ref: str | Ref, *, spark: SparkSession | None = None) -> DataFrame:
    """The version a reference names (``name``, ``name:v3``, ``name:<tag>``, ``name@<time>``) as a DataFrame."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    ds = lh.dataset(parsed.name)
    number = ds.resolve(parsed.version, tag=parsed.tag, as_of=parsed.as_of)
    if number != storage.latest_version(ds.path) and storage.missing_files(ds.path, number):
        msg = (
            f"version {number} of dataset {ds.name!r} is no longer readable: its data files were removed by "
            "vacuum (tagged versions and versions used by runs are always kept)"
        )
        raise VersionNotFound(msg)
    session = session_for(lh, spark)
    with translated(f"reading {ds.name}:v{number}", str(ds.path)):
        return session.read.format("delta").option("versionAsOf", number).load(spark_location(ds.path))


def read_table(lh: Lakehouse, table: str, *, spark: SparkSession | None = None) -> DataFrame:
    """Any table under the root by its relative location, e.g. ``tracking/metrics``."""
    try:
        path = lh.root / check_relative(table)
    except InvalidArgument as e:
        msg = f"table {table!r} is outside the lakehouse root {str(lh.root)!r}"
        raise InvalidArgument(msg) from e
    if not storage.exists(path):
        msg = f"no Delta table {table!r} under {str(lh.root)!r}"
        raise TableNotFound(msg)
    session = session_for(lh, spark)
    with translated(f"reading {table}", path):
        return session.read.format("delta").load(spark_location(path))


def append_table(
    location: Where,
    rows: DataFrame,
    *,
    properties: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    what: str = "append",
) -> None:
    """Append ``rows`` to the Delta table at ``location`` with Delta-Spark, creating it if it is not there.

    ``properties``: table properties of a table this creates; ``options``: Delta write options (``userMetadata``,
    ``txnAppId``...). On object storage the commit rule applies (:mod:`lakehouse.commit_rule`): a table
    delta-rs commits to is refused with ``CommitRefused``, and a table this creates records Delta-Spark as its
    committer.
    """
    exists = check_delta_spark_commit(rows.sparkSession, location)
    with translated(what, location):
        if exists:
            rows.write.format("delta").mode("append").options(**(options or {})).save(spark_location(location))
        else:
            create_table(
                rows,
                spark_location(location),
                properties={**(properties or {}), **creation_properties(location)},
                options=options or {},
            )


def create_table(
    rows: DataFrame,
    uri: str,
    *,
    properties: Mapping[str, str],
    options: Mapping[str, str],
    partition_by: Sequence[str] = (),
) -> None:
    """Create the Delta table at ``uri`` from ``rows`` in one commit, with table properties of any name.

    The DataFrame writer turns only ``delta.*`` options into table properties, so a table that must be born
    with ``lakehouse.committer`` (a reader must never see it without) is created as a V2 ``CREATE TABLE AS
    SELECT``; Delta reads ``userMetadata`` for it from the session, not from the options.
    """
    writer = rows.writeTo("delta.`" + uri.replace("`", "``") + "`").using("delta")
    for key, value in properties.items():
        writer = writer.tableProperty(key, value)
    if partition_by:
        writer = writer.partitionedBy(*(F.col(f"`{c}`") for c in partition_by))
    others = {k: v for k, v in options.items() if k != "userMetadata"}
    if others:
        writer = writer.options(**others)
    text = options.get("userMetadata")
    with session_conf(rows.sparkSession, {_USER_METADATA_CONF: text} if text is not None else {}):
        writer.create()


def write_dataset(lh: Lakehouse, name: str, df: DataFrame, **options: Unpack[WriteOptions]) -> DatasetVersion:
    """Write a Spark DataFrame as a new version of dataset ``name`` (same options as ``Dataset.write``).

    ``job_id`` makes the write idempotent: a retried job with the same id commits nothing new and gets
    back the version the first attempt wrote (Delta app transactions, ``txnAppId``/``txnVersion``).

    Raises:
        SchemaMismatch: the DataFrame's schema differs and evolution was not asked for. Nothing is written.
        InvalidData / InvalidArgument / InvalidMetadata: bad input. Nothing is written.
    """
    return commit_dataframe(lh, name, df, **options).version


def job_app_id(job_id: str) -> str:
    """The Delta app transaction id of a job: one per job, recorded at transaction version 0."""
    return JOB_APP_PREFIX + job_id


def job_done(path: Any, job_id: str | None) -> bool:
    """True if the table records a commit of ``job_id`` (its app transaction)."""
    return job_id is not None and storage.transaction_version(path, job_app_id(job_id)) is not None


def version_of_job(ds: Dataset, job_id: str) -> DatasetVersion:
    """The version a job wrote, found by the ``job_id`` in its commit's ``userMetadata``."""
    for commit in storage.history(ds.path):
        section = commit.user_metadata.get(SECTION)
        if isinstance(section, Mapping) and section.get("job_id") == job_id:
            return ds.version(commit.version)
    msg = f"job {job_id!r} committed to dataset {ds.name!r} but its version is no longer in the log"
    raise VersionNotFound(msg)


def plan_write(lh: Lakehouse, name: str, schema: StructType, **options: Unpack[WriteOptions]) -> WritePlan:
    """Check a write of rows with ``schema`` into dataset ``name`` and decide its schema and metadata.

    Raises SchemaMismatch / InvalidArgument / InvalidMetadata exactly as ``Dataset.write`` does; runs no
    Spark job and writes nothing.
    """
    return replan(lh, write_plan.request(lh.dataset(name).name, actor=lh.actor, **options), schema)


def replan(lh: Lakehouse, asked: write_plan.WriteRequest, schema: StructType) -> WritePlan:
    """Plan ``asked`` for rows with ``schema`` against the dataset as it is now."""
    incoming = _schema.to_arrow(schema)
    ds = lh.dataset(asked.dataset)
    return write_plan.plan(asked, incoming, storage.load(ds.path) if ds.exists() else None)


def commit_dataframe(lh: Lakehouse, name: str, df: DataFrame, **options: Unpack[WriteOptions]) -> SparkWrite:
    """:func:`write_dataset`, also telling whether the job had committed already (``skipped``)."""
    plan = plan_write(lh, name, df.schema, **options)
    ds = lh.dataset(name)
    for attempt in range(write_plan.CREATE_ATTEMPTS):
        if plan.job_id is not None and not plan.creating and job_done(ds.path, plan.job_id):
            return SparkWrite(version_of_job(ds, plan.job_id), skipped=True)
        try:
            return execute(lh, plan, df)
        except CommitConflict:
            if not write_plan.replan_after_lost_create(attempt, exists=ds.exists()):
                raise
            plan = replan(lh, plan.request, df.schema)
    msg = "unreachable"
    raise AssertionError(msg)  # pragma: no cover


def execute(lh: Lakehouse, plan: WritePlan, df: DataFrame, *, keys_checked: bool = False) -> SparkWrite:
    """Commit ``df`` as the version ``plan`` describes and return it.

    With the plan's ``job_id`` the commit carries the Delta app transaction of the job, so a concurrent or
    retried attempt of the same job commits nothing (``skipped``).
    """
    ds = lh.dataset(plan.dataset)
    rows = _schema.conform(df, _schema.to_spark(plan.target))
    if plan.mode == "upsert" and not keys_checked:
        check_keys(rows, list(plan.keys), ds.name)
    spark = df.sparkSession
    text = plan.user_metadata_json
    app = job_app_id(plan.job_id) if plan.job_id is not None else None
    blobs = file_rows.blob_layout(plan.target)
    properties = spark_table_properties(lh, change_data_feed=True)
    if blobs is not None:
        properties.update(file_rows.FILE_TABLE_PROPERTIES)
    # A file dataset's rows hold file bytes: small row groups, as delta-rs writes them (storage.BlobLayout).
    layout = {_ROW_GROUP_ROWS: str(blobs.rows_per_group)} if blobs is not None else {}
    with translated(f"{plan.mode} write", ds.path), session_conf(spark, layout):
        if plan.merges:
            _check_on_bucket(spark, ds.path)
            _merge(spark, spark_location(ds.path), rows, list(plan.keys), plan.schema_mode, text, app)
        elif blobs is None and lh.settings.spark_footer_stats and (table := footer_stats_table(ds, plan)) is not None:
            _save_files(lh, ds, plan, rows, app, table)
        else:
            _check_on_bucket(spark, ds.path)
            properties.update(creation_properties(ds.path))
            _save(
                rows,
                spark_location(ds.path),
                mode=plan.commit_mode,
                schema_mode=plan.evolution,
                partition_by=plan.partition_columns,
                properties=properties,
                user_metadata=text,
                app=app,
                exists=ds.exists,
            )
    try:
        number = ds.find_write(plan.write_id)
    except LakehouseError:
        if plan.job_id is None or not job_done(ds.path, plan.job_id):
            raise
        # A concurrent attempt of the same job committed first; Delta skipped ours.
        return SparkWrite(version_of_job(ds, plan.job_id), skipped=True)
    if plan.creating:
        ds.register(plan.user_metadata)
    return SparkWrite(ds.version(number))


def _check_on_bucket(spark: SparkSession, location: Where) -> None:
    """The commit rule before a Delta-Spark commit of a dataset write (a local table is not looked at)."""
    if commit_rule.on_object_store(location):
        check_delta_spark_commit(spark, location)


#: Parquet's (parquet-java) cap on rows per row group, read from the Hadoop configuration Spark derives from SQL conf.
_ROW_GROUP_ROWS = "parquet.block.row.count.limit"


def spark_table_properties(lh: Lakehouse, *, change_data_feed: bool) -> dict[str, str]:
    """Properties of a table Spark creates: the shared ones, and the protocol delta-rs would pick.

    Without the explicit protocol, Delta 4 creates writer version 7 with table features for properties
    given as write options; (1, 2) or (1, 4) with change data feed is what delta-rs creates, and what every
    Delta reader understands.
    """
    props = table_properties(lh.settings, change_data_feed=change_data_feed)
    props["delta.minReaderVersion"] = "1"
    props["delta.minWriterVersion"] = "4" if change_data_feed else "2"
    return props


# Table properties that make Delta-Spark check or compute something while it writes; a table with any of
# them is written by Delta-Spark itself.
_SPARK_ONLY_PROPERTIES = ("delta.constraints.", "delta.dataSkippingStatsColumns", "delta.appendOnly")
_SPARK_ONLY_FIELD_METADATA = ("delta.generationExpression", "delta.identity", "delta.invariants", "delta.columnMapping")


def footer_stats_table(ds: Dataset, plan: WritePlan) -> storage.Loaded | _NewTable | None:
    """The table ``plan`` writes to if it can be written as Parquet files committed with footer statistics.

    That is a create, append or overwrite without partitions or schema change, into a table that asks for
    nothing Delta-Spark enforces while writing (NOT NULL columns, constraints, generated or identity columns,
    column mapping, append-only, a chosen list of statistics columns). None: Delta-Spark writes it.
    """
    if plan.merges or commit_rule.on_object_store(ds.path):
        # On a bucket the files would have to be listed and their footers read through the object store; until
        # then Delta-Spark writes there, and the commit rule decides which tables it may commit to.
        return None
    if plan.request.partition_by or plan.changes or plan.evolution is not None:
        return None
    if plan.creating:
        # The new table's schema is the DataFrame's: its NOT NULL columns are Spark's own promise, which
        # Delta-Spark takes as given too. An existing table's NOT NULL columns are checked by Delta-Spark.
        return _NewTable(plan.target)
    table = storage.load(ds.path)
    props = table.properties
    if table.partition_columns or any(k.startswith(_SPARK_ONLY_PROPERTIES) for k in props):
        return None
    if props.get("delta.columnMapping.mode", "none") != "none":
        return None
    for field in table.schema:
        if not field.nullable:
            return None
        keys = (k.decode() if isinstance(k, bytes) else str(k) for k in (field.metadata or {}))
        if any(k.startswith(_SPARK_ONLY_FIELD_METADATA) for k in keys):
            return None
    return table


@dataclass(frozen=True)
class _NewTable:
    """What :func:`_save_files` needs of a table that does not exist yet."""

    schema: pa.Schema
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _save_files(
    lh: Lakehouse, ds: Dataset, plan: WritePlan, rows: DataFrame, app: str | None, table: storage.Loaded | _NewTable
) -> None:
    """Write ``rows`` as Parquet into a new folder of the table, then commit those files with footer stats.

    Spark's Parquet writer records per-column min/max/null counts in every footer; reading them back is what
    Delta-Spark's own write spends a quarter of its time recomputing (:mod:`lakehouse.spark.parquet_stats`). A job
    that dies before the commit leaves only files no version references; vacuum removes them.
    """
    folder = ds.path.local_folder("Spark writes") / f"part-{plan.write_id}"
    spark = rows.sparkSession
    with session_conf(spark, {"mapreduce.fileoutputcommitter.marksuccessfuljobs": "false"}):
        rows.write.mode("errorifexists").parquet(str(folder))
    schema = table.schema
    indexed = parquet_stats.indexed_columns(
        schema, int(table.properties.get("delta.dataSkippingNumIndexedCols", parquet_stats.DEFAULT_INDEXED_COLUMNS))
    )
    files = []
    rows_written = 0
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):  # Hadoop's .crc side files: no reader needs them
            entry.unlink(missing_ok=True)
            continue
        stats = parquet_stats.file_stats(entry, schema, indexed)
        if stats["numRecords"] == 0:  # Spark writes one for an empty partition; no reader needs it
            entry.unlink()
            continue
        rows_written += stats["numRecords"]
        info = entry.stat()
        files.append(
            storage.NewFile(
                path=f"{folder.name}/{entry.name}",
                size=info.st_size,
                modified_ms=int(info.st_mtime * 1000),
                stats=json.dumps(stats, separators=(",", ":")),
            )
        )
    # delta-rs signs the commit and records no row metrics: the section says which engine wrote the data
    # (DatasetVersion.engine) and how many rows (DatasetVersion.rows_added).
    facts = {"engine": f"Apache-Spark/{spark.version}", "rows_written": rows_written}
    try:
        committed = storage.commit_files(
            ds.path,
            files,
            mode=plan.commit_mode,
            schema=schema,
            configuration=table_properties(lh.settings, change_data_feed=True) if plan.creating else None,
            user_metadata={**plan.user_metadata, SECTION: {**plan.user_metadata[SECTION], **facts}},
            app_transaction=(app, 0) if app is not None else None,
        )
    except CommitConflict:
        # Lost to another commit, so no version references these files. (After any other error the commit
        # may have landed; the files stay, and vacuum removes them if it did not.)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not committed:  # the same job committed meanwhile: the caller returns its version
        shutil.rmtree(folder, ignore_errors=True)


def _save(
    rows: DataFrame,
    path: str,
    *,
    mode: str,
    schema_mode: SchemaMode | None,
    partition_by: Sequence[str] | None,
    properties: Mapping[str, str],
    user_metadata: str,
    app: str | None,
    exists: Any,
) -> None:
    writer = rows.write.format("delta").option("userMetadata", user_metadata)
    if app is not None:
        writer = writer.option("txnAppId", app).option("txnVersion", "0")
    if mode == "create":
        writer = writer.mode("errorifexists").options(**properties)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
    else:
        writer = writer.mode("overwrite" if mode == "overwrite" else "append")
        if schema_mode == "merge":
            writer = writer.option("mergeSchema", "true")
        elif schema_mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
    try:
        if mode == "create" and any(not k.startswith("delta.") for k in properties):
            options = {"userMetadata": user_metadata, **({"txnAppId": app, "txnVersion": "0"} if app else {})}
            create_table(rows, path, properties=properties, options=options, partition_by=partition_by or ())
        else:
            writer.save(path)
    except Exception as e:
        if mode == "create" and exists():
            msg = f"another writer created the table at {path!r} concurrently"
            raise CommitConflict(msg) from e
        raise


def _merge(
    spark: SparkSession,
    path: str,
    rows: DataFrame,
    keys: list[str],
    schema_mode: SchemaMode | None,
    user_metadata: str,
    app: str | None,
) -> None:
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    merger = DeltaTable.forPath(spark, path).alias("t").merge(rows.alias("s"), condition)
    if schema_mode == "merge":
        merger = merger.withSchemaEvolution()
    confs = {_USER_METADATA_CONF: user_metadata}
    if app is not None:
        confs.update({_TXN_APP_CONF: app, _TXN_VERSION_CONF: "0"})
    with session_conf(spark, confs):
        merger.whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()


@contextmanager
def session_conf(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Set SQL properties for the block and restore them afterwards (MERGE takes its options this way)."""
    before = {k: spark.conf.get(k, None) for k in values}
    for k, v in values.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, old in before.items():
            if old is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, old)


def check_keys(rows: DataFrame, keys: list[str], name: str) -> None:
    """Refuse an upsert whose input has null or repeated keys (MERGE would fail or insert twice)."""
    any_null = F.lit(False)
    for k in keys:
        any_null = any_null | F.col(f"`{k}`").isNull()
    with translated(f"checking the keys of the upsert into {name}"):
        bad = (
            rows.groupBy(*[F.col(f"`{k}`") for k in keys])
            .count()
            .where((F.col("count") > 1) | any_null)
            .limit(4)
            .collect()
        )
    if not bad:
        return
    nulls = [r for r in bad if any(r[k] is None for k in keys)]
    if nulls:
        msg = f"upsert into {name!r}: key column(s) {keys} contain nulls; every row needs a key"
        raise InvalidData(msg)
    sample = [{k: r[k] for k in keys} for r in bad[:3]]
    msg = f"upsert into {name!r}: keys appear more than once in the input, e.g. {sample}; each key may appear once"
    raise InvalidData(msg)
