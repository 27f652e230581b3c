"""The CLI on a bucket root: the same reading commands as on a local folder, and one-line errors for a bucket
that is missing, refuses the credentials or cannot be reached."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.app import server as app_server
from lakehouse.cli import main
from lakehouse.tracking.writer import get_writer
from tests.cli.app_process import assert_answers, serving
from tests.s3_server import SECRET_ACCESS_KEY, S3Server

pytestmark = pytest.mark.roots


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_reading_commands(
    root: Path | str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    lh.dataset("data").write(pl.DataFrame({"x": [1, 2]}), description="first")
    lh.dataset("data").write(pl.DataFrame({"x": [3]}), mode="append", description="more")
    with lh.start_run(experiment="cli", name="alpha", params={"lr": 0.1}, inputs=["data:v1"]) as run:
        run.log({"loss": 0.5}, step=0)
    get_writer(lh.layout, lh.settings).close()  # as if another process had written it
    root = str(root)

    code, out, _ = run_cli(capsys, "--root", root, "datasets", "list", "--json")
    assert (code, [(d["name"], d["latest_version"]) for d in json.loads(out)]) == (0, [("data", 1)])
    code, out, _ = run_cli(capsys, "--root", root, "datasets", "history", "data", "--json")
    assert (code, [v["description"] for v in json.loads(out)]) == (0, ["more", "first"])
    monkeypatch.setenv("LAKEHOUSE_ROOT", root)  # the root from the environment, as `lakehouse app` passes it
    code, out, _ = run_cli(capsys, "datasets", "show", "data:v0")
    assert code == 0
    assert "first" in out
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert (code, [(r["name"], r["status"], r["inputs"]) for r in json.loads(out)]) == (
        0,
        [("alpha", "FINISHED", ["data:v1"])],
    )
    code, out, _ = run_cli(capsys, "runs", "show", run.id[:8], "--json")
    assert (code, json.loads(out)["name"], run.id in out) == (0, "alpha", True)
    assert SECRET_ACCESS_KEY not in out
    query = (
        'SELECT r.name, sum(d.x) AS total FROM runs r JOIN inputs i USING (run_id) JOIN "data:v1" d ON true '
        "GROUP BY r.name"
    )
    code, out, _ = run_cli(capsys, "sql", query, "--json")
    assert (code, json.loads(out)) == (0, [{"name": "alpha", "total": 6}])


@pytest.mark.slow
def test_app_command_serves_a_bucket_root(bucket_root: str) -> None:
    lakehouse.connect(bucket_root).dataset("data").write(pl.DataFrame({"x": [1]}))
    cli = str(Path(sys.executable).with_name("lakehouse"))
    with serving(cli, "--root", bucket_root, env=dict(os.environ)) as (_, info):
        assert info["root"] == bucket_root
        assert_answers(info["url"])


def test_missing_bucket_is_one_line(s3_env: S3Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--root", "s3://lh-no-such-bucket/team", "runs", "list")
    assert (code, out) == (1, "")
    assert err == (
        f"error: bucket 'lh-no-such-bucket' at {s3_env.endpoint} does not exist (root 's3://lh-no-such-bucket/team'); "
        "create it first\n"
    )
    buckets = s3_env.client().list_buckets()["Buckets"]  # type: ignore[attr-defined]
    assert "lh-no-such-bucket" not in [b["Name"] for b in buckets]  # nothing was created
    # Datasets too, which would otherwise list an empty bucket prefix as "no datasets yet".
    code, _, err = run_cli(capsys, "--root", "s3://lh-no-such-bucket/team", "datasets", "list")
    assert (code, err.count("\n"), "does not exist" in err) == (1, 1, True)


def test_unreachable_endpoint_is_one_line(
    s3_env: S3Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{app_server.free_port('127.0.0.1')}"  # nobody listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    code, out, err = run_cli(capsys, "--root", "s3://lh-somewhere/team", "datasets", "list")
    assert (code, out, err.count("\n")) == (1, "", 1)
    assert err.startswith(f"error: cannot use bucket 'lh-somewhere' at {endpoint}: ")


def test_wrong_credentials_are_one_line_without_the_secret(
    s3_env: S3Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second server that checks every request's signature (the suite's server accepts any key, as moto does).
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "0")
    checking = S3Server.start()
    try:
        wrong = "wrong-secret-that-must-not-show"
        monkeypatch.setenv("AWS_ENDPOINT_URL", checking.endpoint)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
        code, out, err = run_cli(capsys, "--root", "s3://lh-guarded/team", "runs", "list", "--json")
    finally:
        checking.close()
    assert (code, out, err.count("\n")) == (1, "", 1)
    assert err.startswith(f"error: cannot use bucket 'lh-guarded' at {checking.endpoint}: ")
    assert wrong not in err
