"""Spark schemas as the canonical Arrow schemas the dataset layer plans with, and back."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_type
from pyspark.sql.types import StructField, StructType

from lakehouse import _arrow
from lakehouse.errors import InvalidArgument, InvalidData


def to_arrow(schema: StructType) -> pa.Schema:
    """The canonical Arrow schema of a Spark schema (timestamps as us/UTC, as both engines store them)."""
    fields = []
    for f in schema.fields:
        try:
            arrow = to_arrow_type(f.dataType, timezone="UTC")
        except (PySparkException, TypeError) as e:
            msg = f"column {f.name!r} has Spark type {f.dataType.simpleString()}, which Delta tables cannot store"
            raise InvalidData(msg) from e
        fields.append(pa.field(f.name, arrow, nullable=f.nullable))
    return _arrow.canonical_schema(pa.schema(fields))


def to_spark(schema: pa.Schema) -> StructType:
    """The Spark schema of a canonical Arrow schema (UTC timestamps become ``TimestampType``)."""
    return from_arrow_schema(schema, prefer_timestamp_ntz=False)


def conform(df: DataFrame, target: StructType) -> DataFrame:
    """``df`` with exactly the columns of ``target``, in its order, cast losslessly; absent columns are null.

    A ``timestamp_ntz`` column becomes ``timestamp`` (read as UTC, the session time zone): a naive
    timestamp column would give the table the ``timestampNtz`` feature, which breaks delta-rs interop.
    """
    present = {f.name: f.dataType for f in df.schema.fields}
    columns: list[Column] = []
    for f in target.fields:
        if f.name not in present:
            columns.append(F.lit(None).cast(f.dataType).alias(f.name))
        elif present[f.name] != f.dataType:
            columns.append(F.col(f"`{f.name}`").cast(f.dataType).alias(f.name))
        else:
            columns.append(F.col(f"`{f.name}`"))
    return df.select(*columns)


def load_schema_file(spark: SparkSession, path: Path) -> StructType:
    """A schema file: Spark DDL (``id BIGINT NOT NULL, name STRING``) or Spark's JSON schema (``.json``)."""
    if not path.is_file():
        msg = f"schema file {str(path)!r} does not exist"
        raise InvalidArgument(msg)
    text = path.read_text(encoding="utf-8").strip()
    try:
        if path.suffix.lower() == ".json":
            import json

            parsed = StructType.fromJson(json.loads(text))
        else:
            ddl = " ".join(line.split("--", 1)[0] for line in text.splitlines()).strip().rstrip(",")
            parsed = _from_ddl(spark, ddl)
    except (ValueError, KeyError, TypeError, PySparkException) as e:
        msg = f"schema file {str(path)!r} is not a valid Spark DDL or JSON schema: {str(e).splitlines()[0]}"
        raise InvalidArgument(msg) from e
    if not parsed.fields:
        msg = f"schema file {str(path)!r} declares no columns"
        raise InvalidArgument(msg)
    return parsed


def _from_ddl(spark: SparkSession, ddl: str) -> StructType:
    parsed = spark.createDataFrame([], ddl).schema
    return StructType([StructField(f.name, f.dataType, f.nullable, f.metadata) for f in parsed.fields])
