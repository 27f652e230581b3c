"""Reading dataset versions into Spark and writing DataFrames as dataset versions, checked by both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage
from lakehouse.spark import commit_dataframe, read_dataset, write_dataset

pytestmark = pytest.mark.spark


def rows(df: Any) -> list[dict[str, Any]]:
    """Rows of a Spark or polars frame as sorted dicts, for comparisons across engines."""
    if isinstance(df, pl.DataFrame):
        out = df.to_dicts()
    else:
        out = [r.asDict(recursive=True) for r in df.collect()]
    return sorted(out, key=lambda r: tuple(str(v) for v in r.values()))


def test_spark_write_is_a_dataset_version_both_engines_read(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, label string")
    v0 = write_dataset(lh, "digits", df, metadata={"source": "s3://bucket/x"}, labelled_by="team-a")
    assert v0.version == 0
    assert v0.num_rows == 2
    assert v0.rows_added == 2
    assert v0.created_by == "tester"
    assert v0.operation == "append"
    assert v0.metadata["source"] == "s3://bucket/x"
    assert v0.metadata["labelled_by"] == "team-a"
    assert "Apache-Spark" in v0.engine
    assert rows(lh.read("digits")) == [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}]
    assert rows(read_dataset(lh, "digits:v0", spark=spark)) == rows(lh.read("digits"))
    # The table is one both engines can write: legacy protocol, deletion vectors off, same properties.
    assert storage.protocol(lh.dataset("digits").path) == {
        "min_reader_version": 1,
        "min_writer_version": 4,
        "reader_features": [],
        "writer_features": [],
    }
    props = storage.properties(lh.dataset("digits").path)
    assert props["delta.enableDeletionVectors"] == "false"
    assert props["delta.enableChangeDataFeed"] == "true"
    assert props["delta.checkpointInterval"] == "10"
    assert [d.name for d in lh.datasets()] == ["digits"]


def _history_facts(ds: lakehouse.Dataset) -> list[dict[str, Any]]:
    out = []
    for v in ds.history():
        meta = {k: v for k, v in v.metadata.items() if k != "created_on"}
        out.append(
            {
                "version": v.version,
                "operation": v.operation,
                "created_by": v.created_by,
                "num_rows": v.num_rows,
                "added": v.rows_added,
                "removed": v.rows_removed,
                "updated": v.rows_updated,
                "metadata": meta,
                "schema_changes": v.schema_changes,
                "data_change": v.data_change,
                "description": v.description,
            }
        )
    return out


def test_history_is_alike_whichever_engine_wrote(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    first = [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}, {"id": 3, "label": "c"}]
    more = [{"id": 4, "label": "d"}]
    upsert = [{"id": 2, "label": "B"}, {"id": 5, "label": "e"}]
    wider = [{"id": 9, "label": "z", "weight": 0.5}]
    steps: list[tuple[list[dict[str, Any]], dict[str, Any]]] = [
        (first, {"description": "first cut", "metadata": {"owner": "ml"}}),
        (more, {"created_by": "bob"}),
        (upsert, {"mode": "upsert", "key": "id"}),
        (wider, {"mode": "overwrite", "schema_mode": "merge"}),
    ]
    embedded, sparky = lh.dataset("by-polars"), lh.dataset("by-spark")
    for data, options in steps:
        embedded.write(pl.DataFrame(data), **options)
        schema = "id long, label string" + (", weight double" if "weight" in data[0] else "")
        write_dataset(lh, "by-spark", spark.createDataFrame([tuple(r.values()) for r in data], schema), **options)
    assert _history_facts(sparky) == _history_facts(embedded)
    for v in range(4):
        assert rows(sparky.read(v)) == rows(embedded.read(v))


def test_refs_resolve_the_same_in_both_engines(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    ds = lh.dataset("events")
    ds.write(pl.DataFrame({"id": [1, 2]}))
    between = datetime.now(UTC)
    ds.write(pl.DataFrame({"id": [3]}))
    ds.tag("prod", version=0)
    for ref in ("events:prod", "events:v1", "events", "events:latest", f"events@{between.isoformat()}"):
        assert rows(read_dataset(lh, ref, spark=spark)) == rows(lh.read(ref)), ref
    with pytest.raises(lakehouse.TagNotFound):
        read_dataset(lh, "events:staging", spark=spark)
    with pytest.raises(lakehouse.VersionNotFound):
        read_dataset(lh, "events:v7", spark=spark)


def test_change_feed_diff_of_spark_written_versions(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    schema = "id long, label string"
    write_dataset(lh, "cdf", spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], schema))
    write_dataset(lh, "cdf", spark.createDataFrame([(2, "B"), (4, "d")], schema), mode="upsert", key="id")
    write_dataset(lh, "cdf", spark.createDataFrame([(5, "e")], schema))
    ds = lh.dataset("cdf")
    by_feed = ds.diff(0, 2, key="id")
    by_join = ds.diff(0, 2, key="id", method="join")
    assert by_feed.method == "cdf"
    assert by_feed.added.sort("id").to_dicts() == by_join.added.sort("id").to_dicts()
    assert by_feed.added.sort("id")["id"].to_list() == [4, 5]
    assert by_feed.changed.select("id", "label", "label_before").to_dicts() == [
        {"id": 2, "label": "B", "label_before": "b"}
    ]
    assert by_feed.removed.height == 0


def test_schema_change_needs_schema_mode_merge(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    write_dataset(lh, "s", spark.createDataFrame([(1, "a")], "id long, label string"))
    wider = spark.createDataFrame([(2, "b", 0.5)], "id long, label string, weight double")
    with pytest.raises(lakehouse.SchemaMismatch, match="unexpected columns 'weight'"):
        write_dataset(lh, "s", wider)
    assert lh.dataset("s").latest_version == 0
    assert rows(lh.read("s")) == [{"id": 1, "label": "a"}]
    v1 = write_dataset(lh, "s", wider, schema_mode="merge")
    assert [str(c) for c in v1.schema_changes] == ["+ weight: double"]
    assert rows(lh.read("s")) == [{"id": 1, "label": "a", "weight": None}, {"id": 2, "label": "b", "weight": 0.5}]
    # Narrower ints widen losslessly; a type change is refused.
    write_dataset(lh, "s", spark.createDataFrame([(3, "c", 1.0)], "id int, label string, weight float"))
    with pytest.raises(lakehouse.SchemaMismatch, match="type changes 'label'"):
        write_dataset(lh, "s", spark.createDataFrame([(4, 4, 1.0)], "id long, label long, weight double"))
    assert lh.dataset("s").latest_version == 2


def test_upsert_with_repeated_keys_is_refused(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    write_dataset(lh, "u", spark.createDataFrame([(1, "a")], "id long, label string"))
    twice = spark.createDataFrame([(1, "x"), (1, "y"), (2, "z")], "id long, label string")
    with pytest.raises(lakehouse.InvalidData, match="keys appear more than once"):
        write_dataset(lh, "u", twice, mode="upsert", key="id")
    assert lh.dataset("u").latest_version == 0
    assert rows(lh.read("u")) == [{"id": 1, "label": "a"}]


def test_job_id_makes_a_retried_write_commit_nothing(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a")], "id long, label string")
    first = commit_dataframe(lh, "j", df, job_id="load-2026-11-01")
    again = commit_dataframe(lh, "j", df, job_id="load-2026-11-01")
    assert (first.skipped, again.skipped) == (False, True)
    assert again.version.version == first.version.version == 0
    upserted = commit_dataframe(lh, "j", df, mode="upsert", key="id", job_id="fix-1")
    assert commit_dataframe(lh, "j", df, mode="upsert", key="id", job_id="fix-1").skipped
    assert lh.dataset("j").latest_version == upserted.version.version == 1
    assert lh.dataset("j").read().height == 1


def test_naive_timestamps_are_stored_as_utc(lh: lakehouse.Lakehouse, spark: SparkSession) -> None:
    df = spark.sql("SELECT 1L AS id, TIMESTAMP_NTZ'2026-01-02 03:04:05' AS at")
    write_dataset(lh, "t", df)
    path = lh.dataset("t").path
    assert storage.protocol(path)["writer_features"] == []
    read = lh.read("t")
    assert read.schema["at"] == pl.Datetime("us", "UTC")
    assert read["at"].to_list() == [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)]
