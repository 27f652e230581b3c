"""One write contract, two engines: the same write is refused with the same error, or stamped the same way.

Every case runs through ``Dataset.write`` (delta-rs) and ``lakehouse.spark.write_dataset`` (Spark); a refused
write leaves the dataset exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.datasets.versions import SECTION
from lakehouse.errors import InvalidArgument, InvalidData, InvalidMetadata, LakehouseError, SchemaMismatch

BASE = pl.DataFrame({"id": [1, 2], "label": ["a", "b"]})
Write = Callable[..., lakehouse.DatasetVersion]


@pytest.fixture(params=["delta-rs", pytest.param("spark", marks=pytest.mark.spark)])
def write(request: pytest.FixtureRequest, lh: lakehouse.Lakehouse) -> Write:
    """``write(name, arrow_table, **options)`` by one engine; the Spark one shares the run's one session."""
    if request.param == "delta-rs":
        return lambda name, table, **options: lh.dataset(name).write(table, **options)
    from lakehouse.spark import write_dataset
    from lakehouse.spark._schema import to_spark

    spark = request.getfixturevalue("spark")

    def by_spark(name: str, table: pa.Table, **options: Any) -> lakehouse.DatasetVersion:
        rows = [tuple(r.values()) for r in table.to_pylist()]
        return write_dataset(lh, name, spark.createDataFrame(rows, to_spark(table.schema)), **options)

    return by_spark


