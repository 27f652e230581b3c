"""Retention never breaks a pinned version: tagged versions and versions runs used stay readable."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import RUN_INPUTS, append_rows
from lakehouse.datasets.retention import parse_interval
from lakehouse.errors import ConfigError, InvalidArgument, VersionNotFound
from lakehouse.spark import parquet_stats
from tests.datasets.conftest import frame
from tests.roots import seam

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def _churn(ds: lakehouse.Dataset) -> None:
    """Six versions, each replacing or rewriting data so old files become unreferenced."""
    ds.write(frame([1, 2, 3]))  # v0
    ds.write(frame([4, 5]), mode="overwrite")  # v1
    ds.write(frame([4], ["four"]), mode="upsert", key="id")  # v2
    ds.write(frame([6]), mode="overwrite")  # v3
    ds.write(frame([7]))  # v4
    ds.write(frame([8, 9]), mode="overwrite")  # v5


def _used_by_run(lh: lakehouse.Lakehouse, dataset: str, version: int) -> None:
    row = {
        "run_id": f"run-{version}",
        "dataset": dataset,
        "version": version,
        "ref": f"{dataset}:v{version}",
        "context": "training",
        "at": datetime.now(UTC),
    }
    append_rows(lh.layout.inputs, RUN_INPUTS, [row], lh.settings)


def test_vacuum_keeps_tagged_and_used_versions(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("d")
    _churn(ds)
    ds.tag("prod", version=0)
    ds.tag("candidate", version=3)
    _used_by_run(lh, "d", 2)
    _used_by_run(lh, "other", 1)  # another dataset's lineage pins nothing here
    assert ds.pinned_versions() == {0: ["tag:prod"], 2: ["run"], 3: ["tag:candidate"]}
    before = {v: ds.read(v) for v in range(6)}
    listed = ds.vacuum(retention_hours=0, dry_run=True)
    assert listed  # v1's and v4's own files
    assert all(seam(ds.path).exists(f) for f in listed)  # a dry run deletes nothing
    deleted = ds.vacuum(retention_hours=0)
    assert deleted == listed
    assert not any(seam(ds.path).exists(f) for f in deleted)
    for version in (0, 2, 3, 5):  # pinned, plus the latest data
        assert_frame_equal(ds.read(version), before[version])
    assert_frame_equal(lh.read("d:prod"), before[0])
    assert_frame_equal(lh.read("d:candidate"), before[3])
    for version in (1, 4):
        with pytest.raises(VersionNotFound, match=rf"version {version} of dataset 'd' is no longer readable") as info:
            ds.read(version)
        assert "removed by vacuum" in str(info.value)
    # Pinned versions still diff against each other (the change feed lost files; the join takes over).
    diff = ds.diff(0, 3, key="id")
    assert diff.method == "join"
    assert diff.added.get_column("id").to_list() == [6]
    # Vacuum adds maintenance versions that change no data.
    assert [(v.operation, v.data_change) for v in ds.history(limit=2)] == [
        ("vacuum end", False),
        ("vacuum start", False),
    ]
    assert_frame_equal(ds.read(), before[5])
    info = lh.datasets()[0]
    assert (info.latest_version, info.last_writer, info.updated_at) == (7, "tester", ds.version(5).created_at)
    # Nothing is left to delete, and a removed version cannot be tagged.
    assert ds.vacuum(retention_hours=0) == []
    with pytest.raises(VersionNotFound, match="cannot tag version 1 of 'd': its files were removed by vacuum"):
        ds.tag("old", version=1)


def test_default_retention_keeps_recent_files(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("d")
    _churn(ds)
    assert ds.vacuum() == []
    assert ds.vacuum(retention_hours=1, dry_run=True) == []
    assert all(ds.read(v).height for v in range(6))


def test_untagging_releases_a_version(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("d")
    _churn(ds)
    ds.tag("prod", version=1)
    assert ds.vacuum(retention_hours=0, dry_run=True)
    kept = ds.read(1)
    ds.vacuum(retention_hours=0)
    assert_frame_equal(ds.read(1), kept)
    ds.untag("prod")
    assert ds.vacuum(retention_hours=0)
    with pytest.raises(VersionNotFound):
        ds.read(1)


@pytest.mark.parametrize("hours", [-1, 1.5, True, "24"])
def test_bad_retention(lh: lakehouse.Lakehouse, hours: object) -> None:
    ds = lh.dataset("d")
    _churn(ds)
    with pytest.raises(InvalidArgument, match="retention_hours must be a non-negative integer"):
        ds.vacuum(retention_hours=hours)  # type: ignore[arg-type]
    assert storage.latest_version(ds.path) == 5


def test_log_retention_is_stretched_for_pinned_versions(tmp_path: object) -> None:
    """With a short log retention, a tag keeps its version's log entries; an untagged twin loses them."""
    from pathlib import Path

    root = Path(str(tmp_path)) / "lh"
    lh = lakehouse.connect(root, log_retention="interval 1 hours", checkpoint_interval=2)
    pinned, control = lh.dataset("pinned"), lh.dataset("control")
    for ds in (pinned, control):
        ds.write(frame([0]))
    pinned.tag("prod", version=0)
    assert parse_interval(storage.properties(pinned.path)["delta.logRetentionDuration"]).days >= 30
    # Age version 0's log entries past the hour (cleanup goes by file time), so the outcome is not a race
    # with the clock on a slow machine.
    two_hours_ago = time.time() - 2 * 3600
    for ds in (pinned, control):
        for entry in (Path(ds.path) / "_delta_log").glob("00000000000000000000.*"):
            os.utime(entry, (two_hours_ago, two_hours_ago))
    for i in range(1, 6):  # checkpoints clean up log entries older than the retention
        for ds in (pinned, control):
            ds.write(frame([i]))
    assert lh.read("pinned:prod").to_dicts() == [{"id": 0, "label": "l0"}]
    with pytest.raises(VersionNotFound, match="no longer in its log"):
        control.read(0)
    assert [v.version for v in control.history()] == [5, 4, 3, 2, 1]  # history ends at the oldest entry kept


