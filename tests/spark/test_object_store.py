"""Spark on a bucket root: S3A properties from the object-store options, s3a:// locations, and the commit rule.

The rule (lakehouse.commit_rule): on object storage a table has one committing engine. The test that
matters runs 8 embedded training processes and a Spark job on one bucket at once and counts every row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import lakehouse
from lakehouse import commit_rule
from lakehouse.errors import CommitRefused, ConfigError, InvalidArgument
from lakehouse.spark import append_table, read_table
from lakehouse.spark.object_store import (
    DEFAULT_CHAIN,
    hadoop_aws_package,
    hadoop_version,
    s3a_conf,
    spark_location,
    table_exists,
)
from lakehouse.spark.session import _packages, resolve_conf
from tests.s3_server import S3Server

CHILD = Path(__file__).with_name("object_store_child.py")
REPO = Path(__file__).resolve().parents[2]
H = "spark.hadoop.fs.s3a."


def child(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the embedded side in its own process, with this process's (test server's) AWS variables."""
    return subprocess.run(
        [sys.executable, str(CHILD), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False
    )


# --- S3A properties from the object-store options (no JVM) -----------------------------------------------------


def test_s3a_conf_for_a_local_s3_compatible_server() -> None:
    conf = s3a_conf({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true"}, environ={})
    assert conf == {
        f"{H}impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        f"{H}endpoint": "http://127.0.0.1:9000",
        f"{H}connection.ssl.enabled": "false",
        f"{H}endpoint.region": "us-east-1",
        f"{H}path.style.access": "true",
        f"{H}aws.credentials.provider": DEFAULT_CHAIN,
    }


def test_s3a_conf_takes_absent_options_from_the_standard_variables_but_never_their_credentials() -> None:
    environ = {
        "AWS_ENDPOINT_URL": "https://s3.example.test",
        "AWS_REGION": "eu-west-3",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true",
        "AWS_ACCESS_KEY_ID": "AKIDFROMENV",
        "AWS_SECRET_ACCESS_KEY": "secret-from-env",
    }
    conf = s3a_conf({"AWS_REGION": "eu-north-1"}, environ=environ)
    assert conf[f"{H}endpoint"] == "https://s3.example.test"
    assert s3a_conf({}, environ={**environ, "AWS_ENDPOINT_URL_S3": "https://s3.other.test"})[f"{H}endpoint"] == (
        "https://s3.other.test"
    )
    assert conf[f"{H}connection.ssl.enabled"] == "true"
    assert conf[f"{H}endpoint.region"] == "eu-north-1"  # the options win over the environment
    assert conf[f"{H}path.style.access"] == "false"
    # Credentials in the environment are for the AWS chain of each JVM to read; they never become properties.
    assert conf[f"{H}aws.credentials.provider"] == DEFAULT_CHAIN
    assert not any("secret-from-env" in v or "AKIDFROMENV" in v for v in conf.values())


def test_s3a_conf_with_credentials_in_the_options() -> None:
    keys = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    conf = s3a_conf(keys, environ={})
    assert conf[f"{H}access.key"] == "AKID"
    assert conf[f"{H}secret.key"] == "s3cr3t"
    assert conf[f"{H}aws.credentials.provider"] == "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    assert f"{H}endpoint" not in conf  # AWS itself: S3A finds the endpoint from the region
    temporary = s3a_conf({**keys, "AWS_SESSION_TOKEN": "tok"}, environ={"AWS_DEFAULT_REGION": "us-west-2"})
    assert temporary[f"{H}session.token"] == "tok"
    assert temporary[f"{H}aws.credentials.provider"] == "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
    assert temporary[f"{H}endpoint.region"] == "us-west-2"


def test_a_plain_http_endpoint_needs_allow_http() -> None:
    with pytest.raises(ConfigError, match=r"'http://127\.0\.0\.1:9000' is plain http: set AWS_ALLOW_HTTP=true"):
        s3a_conf({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}, environ={"AWS_ALLOW_HTTP": "false"})


def test_a_bucket_root_brings_s3a_properties_and_the_matching_hadoop_aws_jars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    local = resolve_conf(lakehouse.Settings(root=Path("/data/lh")))
    assert not any(k.startswith(H) for k in local)
    assert "hadoop-aws" not in _packages(local)  # local runs do not resolve the ~700 MB AWS SDK bundle
    bucket = resolve_conf(
        lakehouse.Settings(root=Path("s3://team/lh")), conf={f"{H}connection.maximum": "64", f"{H}endpoint.region": "x"}
    )
    assert bucket[f"{H}endpoint"] == "http://127.0.0.1:9000"
    assert bucket[f"{H}endpoint.region"] == "x"  # arguments still win
    assert bucket[f"{H}connection.maximum"] == "64"
    jar = next((REPO / ".venv").glob("lib/python*/site-packages/pyspark/jars/hadoop-client-api-*.jar"))
    assert hadoop_aws_package() == f"org.apache.hadoop:hadoop-aws:{jar.name.removeprefix('hadoop-client-api-')[:-4]}"
    assert _packages(bucket).split(",")[-1] == hadoop_aws_package()


def test_table_locations_for_spark() -> None:
    assert spark_location("s3://team/lh/datasets/events") == "s3a://team/lh/datasets/events"
    assert spark_location(Path("s3://team/lh")) == "s3a://team/lh"  # a URI that went through pathlib
    assert spark_location("s3a://team/lh") == "s3a://team/lh"
    assert spark_location("/data/lh/datasets/events") == "/data/lh/datasets/events"
    assert spark_location("gs://team/lh") == "gs://team/lh"


def test_the_commit_rule() -> None:
    table = "s3://team/lh/tracking/metrics"
    commit_rule.check(table, {}, committer="delta-rs")
    commit_rule.check("/data/lh/tracking/metrics", {}, committer="delta-spark")  # no rule on a local disk
    commit_rule.check("C:/data/lh/tracking/metrics", {}, committer="delta-spark")
    with pytest.raises(CommitRefused, match=r"'s3://team/lh/tracking/metrics' is committed to by delta-rs") as e:
        commit_rule.check(table, {}, committer="delta-spark")
    assert "one committing engine" in str(e.value)
    owned = {commit_rule.PROPERTY: "delta-spark"}
    commit_rule.check(table, owned, committer="delta-spark")
    with pytest.raises(CommitRefused, match="a delta-rs commit is refused"):
        commit_rule.check(table, owned, committer="delta-rs")
    with pytest.raises(CommitRefused, match="set lakehouse.committer to one of"):
        commit_rule.check(table, {commit_rule.PROPERTY: "duckdb"}, committer="delta-rs")
    assert commit_rule.creation_properties(table, "delta-spark") == owned
    assert commit_rule.creation_properties("/data/lh/t", "delta-spark") == {}


# --- Spark on the test server -----------------------------------------------------------------------------------


@pytest.mark.spark
def test_the_session_runs_the_hadoop_the_s3a_jars_match(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    assert jvm.org.apache.hadoop.util.VersionInfo.getVersion() == hadoop_version()
    assert hadoop_aws_package() in (spark.conf.get("spark.jars.packages") or "")


@pytest.mark.spark
@pytest.mark.slow
def test_spark_creates_writes_and_reads_a_table_on_a_bucket(spark: SparkSession, s3_env: S3Server) -> None:
    bucket = s3_env.new_bucket()
    table = f"s3://{bucket}/lh/datasets/events"
    append_table(table, spark.range(0, 30).withColumn("kind", F.lit("a")))
    append_table(table, spark.range(30, 50).withColumn("kind", F.lit("b")))
    keys = s3_env.keys(bucket, "lh/datasets/events/_delta_log/")
    assert "lh/datasets/events/_delta_log/00000000000000000001.json" in keys
    read = spark.read.format("delta").load(spark_location(table))
    assert sorted(r["id"] for r in read.collect()) == list(range(50))
    # The embedded engine may not commit to it (its lakehouse.committer says delta-spark), and reads what Spark
    # wrote through S3A.
    refused = child("append", table)
    assert refused.returncode == 3, refused.stderr
    message, count = refused.stdout.strip().splitlines()
    assert f"table '{table}' is committed to by delta-spark" in message
    assert count == "50"
    assert s3_env.keys(bucket, "lh/datasets/events/_delta_log/") == keys


PROCESSES = 8
POINTS = 240  # per process
BATCH = 60  # points per commit: two before the gate, two after
SPARK_COMMITS = 2
SPARK_ROWS = 25


@pytest.mark.spark
@pytest.mark.slow
def test_eight_training_processes_and_a_spark_job_on_one_bucket_lose_and_duplicate_nothing(
    spark: SparkSession, bucket_root: str, tmp_path: Path
) -> None:
    gate = tmp_path / "second-half"
    metrics = f"{bucket_root}/tracking/metrics"
    events = f"{bucket_root}/datasets/events"
    training = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "log", bucket_root, str(p), str(POINTS), str(BATCH), str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},  # each process's local spool
        )
        for p in range(PROCESSES)
    ]
    try:
        # The Spark job, while every process is half-way (they wait for the gate): it tries the training table,
        # then appends to its own table; then the processes log their second half.
        deadline = time.monotonic() + 120
        while not table_exists(spark, metrics) and time.monotonic() < deadline:
            time.sleep(0.5)
        rows = spark.createDataFrame([("spark", "loss", 0, 0.0)], "run_id string, key string, step long, value double")
        with pytest.raises(CommitRefused) as refused:
            append_table(metrics, rows.withColumn("timestamp", F.current_timestamp()))
        for k in range(SPARK_COMMITS):
            append_table(events, spark.range(k * SPARK_ROWS, (k + 1) * SPARK_ROWS).withColumn("batch", F.lit(k)))
        running = sum(p.poll() is None for p in training)
        gate.touch()
        outcomes = [p.communicate(timeout=300) for p in training]
    finally:
        for p in training:
            p.kill()
    assert [p.returncode for p in training] == [0] * PROCESSES, [err[-2000:] for _, err in outcomes]
    assert f"table '{metrics}' is committed to by delta-rs" in str(refused.value)
    assert running == PROCESSES  # none had finished (or failed) while Spark committed
    # Every point once: per run, as many rows as distinct steps, and no row of the refused Spark commits.
    logged = spark.read.format("delta").load(spark_location(metrics))
    per_run = logged.groupBy("run_id").agg(F.count("*").alias("rows"), F.countDistinct("step").alias("steps"))
    lh = lakehouse.connect(bucket_root)
    names = dict(lh.runs().select("run_id", "name").iter_rows())
    assert read_table(lh, "tracking/metrics", spark=spark).count() == PROCESSES * POINTS  # by its place in the root
    with pytest.raises(InvalidArgument, match="outside the lakehouse root"):
        read_table(lh, "../elsewhere", spark=spark)
    assert {names[r["run_id"]]: (r["rows"], r["steps"]) for r in per_run.collect()} == {
        f"p{p}": (POINTS, POINTS) for p in range(PROCESSES)
    }
    written = spark.read.format("delta").load(spark_location(events))
    assert written.agg(F.count("*"), F.countDistinct("id")).first() == (SPARK_COMMITS * SPARK_ROWS,) * 2
    # delta-rs agrees on both tables.
    assert child("count", metrics, events).stdout.split() == [str(PROCESSES * POINTS), str(SPARK_COMMITS * SPARK_ROWS)]
