"""Writes of whole objects to a bucket that become visible only when told to, never after a failure.

A write to a bucket root (an object of :mod:`lakehouse.objects`, a file-dataset blob, the digest record) streams
straight to its final key: bytes go in parts of a multipart upload, and the object appears under its key only
when :meth:`DirectUpload.complete` sends ``CompleteMultipartUpload`` (or, for an object smaller than one part,
the single ``PutObject``). Anything that goes wrong before — the source cannot be read, the digest is not the one
expected, an exception or a ``KeyboardInterrupt`` — ends in ``AbortMultipartUpload``; a kill -9 leaves an
upload never completed, which S3 never shows as an object (:func:`abort_stale` ends those, as vacuum does).

Why not pyarrow, which serves every other read and write of a bucket (docs/STORAGE.md has the details): its S3
output stream completes the multipart upload whenever it is closed, including from its destructor after an
error, and pyarrow 25 does not expose Arrow's ``Abort()``. boto3 is the AWS SDK for Python; it comes with the
``s3`` extra and is imported only here, only for a write to a bucket.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from lakehouse._optional import import_optional
from lakehouse.errors import StorageError
from lakehouse.object_storage import Clients, client_key, endpoint, endpoint_name, redact

#: Bytes per part: S3 takes 5 MiB to 5 GiB (the last part may be smaller) and at most 10,000 parts, so an
#: object larger than 10,000 parts of this size gets larger parts (:func:`part_size`).
PART_SIZE = 8 << 20
#: Parts in flight at once: the next part is read while earlier ones travel; memory is (this + 1) parts.
IN_FLIGHT = 4
_MAX_PARTS = 10_000


def part_size(size: int | None) -> int:
    """The part size for an object of ``size`` bytes (unknown: :data:`PART_SIZE`), within S3's 10,000 parts."""
    if size is None or size <= PART_SIZE * _MAX_PARTS:
        return PART_SIZE
    mib = 1 << 20
    smallest = -(-size // _MAX_PARTS)
    return -(-smallest // mib) * mib


_clients: Clients[Any] = Clients()


def client(options: Mapping[str, str]) -> Any:
    """A boto3 S3 client for the storage options (what they do not give comes from the AWS chain), reused.

    The options are those every engine gets (:func:`lakehouse.object_storage.storage_options`); the endpoint
    variables are read as :func:`lakehouse.object_storage.arrow_filesystem` reads them, and a custom endpoint
    is addressed path-style unless ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST`` says otherwise, as delta-rs does.
    """
    return _clients.get(client_key(options), lambda: _build(options))


def _build(options: Mapping[str, str]) -> Any:
    url = endpoint(options)
    boto3 = import_optional("boto3", extra="s3", purpose="writing objects to a bucket")
    botocore_config = import_optional("botocore.config", extra="s3")
    virtual = options.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false" if url else "true") == "true"
    kwargs: dict[str, Any] = {
        "endpoint_url": url or None,
        "region_name": options.get("AWS_REGION"),
        "config": botocore_config.Config(
            s3={"addressing_style": "virtual" if virtual else "path"},
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=IN_FLIGHT + 2,
        ),
    }
    if options.get("AWS_ACCESS_KEY_ID") and options.get("AWS_SECRET_ACCESS_KEY"):
        kwargs["aws_access_key_id"] = options["AWS_ACCESS_KEY_ID"]
        kwargs["aws_secret_access_key"] = options["AWS_SECRET_ACCESS_KEY"]
        kwargs["aws_session_token"] = options.get("AWS_SESSION_TOKEN")
    # A session of its own: boto3's default session is shared state that other code may configure.
    return boto3.session.Session().client("s3", **kwargs)


@contextmanager
def _refused(options: Mapping[str, str], what: str) -> Iterator[None]:
    """Turn an SDK error into :class:`StorageError` naming ``what`` and the endpoint, never a credential."""
    exceptions = import_optional("botocore.exceptions", extra="s3")
    try:
        yield
    except (exceptions.BotoCoreError, exceptions.ClientError) as e:
        msg = f"{what} at {endpoint_name(options)} failed: {redact(str(e), options)}"
        raise StorageError(msg) from e


class DirectUpload:
    """The bytes of one object, streamed to its final key and visible there only after :meth:`complete`.

    Use :func:`upload`, which completes on success and aborts on any exception.

    Args:
        options: the storage options of the root.
        bucket: the bucket.
        key: the object's final key.
        size: the object's size if known (it sets the part size for very large objects).
    """

    def __init__(self, options: Mapping[str, str], bucket: str, key: str, *, size: int | None = None) -> None:
        self._options = options
        self._client = client(options)
        self.bucket = bucket
        self.key = key
        self._part_size = part_size(size)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: dict[int, str] = {}  # part number -> ETag, of the parts the server has
        self._sent = 0  # parts handed to the pool so far: the last part number used
        self._pending: set[Future[None]] = set()
        self._pool: ThreadPoolExecutor | None = None
        self.done = False

    def __repr__(self) -> str:
        return f"DirectUpload(s3://{self.bucket}/{self.key})"

    @property
    def _where(self) -> str:
        return f"uploading s3://{self.bucket}/{self.key}"

    def write(self, data: bytes | memoryview, /) -> int:
        """Add ``data`` to the object; every full part is sent (at most :data:`IN_FLIGHT` at once)."""
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._send(part)
        return len(data)

    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            with _refused(self._options, self._where):
                started = self._client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self._upload_id = str(started["UploadId"])
            self._pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="lakehouse-upload")
        assert self._pool is not None
        while len(self._pending) >= IN_FLIGHT:
            self._settle("FIRST_COMPLETED")
        self._sent += 1
        number = self._sent
        self._pending.add(self._pool.submit(self._upload_part, number, part))

    def _upload_part(self, number: int, part: bytes) -> None:
        with _refused(self._options, f"{self._where} (part {number})"):
            sent = self._client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=part
            )
        self._parts[number] = str(sent["ETag"])

    def _settle(self, until: Literal["FIRST_COMPLETED", "ALL_COMPLETED"]) -> None:
        """Wait for parts in flight (one, or all); the first failure is raised."""
        finished, self._pending = wait(self._pending, return_when=until)
        for future in finished:
            future.result()

    def complete(self) -> None:
        """Send what is left and make the object visible under its key (replacing any object there)."""
        if self._upload_id is None:  # smaller than one part: one PutObject, which is atomic itself
            with _refused(self._options, self._where):
                self._client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer))
            self.done = True
            return
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        while self._pending:
            self._settle("ALL_COMPLETED")
        parts = [{"PartNumber": n, "ETag": tag} for n, tag in sorted(self._parts.items())]
        with _refused(self._options, self._where):
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )
        self.done = True
        self._close_pool()

    def abort(self) -> None:
        """Give the upload up: parts not sent yet are dropped, the uploaded ones deleted; no object appears.

        Waits for parts already on their way (S3 may keep a part that lands after the abort), then aborts; an
        abort that fails (the endpoint is gone) leaves an upload never completed, which is never an object.
        """
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        if self._upload_id is not None and not self.done:
            try:
                with _refused(self._options, self._where):
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            except StorageError:  # the caller's error is the one to report; vacuum ends the upload later
                pass
        self._close_pool()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@contextmanager
