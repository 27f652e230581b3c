"""``lakehouse:`` tracking URIs: which root a URI names (no MLflow import here).

- ``lakehouse:///abs/path`` — the root at ``/abs/path``;
- ``lakehouse:relative/path`` — relative to the current directory (resolved once, when the store is built);
- ``lakehouse:`` or ``lakehouse://`` — the configured root (``LAKEHOUSE_ROOT``, then ``conf/lakehouse.toml``).

A host (``lakehouse://server/path``) is refused: the plugin reads and writes local tables.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lakehouse.errors import InvalidArgument

SCHEME = "lakehouse"


def root_from_uri(uri: str) -> Path | None:
    """The root folder a ``lakehouse:`` URI names, or None for the configured default root."""
    if not isinstance(uri, str) or not uri.lower().startswith(SCHEME + ":"):
        msg = f"not a lakehouse URI: {uri!r}; use lakehouse:///absolute/path or lakehouse:relative/path"
        raise InvalidArgument(msg)
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        msg = (
            f"lakehouse URI {uri!r} names the host {parsed.netloc!r}; only local roots are supported "
            "(lakehouse:///absolute/path)"
        )
        raise InvalidArgument(msg)
    if parsed.query or parsed.fragment:
        msg = f"lakehouse URI {uri!r} must not have a query or fragment"
        raise InvalidArgument(msg)
    path = unquote(parsed.path)
    if not path:
        return None
    return Path(path).expanduser().absolute()


def uri_for(root: Path | str) -> str:
    """The canonical URI of a root: ``lakehouse:///abs/path``."""
    return f"{SCHEME}://{Path(root).expanduser().absolute().as_posix()}"
