"""The S3 server of the test suite: moto in server mode on a free localhost port, one per test run.

Every engine finds it through the standard AWS variables alone (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_ALLOW_HTTP``), as a user's machine would. The server
runs in this process (moto's ``ThreadedMotoServer``) so that its buckets outlive a stop and a start: the fault
tests take it away in the middle of a run and bring it back on the same port.

The server runs in a child process (moto's ``ThreadedMotoServer`` there), driven over a pipe: some delta-rs calls
(``DeltaTable.is_deltatable``) wait for the network while holding the GIL, which would starve a server thread
of the test process itself and hang the call until its timeout.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

ACCESS_KEY_ID = "lakehouse-test-key"
SECRET_ACCESS_KEY = "lakehouse-test-secret"  # noqa: S105 - a moto credential, valid nowhere else
REGION = "us-east-1"


def _serve(control: Connection, port: int) -> None:
    """The child process: a moto server on ``port`` (0: a free one), stopped and resumed on command."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request would drown the test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    control.send((host, bound))
    while True:
        command = control.recv()
        if command == "stop":
            server.stop()
        elif command == "resume":  # moto's buckets live in this process's memory: the new server sees them
            server = ThreadedMotoServer(ip_address=host, port=bound, verbose=False)
            server.start()
        elif command == "exit":
            server.stop()
            control.send("ok")
            return
        control.send("ok")


@dataclass
class S3Server:
    """A running moto server: its endpoint, the AWS variables that point at it, and fresh buckets on demand."""

    _process: Any
    _control: Connection
    host: str
    port: int
    buckets: list[str] = field(default_factory=list)
    running: bool = True

    @classmethod
    def start(cls, port: int = 0) -> S3Server:
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds engine threads
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, port), name="moto-s3", daemon=True)
        process.start()
        host, bound = ours.recv()
        return cls(process, ours, host, bound)

    def _command(self, command: str) -> None:
        self._control.send(command)
        self._control.recv()

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
        if self.running:
            self._command("stop")
            self.running = False

    def resume(self) -> None:
        """Serve the same buckets again on the same port."""
        if not self.running:
            self._command("resume")
            self.running = True

    def close(self) -> None:
        """End the server process (at the end of the test run)."""
        self._command("exit")
        self._process.join(timeout=10)
