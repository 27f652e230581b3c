"""Spark properties: conf/spark-defaults.conf, LAKEHOUSE_SPARK_* and arguments, and the ones we refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse.spark.session import DELTA_EXTENSION, REQUIRED, delta_package, resolve_conf
from tests.conftest import REPO


def settings(tmp_path: Path, text: str | None = None, **env: str) -> lakehouse.Settings:
    if text is not None:
        (tmp_path / "spark-defaults.conf").write_text(text, encoding="utf-8")
    environ = {"LAKEHOUSE_SPARK_DEFAULTS_FILE": str(tmp_path / "spark-defaults.conf"), **env}
    return lakehouse.load_settings(environ=environ)


def test_precedence_file_then_environment_then_arguments(tmp_path: Path) -> None:
    text = "# comment\nspark.master  local[3]\nspark.sql.shuffle.partitions=7\nspark.executor.cores: 2\n"
    env = {"LAKEHOUSE_SPARK_CONF": "spark.sql.shuffle.partitions=5; spark.driver.memory=3g"}
    props = resolve_conf(settings(tmp_path, text, **env), conf={"spark.driver.memory": "1g"})
    assert props["spark.master"] == "local[3]"
    assert props["spark.executor.cores"] == "2"
    assert props["spark.sql.shuffle.partitions"] == "5"
    assert props["spark.driver.memory"] == "1g"
    assert resolve_conf(settings(tmp_path, text, LAKEHOUSE_SPARK_MASTER="local[1]"))["spark.master"] == "local[1]"
    assert resolve_conf(settings(tmp_path, text), master="local[2]")["spark.master"] == "local[2]"
    # Delta is always on, whatever the file says; the jars cache is a setting.
    props = resolve_conf(settings(tmp_path, "spark.sql.extensions com.example.Ext\n"))
    assert props["spark.sql.extensions"] == f"com.example.Ext,{DELTA_EXTENSION}"
    assert props["spark.jars.ivy"] == str(Path("~/.cache/lakehouse/ivy").expanduser())
    assert {k: props[k] for k in REQUIRED} == REQUIRED


def test_the_shipped_defaults_file_is_valid_for_spark_submit_and_us() -> None:
    props = resolve_conf(lakehouse.Settings(spark_defaults_file=REPO / "conf" / "spark-defaults.conf"))
    assert props["spark.jars.packages"] == delta_package() == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert props["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("spark.sql.parquet.outputTimestampType INT96", "outputTimestampType='INT96' is not allowed"),
        ("spark.databricks.delta.properties.defaults.enableDeletionVectors true", "enableDeletionVectors"),
        ("spark.sql.session.timeZone Europe/Paris", "timeZone='Europe/Paris' is not allowed"),
        ("spark.sql.catalog.spark_catalog com.example.Catalog", "spark_catalog='com.example.Catalog' is not allowed"),
        ("just-a-key", "line 1: expected 'key value', got 'just-a-key'"),
    ],
)
def test_refused_properties(tmp_path: Path, line: str, match: str) -> None:
    with pytest.raises(lakehouse.ConfigError, match=match):
        resolve_conf(settings(tmp_path, line + "\n"))


def test_missing_configured_file_and_bad_environment(tmp_path: Path) -> None:
    with pytest.raises(lakehouse.ConfigError, match="spark-defaults.conf' .* does not exist"):
        resolve_conf(settings(tmp_path))
    with pytest.raises(lakehouse.ConfigError, match="LAKEHOUSE_SPARK_CONF.*got 'oops'"):
        resolve_conf(settings(tmp_path, "", LAKEHOUSE_SPARK_CONF="a=b;oops"))
    # The default file is optional: a lakehouse started outside the repository has none.
    assert resolve_conf(lakehouse.Settings(spark_defaults_file=Path("conf") / "spark-defaults.conf"))


@pytest.mark.spark
def test_live_session_has_delta_and_interop_properties(spark: SparkSession) -> None:
    for key, value in REQUIRED.items():
        assert spark.conf.get(key) == value
    assert DELTA_EXTENSION in (spark.conf.get("spark.sql.extensions") or "")
    from lakehouse.spark import spark_session

    assert spark_session() is spark  # the active session is reused, not reconfigured
