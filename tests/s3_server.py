"""The S3 server of the test suite: moto in server mode on a free localhost port, one per test run.

Every engine finds it through the standard AWS variables alone (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_ALLOW_HTTP``), as a user's machine would. The server
runs in this process (moto's ``ThreadedMotoServer``) so that its buckets outlive a stop and a start: the fault
tests take it away in the middle of a run and bring it back on the same port.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "lakehouse-test-key"
SECRET_ACCESS_KEY = "lakehouse-test-secret"  # noqa: S105 - a moto credential, valid nowhere else
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running moto server: its endpoint, the AWS variables that point at it, and fresh buckets on demand."""

    _server: ThreadedMotoServer
    host: str
    port: int
    buckets: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, port: int = 0) -> S3Server:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound = server.get_host_and_port()
        return cls(server, host, bound)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def environ(self) -> Mapping[str, str]:
        """The standard AWS variables, and only those, that make every engine talk to this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self, service: str = "s3") -> object:
        """A boto3 client of this server, for setting up buckets and looking at objects (never the code under test)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def new_bucket(self, prefix: str = "lh") -> str:
        """Create a bucket no other test uses and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        self.buckets.append(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``, sorted (to prove what a failed call left behind)."""
        paginator = self.client().get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        found: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def stop(self) -> None:
        """Take the server away (its buckets stay in memory until :meth:`resume`)."""
        self._server.stop()

    def resume(self) -> None:
        """Serve the same buckets again on the same port."""
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
