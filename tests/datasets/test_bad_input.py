"""Bad input gets a clear error naming the offending value, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.errors import (
    DatasetNotFound,
    InvalidArgument,
    InvalidData,
    InvalidMetadata,
    InvalidName,
    InvalidRef,
    LakehouseError,
    SchemaMismatch,
    TagExists,
    TagNotFound,
    VersionNotFound,
)
from tests.datasets.conftest import rows

GOOD = pl.DataFrame({"id": [3], "label": ["c"]})
Action = Callable[[lakehouse.Lakehouse, lakehouse.Dataset], Any]

CASES: list[tuple[str, Action, type[LakehouseError], str]] = [
    ("bad dataset name", lambda lh, ds: lh.dataset("../etc").write(GOOD), InvalidName, r"'\.\./etc'"),
    ("uppercase name", lambda lh, ds: lh.dataset("Train").write(GOOD), InvalidName, "'Train'"),
    ("bad ref", lambda lh, ds: lh.read("train:"), InvalidRef, "nothing after ':'"),
    ("bad ref time", lambda lh, ds: lh.read("train@noon"), InvalidRef, "invalid time 'noon'"),
    ("unknown dataset", lambda lh, ds: lh.read("trian"), DatasetNotFound, "did you mean 'train'"),
    ("unknown version", lambda lh, ds: lh.read("train:v9"), VersionNotFound, r"no version 9; its versions are 0\.\.1"),
    ("unknown tag", lambda lh, ds: lh.read("train:prd"), TagNotFound, "did you mean 'prod'"),
    ("unknown mode", lambda lh, ds: ds.write(GOOD, mode="replace"), InvalidArgument, "got 'replace'"),
    ("upsert without key", lambda lh, ds: ds.write(GOOD, mode="upsert"), InvalidArgument, "needs key"),
    ("key with append", lambda lh, ds: ds.write(GOOD, key="id"), InvalidArgument, "not 'append'"),
    (
        "key not in data",
        lambda lh, ds: ds.write(GOOD, mode="upsert", key="uid"),
        InvalidArgument,
        r"key column 'uid' is not in the data; columns are \['id', 'label'\]",
    ),
    (
        "null keys",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [None, 4], "label": ["x", "y"]}), mode="upsert", key="id"),
        InvalidData,
        r"key column\(s\) \['id'\] contain nulls",
    ),
    (
        "duplicate keys in upsert",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [4, 4], "label": ["x", "y"]}), mode="upsert", key="id"),
        InvalidData,
        r"1 key\(s\) appear more than once in the input, e.g. \[\{'id': 4\}\]",
    ),
    (
        "schema mismatch",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [4], "name": ["x"]})),
        SchemaMismatch,
        "missing columns 'label'.*unexpected columns 'name'",
    ),
    (
        "type change",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [4.5], "label": ["x"]})),
        SchemaMismatch,
        r"type changes 'id' \(int64 in the dataset, double given\)",
    ),
    (
        "reserved metadata key",
        lambda lh, ds: ds.write(GOOD, metadata={"number_of_samples": 10}),
        InvalidMetadata,
        "'number_of_samples' cannot be set",
    ),
    (
        "internal metadata key",
        lambda lh, ds: ds.write(GOOD, metadata={"lakehouse": {}}),
        InvalidMetadata,
        "'lakehouse' cannot be set",
    ),
    (
        "non-JSON metadata",
        lambda lh, ds: ds.write(GOOD, metadata={"when": datetime(2026, 1, 1, tzinfo=UTC)}),
        InvalidMetadata,
        "value for key 'when' is not JSON-serialisable",
    ),
    (
        "NaN metadata",
        lambda lh, ds: ds.write(GOOD, metadata={"score": float("nan")}),
        InvalidMetadata,
        "value for key 'score'",
    ),
    (
        "conflicting card field",
        lambda lh, ds: ds.write(GOOD, metadata={"created_by": "a"}, created_by="b"),
        InvalidMetadata,
        "'created_by' given twice",
    ),
    (
        "null-only column",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [4], "label": [None]})),
        InvalidData,
        "column 'label' has only nulls and no type",
    ),
    (
        "unsupported type (time)",
        lambda lh, ds: ds.write(
            pa.table({"id": [4], "label": ["x"], "t": pa.array([1], pa.time64("us"))}), schema_mode="merge"
        ),
        InvalidData,
        "column 't' has type time64",
    ),
    (
        "column name with a space",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [4], "label": ["x"], "my col": [1]}), schema_mode="merge"),
        InvalidName,
        "invalid column name 'my col'",
    ),
    (
        "column name with a comma",
        lambda lh, ds: ds.write(pl.DataFrame({"id": [4], "label": ["x"], "a,b": [1]}), schema_mode="merge"),
        InvalidName,
        "invalid column name 'a,b'",
    ),
    (
        "partition_by on an existing dataset",
        lambda lh, ds: ds.write(GOOD, partition_by=["label"]),
        InvalidArgument,
        r"partition_by=\['label'\] can only be given when the dataset is created",
    ),
    (
        "unsupported input",
        lambda lh, ds: ds.write({"id": [4]}),
        InvalidData,
        "cannot write data of type builtins.dict",
    ),
    ("negative retention", lambda lh, ds: ds.vacuum(retention_hours=-1), InvalidArgument, "got -1"),
    ("reserved tag latest", lambda lh, ds: ds.tag("latest"), InvalidName, "reserved by the ref grammar"),
    ("reserved tag v1", lambda lh, ds: ds.tag("v1", version=0), InvalidName, "refer to version 1 as ':v1'"),
    ("move tag without force", lambda lh, ds: ds.tag("prod", version=1), TagExists, "already points at version 0"),
    ("untag unknown", lambda lh, ds: ds.untag("staging"), TagNotFound, "no tag 'staging'"),
    ("tag unknown version", lambda lh, ds: ds.tag("x", version=5), VersionNotFound, "no version 5"),
    ("diff unknown key", lambda lh, ds: ds.diff(0, 1, key="uid"), InvalidArgument, "key column 'uid'"),
    ("read unknown column", lambda lh, ds: ds.read(columns=["nope"]), InvalidArgument, "column 'nope'"),
]


@pytest.fixture
def ds(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    ds = lh.dataset("train")
    ds.write(pl.DataFrame({"id": [1, 2], "label": ["a", "b"]}))
    ds.write(pl.DataFrame({"id": [2], "label": ["B"]}), mode="upsert", key="id")
    ds.tag("prod", version=0)
    return ds


@pytest.mark.parametrize(("case", "action", "error", "match"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_changes_nothing(
    lh: lakehouse.Lakehouse,
    ds: lakehouse.Dataset,
    case: str,
    action: Action,
    error: type[LakehouseError],
    match: str,
) -> None:
    before_rows, before_tags = rows(ds.read()), ds.tags()
    before_events = len(ds.tag_history())
    with pytest.raises(error, match=match):
        action(lh, ds)
    assert storage.latest_version(ds.path) == 1, case
    assert rows(ds.read()) == before_rows
    assert ds.tags() == before_tags
    assert len(ds.tag_history()) == before_events
    assert [d.name for d in lh.datasets()] == ["train"]  # no stray dataset was created


def test_a_failing_stream_writes_nothing(ds: lakehouse.Dataset) -> None:
    """A reader whose second batch cannot be stored fails the write before anything is committed."""
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("label", pa.string())])

    def batches() -> Any:
        yield pa.record_batch({"id": [5], "label": ["e"]}, schema=schema)
        raise OSError("disk on fire")

    with pytest.raises(LakehouseError, match="disk on fire"):
        ds.write(pa.RecordBatchReader.from_batches(schema, batches()))
    assert storage.latest_version(ds.path) == 1
    assert rows(ds.read()) == [(1, "a"), (2, "B")]
