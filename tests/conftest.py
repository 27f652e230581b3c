"""Shared fixtures: a fresh lakehouse root per test on real Delta tables, and one Spark session per run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import lakehouse

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


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Put the real ``__main__`` back after every test.

    Streamlit's ``AppTest`` runs the app as ``__main__`` and leaves it in ``sys.modules``; a later test that spawns
    processes (``multiprocessing`` "spawn") would then make every child re-run ``apps/app.py`` on start-up.
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "lh"


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One Spark session (local[2], real delta-spark jars) for the whole run, started by the first test that asks.

    The jars are resolved from Maven Central into the jars cache (~/.cache/lakehouse/ivy) on first use.
    """
    from lakehouse.spark import spark_session

    settings = lakehouse.Settings(spark_defaults_file=REPO / "conf" / "spark-defaults.conf")
    session = spark_session(settings, master="local[2]", conf=SPARK_TEST_CONF, app_name="lakehouse-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
