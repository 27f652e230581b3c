"""Run and input events built from Arrow buffers are the tables polars builds, for every value they hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from lakehouse.catalog.tables import RUN_EVENTS, RUN_INPUTS
from lakehouse.tracking.rows import events_table

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root

AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def test_run_events_match_the_general_conversion() -> None:
    rows = [
        {"run_id": "r1", "kind": "created", "at": AT, "experiment": "é∂ 🚀", "name": "n", "value": None},
        {"run_id": "r1", "kind": "param", "at": datetime(2020, 1, 1, 8), "key": "lr", "value": ""},  # naive: UTC
        {"run_id": "r1", "kind": "tag", "at": AT.astimezone(timezone(timedelta(hours=-5))), "key": "k"},
        {"run_id": "r1", "kind": "status", "at": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
    ]
    rows = [{**row, "writer": "w", "seq": seq} for seq, row in enumerate(rows * 5, start=-2)]
    built = events_table(RUN_EVENTS, rows)
    assert built.schema == RUN_EVENTS.schema
    assert built.equals(RUN_EVENTS.from_rows(rows))
    assert built.column("at").to_pylist()[2] == AT
    assert built.column("value").null_count == 15  # only the param has one (empty)


def test_inputs_and_empty_tables_match_the_general_conversion() -> None:
    rows = [{"run_id": "r", "dataset": "d", "version": 3, "ref": "d:prod", "context": None, "at": AT}]
    assert events_table(RUN_INPUTS, rows).equals(RUN_INPUTS.from_rows(rows))
    assert events_table(RUN_EVENTS, []).equals(RUN_EVENTS.from_rows([]))


def test_other_value_types_take_the_general_conversion() -> None:
    rows = [{"run_id": "r", "kind": "tag", "at": AT, "writer": "w", "seq": True}]  # a bool is not an int64 here
    assert events_table(RUN_EVENTS, rows).equals(RUN_EVENTS.from_rows(rows))
    assert events_table(RUN_EVENTS, rows).column("seq").to_pylist() == [1]
    assert pa.types.is_int64(events_table(RUN_EVENTS, rows).schema.field("seq").type)
