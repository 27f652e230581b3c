"""Spark sessions with Delta Lake, configured the same way for the CLI, ``python jobs/x.py`` and tests.

Properties are resolved, lowest precedence first, from: built-in defaults < ``conf/spark-defaults.conf`` (the
``spark.defaults_file`` setting; the same file works as ``spark-submit --properties-file``) <
``LAKEHOUSE_SPARK_CONF`` / ``LAKEHOUSE_SPARK_MASTER`` (or the ``[spark]`` section of ``lakehouse.toml``) <
keyword arguments. The Delta extension, catalog and jars are always added; the properties in
:data:`REQUIRED` keep tables readable and writable by delta-rs and cannot be changed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyspark
from pyspark import SparkConf, SparkContext
from pyspark.errors import PySparkException
from pyspark.java_gateway import launch_gateway
from pyspark.sql import SparkSession

from lakehouse import commit_rule
from lakehouse.config import Settings, load_settings
from lakehouse.errors import ConfigError, NotInstalled, first_line
from lakehouse.object_storage import storage_options
from lakehouse.spark import object_store

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
EXTENSIONS = "spark.sql.extensions"
CATALOG = "spark.sql.catalog.spark_catalog"
PACKAGES = "spark.jars.packages"
IVY = "spark.jars.ivy"

# Values that decide whether the other engine can still read and write what Spark writes (docs/TABLES.md):
# INT96 timestamps and deletion vectors are the two ways a Spark default breaks delta-rs interop, and a
# session time zone other than UTC would make "a time without offset is UTC" untrue for CSV/JSON input.
REQUIRED = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    "spark.sql.session.timeZone": "UTC",
}
DEFAULTS = {
    "spark.master": "local[*]",
    "spark.app.name": "lakehouse",
    "spark.ui.showConsoleProgress": "false",
}
_LINE = re.compile(r"\s*(?P<key>[^\s=:]+)\s*(?:[=:]\s*|\s+)(?P<value>.*?)\s*")


def parse_properties(text: str, *, source: str) -> dict[str, str]:
    """Parse Spark's properties format: ``key value`` (or ``key=value``) per line, ``#`` comments."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "!")):
            continue
        match = _LINE.fullmatch(stripped)
        if match is None or not match.group("value"):
            msg = f"{source}, line {number}: expected 'key value', got {stripped!r}"
            raise ConfigError(msg)
        out[match.group("key")] = match.group("value")
    return out


def parse_pairs(text: str, *, source: str) -> dict[str, str]:
    """Parse ``key=value;key=value`` (the ``LAKEHOUSE_SPARK_CONF`` format)."""
    out: dict[str, str] = {}
    for pair in text.split(";"):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            msg = f"{source}: expected 'key=value' pairs separated by ';', got {pair.strip()!r}"
            raise ConfigError(msg)
        out[key.strip()] = value.strip()
    return out


def defaults_file(settings: Settings) -> Path | None:
    """The Spark defaults file in effect: a missing default file is fine, a missing configured one is not."""
    path = Path(settings.spark_defaults_file).expanduser()
    if path.is_file():
        return path
    if path == Settings().spark_defaults_file:
        return None
    msg = f"Spark defaults file {str(path)!r} (setting spark.defaults_file) does not exist"
    raise ConfigError(msg)


def resolve_conf(
    settings: Settings,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    app_name: str | None = None,
) -> dict[str, str]:
    """All Spark properties a new session gets (without the jars, which the builder adds).

    A bucket root (``s3://...``) adds the S3A properties of its object-store options at the level of the
    built-in defaults, so the defaults file, the settings and arguments can still change any of them.
    """
    props = dict(DEFAULTS)
    props.update(REQUIRED)
    if commit_rule.on_object_store(settings.root):
        props.update(object_store.s3a_conf(storage_options(settings)))
    path = defaults_file(settings)
    if path is not None:
        props.update(parse_properties(path.read_text(encoding="utf-8"), source=str(path)))
    if settings.spark_conf:
        props.update(parse_pairs(settings.spark_conf, source="setting spark.conf (LAKEHOUSE_SPARK_CONF)"))
    if settings.spark_master:
        props["spark.master"] = settings.spark_master
    props.update({str(k): str(v) for k, v in (conf or {}).items()})
    if master:
        props["spark.master"] = master
    if app_name:
        props["spark.app.name"] = app_name
    for key, wanted in REQUIRED.items():
        if props[key] != wanted:
            msg = (
                f"Spark property {key}={props[key]!r} is not allowed: lakehouse tables need {wanted!r} so that "
                "the embedded engine (delta-rs) can keep reading and writing them (see docs/TABLES.md)"
            )
            raise ConfigError(msg)
    extensions = [e.strip() for e in props.get(EXTENSIONS, "").split(",") if e.strip()]
    if DELTA_EXTENSION not in extensions:
        extensions.append(DELTA_EXTENSION)
    props[EXTENSIONS] = ",".join(extensions)
    if props.get(CATALOG, DELTA_CATALOG) != DELTA_CATALOG:
        msg = f"Spark property {CATALOG}={props[CATALOG]!r} is not allowed: lakehouse needs {DELTA_CATALOG}"
        raise ConfigError(msg)
    props[CATALOG] = DELTA_CATALOG
    props.setdefault(IVY, str(Path(settings.spark_jars_cache).expanduser().absolute()))
    return props


