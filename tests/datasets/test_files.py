"""File datasets: a folder of real PNGs, WAVs and text files as versioned dataset rows."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.datasets.files import BLOB_ROW_GROUP, FILE_COLUMNS
from lakehouse.objects import object_key
from tests.file_trees import make_tree, parent_label, png, tree_state
from tests.roots import seam

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root

BIG = 3000  # bytes of the one large file; the inline limit below is 2000


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root, inline_file_bytes=2000)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "photos", big=BIG)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_add_files_records_each_file_with_its_facts_and_card(lh: lakehouse.Lakehouse, folder: Path) -> None:
    ds = lh.dataset("pets")
    v = ds.add_files(folder, labels=parent_label, labelled_by="ann", description="pets, raw", metadata={"src": "cam"})
    assert v.version == 0
    assert v.metadata["number_of_samples"] == 7
    assert (v.created_by, v.metadata["labelled_by"], v.description, v.metadata["src"]) == (
        "tester",
        "ann",
        "pets, raw",
        "cam",
    )
    files = ds.files()
    assert files.columns[: len(FILE_COLUMNS) - 1] == [c for c in FILE_COLUMNS.names if c != "content"]
    assert files.columns[-1] == "label"
    by_path = {r["path"]: r for r in files.iter_rows(named=True)}
    assert sorted(by_path) == [
        "blobs/big.bin",
        "cats/0.png",
        "cats/1.png",
        "dogs/0.png",
        "dogs/1.png",
        "notes/readme.txt",
        "sounds/beep.wav",
    ]
    cat = by_path["cats/1.png"]
    assert (cat["media_type"], cat["width"], cat["height"], cat["label"]) == ("image/png", 5, 4, "cats")
    assert cat["sha256"] == sha(folder / "cats/1.png")
    assert cat["size"] == (folder / "cats/1.png").stat().st_size
    assert cat["object"] is None
    assert by_path["sounds/beep.wav"]["duration"] == pytest.approx(0.25)
    assert by_path["notes/readme.txt"]["media_type"] == "text/plain"
    assert by_path["notes/readme.txt"]["label"] == "notes"
    # The large file lives in the object store by digest; its row holds no bytes.
    big = by_path["blobs/big.bin"]
    assert big["object"] == sha(folder / "blobs/big.bin")
    assert seam(lh.root).exists(object_key(big["object"]))
    raw = ds.read(columns=["path", "content"]).sort("path")
    assert raw.filter(pl.col("path") == "blobs/big.bin")["content"][0] is None
    assert raw.filter(pl.col("path") == "cats/1.png")["content"][0] == (folder / "cats/1.png").read_bytes()


def test_files_listing_reads_no_bytes(lh: lakehouse.Lakehouse, folder: Path) -> None:
    lh.dataset("pets").add_files(folder)
    plan = lh.dataset("pets").scan().select([c for c in FILE_COLUMNS.names if c != "content"]).explain()
    assert "content" not in plan.split("PROJECT")[-1]
    assert "content" not in lh.dataset("pets").files().columns


def test_open_file_reads_inline_and_stored_files_the_same(lh: lakehouse.Lakehouse, folder: Path) -> None:
    lh.dataset("pets").add_files(folder)
    for path in ("cats/0.png", "blobs/big.bin"):
        with lh.open_file("pets:v0", path) as f:
            assert f.read() == (folder / path).read_bytes()
    assert lh.dataset("pets").read_file("sounds/beep.wav") == (folder / "sounds/beep.wav").read_bytes()
    with pytest.raises(lakehouse.errors.NotFound, match=r"no file 'cats/9.png'"):
        lh.open_file("pets:v0", "cats/9.png")


def test_labels_from_csv_and_parquet_sidecars(lh: lakehouse.Lakehouse, folder: Path, tmp_path: Path) -> None:
    table = pl.DataFrame({"path": ["cats/0.png", "dogs/1.png"], "label": ["cat", "dog"], "score": [0.9, 0.4]})
    table.write_csv(tmp_path / "labels.csv")
    table.write_parquet(tmp_path / "labels.parquet")
    for i, sidecar in enumerate(("labels.csv", "labels.parquet")):
        ds = lh.dataset(f"side{i}")
        ds.add_files(folder, pattern="**/*.png", labels=tmp_path / sidecar)
        got = ds.files().select("path", "label", "score").to_dicts()
        assert got == [
            {"path": "cats/0.png", "label": "cat", "score": 0.9},
            {"path": "cats/1.png", "label": None, "score": None},
            {"path": "dogs/0.png", "label": None, "score": None},
            {"path": "dogs/1.png", "label": "dog", "score": 0.4},
        ]


def test_sync_writes_only_changes_and_an_unchanged_folder_makes_no_version(
    lh: lakehouse.Lakehouse, folder: Path
) -> None:
    ds = lh.dataset("pets")
    first = ds.sync_files(folder, labels=parent_label)
    assert first is not None
    assert first.num_rows == 7
    assert ds.sync_files(folder) is None
    assert ds.latest_version == 0
    png(folder / "cats" / "0.png", (9, 9), (1, 2, 3))  # changed
    (folder / "notes" / "readme.txt").unlink()  # deleted
    png(folder / "birds" / "0.png", (2, 2), (0, 200, 0))  # new
    v = ds.sync_files(folder, labels=parent_label)
    assert v is not None
    assert v.version == 1
    assert v.num_rows == 7
    commit = storage.commit_at(ds.path, 1)
    assert commit is not None
    assert commit.metrics["num_source_rows"] == 3
    d = ds.diff(0, 1)
    assert d.added["path"].to_list() == ["birds/0.png"]
    assert d.removed["path"].to_list() == ["notes/readme.txt"]
    assert d.changed["path"].to_list() == ["cats/0.png"]
    assert d.changed.row(0, named=True)["width"] == 9
    files = ds.files()
    assert files.filter(pl.col("path") == "cats/0.png")["label"][0] == "cats"
    assert ds.sync_files(folder) is None


def test_sync_does_not_read_files_whose_size_and_mtime_match(lh: lakehouse.Lakehouse, folder: Path) -> None:
    ds = lh.dataset("pets")
    ds.sync_files(folder)
    target = folder / "cats" / "0.png"
    stat = target.stat()
    # Same size, same mtime, other bytes: a sync trusts size and mtime (the state cache) and does not look.
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ds.sync_files(folder) is None
    # A touched file is read again: same bytes as recorded → only its time is updated; here the bytes differ.
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    v = ds.sync_files(folder)
    assert v is not None
    assert ds.files().filter(pl.col("path") == "cats/0.png")["sha256"][0] == sha(target)


def test_sync_keeps_labels_of_changed_files_and_applies_new_labels(lh: lakehouse.Lakehouse, folder: Path) -> None:
    ds = lh.dataset("pets")
    ds.add_files(folder, labels=parent_label)
    time.sleep(0.01)
    (folder / "notes" / "readme.txt").write_text("changed\n", encoding="utf-8")
    ds.sync_files(folder)
    assert ds.files().filter(pl.col("path") == "notes/readme.txt")["label"][0] == "notes"
    v = ds.sync_files(folder, labels=lambda p: "relabelled" if p.startswith("dogs/") else parent_label(p))
    assert v is not None
    assert ds.diff(v.version - 1, v.version).changed["path"].to_list() == ["dogs/0.png", "dogs/1.png"]


def test_versions_time_travel_tags_and_download_of_an_older_version(
    lh: lakehouse.Lakehouse, folder: Path, tmp_path: Path
) -> None:
    ds = lh.dataset("pets")
    ds.add_files(folder)
    original = tree_state(folder)
    old_cat = (folder / "cats" / "0.png").read_bytes()
    ds.tag("raw")
    png(folder / "cats" / "0.png", (8, 8), (0, 0, 0))
    (folder / "blobs" / "big.bin").unlink()
    ds.sync_files(folder)
    assert ds.files("raw").height == 7
    assert ds.files().height == 6
    out = tmp_path / "out"
    report = lh.download("pets:raw", out)
    assert (report.version, report.written, report.skipped) == (0, 7, 0)
    assert sorted(tree_state(out)) == sorted(original)
    assert (out / "cats" / "0.png").read_bytes() == old_cat
    assert report.bytes_written == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    again = ds.download(out, ref="raw")
    assert (again.written, again.skipped) == (0, 7)
    # A file already there with other bytes conflicts: refused, unless overwrite=True.
    before = tree_state(out)
    with pytest.raises(lakehouse.errors.InvalidArgument, match=r"cats/0.png.*overwrite=True"):
        ds.download(out)
    assert tree_state(out) == before
    replaced = ds.download(out, overwrite=True)
    assert (replaced.written, replaced.skipped) == (1, 5)
    assert (out / "cats" / "0.png").read_bytes() == (folder / "cats" / "0.png").read_bytes()


def test_blob_layout_small_row_groups_and_no_statistics_on_bytes(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:

    many = tmp_path / "many"
    for i in range(BLOB_ROW_GROUP + 30):
        (many / f"{i:04d}.txt").parent.mkdir(parents=True, exist_ok=True)
        (many / f"{i:04d}.txt").write_text(f"file {i}\n", encoding="utf-8")
    ds = lh.dataset("texts")
    ds.add_files(many)
    assert storage.properties(ds.path)["delta.dataSkippingStatsColumns"].split(",")[0] == "path"
    (data_file,) = storage.live_files(ds.path).files
    meta = storage.open_data_file(data_file.path).metadata
    assert meta.num_row_groups == 2
    assert meta.row_group(0).num_rows == BLOB_ROW_GROUP
    content = meta.schema.to_arrow_schema().get_field_index("content")
    assert not meta.row_group(0).column(content).is_stats_set


def test_vacuum_keeps_objects_of_retained_versions_only(lh: lakehouse.Lakehouse, folder: Path) -> None:
    ds = lh.dataset("pets")
    ds.add_files(folder)
    digest = ds.files().filter(pl.col("path") == "blobs/big.bin")["object"][0]
    (folder / "blobs" / "big.bin").unlink()
    ds.sync_files(folder)
    key = object_key(digest)
    local = lh.root.local
    if local is not None:  # older than any retention (an object store keeps the time of the last write)
        old = time.time() - 3600
        os.utime(local / key, (old, old))
    ds.tag("keep", 0)
    lh.maintain(retention_hours=0, vacuum=True)
    assert seam(lh.root).exists(key)  # a tagged version keeps its data files, so the objects they name stay
    assert len(ds.read_file("blobs/big.bin", "keep")) == BIG
    ds.untag("keep")
    lh.maintain(retention_hours=0, vacuum=True)
    assert not seam(lh.root).exists(key)  # no data file names it any more


def test_each_add_of_the_same_folder_replaces_rows_by_path(lh: lakehouse.Lakehouse, folder: Path) -> None:
    ds = lh.dataset("pets")
    ds.add_files(folder, pattern="cats/*")
    v = ds.add_files(folder, pattern="**/*.png", labels=parent_label)
    assert v.num_rows == 4
    assert v.rows_added == 2
    assert ds.files()["label"].to_list() == ["cats", "cats", "dogs", "dogs"]
