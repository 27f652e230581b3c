"""The dataset write contract, decided once for every engine: a request, checked, becomes a plan.

A write is decided in two steps before any engine touches the table, the way delta-rs bundles a write's
options into ``WriterProperties`` / ``CommitProperties``:

1. :func:`request` checks the caller's options (mode, key, schema mode, job id, user metadata) and fixes
   the commit's ``userMetadata`` (card fields, user keys, the ``lakehouse`` section with its write id). It
   needs no table, so bad options are refused before any data is read.
2. :func:`plan` holds the request against the table as it is now (or its absence): whether the write creates
   the dataset, the schema the rows are written in and the changes that makes (stamped into the section as
   ``schema_changes``), the partitioning, and the key columns an upsert merges on.

The embedded writer (:meth:`lakehouse.datasets.dataset.Dataset.write`, delta-rs) and the Spark writer
(:mod:`lakehouse.spark.io`) only execute a :class:`WritePlan`; the checks of the rows themselves (null or
repeated upsert keys) are the one thing each engine does on its own data. Both retry a plan that lost the race
to create the dataset the same way (:data:`CREATE_ATTEMPTS`), re-planned against the table the winner made.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, Unpack

import pyarrow as pa

from lakehouse.datasets import schema as schemas
from lakehouse.datasets.schema import SchemaMode
from lakehouse.datasets.versions import SECTION, SchemaChange, build_user_metadata
from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.storage import CommitMode

WriteMode = Literal["append", "overwrite", "upsert"]
MODES: tuple[WriteMode, ...] = ("append", "overwrite", "upsert")
SCHEMA_MODES: tuple[SchemaMode, ...] = ("merge", "overwrite")
# A write that lost the race to create its dataset is planned again against the winner's table this often.
CREATE_ATTEMPTS = 3
_MAX_JOB_ID = 200


class WriteOptions(TypedDict, total=False):
    """A write's options, declared once for every entry point that takes them (see ``Dataset.write``).

    ``job_id`` is the Spark writer's: it makes a retried job commit nothing new.
    """

    mode: WriteMode
    key: str | Sequence[str] | None
    schema_mode: SchemaMode | None
    partition_by: Sequence[str] | None
    metadata: Mapping[str, Any] | None
    created_by: str | None
    description: str | None
    labelled_by: str | None
    job_id: str | None


@dataclass(frozen=True)
class WriteRequest:
    """A write's options, checked: what the caller asked for, independent of the table and the engine."""

    dataset: str
    mode: WriteMode
    keys: tuple[str, ...]
    schema_mode: SchemaMode | None
    partition_by: tuple[str, ...]
    user_metadata: Mapping[str, Any]
    job_id: str | None = None

    @property
    def write_id(self) -> str:
        """The id the commit carries in its section, by which the writer finds the version it made."""
        return str(self.user_metadata[SECTION]["write_id"])


class TableState(Protocol):
    """What a plan needs of the table as it is now (``lakehouse.storage.Loaded`` is one)."""

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def partition_columns(self) -> list[str]: ...


@dataclass(frozen=True)
class WritePlan:
    """Everything decided before an engine writes: which commit to make, in which schema, with what metadata."""

    request: WriteRequest
    creating: bool
    target: pa.Schema
    changes: tuple[SchemaChange, ...]
    user_metadata: Mapping[str, Any]

    @property
    def dataset(self) -> str:
        return self.request.dataset

    @property
    def mode(self) -> WriteMode:
        return self.request.mode

    @property
    def keys(self) -> tuple[str, ...]:
        return self.request.keys

    @property
    def schema_mode(self) -> SchemaMode | None:
        return self.request.schema_mode

    @property
    def job_id(self) -> str | None:
        return self.request.job_id

    @property
    def write_id(self) -> str:
        return self.request.write_id

    @property
    def merges(self) -> bool:
        """True if the rows are merged on :attr:`keys` (an upsert into an existing dataset)."""
        return self.mode == "upsert" and not self.creating

    @property
    def commit_mode(self) -> CommitMode:
        """The table-level commit of a write that does not merge: an upsert that creates is a create."""
        if self.creating:
            return "create"
        return "overwrite" if self.mode == "overwrite" else "append"

    @property
    def evolution(self) -> SchemaMode | None:
        """How the commit changes the table's schema; a create defines the schema, it evolves none."""
        return None if self.creating else self.schema_mode

    @property
    def partition_columns(self) -> tuple[str, ...]:
        """Partition columns to create the table with; an existing table keeps its own."""
        return self.request.partition_by if self.creating else ()

    @property
    def user_metadata_json(self) -> str:
        """The commit's ``userMetadata`` as the engines store it."""
        return json.dumps(self.user_metadata, sort_keys=True)

    def with_metadata(self, key: str, value: Any) -> WritePlan:
        """The same plan with one more top-level ``userMetadata`` key (facts known only after planning)."""
        return dataclasses.replace(self, user_metadata={**self.user_metadata, key: value})


