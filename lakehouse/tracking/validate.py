"""Checks on everything a run records, done at call time so a bad value fails where it was logged.

The metric checks sit on the hot path of ``run.log()``: callers test ``type(v) is float`` and a set of keys
already seen first, and only fall back to these functions for anything else.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lakehouse.entities import RUN_STATUSES, RunStatus
from lakehouse.errors import InvalidArgument, InvalidName
from lakehouse.refs import as_utc

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000  # MLflow's limit, so runs round-trip through its client
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 250
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Latest instant a timestamp[us] can hold comfortably (year 9999), in microseconds since the epoch.
_MAX_MICROS = 253_402_300_799_000_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: object, *, what: str = "metric") -> str:
    """Return ``key`` if it is a valid metric/param/tag key, else raise :class:`InvalidName`."""
    if not isinstance(key, str):
        msg = f"{what} key must be a string, got {type(key).__name__} {key!r}"
        raise InvalidName(msg)
    if not key:
        msg = f"{what} key must not be empty"
        raise InvalidName(msg)
    if len(key) > MAX_KEY_LENGTH:
        msg = f"{what} key {key[:40] + '...'!r} is {len(key)} characters long; at most {MAX_KEY_LENGTH} are allowed"
        raise InvalidName(msg)
    if key != key.strip() or _CONTROL.search(key):
        msg = f"{what} key {key!r} must not start or end with spaces or contain control characters"
        raise InvalidName(msg)
    return key


def check_name(name: object, *, what: str) -> str:
    """An experiment or run name: a non-empty string of at most 250 characters, no control characters."""
    if not isinstance(name, str) or not name.strip():
        msg = f"{what} must be a non-empty string, got {name!r}"
        raise InvalidName(msg)
    if len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        msg = f"{what} {name[:60]!r} must be at most {MAX_NAME_LENGTH} characters without control characters"
        raise InvalidName(msg)
    return name


def _is_bool(value: object) -> bool:
    # numpy's bool (np.bool_ / np.bool) converts to float silently; a bool logged as a metric is a mistake.
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


def metric_value(key: str, value: object) -> float:
    """Coerce a metric value to float (ints, numpy scalars, 0-d tensors...); NaN and ±inf are kept."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError as e:
            msg = f"metric {key!r}: integer {value} is too large for a float64"
            raise InvalidArgument(msg) from e
    if _is_bool(value):
        msg = f"metric {key!r}: got the bool {value!r}; log a number (e.g. float({value!r})) instead"
        raise InvalidArgument(msg)
    if isinstance(value, str | bytes) or value is None:
        msg = f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        raise InvalidArgument(msg)
    if isinstance(value, numbers.Real) or hasattr(value, "__float__"):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError) as e:
            msg = f"metric {key!r}: cannot convert {type(value).__name__} {_short(value)} to a float ({e})"
            raise InvalidArgument(msg) from e
    msg = f"metric {key!r} must be a number, got {type(value).__name__} {_short(value)}"
    raise InvalidArgument(msg)


def step_value(step: object) -> int:
    """A step: an integer within int64 (numpy integers accepted)."""
    if type(step) is not int:
        if _is_bool(step) or not isinstance(step, numbers.Integral):
            msg = f"step must be an integer, got {type(step).__name__} {step!r}"
            raise InvalidArgument(msg)
        step = int(step)
    if not INT64_MIN <= step <= INT64_MAX:
        msg = f"step {step} does not fit in a 64-bit integer"
        raise InvalidArgument(msg)
    return step


def timestamp_micros(timestamp: object) -> int:
    """Microseconds since the epoch from a datetime (naive = UTC) or seconds since the epoch (int/float)."""
    if isinstance(timestamp, datetime):
        when = as_utc(timestamp)
        micros = int(when.timestamp()) * 1_000_000 + when.microsecond
    elif _is_bool(timestamp) or not isinstance(timestamp, int | float):
        msg = (
            "timestamp must be a datetime or seconds since the epoch (like time.time()), "
            f"got {type(timestamp).__name__} {timestamp!r}"
        )
        raise InvalidArgument(msg)
    elif not math.isfinite(timestamp):
        msg = f"timestamp must be finite, got {timestamp!r}"
        raise InvalidArgument(msg)
    else:
        micros = round(timestamp * 1_000_000)
    if not 0 <= micros <= _MAX_MICROS:
        msg = f"timestamp {timestamp!r} is outside 1970-01-01..9999-12-31"
        raise InvalidArgument(msg)
    return micros


def param_value(key: str, value: object) -> str:
    """Params are stored as strings (as MLflow does); mappings and lists as sorted JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping | list | tuple):
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError) as e:
            msg = f"param {key!r}: cannot serialise {_short(value)} ({e})"
            raise InvalidArgument(msg) from e
    else:
        text = str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        msg = f"param {key!r}: value is {len(text)} characters long; at most {MAX_PARAM_VALUE_LENGTH} are allowed"
        raise InvalidArgument(msg)
    return text


def tag_value(key: str, value: object) -> str:
    if value is None:
        msg = f"tag {key!r}: the value is None; use delete_tag({key!r}) to remove a tag"
        raise InvalidArgument(msg)
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        msg = f"tag {key!r}: value is {len(text)} characters long; at most {MAX_TAG_VALUE_LENGTH} are allowed"
        raise InvalidArgument(msg)
    return text


def check_mapping(value: object, *, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{what} must be a mapping of names to values, got {type(value).__name__} {_short(value)}"
        raise InvalidArgument(msg)
    return value


def check_status(status: object) -> RunStatus:
    if status not in RUN_STATUSES:
        msg = f"invalid run status {status!r}; use one of {', '.join(RUN_STATUSES)}"
        raise InvalidArgument(msg)
    return status  # type: ignore[return-value]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
