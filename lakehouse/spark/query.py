"""``lakehouse.spark.sql(query)``: the same query over the same names as ``lh.sql``, on Spark.

The guard and the catalog are the embedded engine's (:mod:`lakehouse.sql`): the same statements are refused,
the same names and refs resolve to the same versions. Each table the query names becomes a temporary view:
the metrics fact table and dataset versions are read by delta-spark (``versionAsOf`` the version the ref
resolved to), so they scale with the cluster; the small read models (runs, params, summaries, the registry...)
and the change rows of a range are built once by the catalog and handed to Spark as Arrow.

The query text is rewritten for Spark's dialect, token by token: a double-quoted name (an identifier in
standard SQL, a string in Spark's) is back-quoted, and a dataset ref becomes the view that holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from lakehouse import storage
from lakehouse.errors import QueryError, first_line
from lakehouse.spark._errors import condition
from lakehouse.spark.io import read_dataset, read_table, session_for
from lakehouse.sql import catalog, guard

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

_VIEW_PREFIX = "lakehouse_ref_"


def sql(
    query: str,
    *,
    spark: SparkSession | None = None,
    root: str | Path | None = None,
    lh: Lakehouse | None = None,
) -> DataFrame:
    """Run a read-only SQL query over the lakehouse at ``root`` (or ``lh``) on Spark; returns a DataFrame.

    The catalog's names are registered as temporary views of ``spark`` (replacing views of the same names).

    Raises:
        QueryRefused: anything but a query, or a file read (``parquet.`/path```, ``read_files``...).
        QueryError: an unknown table or column, or SQL Spark cannot run.
        InvalidRef / DatasetNotFound / VersionNotFound / TagNotFound: a dataset reference that does not resolve.
    """
    if lh is None:
        from lakehouse.client import connect

        lh = connect(root)
    inspected = guard.inspect(query)
    sources = catalog.plan(lh, [t.value for t in inspected.tables], inspected.ctes)
    session = session_for(lh, spark)
    views: dict[str, str] = {}
    for number, source in enumerate(sources):
        view = source.text if source.kind == "name" else f"{_VIEW_PREFIX}{number}"
        _frame(lh, session, source).createOrReplaceTempView(view)
        views[source.text] = view
    text = spark_text(inspected, views)
    try:
        result = session.sql(text)
        result.schema  # noqa: B018 - analysis happens here: unknown columns surface now, not at collect
    except PySparkException as e:
        code = condition(e)
        what = "unknown column or field" if code.startswith(("UNRESOLVED_", "FIELD_NOT_FOUND")) else "cannot run"
        msg = f"the query {what}: {first_line(e)}"
        raise QueryError(msg) from e
    return result


def _frame(lh: Lakehouse, spark: SparkSession, source: catalog.Source) -> DataFrame:
    if source.kind == "ref":
        return read_dataset(lh, f"{source.dataset}:v{source.version}", spark=spark)
    if source.kind == "name" and source.text == "metrics":
        if storage.exists(lh.layout.metrics):
            return read_table(lh, "tracking/metrics", spark=spark)
    small = catalog.frame(lh, source).collect()
    return spark.createDataFrame(small.to_arrow())


def spark_text(inspected: guard.Inspected, views: dict[str, str]) -> str:
    """The query in Spark's dialect: double-quoted names back-quoted, tables renamed to their views."""
    tables = {t.start for t in inspected.tables}
    out: list[str] = []
    at = 0
    for token in inspected.tokens:
        quoted_name = token.kind == "name" and inspected.text[token.start] == '"'
        renamed = token.start in tables and token.value in views
        if not (quoted_name or renamed):
            continue
        name = views[token.value] if renamed else token.value
        out.append(inspected.text[at : token.start])
        out.append("`" + name.replace("`", "``") + "`")
        at = token.end
    out.append(inspected.text[at:])
    return "".join(out)