def delta_package() -> str:
    """The delta-spark artifact matching the installed pip packages (as ``configure_spark_with_delta_pip`` picks it)."""
    delta = importlib.metadata.version("delta-spark")
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{delta}"


def _packages(props: Mapping[str, str]) -> str:
    # The Delta artifact always matches the installed delta-spark; other listed packages are kept. The S3A
    # connector (hadoop-aws and its AWS SDK bundle, ~700 MB) only when S3A is configured: local runs skip it.
    listed = [p.strip() for p in props.get(PACKAGES, "").split(",") if p.strip()]
    packages = [delta_package(), *(p for p in listed if not p.startswith("io.delta:delta-spark"))]
    if object_store.uses_s3a(props) and not any(p.startswith("org.apache.hadoop:hadoop-aws:") for p in packages):
        packages.append(object_store.hadoop_aws_package())
    return ",".join(packages)


def spark_session(
    settings: Settings | None = None,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    app_name: str | None = None,
    log_file: Path | None = None,
) -> SparkSession:
    """The active Spark session, or a new one with Delta Lake configured from ``conf/`` and settings.

    The JVM's output goes to ``log_file`` if given (the CLI keeps the terminal for its own output), else
    to our stderr (never our stdout, which may carry ``--json`` output). Under ``spark-submit`` the JVM
    exists already: the Delta jars must then come from spark-submit (``--properties-file
    conf/spark-defaults.conf``), and only the runtime properties in :data:`REQUIRED` are applied here.

    Raises:
        ConfigError: a property breaks interop, or the defaults file is missing or malformed.
        NotInstalled: Java or the Delta jars are not available.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return _checked(active)
    settings = settings or load_settings()
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # spark-submit started the JVM with its own master, jars and properties; they win.
        builder = SparkSession.builder
        for key, value in REQUIRED.items():
            builder = builder.config(key, value)
        return _checked(builder.getOrCreate(), s3a=commit_rule.on_object_store(settings.root))
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        msg = "Spark needs a Java runtime (17 or newer): install one or set JAVA_HOME"
        raise NotInstalled(msg)
    props = resolve_conf(settings, master=master, conf=conf, app_name=app_name)
    props[PACKAGES] = _packages(props)
    if props["spark.master"].startswith("local"):
        # spark-submit puts the package jars on the driver's classpath, and also lists them to be shipped
        # (spark.jars, and spark.files for Python code inside jars, which neither Delta nor hadoop-aws have).
        # A local "executor" is the driver's JVM and has them already, yet it copies every listed file into
        # the session's temporary folder: 686 MB per session for the AWS SDK bundle. Nothing to ship locally.
        for key in ("spark.jars", "spark.files", "spark.submit.pyFiles"):
            props.setdefault(key, "")
    Path(props[IVY]).mkdir(parents=True, exist_ok=True)
    # Python tasks (the file ingest describes files on the executors) run this interpreter, which has lakehouse
    # and pyarrow, unless PYSPARK_PYTHON says otherwise; pyspark reads only the variable, not a property.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark_conf = SparkConf().setAll(list(props.items()))
    try:
        with _output(log_file) as out:
            # Launching the gateway ourselves is how pyspark lets us choose where the JVM's output goes.
            gateway = launch_gateway(  # type: ignore[no-untyped-call]
                spark_conf, popen_kwargs={"stdout": out, "stderr": out if log_file else None}
            )
        SparkContext(conf=spark_conf, gateway=gateway)
        session = SparkSession.builder.getOrCreate()
    except PySparkException as e:
        where = f"; see {log_file}" if log_file else ""
        msg = f"cannot start Spark (master {props['spark.master']!r}): {first_line(e)}{where}"
        raise NotInstalled(msg) from e
    return _checked(session, s3a=object_store.uses_s3a(props))


@contextmanager
def _output(log_file: Path | None) -> Iterator[int]:
    """A file descriptor for the JVM's output: the log file, or our stderr (fd 2)."""
    if log_file is None:
        yield 2
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as handle:
        yield handle.fileno()  # the JVM keeps its own copy of the descriptor


def _checked(session: SparkSession, *, s3a: bool = False) -> SparkSession:
    """Make sure Delta (with ``s3a``, also S3A) is usable in ``session`` and the interop properties hold."""
    jvm = session.sparkContext._jvm
    loadable = jvm is not None and bool(jvm.org.apache.spark.util.Utils.classIsLoadable("io.delta.tables.DeltaTable"))
    if s3a and (jvm is None or not jvm.org.apache.spark.util.Utils.classIsLoadable(object_store.S3A_IMPL)):
        msg = (
            "this Spark session cannot reach s3a:// tables: add the package "
            f"{object_store.hadoop_aws_package()} (spark-submit --packages, or spark.jars.packages)"
        )
        raise NotInstalled(msg)
    extensions = session.conf.get(EXTENSIONS, "") or ""
    if not loadable or DELTA_EXTENSION not in extensions:
        msg = (
            "this Spark session has no Delta Lake: start it with lakehouse.spark.spark_session(), or run "
            "spark-submit --properties-file conf/spark-defaults.conf (which adds the delta-spark package and "
            f"sets {EXTENSIONS} and {CATALOG})"
        )
        raise NotInstalled(msg)
    for key, value in REQUIRED.items():
        if session.conf.get(key, None) != value:
            session.conf.set(key, value)  # runtime SQL properties: safe to set on a running session
    return session
