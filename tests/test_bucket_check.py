"""What a bucket problem looks like in an error: the bucket and the endpoint named, never a credential."""

from __future__ import annotations

import pytest

from lakehouse.errors import RootUnavailable
from lakehouse.fileio import check_bucket, remote_filesystem
from lakehouse.location import Location
from lakehouse.object_storage import endpoint_name, redact
from tests.s3_server import S3Server


def test_redact_removes_every_credential_and_keeps_one_line() -> None:
    options = {"AWS_SECRET_ACCESS_KEY": "opt-secret", "AWS_REGION": "eu-west-1"}
    environ = {"AWS_SESSION_TOKEN": "env-token", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}
    text = "failed with opt-secret\n  and env-token for AKIAEXAMPLE in eu-west-1"
    assert redact(text, options, environ) == "failed with *** and *** for *** in eu-west-1"


def test_endpoint_name_is_the_url_or_aws_and_its_region() -> None:
    assert endpoint_name({"AWS_ENDPOINT_URL": "http://minio:9000"}, {}) == "http://minio:9000"
    assert endpoint_name({}, {"AWS_ENDPOINT_URL_S3": "http://s3only:9000", "AWS_ENDPOINT_URL": "x"}) == (
        "http://s3only:9000"
    )
    assert endpoint_name({}, {"AWS_DEFAULT_REGION": "eu-west-1"}) == "AWS S3 (eu-west-1)"
    assert endpoint_name({}, {}) == "AWS S3"


def test_check_bucket_passes_an_existing_bucket_and_names_a_missing_one(bucket_root: str, s3_env: S3Server) -> None:
    import lakehouse

    lh = lakehouse.connect(bucket_root)
    check_bucket(lh.root)  # exists: no error, and the root's file system is built once
    assert remote_filesystem(bucket_root) is remote_filesystem(f"{bucket_root}/datasets")
    check_bucket(Location.of("/tmp/anything"))  # a local root is not checked
    with pytest.raises(RootUnavailable) as caught:
        lakehouse.connect("s3://lh-not-there/x")
    assert str(caught.value) == (
        f"bucket 'lh-not-there' at {s3_env.endpoint} does not exist (root 's3://lh-not-there/x'); create it first"
    )
    assert "lh-not-there" not in [b["Name"] for b in s3_env.client().list_buckets()["Buckets"]]  # type: ignore[attr-defined]
