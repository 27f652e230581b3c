"""Bucket roots: the location type, the storage settings as one set of options, and secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse
from lakehouse import Location
from lakehouse.config import load_settings
from lakehouse.errors import ConfigError, InvalidArgument
from lakehouse.object_storage import arrow_filesystem, describe, storage_options

SECRET = "wJalrXUtnFEMI-not-a-real-secret"


def test_a_bucket_location_joins_names_and_knows_its_parts() -> None:
    root = Location.of("s3a://team-bucket/lake/")
    assert root == Location.of("s3://team-bucket/lake") == Location("s3://team-bucket/lake")
    table = root / "datasets" / "mnist"
    assert str(table) == "s3://team-bucket/lake/datasets/mnist"
    assert (table.name, table.parent, table.bucket, table.key) == (
        "mnist",
        root / "datasets",
        "team-bucket",
        "lake/datasets/mnist",
    )
    assert table.relative_to(root) == "datasets/mnist"
    assert (table.is_remote, table.local) == (True, None)
    assert Location.of("s3://team-bucket").parent == Location.of("s3://team-bucket")
    with pytest.raises(TypeError, match="not on the local file system"):
        Path(table)  # an open() or Path on a bucket location fails loudly instead of writing to ./s3:
    with pytest.raises(ValueError, match="not a relative path"):
        _ = root / "../elsewhere"


def test_a_local_location_is_the_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Location.of("lh")
    assert root.local == tmp_path / "lh"
    assert str(root / "datasets") == str(tmp_path / "lh" / "datasets")
    assert Path(root / "x") == tmp_path / "lh" / "x"
    assert Location.of(f"file://{tmp_path}/lh") == root
    assert root.local_folder("the demo") == tmp_path / "lh"
    with pytest.raises(InvalidArgument, match="the demo works on a local root only; 's3://bkt/x' is in a bucket"):
        Location.of("s3://bkt/x").local_folder("the demo")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://bucket/x", "unsupported scheme 'gs://'"),
        ("s3://ab/x", "'ab' is not a valid bucket name"),
        ("s3://Team_Bucket/x", "'Team_Bucket' is not a valid bucket name"),
        ("s3://bucket/a/../b", "'.' or '..' parts"),
    ],
)
def test_bad_roots_are_refused_naming_them(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        lakehouse.connect(uri)


def test_storage_options_hold_only_what_settings_give(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert storage_options(load_settings()) == {}  # the AWS chain alone
    config = tmp_path / "lakehouse.toml"
    config.write_text(
        '[storage]\nendpoint = "http://127.0.0.1:9000"\npath_style = true\nallow_http = "yes"\n', encoding="utf-8"
    )
    monkeypatch.setenv("LAKEHOUSE_CONFIG", str(config))
    monkeypatch.setenv("LAKEHOUSE_STORAGE_REGION", "eu-west-1")
    settings = load_settings(storage_access_key_id="AKIAEXAMPLE", storage_secret_access_key=SECRET)
    options = storage_options(settings)
    assert options == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    assert describe(options)["AWS_SECRET_ACCESS_KEY"] == "***"
    assert describe(options)["AWS_ACCESS_KEY_ID"] == "***"
    assert storage_options(load_settings(storage_path_style="false"))["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "true"
    with pytest.raises(ConfigError, match="storage_path_style"):
        load_settings(storage_path_style="sometimes")


def test_arrow_filesystem_takes_the_same_options() -> None:
    fs = arrow_filesystem(
        {"AWS_ENDPOINT_URL": "127.0.0.1:9000", "AWS_ALLOW_HTTP": "true", "AWS_REGION": "eu-west-1"}, environ={}
    )
    assert (fs.region, type(fs).__name__) == ("eu-west-1", "S3FileSystem")
    assert "http" in repr(fs.__reduce__()[1][0]["scheme"])
    assert fs.__reduce__()[1][0]["endpoint_override"] == "127.0.0.1:9000"


def test_credentials_never_show_in_repr_of_settings_locations_or_connections(s3_env: object, bucket_root: str) -> None:
    lh = lakehouse.connect(bucket_root, storage_access_key_id="lakehouse-test-key", storage_secret_access_key=SECRET)
    for shown in (repr(lh.settings), str(lh.settings), repr(lh), repr(lh.layout), repr(lh.root), repr(lh.layout.state)):
        assert SECRET not in shown
        assert "lakehouse-test-key" not in shown
