"""``lakehouse:`` tracking URIs: which root a URI names (no MLflow import here).

- ``lakehouse:///abs/path`` — the root at ``/abs/path``;
- ``lakehouse:relative/path`` — relative to the current directory (resolved once, when the store is built);
- ``lakehouse:s3://bucket/prefix`` — the root in a bucket (``s3a://`` names the same place); the storage
  settings (endpoint, region, credentials) come from the configuration and the standard AWS chain, never
  from the URI;
- ``lakehouse:`` or ``lakehouse://`` — the configured root (``LAKEHOUSE_ROOT``, then ``conf/lakehouse.toml``).

``lakehouse:s3://bucket/prefix`` parses as scheme ``lakehouse`` with the path ``s3://bucket/prefix``, so MLflow
dispatches it (and the artifact URIs below it) to this plugin like the local forms. A host
(``lakehouse://server/path``) is refused: the plugin reads and writes the tables itself, there is no server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lakehouse.errors import InvalidArgument
from lakehouse.location import SCHEMES, Location

SCHEME = "lakehouse"


def root_from_uri(uri: str) -> Location | None:
    """The root a ``lakehouse:`` URI names, or None for the configured default root.

    Raises:
        InvalidArgument: not a ``lakehouse:`` URI, a host, a query or fragment, or credentials in the URI
            (refused without repeating them).
        ConfigError: a bucket form naming an invalid bucket or an unsupported scheme.
    """
    if not isinstance(uri, str) or not uri.lower().startswith(SCHEME + ":"):
        msg = (
            f"not a lakehouse URI: {uri!r}; use lakehouse:///absolute/path, lakehouse:s3://bucket/prefix "
            "or lakehouse:relative/path"
        )
        raise InvalidArgument(msg)
    inner = uri[len(SCHEME) + 1 :]
    scheme, sep, rest = inner.partition("://")
    if sep and scheme.lower() in SCHEMES:
        return _bucket_root(uri, scheme, rest)
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        msg = (
            f"lakehouse URI {uri!r} names the host {parsed.netloc!r}; a lakehouse URI names a root, not a server "
            "(lakehouse:///absolute/path or lakehouse:s3://bucket/prefix)"
        )
        raise InvalidArgument(msg)
    if parsed.query or parsed.fragment:
        msg = f"lakehouse URI {uri!r} must not have a query or fragment"
        raise InvalidArgument(msg)
    path = unquote(parsed.path)
    if not path:
        return None
    return Location.of(Path(path).expanduser().absolute())


def _bucket_root(uri: str, scheme: str, rest: str) -> Location:
    """The bucket root of ``lakehouse:<scheme>://<rest>``."""
    bucket = rest.partition("/")[0]
    if "@" in bucket:
        # Never echo it: what precedes the @ would be a key and a secret.
        msg = (
            f"a lakehouse:{scheme}:// URI must not carry credentials; give them as storage settings or through "
            "the standard AWS variables"
        )
        raise InvalidArgument(msg)
    if "?" in rest or "#" in rest:
        msg = f"lakehouse URI {uri!r} must not have a query or fragment"
        raise InvalidArgument(msg)
    return Location.of(f"{scheme}://{unquote(rest)}")


def uri_for(root: Path | str | Location) -> str:
    """The canonical URI of a root: ``lakehouse:///abs/path``, or ``lakehouse:s3://bucket/prefix`` for a bucket."""
    location = Location.of(root)
    if location.is_remote:
        return f"{SCHEME}:{location.uri}"
    return f"{SCHEME}://{Path(location.uri).as_posix()}"


def connect_root(uri: str) -> str | None:
    """The ``root`` argument of :func:`lakehouse.connect` for a ``lakehouse:`` URI (None: the configured root)."""
    root = root_from_uri(uri)
    return None if root is None else str(root)
