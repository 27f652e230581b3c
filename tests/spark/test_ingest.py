"""Bulk ingestion of CSV / JSON / Parquet files into dataset versions, with quarantine and idempotent jobs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage
from lakehouse.spark import ingest

pytestmark = pytest.mark.spark


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def quarantine(lh: lakehouse.Lakehouse, name: str) -> pl.DataFrame:
    return storage.scan(lh.layout.quarantine(name)).collect().sort("source_file", "record")


def test_csv_malformed_records_are_quarantined_with_file_and_reason(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    lh.dataset("people").write(
        pl.DataFrame({"id": [0], "name": ["zero"], "age": [1]}, schema_overrides={"age": pl.Int32})
    )
    good = write(tmp_path / "in" / "a.csv", "id,name,age\n1,ann,30\n2,bob,41\n")
    bad = write(
        tmp_path / "in" / "b.csv",
        'id,name,age\n3,cy,notanint\n4,dee\n5,eve,50,extra\n6,"fay, jr",60\n',
    )
    result = ingest(lh, "people", [str(good), str(bad)], created_by="loader", metadata={"batch": 7}, spark=spark)
    assert (result.rows_written, result.rows_quarantined, result.records_read) == (3, 3, 6)
    assert lh.read("people").sort("id")["id"].to_list() == [0, 1, 2, 6]
    assert lh.read("people").filter(pl.col("id") == 6)["name"].item() == "fay, jr"
    version = result.version
    assert version.version == 1
    assert version.created_by == "loader"
    assert version.metadata["batch"] == 7
    facts = version.metadata["ingest"]
    assert facts["format"] == "csv"
    assert facts["files"] == 2
    assert facts["records_quarantined"] == 3
    assert facts["quarantine_version"] == result.quarantine_version == 0
    assert facts["quarantine_table"] == "_quarantine/people"
    q = quarantine(lh, "people")
    assert q["source_file"].to_list() == [bad.as_uri().replace("file:///", "file:/")] * 3
    assert dict(zip(q["record"], q["reason"], strict=True)) == {
        "3,cy,notanint": "column 'age': value 'notanint' is not a valid int",
        "4,dee": "has 2 fields, expected 3 (id, name, age)",
        "5,eve,50,extra": "has 4 fields, expected 3 (id, name, age)",
    }
    assert set(q["write_id"]) == {version.metadata.get("write_id") or _write_id(lh, "people", 1)}
    assert set(q["job_id"]) == {result.job_id}


def _write_id(lh: lakehouse.Lakehouse, name: str, version: int) -> str:
    commit = next(c for c in storage.history(lh.dataset(name).path) if c.version == version)
    return str(commit.user_metadata["lakehouse"]["write_id"])


def test_json_wrong_types_are_quarantined(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    lh.dataset("ev").write(pl.DataFrame({"id": [0], "kind": ["seed"], "score": [0.5]}))
    data = write(
        tmp_path / "ev.jsonl",
        "\n".join(
            [
                '{"id": 1, "kind": "click", "score": 1.5}',
                '{"id": "two", "kind": "view", "score": 2.0}',
                '{"id": 3, "kind": {"nested": true}, "score": 3.0}',
                '{"id": 4, "kind": "buy"}',
                "not json",
                '{"id": 5, "kind": "view", "score": "high"}',
            ]
        )
        + "\n",
    )
    result = ingest(lh, "ev", [str(data)], spark=spark)
    assert result.rows_written == 2
    assert result.rows_quarantined == 4
    assert lh.read("ev").sort("id").to_dicts() == [
        {"id": 0, "kind": "seed", "score": 0.5},
        {"id": 1, "kind": "click", "score": 1.5},
        {"id": 4, "kind": "buy", "score": None},
    ]
    reasons = dict(zip(quarantine(lh, "ev")["record"], quarantine(lh, "ev")["reason"], strict=True))
    assert reasons == {
        '{"id": "two", "kind": "view", "score": 2.0}': "column 'id': value \"two\" is not a valid bigint",
        '{"id":3,"kind":{"nested":true},"score":3.0}': (
            "column 'kind': expected a string, got OBJECT<nested: BOOLEAN> {\"nested\":true}"
        ),
        "not json": "is not valid JSON",
        '{"id": 5, "kind": "view", "score": "high"}': "column 'score': value \"high\" is not a valid double",
    }


def test_parquet_directories_and_globs(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(3):
        pl.DataFrame({"id": [i * 10 + j for j in range(5)], "v": [float(i)] * 5}).write_parquet(
            folder / f"p{i}.parquet"
        )
    write(folder / "_SUCCESS", "")
    write(folder / "README.md", "not data")
    result = ingest(lh, "pq", [str(folder)], spark=spark)
    assert result.format == "parquet"
    assert len(result.files) == 3
    assert result.rows_written == 15
    assert result.rows_quarantined == 0
    assert result.quarantine_version is None
    assert not storage.exists(lh.layout.quarantine("pq"))
    again = ingest(lh, "pq", [str(folder / "p[01].parquet")], spark=spark)
    assert again.rows_written == 10
    assert lh.dataset("pq").version().num_rows == 25


def test_upsert_and_overwrite_from_files(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    first = write(tmp_path / "v0.csv", "id,label\n1,a\n2,b\n3,c\n")
    ingest(lh, "lab", [str(first)], spark=spark)
    changes = write(tmp_path / "v1.csv", "id,label\n2,B\n4,d\n,nokey\n")
    up = ingest(lh, "lab", [str(changes)], mode="upsert", key="id", spark=spark)
    assert (up.version.operation, up.version.rows_added, up.version.rows_updated) == ("upsert", 1, 1)
    assert up.rows_quarantined == 1
    assert quarantine(lh, "lab")["reason"].to_list() == [
        "key column 'id' has no value; an upsert needs a key in every record"
    ]
    assert lh.read("lab").sort("id").to_dicts() == [
        {"id": 1, "label": "a"},
        {"id": 2, "label": "B"},
        {"id": 3, "label": "c"},
        {"id": 4, "label": "d"},
    ]
    over = ingest(lh, "lab", [str(first)], mode="overwrite", spark=spark)
    assert over.version.operation == "overwrite"
    assert over.version.num_rows == 3
    # The change feed of Spark's MERGE is what the embedded diff reads.
    diff = lh.dataset("lab").diff(0, 1, key="id")
    assert diff.method == "cdf"
    assert diff.added["id"].to_list() == [4]
    assert diff.changed["id"].to_list() == [2]


def test_same_job_id_commits_nothing_new(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    data = write(tmp_path / "x.csv", "id,label\n1,a\n2,b\n3,c,extra\n")
    first = ingest(lh, "idem", [str(data)], job_id="nightly-2026-11-27", spark=spark)
    versions = (lh.dataset("idem").latest_version, storage.latest_version(lh.layout.quarantine("idem")))
    again = ingest(lh, "idem", [str(data)], job_id="nightly-2026-11-27", spark=spark)
    assert again.skipped
    assert not first.skipped
    assert again.version.version == first.version.version
    assert (again.rows_written, again.rows_quarantined) == (2, 1)
    assert versions == (lh.dataset("idem").latest_version, storage.latest_version(lh.layout.quarantine("idem")))
    assert lh.read("idem").height == 2
    assert quarantine(lh, "idem").height == 1
    other = ingest(lh, "idem", [str(data)], job_id="nightly-2026-11-28", spark=spark)
    assert not other.skipped
    assert lh.read("idem").height == 4


def test_schema_file_types_and_not_null(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    schema = write(
        tmp_path / "conf" / "orders.ddl",
        "-- orders as delivered\norder_id BIGINT NOT NULL,\namount DECIMAL(10,2),\nat TIMESTAMP\n",
    )
    data = write(
        tmp_path / "orders.csv",
        "order_id,amount,at\n1,9.99,2026-11-01T10:00:00\n,1.00,2026-11-01T11:00:00\n3,2.50,2026-11-01T12:00:00+01:00\n",
    )
    result = ingest(
        lh, "orders", [str(data)], schema_file=tmp_path / "conf" / "orders.ddl", partition_by=None, spark=spark
    )
    assert result.rows_written == 2
    assert result.rows_quarantined == 1
    assert quarantine(lh, "orders")["reason"].to_list() == [
        "column 'order_id' is NOT NULL in the dataset but the record has no value"
    ]
    frame = lh.read("orders").sort("order_id")
    assert str(frame.schema["amount"]) == "Decimal(precision=10, scale=2)"
    assert frame.schema["at"] == pl.Datetime("us", "UTC")
    assert [t.isoformat() for t in frame["at"]] == ["2026-11-01T10:00:00+00:00", "2026-11-01T11:00:00+00:00"]
    assert schema.is_file()


def test_partitioned_ingest_and_schema_merge(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", '{"id": 1, "split": "train"}\n{"id": 2, "split": "test"}\n')
    ingest(lh, "parts", [str(first)], partition_by=["split"], spark=spark)
    assert storage.partition_columns(lh.dataset("parts").path) == ["split"]
    wider = write(tmp_path / "b.json", '{"id": 3, "split": "train", "weight": 0.5}\n')
    with pytest.raises(lakehouse.SchemaMismatch, match="unexpected columns 'weight'"):
        ingest(lh, "parts", [str(wider)], spark=spark)
    assert lh.dataset("parts").latest_version == 0
    merged = ingest(lh, "parts", [str(wider)], schema_mode="merge", spark=spark)
    assert [str(c) for c in merged.version.schema_changes] == ["+ weight: double"]
    assert lh.read("parts").sort("id")["weight"].to_list() == [None, None, 0.5]
