"""Credentials a bucket refuses: wrong ones at connect, and ones revoked while a run logs.

The suite's S3 server accepts any key (moto's default). This module starts a second moto server that checks
every request: it is set up unauthenticated (an IAM user ``trainer`` whose inline policy allows ``s3:*``, an
``admin`` allowed everything, a bucket), then told to authenticate every request from then on
(``/moto-api/reset-auth``, what moto's ``INITIAL_NO_AUTH_ACTION_COUNT`` sets). Revoking is removing the trainer's
policy, restoring is putting it back: the same key, refused and then accepted again, as when an administrator
takes a permission away and gives it back. (moto does not check an access key's ``Inactive`` status, and a
deleted key cannot be re-created with the same id, so neither can be the revocation here: see docs/STORAGE.md.)
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import lakehouse
from lakehouse import state, storage
from lakehouse.errors import RootUnavailable, TrackingWarning
from lakehouse.tracking.writer import get_writer
from tests.s3_server import REGION, S3Server
from tests.tracking.conftest import CHILD, log_steps, points, recover_exactly_once

BUCKET = "guarded"
ALLOW_S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
LOG_CALL_BOUND_S = 0.05  # far above a log() call's microseconds, far below one request to the server


@dataclass(frozen=True)
class Guarded:
    """The checking server, the trainer's key and an administrator's IAM client."""

    server: S3Server
    key_id: str
    secret: str
    admin_key_id: str
    admin_secret: str

    def client(self, service: str, key_id: str = "setup", secret: str = "setup") -> Any:  # noqa: S107 - not checked yet
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.server.endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def admin(self) -> Any:
        return self.client("iam", self.admin_key_id, self.admin_secret)

    def revoke(self) -> None:
        self.admin().delete_user_policy(UserName="trainer", PolicyName="s3")

    def restore(self) -> None:
        self.admin().put_user_policy(UserName="trainer", PolicyName="s3", PolicyDocument=ALLOW_S3)

    def keys(self) -> list[str]:
        """Every key in the bucket, listed by the administrator."""
        found = self.client("s3", self.admin_key_id, self.admin_secret).list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in found.get("Contents", []))


@pytest.fixture(scope="module")
def guarded() -> Iterator[Guarded]:
    server = S3Server.start()
    setup = Guarded(server, "", "", "", "")
    iam = setup.client("iam")
    iam.create_user(UserName="trainer")
    trainer = iam.create_access_key(UserName="trainer")["AccessKey"]
    iam.put_user_policy(UserName="trainer", PolicyName="s3", PolicyDocument=ALLOW_S3)
    iam.create_user(UserName="admin")
    admin = iam.create_access_key(UserName="admin")["AccessKey"]
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=ALLOW_ALL)
    setup.client("s3").create_bucket(Bucket=BUCKET)
    checking = urllib.request.Request(  # from now on every request is authenticated
        f"{server.endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(checking) as answer:  # noqa: S310 - our own server on 127.0.0.1
        assert json.load(answer)["status"] == "ok"
    yield Guarded(
        server, trainer["AccessKeyId"], trainer["SecretAccessKey"], admin["AccessKeyId"], admin["SecretAccessKey"]
    )
    server.close()


@pytest.fixture
def trainer_env(guarded: Guarded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Guarded:
    """The standard AWS variables of the trainer on the checking server, and a spool of this test's own."""
    for name, value in guarded.server.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", guarded.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", guarded.secret)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return guarded


@pytest.mark.parametrize("given", ["environment", "settings"])
def test_wrong_credentials_at_connect_are_one_error_and_write_nothing(
    trainer_env: Guarded, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    before = trainer_env.keys()
    bad_secret = "wrong-secret-that-must-not-show"  # noqa: S105
    settings: dict[str, Any] = {}
    if given == "environment":  # the trainer's key with a wrong secret, through the standard AWS variables
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bad_secret)
    else:  # a key the server does not know, as lakehouse settings
        settings = {"storage_access_key_id": "AKIANOSUCHKEY0000000", "storage_secret_access_key": bad_secret}
    with pytest.raises(RootUnavailable) as raised:
        lakehouse.connect(f"s3://{BUCKET}/wrong-{given}", **settings)
    message = str(raised.value)
    assert message.startswith(f"cannot use bucket {BUCKET!r} at {trainer_env.server.endpoint}: ")
    assert "ACCESS_DENIED" in message
    assert bad_secret not in message
    assert trainer_env.secret not in message
    assert trainer_env.keys() == before  # nothing written


