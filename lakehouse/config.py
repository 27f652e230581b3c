"""Settings, in one place: config file, then ``LAKEHOUSE_*`` environment variables, then keyword arguments.

Every setting is declared once below with its type, default and where it is read from. The config file is
``$LAKEHOUSE_CONFIG`` if set, else ``./conf/lakehouse.toml`` if it exists, else none (the defaults here equal
the shipped ``conf/lakehouse.toml``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.errors import ConfigError

CONFIG_ENV = "LAKEHOUSE_CONFIG"
DEFAULT_CONFIG_PATH = Path("conf") / "lakehouse.toml"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one lakehouse connection.

    Each field's metadata names its TOML key (``section.key``) and its environment variable.
    """

    # A local folder (a Path) or a bucket URI (a str, e.g. "s3://bucket/prefix"); see lakehouse.location.
    root: str | Path = field(
        default=Path("lakehouse-data"), metadata={"toml": "root", "env": "LAKEHOUSE_ROOT", "location": True}
    )
    checkpoint_interval: int = field(
        default=10,
        metadata={"toml": "datasets.checkpoint_interval", "env": "LAKEHOUSE_CHECKPOINT_INTERVAL"},
    )
    log_retention: str = field(
        default="interval 3650 days",
        metadata={"toml": "datasets.log_retention", "env": "LAKEHOUSE_LOG_RETENTION"},
    )
    deleted_file_retention: str = field(
        default="interval 7 days",
        metadata={"toml": "datasets.deleted_file_retention", "env": "LAKEHOUSE_DELETED_FILE_RETENTION"},
    )
    vacuum_retention_hours: int = field(
        default=168,
        metadata={"toml": "datasets.vacuum_retention_hours", "env": "LAKEHOUSE_VACUUM_RETENTION_HOURS"},
    )
    inline_file_bytes: int = field(
        default=4 << 20,
        metadata={"toml": "datasets.inline_file_bytes", "env": "LAKEHOUSE_INLINE_FILE_BYTES"},
    )
    max_commit_retries: int = field(
        default=100,
        metadata={"toml": "storage.max_commit_retries", "env": "LAKEHOUSE_MAX_COMMIT_RETRIES"},
    )
    # Object storage (a bucket root): what is left empty comes from the standard AWS chain (AWS_* variables,
    # profile, instance role). lakehouse.object_storage turns these into the one set of options every engine gets.
    storage_endpoint: str = field(
        default="", metadata={"toml": "storage.endpoint", "env": "LAKEHOUSE_STORAGE_ENDPOINT"}
    )
    storage_region: str = field(default="", metadata={"toml": "storage.region", "env": "LAKEHOUSE_STORAGE_REGION"})
    storage_path_style: str = field(
        default="", metadata={"toml": "storage.path_style", "env": "LAKEHOUSE_STORAGE_PATH_STYLE", "flag": True}
    )
    storage_allow_http: str = field(
        default="", metadata={"toml": "storage.allow_http", "env": "LAKEHOUSE_STORAGE_ALLOW_HTTP", "flag": True}
    )
    # Credentials: never in repr (nor, by the callers, in logs, errors, commits or --json output).
    storage_access_key_id: str = field(
        default="",
        repr=False,
        metadata={"toml": "storage.access_key_id", "env": "LAKEHOUSE_STORAGE_ACCESS_KEY_ID", "secret": True},
    )
    storage_secret_access_key: str = field(
        default="",
        repr=False,
        metadata={"toml": "storage.secret_access_key", "env": "LAKEHOUSE_STORAGE_SECRET_ACCESS_KEY", "secret": True},
    )
    storage_session_token: str = field(
        default="",
        repr=False,
        metadata={"toml": "storage.session_token", "env": "LAKEHOUSE_STORAGE_SESSION_TOKEN", "secret": True},
    )
    actor: str = field(default="", metadata={"toml": "actor", "env": "LAKEHOUSE_ACTOR"})
    spark_master: str = field(default="", metadata={"toml": "spark.master", "env": "LAKEHOUSE_SPARK_MASTER"})
    spark_defaults_file: Path = field(
        default=Path("conf") / "spark-defaults.conf",
        metadata={"toml": "spark.defaults_file", "env": "LAKEHOUSE_SPARK_DEFAULTS_FILE"},
    )
    spark_conf: str = field(default="", metadata={"toml": "spark.conf", "env": "LAKEHOUSE_SPARK_CONF"})
    spark_jars_cache: Path = field(
        default_factory=lambda: Path("~/.cache/lakehouse/ivy").expanduser(),
        metadata={"toml": "spark.jars_cache", "env": "LAKEHOUSE_SPARK_JARS_CACHE"},
    )
    spark_footer_stats: bool = field(
        default=True,
        metadata={"toml": "spark.footer_stats", "env": "LAKEHOUSE_SPARK_FOOTER_STATS"},
    )
    spool_dir: str = field(
        default="",
        metadata={"toml": "tracking.spool_dir", "env": "LAKEHOUSE_SPOOL_DIR"},
    )
    flush_interval: float = field(
        default=2.0,
        metadata={"toml": "tracking.flush_interval", "env": "LAKEHOUSE_FLUSH_INTERVAL"},
    )
    spool_interval: float = field(
        default=0.25,
        metadata={"toml": "tracking.spool_interval", "env": "LAKEHOUSE_SPOOL_INTERVAL"},
    )
    flush_points: int = field(
        default=250_000,
        metadata={"toml": "tracking.flush_points", "env": "LAKEHOUSE_FLUSH_POINTS"},
    )
    spool_fsync: bool = field(
        default=True,
        metadata={"toml": "tracking.spool_fsync", "env": "LAKEHOUSE_SPOOL_FSYNC"},
    )
    finish_timeout: float = field(
        default=30.0,
        metadata={"toml": "tracking.finish_timeout", "env": "LAKEHOUSE_FINISH_TIMEOUT"},
    )
    maintenance_commits: int = field(
        default=200,
        metadata={"toml": "tracking.maintenance_commits", "env": "LAKEHOUSE_MAINTENANCE_COMMITS"},
    )
    tracking_log_retention: str = field(
        default="interval 30 days",
        metadata={"toml": "tracking.log_retention", "env": "LAKEHOUSE_TRACKING_LOG_RETENTION"},
    )
    # Durations: seconds, written as a number or as "90s", "10m", "2h", "30d" (see parse_duration).
    heartbeat_interval: float = field(
        default=60.0,
        metadata={"toml": "tracking.heartbeat_interval", "env": "LAKEHOUSE_HEARTBEAT_INTERVAL", "duration": True},
    )
    # The longest wait between two commit attempts of the writer while the store fails (an outage, revoked
    # credentials): the data waits in the local spool, so a short cap costs one cheap failed request per
    # attempt and means commits resume within seconds of the store coming back.
    retry_max_backoff: float = field(
        default=5.0,
        metadata={"toml": "tracking.retry_max_backoff", "env": "LAKEHOUSE_RETRY_MAX_BACKOFF", "duration": True},
    )
    lost_after: float = field(
        default=600.0,
        metadata={"toml": "tracking.lost_after", "env": "LAKEHOUSE_LOST_AFTER", "duration": True},
    )
    transaction_retention: float = field(
        default=30 * 86400.0,
        metadata={"toml": "tracking.transaction_retention", "env": "LAKEHOUSE_TRANSACTION_RETENTION", "duration": True},
    )
    app_host: str = field(default="127.0.0.1", metadata={"toml": "app.host", "env": "LAKEHOUSE_APP_HOST"})
    app_port: int = field(default=8501, metadata={"toml": "app.port", "env": "LAKEHOUSE_APP_PORT"})
    # One second: an open Live page's check is a listing of the tables' logs on the server, for a request the
    # browser holds (lakehouse.app.live_watch); a point is drawn within a second of its commit.
    app_refresh_seconds: int = field(
        default=1,
        metadata={"toml": "app.refresh_seconds", "env": "LAKEHOUSE_APP_REFRESH_SECONDS"},
    )
    app_max_points: int = field(
        default=2000,
        metadata={"toml": "app.max_points", "env": "LAKEHOUSE_APP_MAX_POINTS"},
    )
    # The whole config document (for sections other modules own); not in repr: it may hold credentials.
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, metadata={"toml": None, "env": None})

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the given fields replaced (values coerced to the field's type)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            if value is None:
                continue
            if name not in known:
                msg = f"unknown setting {name!r}; known settings: {', '.join(sorted(known))}"
                raise ConfigError(msg)
            values[name] = _coerce(known[name], value, source=f"argument {name}")
        return dataclasses.replace(self, **values)


def _coerce(f: dataclasses.Field[Any], value: Any, *, source: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if f.metadata.get("duration"):
        try:
            return parse_duration(value)
        except ConfigError as e:
            msg = f"{source}: {e} (setting {f.name!r})"
            raise ConfigError(msg) from e
    try:
        if f.metadata.get("location"):
            text = str(value)
            return text if "://" in text else Path(text).expanduser()
        if f.metadata.get("flag"):
            return "" if str(value).strip() == "" else str(_boolean(value)).lower()
        if kind == "Path":
            return Path(value).expanduser()
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind == "bool":
            return _boolean(value)
        if kind == "str":
            return str(value)
    except (TypeError, ValueError) as e:
        msg = f"{source}: {value!r} is not a valid {kind} for setting {f.name!r}"
        raise ConfigError(msg) from e
    return value


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """Seconds from a duration: a number of seconds, or a number with a unit (``90s``, ``10m``, ``2h``, ``30d``).

    Raises:
        ConfigError: the value is not a positive duration (the message names it).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        found = _DURATION.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            msg = f"{value!r} is not a duration; write a number and a unit (ms, s, m, h, d, w), e.g. 90s, 10m, 2h"
            raise ConfigError(msg)
        seconds = float(found.group(1)) * _UNIT_SECONDS[found.group(2) or "s"]
    if not seconds > 0 or seconds == float("inf"):
        msg = f"{value!r} is not a duration greater than zero"
        raise ConfigError(msg)
    return seconds


def format_duration(seconds: float) -> str:
    """A duration as :func:`parse_duration` reads it, in the largest unit that divides it (``600`` -> ``10m``)."""
    for unit in ("w", "d", "h", "m", "s"):
        count = seconds / _UNIT_SECONDS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds:g}s"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _lookup(table: Mapping[str, Any], dotted: str) -> Any:
    node: Any = table
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in effect, or None."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV]).expanduser()
        if not path.is_file():
            msg = f"{CONFIG_ENV} points at {str(path)!r}, which is not a file"
            raise ConfigError(msg)
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings: defaults < config file < ``LAKEHOUSE_*`` variables < ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    fields = [f for f in dataclasses.fields(Settings) if f.metadata.get("toml")]
    path = config_file(env)
    document: dict[str, Any] = {}
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            msg = f"cannot read config file {str(path)!r}: {e}"
            raise ConfigError(msg) from e
        for f in fields:
            found = _lookup(document, f.metadata["toml"])
            if found is not None:
                values[f.name] = _coerce(f, found, source=str(path))
    for f in fields:
        name = f.metadata.get("env")
        if name and env.get(name):
            values[f.name] = _coerce(f, env[name], source=f"environment variable {name}")
    settings = Settings(**values, extra=document)
    return settings.with_overrides(**overrides)
