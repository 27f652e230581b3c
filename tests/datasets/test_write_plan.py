"""The write contract on its own: a request is checked, then planned against a table, before any engine writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.datasets import write_plan
from lakehouse.datasets.versions import SECTION, SchemaChange
from lakehouse.errors import InvalidArgument, InvalidMetadata, LakehouseError, SchemaMismatch

TABLE = pa.schema([pa.field("id", pa.int64()), pa.field("label", pa.string())])


@dataclass(frozen=True)
class Table:
    """The table as a plan sees it: its schema and partitioning."""

    schema: pa.Schema
    partition_columns: list[str]


EXISTING = Table(TABLE, [])


def asked(**options: Any) -> write_plan.WriteRequest:
    return write_plan.request("train", actor="tester", **options)


# --- request -------------------------------------------------------------------------------------------------


def test_a_request_fixes_the_commit_metadata_once() -> None:
    r = asked(metadata={"source": "s3://x"}, description="digits", labelled_by="team-a")
    assert (r.dataset, r.mode, r.keys, r.schema_mode, r.partition_by, r.job_id) == (
        "train",
        "append",
        (),
        None,
        (),
        None,
    )
    meta = dict(r.user_metadata)
    section = meta.pop(SECTION)
    assert section == {"mode": "append", "key": None, "schema_mode": None, "write_id": r.write_id}
    assert len(r.write_id) == 32
    assert meta.pop("created_on")
    assert meta == {"source": "s3://x", "created_by": "tester", "description": "digits", "labelled_by": "team-a"}


def test_a_request_names_keys_job_and_author() -> None:
    r = asked(mode="upsert", key="id", created_by="loader", job_id="nightly-1", partition_by=["label"])
    assert r.keys == ("id",)
    assert r.partition_by == ("label",)
    assert r.user_metadata["created_by"] == "loader"  # given beats the actor
    assert r.user_metadata[SECTION] == {
        "mode": "upsert",
        "key": ["id"],
        "schema_mode": None,
        "job_id": "nightly-1",
        "write_id": r.write_id,
    }
    assert asked(mode="upsert", key=["id", "label"]).keys == ("id", "label")
    assert asked().write_id != asked().write_id


REFUSED_REQUESTS: list[tuple[str, dict[str, Any], type[LakehouseError], str]] = [
    (
        "unknown mode",
        {"mode": "replace"},
        InvalidArgument,
        "mode must be one of append, overwrite, upsert; got 'replace'",
    ),
    (
        "upsert without key",
        {"mode": "upsert"},
        InvalidArgument,
        r"mode='upsert' needs key=\[columns\] to match rows on",
    ),
    ("upsert with no keys", {"mode": "upsert", "key": []}, InvalidArgument, "needs key"),
    ("key with append", {"key": "id"}, InvalidArgument, "key is only used by mode='upsert', not 'append'"),
    ("key with overwrite", {"mode": "overwrite", "key": ["id"]}, InvalidArgument, "not 'overwrite'"),
    (
        "unknown schema mode",
        {"schema_mode": "replace"},
        InvalidArgument,
        "schema_mode must be 'merge', 'overwrite' or None; got 'replace'",
    ),
    ("empty job id", {"job_id": ""}, InvalidArgument, "job id must be a printable, non-empty string"),
    ("blank job id", {"job_id": "  "}, InvalidArgument, "got '  '"),
    ("long job id", {"job_id": "j" * 201}, InvalidArgument, "at most 200 characters"),
    ("unprintable job id", {"job_id": "a\nb"}, InvalidArgument, r"got 'a\\nb'"),
    ("job id not a string", {"job_id": 7}, InvalidArgument, "got 7"),
    ("reserved section", {"metadata": {SECTION: {}}}, InvalidMetadata, "'lakehouse' cannot be set: it is reserved"),
    ("derived row count", {"metadata": {"number_of_samples": 3}}, InvalidMetadata, "'number_of_samples' cannot be set"),
    ("key not a string", {"metadata": {1: "x"}}, InvalidMetadata, "keys must be non-empty strings, got 1"),
    ("not JSON", {"metadata": {"at": object()}}, InvalidMetadata, "value for key 'at' is not JSON-serialisable"),
    ("NaN", {"metadata": {"loss": float("nan")}}, InvalidMetadata, "value for key 'loss' is not JSON-serialisable"),
    ("too large", {"metadata": {"blob": "x" * 70_000}}, InvalidMetadata, "the limit is 65536"),
    (
        "author twice",
        {"metadata": {"created_by": "a"}, "created_by": "b"},
        InvalidMetadata,
        "'created_by' given twice with different values: 'a' and 'b'",
    ),
]


@pytest.mark.parametrize(
    ("options", "error", "message"), [c[1:] for c in REFUSED_REQUESTS], ids=[c[0] for c in REFUSED_REQUESTS]
)
def test_a_bad_request_is_refused(options: dict[str, Any], error: type[LakehouseError], message: str) -> None:
    with pytest.raises(error, match=message):
        asked(**options)


def test_an_option_no_write_takes_is_refused_like_a_bad_keyword() -> None:
    with pytest.raises(
        TypeError, match=r"unexpected write option\(s\) \['schema_mod'\]; the options are \['created_by'"
    ):
        write_plan.request("train", schema_mod="merge")  # type: ignore[call-arg]


def test_mode_is_checked_before_key_and_key_before_metadata() -> None:
    with pytest.raises(InvalidArgument, match="mode must be one of"):
        asked(mode="replace", key="id", metadata={SECTION: 1})
    with pytest.raises(InvalidArgument, match="key is only used"):
        asked(key="id", metadata={SECTION: 1})


# --- plan ----------------------------------------------------------------------------------------------------


def test_a_write_that_creates_defines_schema_and_partitioning() -> None:
    incoming = pa.schema([pa.field("id", pa.int32()), pa.field("label", pa.string())])
    r = asked(mode="upsert", key="id", schema_mode="merge", partition_by=["label"])
    p = write_plan.plan(r, incoming, None)
    assert p.creating
    assert p.target.equals(incoming)
    assert p.changes == ()
    assert p.commit_mode == "create"  # an upsert into nothing creates
    assert not p.merges
    assert p.evolution is None  # a create has no schema to evolve
    assert p.partition_columns == ("label",)
    assert p.user_metadata[SECTION]["schema_changes"] == []
    assert p.write_id == r.write_id
    assert (p.dataset, p.mode, p.keys, p.schema_mode, p.job_id) == ("train", "upsert", ("id",), "merge", None)


def test_an_append_is_written_in_the_tables_schema() -> None:
    narrow = pa.schema([pa.field("id", pa.int32()), pa.field("label", pa.string())])
    p = write_plan.plan(asked(), narrow, EXISTING)
    assert not p.creating
    assert p.target.equals(TABLE)  # int32 widens into the table's int64
    assert p.commit_mode == "append"
    assert p.partition_columns == ()
    assert p.evolution is None
    assert p.user_metadata[SECTION]["schema_changes"] == []


def test_a_merge_stamps_the_added_columns_and_leaves_the_request_as_it_was() -> None:
    wider = TABLE.append(pa.field("score", pa.float64()))
    r = asked(mode="upsert", key="id", schema_mode="merge")
    p = write_plan.plan(r, wider, EXISTING)
    assert p.merges
    assert p.evolution == "merge"
    assert p.changes == (SchemaChange("score", "added", after="double"),)
    assert p.target.names == ["id", "label", "score"]
    assert p.target.field("score").nullable
    assert p.user_metadata[SECTION]["schema_changes"] == [
        {"column": "score", "change": "added", "before": None, "after": "double"}
    ]
    # A request is planned again after a lost create race: planning must not change it.
    assert "schema_changes" not in r.user_metadata[SECTION]
    assert write_plan.plan(r, wider, EXISTING) == p


def test_an_overwrite_of_the_schema_records_every_change() -> None:
    other = pa.schema([pa.field("id", pa.string()), pa.field("score", pa.float64())])
    p = write_plan.plan(asked(mode="overwrite", schema_mode="overwrite"), other, EXISTING)
    assert p.commit_mode == "overwrite"
    assert p.evolution == "overwrite"
    assert p.target.equals(other)
    assert [(c.column, c.change) for c in p.changes] == [
        ("id", "type_changed"),
        ("score", "added"),
        ("label", "removed"),
    ]


def test_the_commit_metadata_is_the_plans_as_sorted_json() -> None:
    p = write_plan.plan(asked(metadata={"b": 1, "a": [1, 2]}), TABLE, EXISTING)
    text = p.user_metadata_json
    assert json.loads(text) == p.user_metadata
    assert text == json.dumps(p.user_metadata, sort_keys=True)
    later = p.with_metadata("ingest", {"files": 2})
    assert later.user_metadata["ingest"] == {"files": 2}
    assert "ingest" not in p.user_metadata
    assert later.write_id == p.write_id


def test_an_existing_tables_own_partitioning_may_be_repeated() -> None:
    partitioned = Table(TABLE, ["label"])
    p = write_plan.plan(asked(partition_by=["label"]), TABLE, partitioned)
    assert p.partition_columns == ()  # the table keeps its own; nothing to create


REFUSED_PLANS: list[tuple[str, dict[str, Any], pa.Schema, Table | None, type[LakehouseError], str]] = [
    (
        "partition column not in the data",
        {"partition_by": ["day"]},
        TABLE,
        None,
        InvalidArgument,
        r"partition column 'day' is not in the data; columns are \['id', 'label'\]",
    ),
    (
        "key column not in the data",
        {"mode": "upsert", "key": ["id", "uid"]},
        TABLE,
        EXISTING,
        InvalidArgument,
        r"key column 'uid' is not in the data; columns are \['id', 'label'\]",
    ),
    (
        "key column not in a new dataset",
        {"mode": "upsert", "key": "uid"},
        TABLE,
        None,
        InvalidArgument,
        "key column 'uid' is not in the data",
    ),
    (
        "partitioning an existing dataset",
        {"partition_by": ["label"]},
        TABLE,
        EXISTING,
        InvalidArgument,
        r"dataset 'train' is partitioned by \[\]; partition_by=\['label'\] can only be given when the dataset is "
        "created",
    ),
    (
        "repartitioning an existing dataset",
        {"partition_by": ["id"]},
        TABLE,
        Table(TABLE, ["label"]),
        InvalidArgument,
        r"is partitioned by \['label'\]; partition_by=\['id'\]",
    ),
    (
        "other columns",
        {},
        pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())]),
        EXISTING,
        SchemaMismatch,
        "cannot append into dataset 'train': the data's schema does not match: missing columns 'label' "
        r"\(string\); unexpected columns 'name' \(string\). Pass schema_mode='merge'",
    ),
    (
        "a type change under merge",
        {"schema_mode": "merge"},
        pa.schema([pa.field("id", pa.float64()), pa.field("label", pa.string())]),
        EXISTING,
        SchemaMismatch,
        r"type changes 'id' \(int64 in the dataset, double given\); nothing was written",
    ),
    (
        "schema overwrite with append",
        {"schema_mode": "overwrite"},
        TABLE,
        EXISTING,
        InvalidArgument,
        "schema_mode='overwrite' replaces the schema and only works with mode='overwrite', not 'append'",
    ),
]


@pytest.mark.parametrize(
    ("options", "incoming", "table", "error", "message"),
    [c[1:] for c in REFUSED_PLANS],
    ids=[c[0] for c in REFUSED_PLANS],
)
def test_a_write_the_table_cannot_take_is_refused(
    options: dict[str, Any], incoming: pa.Schema, table: Table | None, error: type[LakehouseError], message: str
) -> None:
    with pytest.raises(error, match=message):
        write_plan.plan(asked(**options), incoming, table)


def test_a_loaded_table_is_what_a_plan_is_made_against(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("train")
    ds.write(pl.DataFrame({"id": [1], "label": ["a"]}), partition_by=["label"])
    loaded = storage.load(ds.path)
    p = write_plan.plan(asked(partition_by=["label"]), TABLE, loaded)
    assert not p.creating
    assert p.target.equals(loaded.schema)
    with pytest.raises(InvalidArgument, match=r"partitioned by \['label'\]"):
        write_plan.plan(asked(partition_by=["id"]), TABLE, loaded)
    assert ds.latest_version == 0


def test_only_a_lost_create_race_is_planned_again_and_only_so_often() -> None:
    last = write_plan.CREATE_ATTEMPTS - 1
    assert [write_plan.replan_after_lost_create(a, exists=True) for a in range(last + 1)] == [True] * last + [False]
    assert not write_plan.replan_after_lost_create(0, exists=False)


def test_column_checks_name_the_missing_column_and_what_there_is() -> None:
    write_plan.check_columns(["b", "a"], ["a", "b"], "column")
    with pytest.raises(InvalidArgument, match=r"^sort column 'c' is not in the data; columns are \['a', 'b'\]$"):
        write_plan.check_columns(["a", "c"], ("a", "b"), "sort column")
