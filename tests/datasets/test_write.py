"""Writes: modes, input types, metadata in the commit, and the versions they produce."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import DatasetVersion
from tests.datasets.conftest import frame, rows
from tests.roots import log_actions, log_entries, seam

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def _as(kind: str, data: pl.DataFrame) -> Any:
    if kind == "pyarrow":
        return data.to_arrow()
    if kind == "reader":
        table = data.to_arrow()
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))
    if kind == "pandas":
        return data.to_pandas()
    if kind == "polars-lazy":
        return data.lazy()
    if kind == "rows":
        return data.to_dicts()
    return data


INPUTS = ["polars", "pyarrow", "reader", "pandas", "polars-lazy", "rows"]


@pytest.mark.parametrize("kind", INPUTS)
def test_append_overwrite_upsert_from_every_input_type(lh: lakehouse.Lakehouse, kind: str) -> None:
    ds = lh.dataset("d")
    v0 = ds.write(_as(kind, frame([1, 2, 3])))
    v1 = ds.write(_as(kind, frame([4])), mode="append")
    v2 = ds.write(_as(kind, frame([2, 5], ["changed", "new"])), mode="upsert", key="id")
    assert rows(ds.read()) == [(1, "l1"), (2, "changed"), (3, "l3"), (4, "l4"), (5, "new")]
    v3 = ds.write(_as(kind, frame([9])), mode="overwrite")
    assert rows(ds.read()) == [(9, "l9")]
    assert [v.version for v in (v0, v1, v2, v3)] == [0, 1, 2, 3]
    assert [v.operation for v in (v0, v1, v2, v3)] == ["append", "append", "upsert", "overwrite"]
    assert [(v.num_rows, v.rows_added, v.rows_removed, v.rows_updated) for v in (v0, v1, v2, v3)] == [
        (3, 3, 0, 0),
        (4, 1, 0, 0),
        (5, 1, 0, 1),
        (1, 1, 5, 0),
    ]
    assert ds.read().schema == pl.Schema({"id": pl.Int64, "label": pl.String})


def test_pandas_index_and_types_are_not_leaked(lh: lakehouse.Lakehouse) -> None:
    data = pd.DataFrame({"id": [3, 4], "when": pd.to_datetime(["2026-01-01", "2026-01-02"])}, index=[10, 11])
    lh.dataset("p").write(data)
    out = lh.dataset("p").read()
    assert out.columns == ["id", "when"]
    assert out.schema["when"] == pl.Datetime("us", "UTC")


def test_upsert_with_composite_key(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("composite")
    ds.write(pl.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1.0, 2.0, 3.0]}))
    v = ds.write(pl.DataFrame({"a": [1, 2], "b": ["y", "y"], "v": [20.0, 4.0]}), mode="upsert", key=["a", "b"])
    assert (v.rows_added, v.rows_updated, v.rows_removed) == (1, 1, 0)
    assert rows(ds.read()) == [(1, "x", 1.0), (1, "y", 20.0), (2, "x", 3.0), (2, "y", 4.0)]


def test_upsert_creates_a_missing_dataset(lh: lakehouse.Lakehouse) -> None:
    v = lh.dataset("fresh").write(frame([1, 2]), mode="upsert", key="id")
    assert (v.version, v.operation, v.num_rows) == (0, "upsert", 2)


def test_metadata_card_fields_and_user_keys(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("mnist-train")
    before = datetime.now(UTC) - timedelta(seconds=1)
    v = ds.write(
        frame([1, 2, 3]),
        metadata={"labelled_by": "annotation-team", "source": "s3://bucket/raw", "quality": {"checked": True, "n": 3}},
        created_by="data-eng",
        description="first labelled batch",
    )
    assert v.created_by == "data-eng"
    assert v.description == "first labelled batch"
    assert v.metadata["labelled_by"] == "annotation-team"
    assert v.metadata["number_of_samples"] == 3
    assert v.metadata["source"] == "s3://bucket/raw"
    assert v.metadata["quality"] == {"checked": True, "n": 3}
    created_on = datetime.fromisoformat(v.metadata["created_on"].replace("Z", "+00:00"))
    assert before <= created_on <= datetime.now(UTC)
    assert "lakehouse" not in v.metadata  # the internal section is not part of the card
    # The same card comes back from history, from a fresh connection.
    again = lakehouse.connect(lh.root).dataset("mnist-train").history()[0]
    assert again.metadata == v.metadata
    assert again == v


def test_labelled_by_argument_and_default_author(lh: lakehouse.Lakehouse) -> None:
    v = lh.dataset("d").write(frame([1]), labelled_by="crowd")
    assert v.metadata["labelled_by"] == "crowd"
    assert v.created_by == "tester"  # LAKEHOUSE_ACTOR


def test_metadata_lives_in_the_commit_user_metadata(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("card")
    ds.write(frame([1]), created_by="alice", metadata={"labelled_by": "bob", "note": "x"}, description="d0")
    ds.write(frame([2]), created_by="carol")
    log = log_entries(ds.path)
    assert log == ["00000000000000000000.json", "00000000000000000001.json"]
    infos = []
    for entry in log:
        actions = log_actions(ds.path, entry)
        (info,) = [a["commitInfo"] for a in actions if "commitInfo" in a]
        infos.append(info)
    first = json.loads(infos[0]["userMetadata"])  # a JSON string, exactly as delta-spark writes it
    assert first["created_by"] == "alice"
    assert first["labelled_by"] == "bob"
    assert first["note"] == "x"
    assert first["description"] == "d0"
    assert first["created_on"].endswith("Z")
    assert first["lakehouse"]["mode"] == "append"
    assert "number_of_samples" not in first  # derived from the log's row counts, never stored
    assert json.loads(infos[1]["userMetadata"])["created_by"] == "carol"


def test_dataset_version_fields(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("fields")
    v = ds.write(frame([1, 2]), created_by="eng")
    assert isinstance(v, DatasetVersion)
    assert v.name == "fields"
    assert v.version == 0
    assert v.ref == "fields:v0"
    assert v.created_at.tzinfo is not None
    assert v.created_at.utcoffset() == timedelta(0)
    assert abs(v.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (v.operation, v.num_rows, v.rows_added, v.rows_removed) == ("append", 2, 2, 0)
    assert v.digest.startswith("sha256:")
    assert len(v.digest) == len("sha256:") + 64
    assert v.num_files == 1
    assert v.size_bytes > 0
    assert v.engine.startswith("delta-rs")
    assert v.data_change
    with pytest.raises(AttributeError):
        v.version = 3  # type: ignore[misc]  # frozen
    as_dict = v.to_dict()
    assert as_dict["ref"] == "fields:v0"
    json.dumps(as_dict)  # JSON-friendly
    # Digests identify the files a version reads: equal data written twice is still another version.
    v1 = ds.write(frame([3]))
    assert v1.digest != v.digest
    assert ds.version(0).digest == v.digest


def test_history_is_newest_first(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("h")
    for i in range(4):
        ds.write(frame([i]), created_by=f"user{i}")
    history = ds.history()
    assert [v.version for v in history] == [3, 2, 1, 0]
    assert [v.created_by for v in history] == ["user3", "user2", "user1", "user0"]
    assert [v.num_rows for v in history] == [4, 3, 2, 1]
    assert all(a.created_at >= b.created_at for a, b in zip(history, history[1:], strict=False))
    assert [v.version for v in ds.history(limit=2)] == [3, 2]
    assert ds.version() == history[0]
    assert ds.version("v1") == history[2]
    assert ds.latest_version == 3


def test_write_returns_its_own_version_when_others_commit(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("mine")
    ds.write(frame([1]))
    other = lakehouse.connect(lh.root).dataset("mine")
    mine = ds.write(frame([2]), description="mine")
    other.write(frame([3]), description="theirs")
    assert mine.version == 1
    assert ds.version(1).description == "mine"


def test_timestamps_are_stored_in_utc(lh: lakehouse.Lakehouse) -> None:
    naive = datetime(2026, 1, 1, 12)
    paris = pd.Timestamp("2026-01-01 13:00", tz="Europe/Paris")
    ds = lh.dataset("ts")
    ds.write(pa.table({"naive": pa.array([naive], pa.timestamp("ns")), "aware": pa.array([paris])}))
    out = ds.read()
    assert out.schema["naive"] == pl.Datetime("us", "UTC")
    assert out.schema["aware"] == pl.Datetime("us", "UTC")
    assert out.row(0) == (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 12, tzinfo=UTC))


def test_partitioned_dataset(lh: lakehouse.Lakehouse, root: Path) -> None:
    ds = lh.dataset("parts")
    ds.write(pl.DataFrame({"split": ["train", "test", "train"], "x": [1, 2, 3]}), partition_by=["split"])
    ds.write(pl.DataFrame({"split": ["test"], "x": [4]}), partition_by=["split"])  # same partitioning: fine
    assert [p for p in seam(root).folders("datasets/parts") if p.startswith("split=")] == [
        "split=test",
        "split=train",
    ]
    assert rows(ds.read().select("x", "split")) == [(1, "train"), (2, "test"), (3, "train"), (4, "test")]
    assert ds.scan().filter(pl.col("split") == "test").collect().height == 2
