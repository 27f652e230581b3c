"""Spark + delta-spark on the same tables: sessions, dataset reads and writes, bulk ingestion, maintenance.

Docs: docs/SPARK.md (usage, jobs, spark-submit) and docs/TABLES.md (table properties both engines accept).

The only package that imports ``pyspark``. Importing it without the ``spark`` extra raises
:class:`lakehouse.NotInstalled` naming ``pip install 'lakehouse[spark]'``.

>>> from lakehouse.spark import spark_session, read_dataset, write_dataset
>>> spark = spark_session()
>>> df = read_dataset(lh, "events:prod", spark=spark)
>>> write_dataset(lh, "events-clean", df.dropna(), created_by="etl")
>>> sql('SELECT * FROM "events:prod" JOIN inputs ...', spark=spark, root="/data/lh")
"""

from lakehouse._optional import import_optional

import_optional("pyspark", extra="spark", purpose="Spark jobs")
import_optional("delta", extra="spark", purpose="Delta Lake on Spark")

from lakehouse.spark.file_ingest import ingest_files  # noqa: E402
from lakehouse.spark.ingest import IngestResult, ingest  # noqa: E402
from lakehouse.spark.io import (  # noqa: E402
    SparkWrite,
    append_table,
    commit_dataframe,
    read_dataset,
    read_table,
    write_dataset,
)
from lakehouse.spark.maintain import maintain_with_spark  # noqa: E402
from lakehouse.spark.query import sql  # noqa: E402
from lakehouse.spark.session import resolve_conf, spark_session  # noqa: E402

__all__ = [
    "spark_session",
    "resolve_conf",
    "read_dataset",
    "read_table",
    "write_dataset",
    "commit_dataframe",
    "append_table",
    "SparkWrite",
    "ingest",
    "ingest_files",
    "IngestResult",
    "maintain_with_spark",
    "sql",
]
