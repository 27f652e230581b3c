"""The storage settings of a bucket root, as the one set of options every engine is handed.

:func:`storage_options` turns the ``storage_*`` settings into a dict in object_store's key names
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``, ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST``,
``AWS_ACCESS_KEY_ID``...), holding only the keys a setting gave: delta-rs and polars take it as their
``storage_options``, :func:`arrow_filesystem` builds pyarrow's ``S3FileSystem`` from the same dict, and Spark
maps it to ``fs.s3a.*``. What no setting gives is left to each engine's standard AWS chain (the ``AWS_*``
variables, the profile, an instance role), so with the standard variables alone nothing needs setting.

The dict holds credentials when they are set: hand it to engines, never print it (:func:`describe` is the
printable form).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import pyarrow.fs as pafs

from lakehouse.config import Settings

#: The object_store key of each storage setting (``storage_<name>``).
_KEYS = {
    "storage_endpoint": "AWS_ENDPOINT_URL",
    "storage_region": "AWS_REGION",
    "storage_allow_http": "AWS_ALLOW_HTTP",
    "storage_access_key_id": "AWS_ACCESS_KEY_ID",
    "storage_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "storage_session_token": "AWS_SESSION_TOKEN",
}
#: Keys whose values are never shown.
SECRET_KEYS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def storage_options(settings: Settings) -> dict[str, str]:
    """The storage options the settings give, in object_store key names (only the keys actually set)."""
    options = {key: str(getattr(settings, name)) for name, key in _KEYS.items() if getattr(settings, name)}
    if settings.storage_path_style:
        # object_store asks the opposite question: virtual-hosted style is path style's "false".
        path_style = settings.storage_path_style == "true"
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false" if path_style else "true"
    return options


def describe(options: Mapping[str, str]) -> dict[str, str]:
    """``options`` fit to print: every credential replaced by ``***``."""
    return {k: "***" if k in SECRET_KEYS else v for k, v in options.items()}


def endpoint(options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> str:
    """The endpoint the options and the AWS variables point at (``""``: AWS's own S3 endpoint)."""
    env = os.environ if environ is None else environ
    return options.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or ""


def endpoint_name(options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> str:
    """The endpoint as an error message names it: its URL, or AWS S3 and the region."""
    env = os.environ if environ is None else environ
    region = options.get("AWS_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return endpoint(options, env) or (f"AWS S3 ({region})" if region else "AWS S3")


def redact(text: str, options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> str:
    """``text`` on one line, with every credential the options or the AWS variables hold replaced by ``***``."""
    env = os.environ if environ is None else environ
    for key in SECRET_KEYS:
        for secret in (options.get(key), env.get(key)):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
    return " ".join(text.split())


_Client = TypeVar("_Client")

#: How each engine words "the store refused these credentials" (pyarrow: AWS SDK error names; delta-rs and
#: polars: object_store's status line and S3's error codes; boto3: the error codes).
_REFUSALS = (
    "ACCESS_DENIED",
    "AccessDenied",
    "InvalidAccessKeyId",
    "INVALID_ACCESS_KEY_ID",
    "SignatureDoesNotMatch",
    "SIGNATURE_DOES_NOT_MATCH",
    "ExpiredToken",
    "InvalidToken",
    "403 Forbidden",
    "status 403",
)


def access_refused(text: str) -> bool:
    """True if an engine's error ``text`` says the store refused the request's credentials (HTTP 403)."""
    return any(marker in text for marker in _REFUSALS)


# The AWS variables a file system depends on: one is built per distinct options and values of these, and
# reused (building one sets up an AWS SDK client: milliseconds, on every listing and read otherwise).
_CHAIN_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


class Clients(Generic[_Client]):
    """Clients of object storage built once per options and AWS variables (:func:`client_key`) and reused:
    building one sets up an AWS SDK client and its credential chain (milliseconds, on every call otherwise).
    A forked child starts empty (the parent's clients hold threads and sockets), under a new lock."""

    def __init__(self) -> None:
        self._built: dict[tuple[tuple[str, str], ...], _Client] = {}
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._built.clear()

    def get(self, key: tuple[tuple[str, str], ...], build: Callable[[], _Client]) -> _Client:
        """The client for ``key``, built by ``build()`` the first time (outside the lock: it may be slow)."""
        with self._lock:
            found = self._built.get(key)
        if found is not None:
            return found
        made = build()
        with self._lock:
            return self._built.setdefault(key, made)


def client_key(options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """What a client built for ``options`` depends on: the options and the AWS variables of the chain."""
    env = os.environ if environ is None else environ
    return (*sorted(options.items()), *((f"${n}", env.get(n, "")) for n in _CHAIN_VARIABLES))


_filesystems: Clients[pafs.S3FileSystem] = Clients()


def arrow_filesystem(options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> pafs.S3FileSystem:
    """pyarrow's S3 file system for the same options (what it is not given comes from the AWS chain).

    pyarrow's own chain covers credentials, profile and region but not the endpoint variables of the AWS SDKs
    (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``) when a file system is built directly: they are read here,
    as delta-rs and polars read them. File systems are reused for the same options and AWS variables.
    """
    env = os.environ if environ is None else environ
    return _filesystems.get(client_key(options, env), lambda: _build(options, env))


def _build(options: Mapping[str, str], env: Mapping[str, str]) -> pafs.S3FileSystem:
    kwargs: dict[str, object] = {}
    url = endpoint(options, env)
    allow_http = options.get("AWS_ALLOW_HTTP", env.get("AWS_ALLOW_HTTP", "")).lower() == "true"
    if url:
        scheme, sep, rest = url.partition("://")
        kwargs["endpoint_override"] = rest if sep else url
        kwargs["scheme"] = scheme if sep else ("http" if allow_http else "https")
    if options.get("AWS_REGION"):
        kwargs["region"] = options["AWS_REGION"]
    if options.get("AWS_ACCESS_KEY_ID") and options.get("AWS_SECRET_ACCESS_KEY"):
        kwargs["access_key"] = options["AWS_ACCESS_KEY_ID"]
        kwargs["secret_key"] = options["AWS_SECRET_ACCESS_KEY"]
        if options.get("AWS_SESSION_TOKEN"):
            kwargs["session_token"] = options["AWS_SESSION_TOKEN"]
    if "AWS_VIRTUAL_HOSTED_STYLE_REQUEST" in options:
        kwargs["force_virtual_addressing"] = options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "true"
    return pafs.S3FileSystem(**kwargs)
