"""A bucket root end to end against the test S3 server: datasets, a tracked run, and nothing on local disk."""

from __future__ import annotations

import socket
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import Location
from lakehouse.cli import main
from lakehouse.errors import RootUnavailable
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server


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


def test_a_missing_bucket_is_one_clear_error_naming_bucket_and_endpoint(s3_env: S3Server) -> None:
    with pytest.raises(RootUnavailable) as raised:
        lakehouse.connect("s3://no-such-bucket-here/lh")
    message = str(raised.value)
    assert f"bucket 'no-such-bucket-here' at {s3_env.endpoint} does not exist" in message
    assert SECRET_ACCESS_KEY not in message
    assert "no-such-bucket-here" not in [b["Name"] for b in s3_env.client().list_buckets()["Buckets"]]  # type: ignore[attr-defined]


def test_an_unreachable_endpoint_is_one_clear_error_and_writes_nothing(
    bucket_root: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RootUnavailable) as raised:
        lakehouse.connect(bucket_root, storage_endpoint=closed, storage_secret_access_key=SECRET_ACCESS_KEY)
    message = str(raised.value)
    bucket = Location(bucket_root).bucket
    assert f"cannot use bucket {bucket!r} at {closed}" in message
    assert SECRET_ACCESS_KEY not in message
    assert bucket is not None
    assert s3_env.keys(bucket) == []


def test_credentials_appear_nowhere_the_lakehouse_writes_or_prints(
    bucket_root: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given as lakehouse settings (the AWS variables hold them too): they reach the engines, and nothing else.
    monkeypatch.setenv("LAKEHOUSE_STORAGE_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("LAKEHOUSE_STORAGE_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    lh = lakehouse.connect(bucket_root)
    lh.dataset("d").write(pl.DataFrame({"id": [1, 2]}))
    with lh.start_run(experiment="e", params={"lr": 0.1}) as run:
        run.log({"x": 1.0}, step=0)
    assert main(["--root", bucket_root, "datasets", "list", "--json"]) == 0
    assert main(["--root", bucket_root, "runs", "show", run.id, "--json"]) == 0
    assert main(["--root", "s3://no-such-bucket-here/lh", "datasets", "list", "--json"]) == 1
    out, err = capsys.readouterr()
    assert '"d"' in out
    assert run.id in out
    assert f"error: bucket 'no-such-bucket-here' at {s3_env.endpoint} does not exist" in err
    for shown in (out, err, repr(lh), repr(lh.settings)):
        assert SECRET_ACCESS_KEY not in shown
        assert ACCESS_KEY_ID not in shown
    bucket = Location(bucket_root).bucket
    client = s3_env.client()
    for key in s3_env.keys(str(bucket)):
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
        assert SECRET_ACCESS_KEY.encode() not in body, key
        assert ACCESS_KEY_ID.encode() not in body, key
