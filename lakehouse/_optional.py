"""Lazy imports of optional stacks that fail with the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from lakehouse.errors import NotInstalled


def import_optional(module: str, *, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`NotInstalled` naming ``pip install 'lakehouse[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        what = f" for {purpose}" if purpose else ""
        msg = f"{module!r} is needed{what} but is not installed; run: pip install 'lakehouse[{extra}]'"
        raise NotInstalled(msg) from e
