"""Spark's binaryFile ingest into file datasets, and each engine reading and adding to the other's."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.objects import object_key
from lakehouse.spark import ingest_files
from tests.file_trees import make_tree, png, tree_state

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root, inline_file_bytes=2000)


def corrupt_for_hadoop(path: Path) -> None:
    """Give ``path`` a Hadoop checksum side file that does not match: Hadoop's local file system refuses to
    read it (a ChecksumException), as it would a file damaged on disk."""
    (path.parent / f".{path.name}.crc").write_bytes(b"crc\x00\x00\x00\x02\x00" + zlib.crc32(b"other").to_bytes(4))


def test_spark_ingests_a_folder_into_the_same_rows_as_add_files(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    folder = make_tree(tmp_path / "photos", big=3000)
    result = ingest_files(lh, "by-spark", folder, spark=spark, created_by="etl", description="spark", job_id="j1")
    lh.dataset("by-rust").add_files(folder)
    spark_rows = lh.dataset("by-spark").files().drop("modified")
    rust_rows = lh.dataset("by-rust").files().drop("modified")
    assert spark_rows.to_dicts() == rust_rows.to_dicts()
    assert (result.version.version, result.rows_written, result.rows_quarantined) == (0, 7, 0)
    assert result.version.created_by == "etl"
    assert result.version.metadata["ingest"]["format"] == "files"
    big = spark_rows.filter(pl.col("path") == "blobs/big.bin")["object"][0]
    assert (Path(lh.root) / object_key(big)).is_file()
    assert lh.dataset("by-spark").read_file("blobs/big.bin") == (folder / "blobs/big.bin").read_bytes()
    assert storage.properties(lh.dataset("by-spark").path)["delta.dataSkippingStatsColumns"].startswith("path,")
    # The same job again commits nothing.
    before = tree_state(lh.root)
    again = ingest_files(lh, "by-spark", folder, spark=spark, job_id="j1")
    assert again.skipped
    assert tree_state(lh.root) == before


def test_each_engine_adds_to_the_others_file_dataset(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    folder = make_tree(tmp_path / "photos")
    lh.dataset("pets").add_files(folder, pattern="cats/*")
    more = tmp_path / "more"
    png(more / "dogs" / "5.png", (5, 5), (1, 1, 1))
    png(more / "cats" / "0.png", (9, 9), (2, 2, 2))  # replaces the embedded engine's cats/0.png
    ingest_files(lh, "pets", more, spark=spark)
    files = lh.dataset("pets").files()
    assert files["path"].to_list() == ["cats/0.png", "cats/1.png", "dogs/5.png"]
    assert files.filter(pl.col("path") == "cats/0.png")["width"][0] == 9
    assert lh.dataset("pets").read_file("dogs/5.png") == (more / "dogs" / "5.png").read_bytes()
    # Spark's version syncs with the embedded engine, and reads back in Spark.
    v = lh.dataset("pets").sync_files(folder)
    assert v is not None
    from lakehouse.spark import read_dataset

    read = read_dataset(lh, "pets", spark=spark).select("path", "sha256").orderBy("path").collect()
    assert [r["path"] for r in read] == sorted(p for p in tree_state(folder))
    assert lh.dataset("pets").diff(v.version - 1, v.version).removed["path"].to_list() == ["dogs/5.png"]


def test_unreadable_files_are_quarantined_and_the_rest_written(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path
) -> None:
    folder = make_tree(tmp_path / "photos")
    corrupt_for_hadoop(folder / "cats" / "1.png")
    result = ingest_files(lh, "pets", folder, spark=spark)
    assert result.rows_quarantined == 1
    assert result.rows_written == 5
    assert "cats/1.png" not in lh.dataset("pets").files()["path"].to_list()
    quarantine = storage.scan(lh.layout.quarantine("pets")).collect()
    assert quarantine["source_file"][0].endswith("photos/cats/1.png")
    assert quarantine["reason"][0] == "the file could not be read"


def test_bad_input_changes_nothing(lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "photos")
    lh.dataset("pets").add_files(folder)
    before = tree_state(lh.root)
    with pytest.raises(lakehouse.errors.InvalidArgument, match="does not exist"):
        ingest_files(lh, "pets", tmp_path / "nope", spark=spark)
    with pytest.raises(lakehouse.errors.InvalidArgument, match="options \\['mode'\\] do not apply"):
        ingest_files(lh, "pets", folder, spark=spark, mode="overwrite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(lakehouse.errors.InvalidData, match="holds no files"):
        ingest_files(lh, "pets", tmp_path / "empty", spark=spark)
    assert tree_state(lh.root) == before


def test_cli_ingest_format_files(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from lakehouse.cli import main

    folder = make_tree(tmp_path / "photos")
    args = ["--root", str(lh.root), "ingest", "pets", str(folder), "--format", "files", "--job-id", "cli-1"]
    assert main([*args, "--labelled-by", "ann", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["format"], out["rows_written"], out["version"]["metadata"]["labelled_by"]) == ("files", 6, "ann")
    assert lh.dataset("pets").files().height == 6
    assert main([*args, "--json"]) == 0  # the same job: nothing new
    assert json.loads(capsys.readouterr().out)["skipped"] is True
    assert main([*args[:-2], "--key", "path", "--mode", "upsert"]) == 1
    assert "options ['key', 'mode'] do not apply" in " ".join(capsys.readouterr().err.split())
