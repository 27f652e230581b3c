"""Shared by the integrations: a failure inside logging must never stop training."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from lakehouse.errors import TrackingWarning

log = logging.getLogger("lakehouse.integrations")
T = TypeVar("T")


class Guard:
    """Runs logging calls, turning any exception into one warning per kind of call."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._warned: set[str] = set()
        self.failures = 0

    def __call__(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - training goes on whatever logging does
            self.failures += 1
            message = f"{self.owner}: {what} failed and was skipped ({type(e).__name__}: {e}); training continues"
            log.warning(message)
            if what not in self._warned:
                self._warned.add(what)
                try:
                    warnings.warn(message, TrackingWarning, stacklevel=3)
                except Exception:  # noqa: BLE001 - a warnings filter set to "error" must not stop training either
                    log.debug("warning suppressed by filters: %s", message)
            return None


def flatten(params: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested mappings as dotted keys: ``{"optimizer": {"lr": 1}}`` -> ``{"optimizer.lr": 1}``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def scalar(value: Any) -> float | None:
    """A loggable float from a framework value (Python/numpy/torch scalar), or None if it is not one."""
    if isinstance(value, bool) or isinstance(value, str | bytes) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None
