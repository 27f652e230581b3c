"""Spark sessions with Delta Lake, configured the same way for the CLI, ``python jobs/x.py`` and tests.

Properties are resolved, lowest precedence first, from: built-in defaults < ``conf/spark-defaults.conf`` (the
``spark.defaults_file`` setting; the same file works as ``spark-submit --properties-file``) <
``LAKEHOUSE_SPARK_CONF`` / ``LAKEHOUSE_SPARK_MASTER`` (or the ``[spark]`` section of ``lakehouse.toml``) <
keyword arguments. The Delta extension, catalog and jars are always added; the properties in
:data:`REQUIRED` keep tables readable and writable by delta-rs and cannot be changed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from delta import configure_spark_with_delta_pip
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from lakehouse.config import Settings, load_settings
from lakehouse.errors import ConfigError, NotInstalled

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
    """All Spark properties a new session gets (without the Delta jars, which the builder adds)."""
    props = dict(DEFAULTS)
    props.update(REQUIRED)
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


def _extra_packages(props: Mapping[str, str]) -> list[str]:
    # configure_spark_with_delta_pip adds the delta-spark artifact matching the installed pip packages;
    # other packages listed in the properties are kept.
    listed = [p.strip() for p in props.get(PACKAGES, "").split(",") if p.strip()]
    return [p for p in listed if not p.startswith("io.delta:delta-spark")]


def spark_session(
    settings: Settings | None = None,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    app_name: str | None = None,
) -> SparkSession:
    """The active Spark session, or a new one with Delta Lake configured from ``conf/`` and settings.

    Under ``spark-submit`` the JVM already exists: the Delta jars must then come from spark-submit
    (``--properties-file conf/spark-defaults.conf``), and only runtime properties are applied here.

    Raises:
        ConfigError: a property breaks interop, or the defaults file is missing or malformed.
        NotInstalled: Java or the Delta jars are not available.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return _checked(active)
    settings = settings or load_settings()
    launching = "PYSPARK_GATEWAY_PORT" not in os.environ
    builder = SparkSession.builder
    if launching:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            msg = "Spark needs a Java runtime (17 or newer): install one or set JAVA_HOME"
            raise NotInstalled(msg)
        props = resolve_conf(settings, master=master, conf=conf, app_name=app_name)
        Path(props[IVY]).mkdir(parents=True, exist_ok=True)
        for key, value in props.items():
            if key != PACKAGES:
                builder = builder.config(key, value)
        builder = configure_spark_with_delta_pip(builder, extra_packages=_extra_packages(props))
    else:
        # spark-submit started the JVM with its own master, jars and properties; they win.
        props = {**REQUIRED, "spark.master": "spark-submit"}
        for key, value in REQUIRED.items():
            builder = builder.config(key, value)
    try:
        with _jvm_stdout_to_stderr(enabled=launching):
            session = builder.getOrCreate()
    except PySparkException as e:
        msg = f"cannot start Spark (master {props['spark.master']!r}): {e}"
        raise NotInstalled(msg) from e
    return _checked(session)


def _checked(session: SparkSession) -> SparkSession:
    """Make sure Delta is usable in ``session`` and the interop properties hold."""
    jvm = session.sparkContext._jvm
    loadable = jvm is not None and bool(jvm.org.apache.spark.util.Utils.classIsLoadable("io.delta.tables.DeltaTable"))
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


@contextmanager
def _jvm_stdout_to_stderr(*, enabled: bool) -> Iterator[None]:
    """Start the JVM with our stderr as its stdout.

    Delta prints progress lines (``Deleted 5 files...``) on the JVM's stdout; sharing our stdout would
    corrupt ``--json`` output. The JVM inherits file descriptor 1 when it is spawned, so point fd 1 at
    stderr for the duration of the launch only.
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