def request(dataset: str, *, actor: str | None = None, **options: Unpack[WriteOptions]) -> WriteRequest:
    """Check a write's options and fix its commit metadata; ``created_by`` defaults to ``actor``.

    Raises:
        InvalidArgument: an unknown mode or schema mode, keys without ``upsert`` (or the reverse), a bad job id.
        InvalidMetadata: metadata that is reserved, contradictory, not JSON or too large.
        TypeError: an option that is none of :class:`WriteOptions`.
    """
    unknown = sorted(set(options) - WriteOptions.__optional_keys__)
    if unknown:  # what a signature listing every option would refuse
        msg = f"unexpected write option(s) {unknown}; the options are {sorted(WriteOptions.__optional_keys__)}"
        raise TypeError(msg)
    mode = options.get("mode", "append")
    schema_mode = options.get("schema_mode")
    created_by = options.get("created_by")
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}; got {mode!r}"
        raise InvalidArgument(msg)
    keys = key_list(options.get("key"), mode)
    if schema_mode is not None and schema_mode not in SCHEMA_MODES:
        msg = f"schema_mode must be 'merge', 'overwrite' or None; got {schema_mode!r}"
        raise InvalidArgument(msg)
    job_id = check_job_id(options.get("job_id"))
    section: dict[str, Any] = {"mode": mode, "key": keys or None, "schema_mode": schema_mode}
    if job_id is not None:
        section["job_id"] = job_id
    user_metadata = build_user_metadata(
        options.get("metadata"),
        created_by=created_by if created_by is not None else actor,
        description=options.get("description"),
        labelled_by=options.get("labelled_by"),
        section=section,
    )
    return WriteRequest(
        dataset=dataset,
        mode=mode,
        keys=tuple(keys),
        schema_mode=schema_mode,
        partition_by=tuple(options.get("partition_by") or ()),
        user_metadata=user_metadata,
        job_id=job_id,
    )


def plan(request: WriteRequest, incoming: pa.Schema, table: TableState | None) -> WritePlan:
    """Hold ``request`` for rows of schema ``incoming`` against ``table`` (None: the dataset does not exist).

    Raises:
        SchemaMismatch: the schemas differ and the request does not ask for that evolution.
        InvalidArgument: partition or key columns that are not in the data, or ``partition_by`` for an
            existing dataset partitioned otherwise.
    """
    changes: list[SchemaChange] = []
    if table is None:
        target = incoming
        check_columns(request.partition_by, target.names, "partition column")
    else:
        target, changes = schemas.plan(
            table.schema, incoming, dataset=request.dataset, mode=request.mode, schema_mode=request.schema_mode
        )
        current = list(table.partition_columns)
        if request.partition_by and list(request.partition_by) != current:
            msg = (
                f"dataset {request.dataset!r} is partitioned by {current}; "
                f"partition_by={list(request.partition_by)} can only be given when the dataset is created"
            )
            raise InvalidArgument(msg)
    check_columns(request.keys, target.names, "key column")
    section = {**request.user_metadata[SECTION], "schema_changes": [dataclasses.asdict(c) for c in changes]}
    return WritePlan(
        request=request,
        creating=table is None,
        target=target,
        changes=tuple(changes),
        user_metadata={**request.user_metadata, SECTION: section},
    )


def replan_after_lost_create(attempt: int, *, exists: bool) -> bool:
    """True if a write whose commit raised CommitConflict on ``attempt`` (from 0) is to be planned again.

    Only losing the race to create the dataset is retried (the dataset now exists): the write is planned
    again against the table the other writer created. Any other conflict is the caller's to handle.
    """
    return exists and attempt < CREATE_ATTEMPTS - 1


def key_list(key: str | Sequence[str] | None, mode: str) -> list[str]:
    """The key columns of a write as a list; raises InvalidArgument unless keys and ``upsert`` go together."""
    keys = [key] if isinstance(key, str) else list(key or [])
    if mode == "upsert" and not keys:
        msg = "mode='upsert' needs key=[columns] to match rows on"
        raise InvalidArgument(msg)
    if keys and mode != "upsert":
        msg = f"key is only used by mode='upsert', not {mode!r}"
        raise InvalidArgument(msg)
    return keys


def check_job_id(job_id: str | None) -> str | None:
    """``job_id`` if it can name a job's Delta app transaction; raises InvalidArgument otherwise."""
    if job_id is None:
        return None
    if not isinstance(job_id, str) or not job_id.strip() or len(job_id) > _MAX_JOB_ID or not job_id.isprintable():
        msg = f"job id must be a printable, non-empty string of at most {_MAX_JOB_ID} characters, got {job_id!r}"
        raise InvalidArgument(msg)
    return job_id


def check_columns(columns: Sequence[str], names: Sequence[str], what: str) -> None:
    """Raise InvalidArgument naming the first of ``columns`` that is not in ``names``."""
    for c in columns:
        if c not in names:
            msg = f"{what} {c!r} is not in the data; columns are {list(names)}"
            raise InvalidArgument(msg)
