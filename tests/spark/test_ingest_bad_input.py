"""Bad input to ``ingest``: a clear error or a quarantined record, and nothing half-written.

Each refusal is checked for its error type, for a message naming the offending thing, and for leaving the
dataset exactly as it was (same version, same rows) with no quarantine table written.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage
from lakehouse.spark import ingest

pytestmark = pytest.mark.spark

BASE = pl.DataFrame({"id": [1, 2], "label": ["a", "b"]})


@pytest.fixture
def base(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    ds = lh.dataset("base")
    ds.write(BASE)
    return ds


def assert_unchanged(lh: lakehouse.Lakehouse, ds: lakehouse.Dataset) -> None:
    assert ds.latest_version == 0
    assert ds.read().sort("id").equals(BASE)
    assert not storage.exists(lh.layout.quarantine(ds.name))


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_missing_input_path(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "data.csv"
    with pytest.raises(lakehouse.InvalidArgument, match=r"input path '.*nowhere/data\.csv' does not exist"):
        ingest(lh, "base", [str(missing)], spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match=r"input path '.*\*\.csv' matches no files"):
        ingest(lh, "base", [str(tmp_path / "*.csv")], spark=spark)
    assert_unchanged(lh, base)


def test_empty_directory(lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(lakehouse.InvalidArgument, match=r"input directory '.*empty' has no data files .*it is empty"):
        ingest(lh, "base", [str(empty)], spark=spark)
    write(empty / "notes.txt", "no data here")
    write(empty / "_SUCCESS", "")
    with pytest.raises(lakehouse.InvalidArgument, match="has no data files .*it holds 1 other file"):
        ingest(lh, "base", [str(empty)], spark=spark)
    assert_unchanged(lh, base)


def test_file_that_is_not_what_its_extension_says(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    fake_parquet = write(tmp_path / "a.parquet", "id,label\n3,c\n")
    with pytest.raises(lakehouse.InvalidData, match=r"'.*a\.parquet' is not a Parquet file"):
        ingest(lh, "base", [str(fake_parquet)], spark=spark)
    real_parquet = tmp_path / "b.csv"
    BASE.write_parquet(real_parquet)
    with pytest.raises(lakehouse.InvalidData, match=r"'.*b\.csv' is named as csv but holds Parquet data"):
        ingest(lh, "base", [str(real_parquet)], spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match=r"'.*b\.csv' has a csv extension but format 'json'"):
        ingest(lh, "base", [str(real_parquet)], format="json", spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match="cannot tell the format of .*data.txt"):
        ingest(lh, "base", [str(write(tmp_path / "data.txt", "id,label\n"))], spark=spark)
    assert_unchanged(lh, base)


def test_csv_with_wrong_column_count_is_quarantined_not_written(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    data = write(tmp_path / "in.csv", "id,label\n3,c\n4\n5,e,extra\n")
    result = ingest(lh, "base", [str(data)], spark=spark)
    assert result.rows_written == 1
    assert base.read().sort("id")["id"].to_list() == [1, 2, 3]
    reasons = storage.scan(lh.layout.quarantine("base")).collect().sort("record")["reason"].to_list()
    assert reasons == ["has 1 fields, expected 2 (id, label)", "has 3 fields, expected 2 (id, label)"]


def test_json_with_a_wrong_type_is_quarantined_not_written(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    data = write(tmp_path / "in.json", '{"id": 3, "label": "c"}\n{"id": [4], "label": "d"}\n{"id": 5, "label": 5}\n')
    result = ingest(lh, "base", [str(data)], spark=spark)
    assert (result.rows_written, result.rows_quarantined) == (1, 2)
    assert base.read().sort("id")["id"].to_list() == [1, 2, 3]
    reasons = sorted(storage.scan(lh.layout.quarantine("base")).collect()["reason"].to_list())
    assert reasons == [
        "column 'id': value [4] is not a valid bigint",
        "column 'label': expected a string, got BIGINT 5",
    ]


def test_schema_change_without_merge(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    wider = write(tmp_path / "wider.csv", "id,label,score\n3,c,0.5\n")
    with pytest.raises(lakehouse.SchemaMismatch, match="unexpected columns 'score'.*schema_mode='merge'"):
        ingest(lh, "base", [str(wider)], spark=spark)
    narrower = write(tmp_path / "narrow.json", '{"id": 3}\n')
    with pytest.raises(lakehouse.SchemaMismatch, match="missing columns 'label'"):
        ingest(lh, "base", [str(narrower)], spark=spark)
    typed = tmp_path / "typed.parquet"
    pl.DataFrame({"id": ["three"], "label": ["c"]}).write_parquet(typed)
    with pytest.raises(lakehouse.SchemaMismatch, match="type changes 'id' \\(int64 in the dataset, string given\\)"):
        ingest(lh, "base", [str(typed)], spark=spark)
    assert_unchanged(lh, base)


def test_upsert_with_duplicate_keys(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    # The malformed record would be quarantined, but the duplicate keys refuse the whole ingest first.
    data = write(tmp_path / "up.csv", "id,label\n2,B\n2,BB\n3,c\nx,y,z\n")
    with pytest.raises(lakehouse.InvalidData, match=r"keys appear more than once in the input, e.g. \[\{'id': 2\}\]"):
        ingest(lh, "base", [str(data)], mode="upsert", key="id", spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match="key column 'nope' is not in the data"):
        ingest(lh, "base", [str(data)], mode="upsert", key="nope", spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match="needs key"):
        ingest(lh, "base", [str(data)], mode="upsert", spark=spark)
    assert_unchanged(lh, base)


def test_input_without_records_and_bad_options(
    lh: lakehouse.Lakehouse, base: lakehouse.Dataset, spark: SparkSession, tmp_path: Path
) -> None:
    header_only = write(tmp_path / "h.csv", "id,label\n")
    with pytest.raises(lakehouse.InvalidData, match="holds no records; nothing was written"):
        ingest(lh, "base", [str(header_only)], spark=spark)
    data = write(tmp_path / "ok.csv", "id,label\n3,c\n")
    with pytest.raises(lakehouse.InvalidArgument, match="format must be one of csv, json, parquet; got 'xml'"):
        ingest(lh, "base", [str(data)], format="xml", spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match="mode must be one of"):
        ingest(lh, "base", [str(data)], mode="replace", spark=spark)  # type: ignore[arg-type]
    with pytest.raises(lakehouse.InvalidMetadata, match="'ingest' is reserved"):
        ingest(lh, "base", [str(data)], metadata={"ingest": 1}, spark=spark)
    with pytest.raises(lakehouse.InvalidName):
        ingest(lh, "../escape", [str(data)], spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match="schema file .*missing.ddl' does not exist"):
        ingest(lh, "base", [str(data)], schema_file=tmp_path / "missing.ddl", spark=spark)
    with pytest.raises(lakehouse.InvalidArgument, match="mix formats"):
        ingest(lh, "base", [str(data), str(write(tmp_path / "j.json", "{}\n"))], spark=spark)
    assert_unchanged(lh, base)
