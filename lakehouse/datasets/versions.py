"""Dataset versions as values: what a commit says about itself, whichever engine wrote it.

A lakehouse write stores its metadata as JSON in the commit's ``userMetadata``: the dataset-card fields
(``created_by``, ``created_on``, ``labelled_by``, ``description``), any user keys, and a ``lakehouse``
section for what the write did (mode, key, schema changes). ``number_of_samples`` is never stored: it is
the version's row count, read from the log, so it is right even when writers raced.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from lakehouse.errors import InvalidMetadata
from lakehouse.storage import Commit, Snapshot

SECTION = "lakehouse"
CARD_FIELDS = ("created_by", "created_on", "labelled_by", "number_of_samples", "description")
DERIVED_KEYS = ("number_of_samples", SECTION)
MAX_METADATA_BYTES = 64 * 1024

ChangeKind = Literal["added", "removed", "type_changed"]


@dataclass(frozen=True)
class SchemaChange:
    """One column that differs between two schemas."""

    column: str
    change: ChangeKind
    before: str | None = None
    after: str | None = None

    def __str__(self) -> str:
        if self.change == "added":
            return f"+ {self.column}: {self.after}"
        if self.change == "removed":
            return f"- {self.column}: {self.before}"
        return f"~ {self.column}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a dataset: the commit's facts and metadata.

    ``metadata`` holds the dataset-card fields (``created_by``, ``created_on``, ``labelled_by``,
    ``number_of_samples``, ``description``) and every user key. ``digest`` identifies the exact set of
    data files the version reads.
    """

    name: str
    version: int
    created_at: datetime
    created_by: str | None
    operation: str
    num_rows: int
    rows_added: int
    rows_removed: int
    metadata: Mapping[str, Any]
    digest: str
    description: str | None = None
    rows_updated: int = 0
    num_files: int = 0
    size_bytes: int = 0
    engine: str = ""
    schema_changes: tuple[SchemaChange, ...] = ()
    data_change: bool = True

    @property
    def ref(self) -> str:
        """The immutable reference to this version, e.g. ``mnist-train:v3``."""
        return f"{self.name}:v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (times as ISO strings)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        out["metadata"] = dict(self.metadata)
        out["schema_changes"] = [asdict(c) for c in self.schema_changes]
        out["ref"] = self.ref
        return out


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as listed by ``Lakehouse.datasets()``."""

    name: str
    latest_version: int
    num_rows: int
    updated_at: datetime
    last_writer: str | None
    description: str | None = None
    tags: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["updated_at"] = self.updated_at.isoformat()
        out["tags"] = dict(self.tags)
        return out


def build_user_metadata(
    metadata: Mapping[str, Any] | None,
    *,
    created_by: str | None,
    description: str | None,
    labelled_by: str | None,
    section: Mapping[str, Any],
) -> dict[str, Any]:
    """Validate user metadata and add the card fields and the ``lakehouse`` section."""
    user = dict(metadata or {})
    for key in user:
        if not isinstance(key, str) or not key:
            msg = f"metadata keys must be non-empty strings, got {key!r}"
            raise InvalidMetadata(msg)
    for key in DERIVED_KEYS:
        if key in user:
            why = (
                "it is the version's row count, read from the data" if key == "number_of_samples" else "it is reserved"
            )
            msg = f"metadata key {key!r} cannot be set: {why}"
            raise InvalidMetadata(msg)
    for key, value in (
        ("created_by", created_by),
        ("description", description),
        ("labelled_by", labelled_by),
    ):
        if value is None:
            continue
        if key in user and user[key] != value:
            msg = f"metadata key {key!r} given twice with different values: {user[key]!r} and {value!r}"
            raise InvalidMetadata(msg)
        user[key] = value
    user.setdefault("created_on", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    user[SECTION] = {**section, "write_id": uuid.uuid4().hex}
    try:
        text = json.dumps(user, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        bad = next((k for k, v in user.items() if not _json_ok(v)), "?")
        msg = f"metadata value for key {bad!r} is not JSON-serialisable (use str, int, float, bool, list, dict): {e}"
        raise InvalidMetadata(msg) from e
    if len(text.encode()) > MAX_METADATA_BYTES:
        msg = f"metadata is {len(text.encode())} bytes; the limit is {MAX_METADATA_BYTES} (store large things as data)"
        raise InvalidMetadata(msg)
    return user


def _json_ok(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def write_id(commit: Commit) -> str | None:
    section = commit.user_metadata.get(SECTION)
    return section.get("write_id") if isinstance(section, Mapping) else None


def _metric(metrics: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int | float):
            return int(value)
    return None


def row_counts(commit: Commit, num_rows: int, previous_rows: int) -> tuple[int, int, int]:
    """``(added, removed, updated)`` rows of one commit, from either engine's operation metrics."""
    m = commit.metrics
    op = commit.operation.upper()
    net = num_rows - previous_rows
    inserted = _metric(m, "num_target_rows_inserted", "numTargetRowsInserted")
    if op == "MERGE" or inserted is not None:
        updated = _metric(m, "num_target_rows_updated", "numTargetRowsUpdated") or 0
        deleted = _metric(m, "num_target_rows_deleted", "numTargetRowsDeleted") or 0
        return inserted or 0, deleted, updated
    if op == "DELETE":
        return 0, _metric(m, "num_deleted_rows", "numDeletedRows") or max(-net, 0), 0
    if op == "UPDATE":
        return 0, 0, _metric(m, "num_updated_rows", "numUpdatedRows") or 0
    added = _metric(m, "num_added_rows", "numOutputRows")
    if added is None:  # a commit of files written elsewhere carries their row count in our section
        section = commit.user_metadata.get(SECTION)
        added = _metric(section, "rows_written") if isinstance(section, Mapping) else None
    if added is None:
        return max(net, 0), max(-net, 0), 0
    return added, max(added - net, 0), 0


