"""Shared fixtures: a fresh lakehouse root per test on real Delta tables, and one Spark session per run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import lakehouse
from tests.s3_server import S3Server

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parents[1]
# Small and quick: two local cores, few partitions, no UI. Everything else comes from conf/spark-defaults.conf,
# so the tests exercise the shipped configuration.
SPARK_TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.driver.memory": "2g",
    # C1 only: these JVMs live for minutes, so warming up fast beats peak speed.
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the developer's LAKEHOUSE_* variables and ./conf."""
    for name in [n for n in os.environ if n.startswith("LAKEHOUSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_ACTOR", "tester")


ROOT_KINDS = ("local", "bucket")
#: The fixtures that give a test its root, each made of either kind (``demo``: the lakehouse of tests/sql).
ROOT_FIXTURES = ("root", "demo")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked ``roots`` run every test that uses ``root`` (or ``lh``, or ``demo``) on a local and on a
    bucket root."""
    definition = metafunc.definition
    if definition.get_closest_marker("roots") and not definition.get_closest_marker("local_only"):
        for name in ROOT_FIXTURES:
            if name in metafunc.fixturenames:
                metafunc.parametrize(name, ROOT_KINDS, indirect=True)


@pytest.fixture
def root(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path | str]:
    """The lakehouse root of a test: a fresh local folder, or (``bucket`` in a ``roots`` module) ``s3://<fresh
    bucket>/lh`` on the test server."""
    if getattr(request, "param", "local") != "bucket":
        yield tmp_path / "lh"
        return
    from lakehouse.tracking.writer import active_writers

    server: S3Server = request.getfixturevalue("s3_env")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the bucket root's local spool
    uri = f"s3://{server.new_bucket()}/lh"
    yield uri
    # While the server's variables are still set: a run the test left open is finished now, not at exit.
    for writer in active_writers():
        if str(writer.layout.root) == uri:
            writer.close(timeout=30)


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root)


@pytest.fixture(scope="session")
def spark(s3_server: S3Server) -> Iterator[SparkSession]:
    """One Spark session (local[2], real delta-spark jars) for the whole run, started by the first test that asks.

    It reaches the run's S3 server through S3A (``s3a://`` tables, the hadoop-aws jars), as a session for a
    bucket root would: S3A reads its endpoint when it first opens a bucket, so one server per run suffices.
    The jars are resolved from Maven Central into the jars cache (~/.cache/lakehouse/ivy) on first use.
    """
    from lakehouse.spark import spark_session
    from lakehouse.spark.object_store import s3a_conf

    settings = lakehouse.Settings(spark_defaults_file=REPO / "conf" / "spark-defaults.conf")
    conf = {**SPARK_TEST_CONF, **s3a_conf(s3_server.environ, environ={})}
    session = spark_session(settings, master="local[2]", conf=conf, app_name="lakehouse-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server on a free localhost port for the whole run, started by the first test that asks."""
    server = S3Server.start()
    yield server
    server.close()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS variables pointing at the test server (and no AWS profile or config of the machine)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in s3_server.environ.items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def bucket_root(s3_env: S3Server) -> str:
    """A lakehouse root in a fresh bucket of the test server: ``s3://<bucket>/lh``."""
    return f"s3://{s3_env.new_bucket()}/lh"