def upload(options: Mapping[str, str], bucket: str, key: str, *, size: int | None = None) -> Iterator[DirectUpload]:
    """A :class:`DirectUpload` that completes when the block ends and is aborted if anything escapes it
    (an exception, ``KeyboardInterrupt``, ``SystemExit``)."""
    stream = DirectUpload(options, bucket, key, size=size)
    try:
        yield stream
    except BaseException:
        stream.abort()
        raise
    try:
        stream.complete()
    except BaseException:  # an interrupt while the last parts travel: never complete a half-sent object
        stream.abort()
        raise


#: The largest object one ``CopyObject`` copies (S3's limit); a larger one is copied as a multipart upload.
COPY_LIMIT = 5 << 30
#: Bytes per part of such a copy (``UploadPartCopy``, done by the server: few large parts).
COPY_PART = 1 << 30


def copy_in_place(options: Mapping[str, str], bucket: str, key: str, size: int, *, part: int = COPY_PART) -> None:
    """Write the object ``key`` of ``size`` bytes again with its own bytes, server-side, in parts of ``part``
    bytes (what makes an object young again for age-based clean-up when it is too large for one CopyObject).

    The copy is a multipart upload to the same key: until it completes, readers see the object as it was; if
    anything fails it is aborted and the object is left as it was.
    """
    sdk = client(options)
    where = f"copying s3://{bucket}/{key} onto itself"
    with _refused(options, where):
        upload_id = sdk.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    try:
        parts = []
        for number, start in enumerate(range(0, size, part), start=1):
            with _refused(options, f"{where} (part {number})"):
                done = sdk.upload_part_copy(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": bucket, "Key": key},
                    CopySourceRange=f"bytes={start}-{min(start + part, size) - 1}",
                )
            parts.append({"PartNumber": number, "ETag": done["CopyPartResult"]["ETag"]})
        with _refused(options, where):
            sdk.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        try:
            with _refused(options, where):
                sdk.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except StorageError:  # the first error is the one to report; vacuum ends the upload later
            pass
        raise


def abort_stale(
    options: Mapping[str, str], bucket: str, prefix: str, *, older_than: datetime, dry_run: bool
) -> list[str]:
    """Abort (with ``dry_run``: only list) the multipart uploads under ``prefix`` started before ``older_than``
    (writers that died, never completed) and return their keys; their parts cost storage until then."""
    sdk = client(options)
    ended: list[str] = []
    with _refused(options, f"listing the uploads of s3://{bucket}/{prefix}"):
        pages = sdk.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
        uploads = [u for page in pages for u in page.get("Uploads", [])]
    for found in uploads:
        if found["Initiated"] >= older_than:
            continue
        if not dry_run:
            with _refused(options, f"aborting the upload of s3://{bucket}/{found['Key']}"):
                sdk.abort_multipart_upload(Bucket=bucket, Key=found["Key"], UploadId=found["UploadId"])
        ended.append(str(found["Key"]))
    return ended
