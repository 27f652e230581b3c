"""Where something lives under a root: a local folder or an object-store prefix (``s3://bucket/prefix``).

A :class:`Location` is the one value every layer passes around for a root and the tables and files under it.
Joining (``/``), ``.name`` and ``.parent`` work the same for both kinds; ``str()`` is what engines are handed
(an absolute path for a local root, the URI for a bucket); :attr:`Location.local` is the local ``Path`` or None
when the location is remote. Nothing here reads or writes: I/O goes through :mod:`lakehouse.storage` (Delta
tables) and :mod:`lakehouse.fileio` (plain files), which take the storage options of the root.

``s3a://`` (what Spark users write) names the same place as ``s3://``, the canonical form used everywhere else;
``file://`` names a local folder.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import ConfigError, InvalidArgument

#: Schemes accepted for a remote root, and the canonical scheme each one means.
SCHEMES = {"s3": "s3", "s3a": "s3"}
# S3's bucket naming rules (3-63 characters; lowercase letters, digits, dots and hyphens; a letter or digit at
# each end). Names outside them fail late and obscurely in the engines, so they are refused at once here.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class Location:
    """A local folder or an object-store prefix, in normalized form.

    Build one with :meth:`of`; ``uri`` is an absolute POSIX path for a local location, else
    ``<scheme>://<bucket>[/<key>]`` without a trailing slash.
    """

    uri: str

    @classmethod
    def of(cls, where: str | Path | Location) -> Location:
        """The location ``where`` names: a ``Location``, a local path, or a URI (``s3://``, ``s3a://``, ``file://``).

        Raises:
            ConfigError: an unsupported scheme, or a bucket name S3 would refuse (the message names it).
        """
        if isinstance(where, Location):
            return where
        text = str(where)
        scheme, sep, rest = text.partition("://")
        if not sep:
            return cls(str(Path(text).expanduser().absolute()))
        scheme = scheme.lower()
        if scheme == "file":
            return cls(str(Path(rest or "/").absolute()))
        if scheme not in SCHEMES:
            msg = f"root {text!r}: unsupported scheme {scheme + '://'!r}; use a local folder or s3://bucket/prefix"
            raise ConfigError(msg)
        bucket, _, key = rest.partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            msg = (
                f"root {text!r}: {bucket!r} is not a valid bucket name "
                "(3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit)"
            )
            raise ConfigError(msg)
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            msg = f"root {text!r}: a key with '.' or '..' parts is not a location"
            raise ConfigError(msg)
        return cls("/".join([f"{SCHEMES[scheme]}://{bucket}", *parts]))

    # --- what it is --------------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``s3`` for a bucket location, ``""`` for a local one."""
        scheme, sep, _ = self.uri.partition("://")
        return scheme if sep else ""

    @property
    def is_remote(self) -> bool:
        return bool(self.scheme)

    @property
    def local(self) -> Path | None:
        """The local folder or file, or None for a remote location."""
        return None if self.is_remote else Path(self.uri)

    @property
    def bucket(self) -> str | None:
        """The bucket of a remote location (None when local)."""
        if not self.is_remote:
            return None
        return self.uri.partition("://")[2].partition("/")[0]

    @property
    def key(self) -> str:
        """The object key prefix inside the bucket (``""`` at the bucket's top; the path when local)."""
        if not self.is_remote:
            return self.uri
        return self.uri.partition("://")[2].partition("/")[2]

    # --- paths -------------------------------------------------------------------------------------------

    def __truediv__(self, part: str) -> Location:
        """The location ``part`` (one name or a relative POSIX path) below this one."""
        pieces = [p for p in str(part).split("/") if p]
        if not pieces or any(p in (".", "..") for p in pieces):
            msg = f"{part!r} is not a relative path below {self.uri!r}"
            raise ValueError(msg)
        return Location("/".join([self.uri.rstrip("/"), *pieces]))

    @property
    def name(self) -> str:
        """The last part (the bucket's name at the top of a bucket)."""
        return self.uri.rstrip("/").rpartition("/")[2]

    @property
    def parent(self) -> Location:
        """The location one level up (a bucket's top and ``/`` are their own parents)."""
        if self.is_remote:
            head, _, _ = self.uri.rpartition("/")
            return self if head.endswith(":/") else Location(head)
        return Location(posixpath.dirname(self.uri) or "/")

    def relative_to(self, other: Location) -> str:
        """This location as a POSIX path relative to ``other`` (which must hold it)."""
        base = other.uri.rstrip("/") + "/"
        if not self.uri.startswith(base):
            msg = f"{self.uri!r} is not inside {other.uri!r}"
            raise ValueError(msg)
        return self.uri[len(base) :]

    def local_folder(self, what: str) -> Path:
        """The local folder, for a feature that works on a local root only (``what`` names it in the error).

        Raises:
            InvalidArgument: the location is in a bucket.
        """
        if self.is_remote:
            msg = f"{what} works on a local root only; {self.uri!r} is in a bucket"
            raise InvalidArgument(msg)
        return Path(self.uri)

    def __str__(self) -> str:
        return self.uri

    def __fspath__(self) -> str:
        """The local path (so ``open``/``Path`` work on a local location and fail loudly on a remote one)."""
        if self.is_remote:
            msg = f"{self.uri!r} is not on the local file system; go through lakehouse.storage or lakehouse.fileio"
            raise TypeError(msg)
        return self.uri


#: Anything that names a location: a :class:`Location`, a local path, or a URI.
Where = str | Path | Location