@pytest.fixture
def base(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    ds = lh.dataset("base")
    ds.write(BASE)
    return ds


def table(**columns: tuple[list[Any], pa.DataType]) -> pa.Table:
    return pa.table({name: pa.array(values, type) for name, (values, type) in columns.items()})


GOOD = table(id=([3], pa.int64()), label=(["c"], pa.string()))

REFUSED: list[tuple[str, pa.Table, dict[str, Any], type[LakehouseError], str]] = [
    ("unknown mode", GOOD, {"mode": "replace"}, InvalidArgument, "mode must be one of append, overwrite, upsert"),
    ("upsert without key", GOOD, {"mode": "upsert"}, InvalidArgument, r"mode='upsert' needs key=\[columns\]"),
    ("key with append", GOOD, {"key": "id"}, InvalidArgument, "key is only used by mode='upsert', not 'append'"),
    (
        "unknown schema mode",
        GOOD,
        {"schema_mode": "replace"},
        InvalidArgument,
        "schema_mode must be 'merge', 'overwrite' or None; got 'replace'",
    ),
    (
        "key not in data",
        GOOD,
        {"mode": "upsert", "key": "uid"},
        InvalidArgument,
        r"^key column 'uid' is not in the data; columns are \['id', 'label'\]$",
    ),
    (
        "partitioning an existing dataset",
        GOOD,
        {"partition_by": ["label"]},
        InvalidArgument,
        r"^dataset 'base' is partitioned by \[\]; partition_by=\['label'\] can only be given when the dataset is "
        "created$",
    ),
    (
        "other columns",
        table(id=([4], pa.int64()), name=(["x"], pa.string())),
        {},
        SchemaMismatch,
        r"^cannot append into dataset 'base': the data's schema does not match: missing columns 'label' \(string\); "
        r"unexpected columns 'name' \(string\)\. Pass schema_mode='merge' to add new columns \(missing ones become "
        r"null\); nothing was written\.$",
    ),
    (
        "type change",
        table(id=([4.5], pa.float64()), label=(["x"], pa.string())),
        {"mode": "overwrite"},
        SchemaMismatch,
        r"type changes 'id' \(int64 in the dataset, double given\)\. Column types cannot change in place; "
        "use mode='overwrite' with schema_mode='overwrite'; nothing was written",
    ),
    (
        "schema overwrite with append",
        GOOD,
        {"schema_mode": "overwrite"},
        InvalidArgument,
        "schema_mode='overwrite' replaces the schema and only works with mode='overwrite', not 'append'",
    ),
    ("reserved metadata", GOOD, {"metadata": {SECTION: 1}}, InvalidMetadata, "'lakehouse' cannot be set"),
    ("metadata not JSON", GOOD, {"metadata": {"at": {1, 2}}}, InvalidMetadata, "key 'at' is not JSON-serialisable"),
    (
        "author twice",
        GOOD,
        {"metadata": {"created_by": "a"}, "created_by": "b"},
        InvalidMetadata,
        "'created_by' given twice with different values",
    ),
    # The rows' own checks, which each engine makes on its data: the same refusal in the same words.
    (
        "null keys",
        table(id=([None, 4], pa.int64()), label=(["x", "y"], pa.string())),
        {"mode": "upsert", "key": "id"},
        InvalidData,
        r"^upsert into 'base': key column\(s\) \['id'\] contain nulls; every row needs a key$",
    ),
    (
        "repeated keys",
        table(id=([4, 4], pa.int64()), label=(["x", "y"], pa.string())),
        {"mode": "upsert", "key": "id"},
        InvalidData,
        r"appear more than once in the input, e\.g\. \[\{'id': 4\}\]; each key may appear once$",
    ),
]


@pytest.mark.parametrize(("data", "options", "error", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_both_engines_refuse_a_bad_write_alike_and_change_nothing(
    write: Write,
    base: lakehouse.Dataset,
    data: pa.Table,
    options: dict[str, Any],
    error: type[LakehouseError],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        write("base", data, **options)
    assert base.latest_version == 0
    assert base.read().sort("id").equals(BASE)
    assert storage.peek_version(base.path) == 0


def test_both_engines_refuse_a_partition_column_the_data_lacks_and_create_nothing(
    write: Write, lh: lakehouse.Lakehouse
) -> None:
    with pytest.raises(
        InvalidArgument, match=r"^partition column 'day' is not in the data; columns are \['id', 'label'\]$"
    ):
        write("fresh", GOOD, partition_by=["day"])
    assert not lh.dataset("fresh").exists()
    assert not storage.exists(lh.dataset("fresh").path)


def section(ds: lakehouse.Dataset, version: int) -> Mapping[str, Any]:
    commit = storage.commit_at(ds.path, version)
    assert commit is not None
    found = commit.user_metadata[SECTION]
    assert isinstance(found, Mapping)
    return found


def test_both_engines_stamp_a_write_the_same_way(write: Write, base: lakehouse.Dataset) -> None:
    wider = table(id=([2, 3], pa.int64()), label=(["B", "c"], pa.string()), score=([0.5, 1.5], pa.float64()))
    v1 = write("base", wider, mode="upsert", key="id", schema_mode="merge", metadata={"source": "s3://x"})
    assert v1.version == 1
    assert v1.operation == "upsert"
    assert v1.created_by == "tester"
    assert v1.metadata["source"] == "s3://x"
    assert [str(c) for c in v1.schema_changes] == ["+ score: double"]
    stamp = section(base, 1)
    assert {k: stamp[k] for k in ("mode", "key", "schema_mode", "schema_changes")} == {
        "mode": "upsert",
        "key": ["id"],
        "schema_mode": "merge",
        "schema_changes": [{"column": "score", "change": "added", "before": None, "after": "double"}],
    }
    assert base.read().sort("id").rows() == [(1, "a", None), (2, "B", 0.5), (3, "c", 1.5)]


def test_both_engines_create_a_dataset_partitioned_as_asked(write: Write, lh: lakehouse.Lakehouse) -> None:
    v0 = write("fresh", GOOD, mode="upsert", key="id", partition_by=["label"], description="new")
    assert v0.version == 0
    assert v0.description == "new"
    ds = lh.dataset("fresh")
    assert storage.partition_columns(ds.path) == ["label"]
    assert section(ds, 0)["schema_changes"] == []
    assert lh.datasets()[0].name == "fresh"  # registered by whichever engine created it


def test_both_engines_refuse_an_option_no_write_takes(write: Write, base: lakehouse.Dataset) -> None:
    with pytest.raises(TypeError, match="schema_mod"):
        write("base", GOOD, schema_mod="merge")
    assert base.latest_version == 0
