"""Every table lakehouse writes keeps a protocol both delta-rs and Spark 4 + delta-spark 4 read and write."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import RUN_INPUTS, append_rows

# Features neither side may need: delta-rs/polars cannot read some, Spark cannot write others.
FORBIDDEN_PROPERTIES = (
    "delta.enableDeletionVectors",
    "delta.columnMapping.mode",
    "delta.enableRowTracking",
    "delta.enableInCommitTimestamps",
    "delta.checkpointPolicy",
    "delta.enableTypeWidening",
)


def _log_actions(table: Path) -> list[dict[str, Any]]:
    actions = []
    for path in sorted((Path(table) / "_delta_log").glob("*.json")):
        actions += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return actions


def test_all_tables_keep_a_minimal_protocol_and_utc_timestamps(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("events")
    ds.write(
        pa.table(
            {
                "id": [1, 2],
                "naive": pa.array([datetime(2026, 1, 1), datetime(2026, 1, 2)], pa.timestamp("ms")),
                "aware": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("ns", tz="America/New_York")),
                "nested": pa.array([{"at": datetime(2026, 1, 1)}] * 2),
            }
        )
    )
    ds.write(pl.DataFrame({"id": [2], "naive": [datetime(2026, 2, 1)]}), mode="upsert", key="id", schema_mode="merge")
    ds.write(pl.DataFrame({"id": [3], "extra": [1.0]}), schema_mode="merge")
    ds.tag("prod", version=0)
    ds.vacuum(retention_hours=0)
    append_rows(
        lh.layout.inputs,
        RUN_INPUTS,
        [{"run_id": "r", "dataset": "events", "version": 0, "ref": None, "context": None, "at": datetime.now(UTC)}],
        lh.settings,
    )
    tables = [ds.path, lh.layout.tags, lh.layout.datasets_catalog, lh.layout.inputs]
    for table in tables:
        p = storage.protocol(table)
        assert p["min_reader_version"] == 1, table
        assert p["min_writer_version"] <= 4, table
        assert p["reader_features"] == [], table
        assert p["writer_features"] == [], table
        actions = _log_actions(table)
        for action in actions:
            assert "protocol" not in action or set(action["protocol"]) == {"minReaderVersion", "minWriterVersion"}
            if "metaData" in action:
                config = action["metaData"]["configuration"]
                # Present only to pin a feature off (Spark would otherwise turn deletion vectors on).
                enabled = {k for k in set(config) & set(FORBIDDEN_PROPERTIES) if config[k] not in ("false", "none")}
                assert not enabled, (table, config)
                # Both engines get the same explicit retention and checkpoint settings.
                assert config["delta.checkpointInterval"] == "10"
                assert config["delta.logRetentionDuration"] == "interval 3650 days"
                assert config["delta.deletedFileRetentionDuration"] == "interval 7 days"
                assert "timestamp_ntz" not in action["metaData"]["schemaString"]
    # Dataset tables keep a change data feed (writer version 4); event tables need none.
    assert storage.protocol(ds.path)["min_writer_version"] == 4
    assert storage.properties(ds.path)["delta.enableChangeDataFeed"] == "true"
    assert storage.protocol(lh.layout.tags)["min_writer_version"] == 2
    schema = storage.arrow_schema(ds.path)
    assert schema.field("naive").type == pa.timestamp("us", tz="UTC")
    assert schema.field("aware").type == pa.timestamp("us", tz="UTC")
    assert schema.field("nested").type == pa.struct([pa.field("at", pa.timestamp("us", tz="UTC"))])
    for table in tables:
        for f in storage.arrow_schema(table):
            if pa.types.is_timestamp(f.type):
                assert f.type.tz == "UTC", (table, f)
    # The value survives: a naive time is read as UTC, an aware one is converted.
    first = ds.read(0).sort("id").row(0, named=True)
    assert first["naive"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert first["aware"] == datetime(2026, 1, 1, tzinfo=UTC)
