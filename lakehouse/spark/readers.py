"""Parse CSV / JSON / Parquet input into typed rows, with a reason for every record that cannot be a row.

Spark's ``PERMISSIVE`` mode keeps a malformed CSV/JSON record's raw text in a corrupt-record column; this
module turns that into a reason naming the column and value (``column 'age': value 'x' is not a valid
int``, ``has 2 fields, expected 3 (id, name, age)``, ``is not valid JSON``). It is stricter than Spark in
one place: a JSON object, array or number where a string column is expected is refused rather than kept as
its JSON text (string columns are read as ``VARIANT`` to see each value's JSON type). Records with no value
in a ``NOT NULL`` column or (for upserts) a key column are refused too, so the dataset write cannot fail
half-way on them.

Every reader selects all data columns: Spark's parsers prune unselected columns, and a malformed value in
a pruned column would go unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, VariantType

from lakehouse.errors import InvalidData
from lakehouse.spark._errors import translated
from lakehouse.spark.sources import Sources

CORRUPT = "__lakehouse_corrupt"
SOURCE = "__lakehouse_source"
REASON = "__lakehouse_reason"
RECORD = "__lakehouse_record"


@dataclass(frozen=True)
class Parsed:
    """Parsed input: data columns plus the source file and (for refused records) the reason."""

    frame: DataFrame
    schema: StructType

    def good(self) -> DataFrame:
        """Records that become rows, with exactly the data columns."""
        return self.frame.where(F.col(REASON).isNull()).select(*[_col(n) for n in self.schema.names])

    def bad(self) -> DataFrame:
        """Refused records: ``source_file``, ``reason``, ``record``."""
        return self.frame.where(F.col(REASON).isNotNull()).select(
            F.col(SOURCE).alias("source_file"), F.col(REASON).alias("reason"), F.col(RECORD).alias("record")
        )


def _col(name: str) -> Column:
    return F.col(f"`{name.replace('`', '``')}`")


def _nullable(schema: StructType) -> StructType:
    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def input_schema(
    spark: SparkSession,
    sources: Sources,
    *,
    dataset: StructType | None,
    declared: StructType | None,
    merge: bool,
) -> StructType:
    """The columns and types to parse the input with.

    A declared schema (``--schema-file``) wins. Otherwise columns the dataset already has are parsed with
    the dataset's types (so a bad value is a refused record, not a changed column type), and other columns
    get the types Spark infers (which costs a pass over CSV/JSON input).
    """
    if declared is not None:
        return declared
    files = list(sources.files)
    known = {f.name: f for f in dataset.fields} if dataset is not None else {}
    with translated(f"reading the schema of {len(files)} {sources.format} file(s)"):
        if sources.format == "parquet":
            return spark.read.option("mergeSchema", "true").parquet(*files).schema
        if sources.format == "csv":
            header = spark.read.option("header", "true").csv(files).schema.names
            need_inference = dataset is None or (merge and any(n not in known for n in header))
            inferred = (
                {f.name: f for f in spark.read.options(header="true", inferSchema="true").csv(files).schema.fields}
                if need_inference
                else {}
            )
            return StructType([known.get(n) or inferred.get(n) or StructField(n, StringType(), True) for n in header])
        found = [f for f in spark.read.json(files).schema.fields if f.name != "_corrupt_record"]
    if not found:
        if dataset is None:
            msg = (
                f"no valid JSON record in {len(files)} file(s) to take a schema from; "
                "fix the input or pass a schema file"
            )
            raise InvalidData(msg)
        return dataset
    return StructType([known.get(f.name) or f for f in found])


def parse(
    spark: SparkSession,
    sources: Sources,
    schema: StructType,
    *,
    not_null: Sequence[str] = (),
    keys: Sequence[str] = (),
) -> Parsed:
    """Read ``sources`` with ``schema``; every record gets its source file and, if refused, a reason."""
    files = list(sources.files)
    names = schema.names
    if sources.format == "parquet":
        frame = spark.read.schema(_nullable(schema)).parquet(*files)
        frame = frame.select(*[_col(n) for n in names], F.col("_metadata.file_path").alias(SOURCE))
        reasons: list[Column] = []
        raw: Column = F.lit(None).cast("string")
    elif sources.format == "csv":
        read_schema = StructType([*_nullable(schema).fields, StructField(CORRUPT, StringType(), True)])
        frame = (
            spark.read.schema(read_schema)
            .options(header="true", mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT, enforceSchema="false")
            .csv(files)
        )
        frame = frame.select(*[_col(n) for n in names], F.col(CORRUPT), F.col("_metadata.file_path").alias(SOURCE))
        reasons = _csv_reasons(schema)
        raw = F.col(CORRUPT)
    else:
        # String columns are read as VARIANT so a non-string JSON value can be told apart from a string.
        strings = [f.name for f in schema.fields if isinstance(f.dataType, StringType)]
        read_fields = [
            StructField(f.name, VariantType() if f.name in strings else f.dataType, True) for f in schema.fields
        ]
        frame = (
            spark.read.schema(StructType([*read_fields, StructField(CORRUPT, StringType(), True)]))
            .options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
            .json(files)
        )
        frame = frame.select(*[_col(n) for n in names], F.col(CORRUPT), F.col("_metadata.file_path").alias(SOURCE))
        reasons = _json_reasons(schema, strings)
        # Reasons and the record's text are taken before the VARIANT columns become strings.
        frame = frame.select(
            *[_string_of(n).alias(n) if n in strings else _col(n) for n in names],
            F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*[_col(n) for n in names]))).alias(CORRUPT),
            F.col(SOURCE),
            *[r.alias(f"__lakehouse_reason_{i}") for i, r in enumerate(reasons)],
        )
        reasons = [F.col(f"__lakehouse_reason_{i}") for i in range(len(reasons))]
        raw = F.col(CORRUPT)
    reasons += [
        F.when(_col(n).isNull(), F.lit(f"column {n!r} is NOT NULL in the dataset but the record has no value"))
        for n in not_null
    ]
    reasons += [
        F.when(_col(k).isNull(), F.lit(f"key column {k!r} has no value; an upsert needs a key in every record"))
        for k in keys
    ]
    reason = F.coalesce(*reasons) if reasons else F.lit(None).cast("string")
    record = F.coalesce(raw, F.to_json(F.struct(*[_col(n) for n in names])))
    frame = frame.select(
        *[_col(n) for n in names],
        F.col(SOURCE),
        reason.alias(REASON),
        record.alias(RECORD),
    )
    return Parsed(frame, StructType([StructField(f.name, f.dataType, True) for f in schema.fields]))


def _csv_reasons(schema: StructType) -> list[Column]:
    names = schema.names
    n = len(names)
    corrupt = F.col(CORRUPT)
    # The raw line split into n+1 string fields: a value in the last one means the line has too many.
    tokens = F.from_csv(corrupt, ", ".join(f"c{i} STRING" for i in range(n + 1)))
    listed = ", ".join(names)
    counted = F.when(~corrupt.contains('"'), F.size(F.split(corrupt, ",")))
    wrong_count = F.when(
        counted.isNotNull(), F.format_string(f"has %d fields, expected {n} ({listed})", counted)
    ).otherwise(F.lit(f"does not have the {n} fields expected ({listed})"))
    reasons = [F.when(corrupt.isNotNull() & tokens[f"c{n}"].isNotNull(), wrong_count)]
    for i, f in enumerate(schema.fields):
        if isinstance(f.dataType, StringType):
            continue
        value = tokens[f"c{i}"]
        reasons.append(
            F.when(
                corrupt.isNotNull() & value.isNotNull() & _col(f.name).isNull(),
                F.format_string(f"column {f.name!r}: value '%s' is not a valid {f.dataType.simpleString()}", value),
            )
        )
    reasons.append(F.when(corrupt.isNotNull(), wrong_count))
    return reasons


def _json_reasons(schema: StructType, strings: Sequence[str]) -> list[Column]:
    corrupt = F.col(CORRUPT)
    parsed = F.try_parse_json(corrupt)
    reasons = [
        F.when(corrupt.isNotNull() & parsed.isNull(), F.lit("is not valid JSON")),
        F.when(
            corrupt.isNotNull() & ~F.schema_of_variant(parsed).startswith("OBJECT"),
            F.lit("is not a JSON object"),
        ),
    ]
    for f in schema.fields:
        if f.name in strings:
            value = _col(f.name)
            reasons.append(
                F.when(
                    value.isNotNull() & ~F.is_variant_null(value) & (F.schema_of_variant(value) != "STRING"),
                    F.format_string(
                        f"column {f.name!r}: expected a string, got %s %s",
                        F.schema_of_variant(value),
                        F.to_json(value),
                    ),
                )
            )
            continue
        given = F.variant_get(parsed, f"$['{_json_key(f.name)}']", "variant")
        reasons.append(
            F.when(
                corrupt.isNotNull() & given.isNotNull() & ~F.is_variant_null(given) & _col(f.name).isNull(),
                F.format_string(
                    f"column {f.name!r}: value %s is not a valid {f.dataType.simpleString()}", F.to_json(given)
                ),
            )
        )
    reasons.append(F.when(corrupt.isNotNull(), F.lit("cannot be parsed with the dataset's schema")))
    return reasons


def _json_key(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _string_of(name: str) -> Column:
    value = _col(name)
    return F.when(F.schema_of_variant(value) == "STRING", F.variant_get(value, "$", "string"))
