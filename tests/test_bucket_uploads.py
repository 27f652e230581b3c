"""Objects written to a bucket root go straight to their key and appear only whole: on the test suite's S3 server.

Parts are the real S3 minimum and above (moto refuses a part under 5 MiB but the last), so "large" here is a few
parts of :data:`lakehouse.multipart.PART_SIZE`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse import Location, multipart
from lakehouse.errors import InvalidArgument, NotInstalled, StorageError
from lakehouse.fileio import CHUNK, Files, Writable
from lakehouse.multipart import IN_FLIGHT, PART_SIZE, copy_in_place, part_size
from lakehouse.objects import ObjectStore
from tests.objects_child import kill_mid_put
from tests.s3_server import S3Server

SIZE = 2 * PART_SIZE + (3 << 20)  # two full parts and a short last one
LARGE = (IN_FLIGHT + 2) * PART_SIZE + 1  # more parts than are in flight at once: numbering, ordering


def uploads(server: S3Server, bucket: str) -> list[dict[str, Any]]:
    """The multipart uploads begun in ``bucket`` and neither completed nor aborted."""
    found = server.client().list_multipart_uploads(Bucket=bucket)  # type: ignore[attr-defined]
    return list(found.get("Uploads", []))


def big_file(path: Path, size: int = SIZE) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_a_large_object_goes_straight_to_its_key(bucket_root: str, s3_env: S3Server, tmp_path: Path) -> None:
    source = big_file(tmp_path / "ckpt.bin", LARGE)
    store = ObjectStore(bucket_root)
    ref = store.put_file(source)
    assert (ref.digest, ref.size) == (hashlib.sha256(source.read_bytes()).hexdigest(), LARGE)
    assert store.read_bytes(ref.digest) == source.read_bytes()  # read back and its digest checked
    bucket = str(Location.of(bucket_root).bucket)
    assert [k for k in s3_env.keys(bucket) if "/_objects/sha256/" in k or "/_objects/tmp" in k] == [f"lh/{ref.key}"]
    assert uploads(s3_env, bucket) == []
    head = s3_env.client().head_object(Bucket=bucket, Key=f"lh/{ref.key}")  # type: ignore[attr-defined]
    assert head["ETag"].strip('"').endswith(f"-{IN_FLIGHT + 3}")  # one multipart upload, no copy


class Interrupted(Exception):
    """What a failing source raises in these tests."""


@pytest.mark.parametrize("failure", ["exception", "interrupt", "truncated", "overwritten"])
def test_a_source_failing_mid_way_leaves_no_object(
    bucket_root: str, s3_env: S3Server, tmp_path: Path, failure: str
) -> None:
    """Whatever stops an upload after its first part was sent, nothing appears and the upload is aborted."""
    store = ObjectStore(bucket_root)
    kept = store.put_bytes(b"already here")
    source = big_file(tmp_path / "ckpt.bin")
    bucket = str(Location.of(bucket_root).bucket)
    before = s3_env.keys(bucket)
    read = [0]

    def fail(n: int) -> None:  # progress: SIZE bytes hashed, then the same bytes sent
        read[0] += n
        if read[0] < SIZE + PART_SIZE + CHUNK:  # the first part is on its way
            return
        read[0] = -(1 << 40)  # once
        if failure == "exception":
            raise Interrupted
        if failure == "interrupt":
            raise KeyboardInterrupt
        if failure == "truncated":  # the source shrinks under the reader
            os.truncate(source, SIZE // 2)
        else:  # same size, other bytes from here on: a trainer writing the checkpoint again
            with source.open("r+b") as out:
                out.seek(SIZE - 1024)
                out.write(os.urandom(1024))

    expected: dict[str, type[BaseException]] = {
        "exception": Interrupted,
        "interrupt": KeyboardInterrupt,
        "truncated": InvalidArgument,
        "overwritten": InvalidArgument,
    }
    with pytest.raises(expected[failure]) as caught:
        store.put_file(source, progress=fail)
    if expected[failure] is InvalidArgument:
        assert "changed while it was being stored; nothing was stored" in str(caught.value)
    assert s3_env.keys(bucket) == before  # no object, no staging copy
    assert uploads(s3_env, bucket) == []  # and the parts sent were dropped
    assert [o.digest for o in store.objects()] == [kept.digest]


def test_write_atomic_on_a_bucket_is_all_or_nothing(bucket_root: str, s3_env: S3Server) -> None:
    files = Files(bucket_root)
    bucket = str(Location.of(bucket_root).bucket)

    def half(out: Writable) -> None:
        out.write(b"x" * (PART_SIZE + 1))
        raise Interrupted

    with pytest.raises(Interrupted):
        files.write_atomic("notes/big.txt", half)
    assert not files.exists("notes/big.txt")
    assert uploads(s3_env, bucket) == []

    def small(out: Writable) -> None:
        out.write(b"hello")

    files.write_atomic("notes/small.txt", small)
    with files.open_read("notes/small.txt") as stream:
        assert stream.read() == b"hello"


def test_a_refused_upload_is_a_storage_error_naming_the_key(s3_env: S3Server, tmp_path: Path) -> None:
    root = "s3://no-such-bucket-for-uploads/lh"
    with pytest.raises(StorageError, match=r"s3://no-such-bucket-for-uploads/lh/_objects/sha256/.* at http://"):
        ObjectStore(root).put_file(big_file(tmp_path / "a.bin", 10))


def test_part_sizes_stay_within_ten_thousand_parts() -> None:
    assert part_size(None) == part_size(1 << 30) == PART_SIZE
    for size in (PART_SIZE * 10_000 + 1, 1 << 40, 5 * (1 << 40)):
        assert -(-size // part_size(size)) <= 10_000
        assert part_size(size) % (1 << 20) == 0


def test_kill_during_an_upload_leaves_no_object(bucket_root: str, s3_env: S3Server, tmp_path: Path) -> None:
    """A writer SIGKILLed mid-upload leaves an upload never completed, which is no object; sweep aborts it."""
    source = big_file(tmp_path / "big.bin", 3 * PART_SIZE)
    bucket = str(Location.of(bucket_root).bucket)
    s3: Any = s3_env.client()

    def sending() -> list[dict[str, Any]]:  # the child's upload, once a part of it is in
        begun = uploads(s3_env, bucket)
        parts = begun and s3.list_parts(Bucket=bucket, Key=begun[0]["Key"], UploadId=begun[0]["UploadId"])
        return begun if parts and parts.get("Parts") else []

    begun = kill_mid_put(bucket_root, str(source), sending)
    store = ObjectStore(bucket_root)
    assert list(store.objects()) == []
    assert [u["Key"] for u in uploads(s3_env, bucket)] == [begun[0]["Key"]]
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.sweep(set(), older_than=later, dry_run=True) == [begun[0]["Key"].removeprefix("lh/")]
    assert len(uploads(s3_env, bucket)) == 1  # a dry run ends nothing
    assert store.sweep(set(), older_than=later, dry_run=False) == [begun[0]["Key"].removeprefix("lh/")]
    assert uploads(s3_env, bucket) == []
    assert store.put_file(source).size == source.stat().st_size  # and the next put stores it whole


def test_an_object_too_large_for_one_copy_is_made_young_in_parts(bucket_root: str, s3_env: S3Server) -> None:
    """What touch does above S3's 5 GiB CopyObject limit, here with 5 MiB parts: same bytes, a new time."""
    store = ObjectStore(bucket_root)
    data = os.urandom(2 * (5 << 20) + 123)
    ref = store.put_bytes(data)
    where = Location.of(f"{bucket_root}/{ref.key}")
    bucket, key = str(where.bucket), str(where.key)
    s3: Any = s3_env.client()
    before = s3.head_object(Bucket=bucket, Key=key)
    time.sleep(1.1)  # S3 times are whole seconds
    copy_in_place({}, bucket, key, ref.size, part=5 << 20)
    after = s3.head_object(Bucket=bucket, Key=key)
    assert after["LastModified"] > before["LastModified"]
    assert after["ETag"].strip('"').endswith("-3")  # written again as three parts
    assert store.read_bytes(ref.digest) == data  # the same bytes, verified
    assert uploads(s3_env, bucket) == []


def test_without_boto3_a_write_to_a_bucket_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(NotInstalled, match=r"pip install 'lakehouse\[s3\]'"):
        multipart.client({"AWS_REGION": "nowhere-1"})  # options no client was built for yet
