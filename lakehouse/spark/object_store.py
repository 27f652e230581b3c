"""Spark on a bucket root: the S3A connector's jars and properties, table locations, and the commit rule.

The embedded engine describes a bucket with one set of object-store options in ``object_store``'s key names
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``, ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST`` and the
credentials). :func:`s3a_conf` maps the same options to Hadoop's S3A connector, so that both engines reach the
same bucket the same way; :func:`spark_location` turns a table location into the ``s3a://`` URI Spark reads and
writes; :func:`check_delta_spark_commit` applies :mod:`lakehouse.commit_rule` before Delta-Spark commits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyspark
from pyspark.sql import SparkSession

from lakehouse import commit_rule
from lakehouse.errors import ConfigError, NotInstalled
from lakehouse.spark._errors import translated

S3A_IMPL = "org.apache.hadoop.fs.s3a.S3AFileSystem"
HADOOP = "spark.hadoop.fs.s3a."
#: The standard AWS chain (environment, system properties, web identity, profile, container, instance role).
DEFAULT_CHAIN = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
_SIMPLE = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
_TEMPORARY = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
_S3_SCHEMES = ("s3", "s3a", "s3n")
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_HADOOP_API_JAR = re.compile(r"hadoop-client-api-(?P<version>\d+\.\d+\.\d+)\.jar")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def s3a_conf(options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark properties that make Hadoop's S3A connector reach the bucket ``options`` describe.

    ``options`` are object-store options in ``object_store`` key names; a key absent there is taken from the
    standard AWS variables in ``environ`` (``os.environ`` by default), as the embedded engine would.
    Credentials given in ``options`` become S3A's own keys (Spark redacts them wherever it shows properties);
    without them S3A uses the standard AWS credential chain, so nothing secret is written here.

    Raises:
        ConfigError: a plain-http endpoint without ``AWS_ALLOW_HTTP=true`` (the embedded engine refuses it too).
    """
    env = os.environ if environ is None else environ

    def get(key: str) -> str | None:
        return options.get(key) or env.get(key)

    conf = {f"{HADOOP}impl": S3A_IMPL}
    # The AWS SDKs' own order: the service-specific endpoint variable, then the general one.
    endpoint = options.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if endpoint:
        plain = endpoint.lower().startswith("http://")
        if plain and not _flag(get("AWS_ALLOW_HTTP")):
            msg = (
                f"the object-store endpoint {endpoint!r} is plain http: set AWS_ALLOW_HTTP=true to use it "
                "(a local S3-compatible server), or give an https endpoint"
            )
            raise ConfigError(msg)
        conf[f"{HADOOP}endpoint"] = endpoint
        conf[f"{HADOOP}connection.ssl.enabled"] = "false" if plain else "true"
        region = region or "us-east-1"  # an endpoint without a region: object_store's default, for S3A too
    if region:
        conf[f"{HADOOP}endpoint.region"] = region
    # One setting, one meaning in both engines: object_store addresses buckets by path unless told otherwise.
    conf[f"{HADOOP}path.style.access"] = "false" if _flag(get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST")) else "true"
    key, secret, token = (options.get(k) for k in _CREDENTIALS)
    if key and secret:
        conf[f"{HADOOP}access.key"] = key
        conf[f"{HADOOP}secret.key"] = secret
        if token:
            conf[f"{HADOOP}session.token"] = token
        conf[f"{HADOOP}aws.credentials.provider"] = _TEMPORARY if token else _SIMPLE
    else:
        conf[f"{HADOOP}aws.credentials.provider"] = DEFAULT_CHAIN
    return conf


def uses_s3a(props: Mapping[str, str]) -> bool:
    """True if Spark properties configure S3A (then the session needs the ``hadoop-aws`` jars)."""
    return any(k.startswith(HADOOP) for k in props)


def hadoop_version(jars: Path | None = None) -> str:
    """The Hadoop version Spark runs, read from the ``hadoop-client-api`` jar pyspark ships.

    Raises:
        NotInstalled: no such jar (a pyspark without Hadoop): the S3A connector cannot be matched to it.
    """
    folder = jars or Path(pyspark.__file__).parent / "jars"
    found = sorted(
        m.group("version") for p in folder.glob("hadoop-client-api-*.jar") if (m := _HADOOP_API_JAR.match(p.name))
    )
    if not found:
        msg = f"no hadoop-client-api jar in {str(folder)!r}: cannot pick the hadoop-aws version for s3a:// tables"
        raise NotInstalled(msg)
    return found[-1]


def hadoop_aws_package(jars: Path | None = None) -> str:
    """The ``hadoop-aws`` artifact matching Spark's Hadoop; it brings the AWS SDK v2 ``bundle`` it was built with."""
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version(jars)}"


def spark_location(location: str | os.PathLike[str]) -> str:
    """The URI Spark uses for a table location: ``s3://`` (and ``s3n://``) become ``s3a://``; paths stay paths.

    One scheme per bucket matters beyond taste: Delta-Spark serialises commits to a table inside one driver
    by its path, so ``s3://b/t`` and ``s3a://b/t`` would be two tables to that lock.
    """
    text = str(location)
    if not commit_rule.on_object_store(text):
        return text
    scheme, _, rest = text.partition(":")
    if scheme.lower() not in _S3_SCHEMES:
        return text
    return "s3a://" + rest.lstrip("/")


def check_delta_spark_commit(spark: SparkSession, location: str | os.PathLike[str]) -> bool:
    """Refuse a Delta-Spark commit to an existing table on object storage that delta-rs commits to.

    Reads the table's properties through Spark (the engine about to commit). A table that does not exist
    yet is fine: Delta-Spark creates it and records itself (:func:`creation_properties`). Returns whether
    the table exists, which the caller needs to know anyway.

    Raises:
        CommitRefused: see :mod:`lakehouse.commit_rule`.
    """
    uri = spark_location(location)
    with translated("reading the table's committer", uri):
        if not table_exists(spark, uri):
            return False
        if not commit_rule.on_object_store(location):
            return True
        detail = _delta_table(spark, uri).detail().select("properties").first()
    properties = dict(detail["properties"] or {}) if detail is not None else {}
    commit_rule.check(location, properties, committer="delta-spark")
    return True


def table_exists(spark: SparkSession, location: str | os.PathLike[str]) -> bool:
    """True if a Delta table is at ``location``, as Spark sees it."""
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, spark_location(location)))


def _delta_table(spark: SparkSession, uri: str) -> Any:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, uri)


def creation_properties(location: str | os.PathLike[str]) -> dict[str, str]:
    """Properties of a table Delta-Spark creates at ``location``: on object storage, its committer."""
    return commit_rule.creation_properties(location, "delta-spark")
