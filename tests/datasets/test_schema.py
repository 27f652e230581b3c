"""Schema enforcement: mismatches write nothing; evolution only when asked, recorded in the version."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import SchemaChange, storage
from lakehouse.errors import InvalidArgument, SchemaMismatch
from tests.datasets.conftest import frame, rows
from tests.roots import log_entries

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


@pytest.fixture
def ds(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    ds = lh.dataset("s")
    ds.write(frame([1, 2]))
    return ds


def _unchanged(ds: lakehouse.Dataset) -> None:
    assert ds.latest_version == 0
    assert rows(ds.read()) == [(1, "l1"), (2, "l2")]
    assert log_entries(ds.path) == ["00000000000000000000.json"]


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_extra_and_missing_columns_are_named_and_nothing_is_written(ds: lakehouse.Dataset, mode: str) -> None:
    data = pl.DataFrame({"id": [3], "colour": ["red"]})
    with pytest.raises(SchemaMismatch) as info:
        ds.write(data, mode=mode, key="id" if mode == "upsert" else None)  # type: ignore[arg-type]
    text = str(info.value)
    assert "missing columns 'label' (string)" in text
    assert "unexpected columns 'colour' (string)" in text
    assert "schema_mode='merge'" in text
    assert text.endswith("nothing was written.")
    _unchanged(ds)


def test_type_change_is_refused(ds: lakehouse.Dataset) -> None:
    with pytest.raises(SchemaMismatch, match=r"type changes 'id' \(int64 in the dataset, string given\)"):
        ds.write(pl.DataFrame({"id": ["3"], "label": ["x"]}))
    with pytest.raises(SchemaMismatch, match="type changes 'id'"):
        ds.write(pl.DataFrame({"id": ["3"], "label": ["x"]}), schema_mode="merge")
    _unchanged(ds)


def test_lossless_widening_is_accepted(ds: lakehouse.Dataset) -> None:
    ds.write(pa.table({"id": pa.array([3], pa.int32()), "label": ["l3"]}))
    ds.write(pa.table({"label": ["l4"], "id": pa.array([4], pa.uint8())}))  # column order does not matter
    assert ds.read().schema == pl.Schema({"id": pl.Int64, "label": pl.String})
    assert rows(ds.read()) == [(1, "l1"), (2, "l2"), (3, "l3"), (4, "l4")]


def test_merge_adds_columns_and_records_them(ds: lakehouse.Dataset) -> None:
    v = ds.write(pl.DataFrame({"id": [3], "label": ["l3"], "score": [0.5]}), schema_mode="merge")
    assert v.schema_changes == (SchemaChange("score", "added", after="double"),)
    assert rows(ds.read()) == [(1, "l1", None), (2, "l2", None), (3, "l3", 0.5)]
    # Missing columns are null with merge.
    v2 = ds.write(pl.DataFrame({"id": [4]}), schema_mode="merge")
    assert v2.schema_changes == ()
    assert rows(ds.read(v2.version)) == [(1, "l1", None), (2, "l2", None), (3, "l3", 0.5), (4, None, None)]
    # Recorded in the commit, so it comes back from history.
    assert ds.history()[1].schema_changes == (SchemaChange("score", "added", after="double"),)
    assert ds.history()[1].to_dict()["schema_changes"] == [
        {"column": "score", "change": "added", "before": None, "after": "double"}
    ]


def test_merge_with_upsert(ds: lakehouse.Dataset) -> None:
    v = ds.write(
        pl.DataFrame({"id": [2, 3], "label": ["two", "l3"], "tag": ["a", "b"]}),
        mode="upsert",
        key="id",
        schema_mode="merge",
    )
    assert v.schema_changes == (SchemaChange("tag", "added", after="string"),)
    assert rows(ds.read()) == [(1, "l1", None), (2, "two", "a"), (3, "l3", "b")]


def test_overwrite_can_replace_the_schema(ds: lakehouse.Dataset) -> None:
    with pytest.raises(SchemaMismatch, match="schema_mode='overwrite' to replace the schema"):
        ds.write(pl.DataFrame({"key": ["a"], "value": [1.0]}), mode="overwrite")
    v = ds.write(pl.DataFrame({"id": ["a"], "value": [1.0]}), mode="overwrite", schema_mode="overwrite")
    assert set(v.schema_changes) == {
        SchemaChange("id", "type_changed", before="int64", after="string"),
        SchemaChange("value", "added", after="double"),
        SchemaChange("label", "removed", before="string"),
    }
    assert ds.read().schema == pl.Schema({"id": pl.String, "value": pl.Float64})
    assert rows(ds.read(0)) == [(1, "l1"), (2, "l2")]  # the old version keeps its schema
    assert ds.schema(0).names == ["id", "label"]


def test_schema_overwrite_needs_overwrite_mode(ds: lakehouse.Dataset) -> None:
    with pytest.raises(InvalidArgument, match="only works with mode='overwrite', not 'append'"):
        ds.write(frame([3]), schema_mode="overwrite")
    with pytest.raises(InvalidArgument, match="schema_mode must be"):
        ds.write(frame([3]), schema_mode="replace")  # type: ignore[arg-type]
    _unchanged(ds)


def test_not_null_columns_are_kept(lh: lakehouse.Lakehouse) -> None:
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("x", pa.string())])
    ds = lh.dataset("strict")
    ds.write(pa.table({"id": [1], "x": ["a"]}, schema=schema))
    assert not storage.arrow_schema(ds.path).field("id").nullable
    with pytest.raises(lakehouse.InvalidData, match="column 'id' is NOT NULL in the dataset but 1 given rows are null"):
        ds.write(pa.table({"id": pa.array([None], pa.int64()), "x": ["b"]}))
    assert ds.latest_version == 0
