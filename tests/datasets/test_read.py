"""Reading versions: by number, tag, time and reference string."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.errors import DatasetNotFound, InvalidArgument, InvalidRef, TagNotFound, VersionNotFound
from tests.datasets.conftest import frame, rows

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


@pytest.fixture
def three_versions(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    ds = lh.dataset("mnist-train")
    ds.write(frame([1, 2]))
    ds.write(frame([3]))
    ds.write(frame([2], ["two"]), mode="upsert", key="id")
    return ds


EXPECTED = {
    0: [(1, "l1"), (2, "l2")],
    1: [(1, "l1"), (2, "l2"), (3, "l3")],
    2: [(1, "l1"), (2, "two"), (3, "l3")],
}


def test_read_and_scan_by_version(three_versions: lakehouse.Dataset) -> None:
    ds = three_versions
    for version, expected in EXPECTED.items():
        assert rows(ds.read(version)) == expected
        assert rows(ds.read(f"v{version}")) == expected
        scan = ds.scan(version)
        assert isinstance(scan, pl.LazyFrame)
        assert rows(scan.collect()) == expected
    assert rows(ds.read()) == EXPECTED[2]
    assert rows(ds.read("latest")) == EXPECTED[2]
    assert ds.read(1, columns=["id"]).columns == ["id"]
    assert ds.scan(1).filter(pl.col("id") > 1).select(pl.len()).collect().item() == 2


def test_read_by_tag(three_versions: lakehouse.Dataset) -> None:
    three_versions.tag("prod", version=0)
    assert rows(three_versions.read(tag="prod")) == EXPECTED[0]
    assert rows(three_versions.read("prod")) == EXPECTED[0]
    assert rows(three_versions.scan(tag="prod").collect()) == EXPECTED[0]


def test_read_as_of_time(three_versions: lakehouse.Dataset) -> None:
    ds = three_versions
    history = {v.version: v.created_at for v in ds.history()}
    for version, at in history.items():
        assert rows(ds.read(as_of=at)) == EXPECTED[version]
        assert rows(ds.read(as_of=at + timedelta(milliseconds=1))) == EXPECTED[version]
    assert rows(ds.read(as_of=datetime.now(UTC) + timedelta(days=1))) == EXPECTED[2]
    # A naive datetime is taken as UTC.
    assert rows(ds.read(as_of=history[1].replace(tzinfo=None))) == EXPECTED[1]


@pytest.mark.local_only("sets the modification times of log files, which an object store does not let change")
def test_as_of_uses_commit_times_not_file_times(three_versions: lakehouse.Dataset) -> None:
    """Copying a table resets its files' times; time travel still follows the commit times in history."""
    log = Path(three_versions.path) / "_delta_log"
    for path in log.glob("*.json"):
        os.utime(path, (0, 2_000_000_000))  # all "modified" in 2033
    for version in three_versions.history():
        assert three_versions.resolve(as_of=version.created_at) == version.version


def test_as_of_between_commits(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("slow")
    ds.write(frame([1]))
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    ds.write(frame([2]))
    assert rows(ds.read(as_of=middle)) == [(1, "l1")]
    assert rows(lh.read(f"slow@{middle.isoformat()}")) == [(1, "l1")]


def test_time_travel_before_the_first_version(three_versions: lakehouse.Dataset) -> None:
    when = three_versions.version(0).created_at - timedelta(hours=1)
    with pytest.raises(VersionNotFound) as info:
        three_versions.read(as_of=when)
    text = str(info.value)
    assert when.isoformat() in text
    assert "first version (v0) was created at" in text


def test_refs_through_the_lakehouse(three_versions: lakehouse.Dataset, lh: lakehouse.Lakehouse) -> None:
    three_versions.tag("prod", version=1)
    assert rows(lh.read("mnist-train")) == EXPECTED[2]
    assert rows(lh.read("mnist-train:latest")) == EXPECTED[2]
    assert rows(lh.read("mnist-train:v0")) == EXPECTED[0]
    assert rows(lh.read("mnist-train:prod")) == EXPECTED[1]
    at = three_versions.version(0).created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert rows(lh.read(f"mnist-train@{at}")) == EXPECTED[0]
    assert rows(lh.scan("mnist-train:v1").collect()) == EXPECTED[1]
    assert lh.read("mnist-train:v0", columns=["label"]).columns == ["label"]
    resolved = lh.resolve("mnist-train:prod")
    assert (resolved.name, resolved.version, resolved.ref) == ("mnist-train", 1, "mnist-train:v1")
    assert lh.resolve(lakehouse.Ref("mnist-train", version=2)).version == 2


def test_lookup_errors_name_the_thing_and_suggest(three_versions: lakehouse.Dataset, lh: lakehouse.Lakehouse) -> None:
    three_versions.tag("prod", version=1)
    with pytest.raises(DatasetNotFound, match=r"dataset 'mnist-trian' does not exist.*did you mean 'mnist-train'"):
        lh.read("mnist-trian")
    with pytest.raises(VersionNotFound, match=r"no version 7; its versions are 0\.\.2"):
        lh.read("mnist-train:v7")
    with pytest.raises(TagNotFound, match=r"no tag 'prd'; did you mean 'prod'"):
        lh.read("mnist-train:prd")
    with pytest.raises(InvalidRef, match="dataset name 'MNIST'"):
        lh.read("MNIST:v1")
    with pytest.raises(InvalidArgument, match="not several at once"):
        three_versions.read(1, tag="prod")
    with pytest.raises(InvalidArgument, match="column 'nope' is not in the data"):
        three_versions.read(columns=["nope"])
    with pytest.raises(DatasetNotFound, match="does not exist"):
        lh.dataset("never-written").history()


def test_listing(lh: lakehouse.Lakehouse) -> None:
    assert lh.datasets() == []
    lh.dataset("b").write(frame([1]), created_by="bea", description="bees")
    lh.dataset("a").write(frame([1, 2]), created_by="al")
    lh.dataset("a").write(frame([3]), created_by="ann")
    lh.dataset("a").tag("prod", version=0)
    infos = lh.datasets()
    assert [i.name for i in infos] == ["a", "b"]
    a, b = infos
    assert (a.latest_version, a.num_rows, a.last_writer, a.tags, a.description) == (1, 3, "ann", {"prod": 0}, None)
    assert (b.latest_version, b.num_rows, b.last_writer, b.description) == (0, 1, "bea", "bees")
    assert a.updated_at == lh.dataset("a").version(1).created_at
