"""A bucket root end to end against the test S3 server: datasets, a tracked run, and nothing on local disk."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import Location
from tests.s3_server import S3Server


def test_connect_to_a_bucket_writes_and_reads_a_dataset_and_a_run(
    bucket_root: str, s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written to a local "s3:" folder by mistake would land here
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    lh = lakehouse.connect(bucket_root)
    assert lh.root == Location(bucket_root)
    assert lh.datasets() == []  # an empty bucket prefix is an empty lakehouse
    ds = lh.dataset("digits")
    ds.write(pl.DataFrame({"id": [1, 2, 3], "label": ["a", "b", "c"]}))
    ds.write(pl.DataFrame({"id": [4], "label": ["d"]}), mode="append")
    assert lh.read("digits").sort("id").get_column("id").to_list() == [1, 2, 3, 4]
    assert lh.read("digits:v0").height == 3
    assert [d.name for d in lh.datasets()] == ["digits"]
    with lh.start_run(experiment="smoke", name="first", params={"lr": 0.1}) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    runs = lh.runs(experiment="smoke")
    assert runs.height == 1
    row = runs.row(0, named=True)
    assert (row["run_id"], row["status"], row["params.lr"]) == (run.id, "FINISHED", "0.1")
    assert lh.metrics(run.id).height == 5
    bucket = Location(bucket_root).bucket
    assert bucket is not None
    keys = s3_env.keys(bucket)
    assert any(k.startswith("lh/datasets/digits/_delta_log/") for k in keys)
    assert any(k.startswith("lh/tracking/metrics/_delta_log/") for k in keys)
    assert not (tmp_path / "s3:").exists()
    # The spool stayed on local disk, under the cache of this root, not in the bucket.
    assert not any(k.startswith("lh/_spool") for k in keys)
    assert (tmp_path / "home" / ".cache" / "lakehouse" / "spool").is_dir()