def train_while_refused(run: lakehouse.Run, writer: Any) -> float:
    """Log 200 more points, then wait until the writer was refused twice (once, then its retry); the slowest
    ``run.log()`` call."""
    slowest = log_steps(run, range(100, 300))
    deadline = time.monotonic() + 60
    while writer._failures < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return slowest


def test_credentials_revoked_mid_run_keep_the_points_and_commit_them_once_when_restored(
    trainer_env: Guarded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lakehouse")
    root = f"s3://{BUCKET}/revoked"
    lh = lakehouse.connect(root, flush_interval=0.1, retry_max_backoff=0.5, maintenance_commits=0)
    run = lh.start_run(experiment="revoked", name="training")
    for step in range(100):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    assert run.flush(timeout=60)  # the first commits create the tables
    writer = get_writer(lh.layout, lh.settings)

    trainer_env.revoke()
    try:
        with pytest.warns(TrackingWarning) as warned:
            slowest = train_while_refused(run, writer)
        assert writer._failures >= 2
        assert slowest < LOG_CALL_BOUND_S, f"run.log() took {slowest:.3f}s while access was refused"
        assert writer.pending_segments >= 1
    finally:
        trainer_env.restore()
    said = [str(w.message) for w in warned if issubclass(w.category, TrackingWarning)]
    expected = f"bucket {BUCKET!r} at {trainer_env.server.endpoint} refuses access to {root!r}"
    assert [m for m in said if m.startswith(expected)], said
    assert len(said) == 1  # one warning, however many attempts were refused

    # The same key works again: the commit thread's backoff alone commits what waited, exactly once.
    deadline = time.monotonic() + 30
    while writer.has_pending_work() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not writer.has_pending_work()
    assert run.finish()
    steps = points(lh).filter(pl.col("run_id") == run.id).get_column("step").sort().to_list()
    assert steps == list(range(300))
    assert lh.run(run.id).status == "FINISHED"
    assert writer.close(timeout=60)
    reported = [r.getMessage() for r in caplog.records] + said + [writer.last_error or ""]
    assert any("refuses access" in text for text in reported)
    for text in reported:
        assert trainer_env.secret not in text


def test_a_key_deleted_mid_run_is_recovered_with_the_new_key_exactly_once(
    trainer_env: Guarded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key itself is gone: the training process cannot be handed a new one, so it is stopped and its spool
    recovered with the new key, the documented procedure (docs/STORAGE.md, "Credentials refused")."""
    admin = trainer_env.admin()
    admin.create_user(UserName="rotated")
    admin.put_user_policy(UserName="rotated", PolicyName="s3", PolicyDocument=ALLOW_S3)
    old = admin.create_access_key(UserName="rotated")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", old["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", old["SecretAccessKey"])
    root = f"s3://{BUCKET}/rotated"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "steady", root], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip(), "the child started no run"
        lh = lakehouse.connect(root, maintenance_commits=0)
        deadline = time.monotonic() + 60
        while not storage.exists(lh.layout.metrics) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert storage.exists(lh.layout.metrics), "the child's first commit"
        admin.delete_access_key(UserName="rotated", AccessKeyId=old["AccessKeyId"])
        time.sleep(2)  # the child logs on into its spool; its commits are refused and retried
    finally:
        child.kill()  # the training process is stopped
        _, said = child.communicate(timeout=30)
    assert f"bucket {BUCKET!r} at {trainer_env.server.endpoint} refuses access to {root!r}" in said
    assert old["SecretAccessKey"] not in said

    new = admin.create_access_key(UserName="rotated")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", new["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", new["SecretAccessKey"])
    state.forget(root)  # as a new process with the new key
    lh = lakehouse.connect(root, maintenance_commits=0)
    report, _ = recover_exactly_once(lh, "a key replaced mid-run")
    assert report.segments_committed >= 1  # points logged while refused were in the spool, and are in now
    assert lh.recover().segments_committed == 0
