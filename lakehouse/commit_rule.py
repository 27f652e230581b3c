"""Which engine may commit to a table on object storage: the one rule both engines check before a commit.

A Delta commit is the creation of ``_delta_log/<version>.json``, and it is safe only if that creation fails
when another writer created the same version first. On a local disk every engine has that (a hard link or
an exclusive create). On object storage the engines differ:

- **delta-rs** (every embedded write, and the Spark writes lakehouse commits itself: Spark writes the
  Parquet files, delta-rs the log entry) creates the entry with a conditional put (``If-None-Match: *``),
  which the store refuses atomically when the version exists. Any number of processes on any number of
  machines can commit this way.
- **Delta-Spark**'s S3 log store (``S3SingleDriverLogStore``, the open-source default for ``s3a://``) checks
  that the entry is missing and then puts it unconditionally; only commits made through the same driver are
  serialised (a lock inside that JVM). A conditional put that lands between its check and its put is
  silently overwritten: a lost commit. Delta's DynamoDB log store would serialise both engines, but only if
  every writer used it, and lakehouse's own commits (the conditional put) do not.

So a table on object storage has **one committing engine**, recorded in its table property
``lakehouse.committer``: ``delta-rs`` (the default when the property is absent: every table the embedded
engine creates, which is every tracking and catalog table) or ``delta-spark`` (a table Delta-Spark created
there). Both engines call :func:`check` before each commit to an existing table, and a commit by the other
engine is refused with :class:`lakehouse.errors.CommitRefused`, changing nothing. Local tables have no rule.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal, get_args

from lakehouse.errors import CommitRefused

Committer = Literal["delta-rs", "delta-spark"]
PROPERTY = "lakehouse.committer"
DEFAULT: Committer = "delta-rs"
RULE = (
    "on object storage each table has one committing engine, because Delta-Spark's S3 log store does not "
    "commit with the conditional put delta-rs uses (docs/STORAGE.md#spark)"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+")  # two characters at least: C:/ is a Windows drive
_WAY_OUT: dict[str, str] = {
    "delta-rs": "write it through lakehouse (embedded, or lakehouse.spark's dataset appends and overwrites)",
    "delta-spark": "write it with Spark (one cluster), or copy it into a new table",
}


def on_object_store(location: str | os.PathLike[str]) -> bool:
    """True for a URI such as ``s3://bucket/key`` or ``s3a://...`` (any scheme but ``file``), False for a path.

    A URI that went through ``pathlib.Path`` (``s3:/bucket/key``) counts too.
    """
    scheme, sep, _ = str(location).partition(":/")
    return bool(sep) and _SCHEME.fullmatch(scheme) is not None and scheme.lower() != "file"


def committer_of(properties: Mapping[str, str]) -> str:
    """The engine recorded in a table's properties (``delta-rs`` when none is)."""
    return properties.get(PROPERTY, DEFAULT)


def creation_properties(location: str | os.PathLike[str], committer: Committer) -> dict[str, str]:
    """The property a table created at ``location`` by ``committer`` records (nothing for a local table)."""
    if committer == DEFAULT or not on_object_store(location):
        return {}
    return {PROPERTY: committer}


def check(location: str | os.PathLike[str], properties: Mapping[str, str], *, committer: Committer) -> None:
    """Refuse a commit by ``committer`` to the existing table at ``location`` if another engine owns it.

    Raises:
        CommitRefused: the table is on object storage and records another committing engine (or one
            lakehouse does not know). The message names the table, both engines and the rule.
    """
    if not on_object_store(location):
        return
    owner = committer_of(properties)
    if owner == committer:
        return
    way_out = _WAY_OUT.get(owner, f"set {PROPERTY} to one of {get_args(Committer)}")
    msg = (
        f"table {str(location)!r} is committed to by {owner} ({PROPERTY}={owner!r}), so a {committer} "
        f"commit is refused: {RULE}; {way_out}"
    )
    raise CommitRefused(msg)