def test_parse_interval() -> None:
    assert parse_interval("interval 7 days").days == 7
    assert parse_interval("INTERVAL 2 weeks").days == 14
    assert parse_interval(" interval 1 hour ").total_seconds() == 3600
    with pytest.raises(ConfigError, match="cannot read interval '7 days'"):
        parse_interval("7 days")


def test_vacuum_keeps_partitioned_pins(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("parts")
    ds.write(pl.DataFrame({"split": ["a b", "c"], "x": [1, 2]}), partition_by=["split"])
    ds.tag("prod")
    ds.write(pl.DataFrame({"split": ["c"], "x": [3]}), mode="overwrite")
    before = ds.read(tag="prod")
    assert ds.vacuum(retention_hours=0) == []  # v0's files are pinned
    assert_frame_equal(ds.read(tag="prod"), before)
    ds.untag("prod")
    assert len(ds.vacuum(retention_hours=0)) == 2
    with pytest.raises(VersionNotFound, match="removed by vacuum"):
        ds.read(0)


def _age(path: Path, hours: float) -> None:
    """Make ``path`` and everything under it look last written ``hours`` ago."""
    when = time.time() - hours * 3600
    path = Path(path)
    for p in [*path.rglob("*"), path]:
        os.utime(p, (when, when))


def _spark_like_commit(ds: lakehouse.Dataset, folder: str, ids: list[int]) -> None:
    """A version whose file lives in a write folder of its own, as a Spark write commits it."""
    (Path(ds.path) / folder).mkdir()
    file = Path(ds.path) / folder / "part-00000.parquet"
    schema = storage.arrow_schema(ds.path)
    pq.write_table(frame(ids).to_arrow().cast(schema), file)
    (Path(ds.path) / folder / ".part-00000.parquet.crc").write_bytes(b"crc")
    stats = parquet_stats.file_stats(file, schema, parquet_stats.indexed_columns(schema))
    new = storage.NewFile(
        f"{folder}/{file.name}", file.stat().st_size, int(file.stat().st_mtime * 1000), json.dumps(stats)
    )
    storage.commit_files(ds.path, [new], mode="append", schema=schema)


@pytest.mark.local_only("Hadoop's committer stages task output in local folders; S3A writes objects whole")
def test_vacuum_removes_what_dead_spark_writes_left_and_nothing_a_version_reads(lh: lakehouse.Lakehouse) -> None:
    """The staging folders a killed Spark write leaves (tests/spark/test_jobs.py kills a real one) go once they
    are as old as the retention; a write folder a version reads keeps its files."""
    ds = lh.dataset("staged")
    ds.write(frame([1, 2]))
    _spark_like_commit(ds, "part-live", [3])
    # A killed write: Hadoop's committer staged its task output under _temporary, nothing was committed.
    attempt = Path(ds.path) / "part-dead" / "_temporary" / "0" / "_temporary" / "attempt_0001_m_000000_0"
    attempt.mkdir(parents=True)
    (attempt / "part-00000.parquet").write_bytes(b"PAR1")
    (attempt / ".part-00000.parquet.crc").write_bytes(b"crc")
    # A killed write in the committed folder's neighbourhood: a staging folder and a checksum of a gone file.
    (Path(ds.path) / "part-live" / "_temporary" / "0").mkdir(parents=True)
    (Path(ds.path) / "part-live" / ".gone.parquet.crc").write_bytes(b"crc")
    _age(ds.path / "part-dead", hours=3)
    _age(ds.path / "part-live", hours=3)
    (Path(ds.path) / "part-young" / "_temporary" / "0").mkdir(parents=True)  # a write still running
    (Path(ds.path) / "part-young" / "_temporary" / "0" / "part-00000.parquet").write_bytes(b"PAR1")
    before = sorted(ds.read()["id"].to_list())

    listed = ds.vacuum(retention_hours=2, dry_run=True)
    assert listed == ["part-dead/", "part-live/_temporary/", "part-live/.gone.parquet.crc"]
    assert (Path(ds.path) / "part-dead").is_dir()
    assert ds.vacuum(retention_hours=2) == listed
    assert not (Path(ds.path) / "part-dead").exists()
    assert sorted(p.name for p in (Path(ds.path) / "part-live").iterdir()) == [
        ".part-00000.parquet.crc",
        "part-00000.parquet",
    ]
    assert (Path(ds.path) / "part-young" / "_temporary" / "0" / "part-00000.parquet").is_file()
    assert sorted(ds.read()["id"].to_list()) == before == [1, 2, 3]
    assert ds.vacuum(retention_hours=2) == []