def operation_name(commit: Commit) -> str:
    """``append``/``overwrite``/``upsert`` for writes, else the engine's operation in lower case."""
    section = commit.user_metadata.get(SECTION)
    if isinstance(section, Mapping) and section.get("mode"):
        return str(section["mode"])
    op = commit.operation.upper()
    if op in {
        "WRITE",
        "CREATE TABLE AS SELECT",
        "REPLACE TABLE AS SELECT",
        "CREATE OR REPLACE TABLE AS SELECT",
    }:
        mode = str(commit.parameters.get("mode", "")).strip('"').lower()
        return "overwrite" if mode == "overwrite" else "append"
    if op == "MERGE":
        return "upsert"
    return commit.operation.lower()


def is_data_change(commit: Commit) -> bool:
    op = commit.operation.upper()
    return not (
        op in {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UPGRADE PROTOCOL"}
        or op.startswith("CHECKPOINT")
    )


def make_version(name: str, commit: Commit, snapshot: Snapshot, previous: Snapshot | None) -> DatasetVersion:
    """Assemble a :class:`DatasetVersion` from a commit and the snapshots at it and before it."""
    user = {k: v for k, v in commit.user_metadata.items() if k != SECTION}
    section = commit.user_metadata.get(SECTION)
    section = section if isinstance(section, Mapping) else {}
    data_change = is_data_change(commit)
    if data_change:
        added, removed, updated = row_counts(commit, snapshot.num_rows, previous.num_rows if previous else 0)
    else:
        added = removed = updated = 0
    user.setdefault("created_on", commit.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    user["number_of_samples"] = snapshot.num_rows
    changes = tuple(SchemaChange(**c) for c in section.get("schema_changes", []) if isinstance(c, Mapping))
    return DatasetVersion(
        name=name,
        version=commit.version,
        created_at=commit.timestamp,
        created_by=user.get("created_by"),
        operation=operation_name(commit),
        num_rows=snapshot.num_rows,
        rows_added=added,
        rows_removed=removed,
        rows_updated=updated,
        metadata=user,
        digest=snapshot.digest,
        description=user.get("description"),
        num_files=snapshot.num_files,
        size_bytes=snapshot.size_bytes,
        engine=f"{section['engine']} via {commit.engine}" if section.get("engine") else commit.engine,
        schema_changes=changes,
        data_change=data_change,
    )
