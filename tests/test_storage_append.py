"""storage.append writes blind appends itself: a real Delta commit, with statistics, exactly once, on real tables."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import deltalake
import polars as pl
import pyarrow as pa
import pytest

from lakehouse import storage
from lakehouse._delta_stats import file_stats
from lakehouse.errors import CommitConflict, SchemaMismatch

SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("key", pa.string()),
        ("step", pa.int64()),
        ("timestamp", pa.timestamp("us", "UTC")),
        ("value", pa.float64()),
    ]
)


def points(run_ids: list[str], steps: list[int], values: list[float] | None = None) -> pa.Table:
    n = len(run_ids)
    return pa.table(
        {
            "run_id": run_ids,
            "key": ["loss"] * n,
            "step": steps,
            "timestamp": pa.array([1_700_000_000_000_000 + s for s in steps], pa.timestamp("us", "UTC")),
            "value": values if values is not None else [float(s) for s in steps],
        },
        schema=SCHEMA,
    )


@pytest.fixture
def metrics(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    storage.append(path, points(["r0"], [0]), partition_by=["run_id"], configuration={"delta.checkpointInterval": "5"})
    return path


def log_entry(path: Path, version: int) -> list[dict[str, object]]:
    text = (path / "_delta_log" / f"{version:020d}.json").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def commit_by_hand(path: Path, version: int, *actions: dict[str, object]) -> None:
    """Another writer's commit, as an engine would write it."""
    entries = [{"commitInfo": {"timestamp": 1, "operation": "WRITE"}}, *actions]
    log = path / "_delta_log" / f"{version:020d}.json"
    log.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


def test_appends_are_delta_commits_with_the_app_transaction_and_statistics(metrics: Path) -> None:
    storage.append(metrics, points(["r0"], [0]), app_transaction=("w", 1))  # loads the table
    version = storage.append(metrics, points(["r1"] * 3, [5, 3, 9]), app_transaction=("w", 2))

    entry = log_entry(metrics, version)
    assert list(entry[0]) == ["commitInfo"]  # first: history readers stop there
    assert {"txn": entry[1]["txn"]} == {
        "txn": {"appId": "w", "version": 2, "lastUpdated": entry[1]["txn"]["lastUpdated"]}
    }
    (add,) = [e["add"] for e in entry if "add" in e]
    assert add["partitionValues"] == {"run_id": "r1"}
    stats = json.loads(add["stats"])
    assert stats["numRecords"] == 3
    assert stats["minValues"] == {"key": "loss", "step": 3, "timestamp": "2023-11-14T22:13:20.000Z", "value": 3.0}
    assert stats["maxValues"] == {"key": "loss", "step": 9, "timestamp": "2023-11-14T22:13:20.001Z", "value": 9.0}
    assert stats["nullCount"] == {"key": 0, "step": 0, "timestamp": 0, "value": 0}

    table = deltalake.DeltaTable(str(metrics))
    assert table.transaction_version("w") == 2
    rows = pl.from_arrow(table.to_pyarrow_table()).sort("run_id", "step")
    assert rows.select("run_id", "step").rows() == [("r0", 0), ("r0", 0), ("r1", 3), ("r1", 5), ("r1", 9)]
    # delta-rs prunes files by the statistics: a filter no file of r1 can match reads none of them
    assert pl.scan_delta(str(metrics)).filter(pl.col("step") > 100).collect().height == 0


def test_a_batch_of_several_runs_is_one_file_per_run_in_logged_order(metrics: Path) -> None:
    version = storage.append(metrics, points(["b", "a", "b", "a", "b"], [1, 2, 3, 4, 5]), app_transaction=("w", 1))
    adds = {e["add"]["partitionValues"]["run_id"]: e["add"] for e in log_entry(metrics, version) if "add" in e}
    assert sorted(adds) == ["a", "b"]
    assert json.loads(adds["b"]["stats"])["numRecords"] == 3
    read = pl.read_delta(str(metrics)).filter(pl.col("run_id") == "b")
    assert read["step"].to_list() == [1, 3, 5]


def test_string_view_columns_from_polars_are_appended_as_strings(metrics: Path) -> None:
    batch = points(["b", "a", "b"], [1, 2, 3])
    views = pa.schema([f.with_type(pa.string_view()) if f.type == pa.string() else f for f in SCHEMA])
    version = storage.append(metrics, batch.cast(views), app_transaction=("w", 1))
    added = [e["add"]["partitionValues"]["run_id"] for e in log_entry(metrics, version) if "add" in e]
    assert sorted(added) == ["a", "b"]
    read = pl.read_delta(str(metrics)).filter(pl.col("run_id") != "r0").sort("step")
    assert read.select("run_id", "key", "step").rows() == [("b", "loss", 1), ("a", "loss", 2), ("b", "loss", 3)]


def test_another_writers_commit_is_stepped_over_and_the_same_app_transaction_conflicts(metrics: Path) -> None:
    storage.append(metrics, points(["r0"], [1]), app_transaction=("w", 1))
    taken = storage.latest_version(metrics) + 1
    commit_by_hand(metrics, taken, {"txn": {"appId": "other", "version": 7}})
    assert storage.append(metrics, points(["r0"], [2]), app_transaction=("w", 2)) == taken + 1

    commit_by_hand(metrics, taken + 2, {"txn": {"appId": "w", "version": 3}})
    before = pl.read_delta(str(metrics)).height
    with pytest.raises(CommitConflict, match="same app transaction 'w'"):
        storage.append(metrics, points(["r0"], [3]), app_transaction=("w", 3))
    assert storage.latest_version(metrics) == taken + 2
    assert pl.read_delta(str(metrics)).height == before


def test_a_protocol_upgrade_by_another_engine_hands_the_append_to_delta_rs(metrics: Path) -> None:
    storage.append(metrics, points(["r0"], [1]), app_transaction=("w", 1))
    upgraded = storage.latest_version(metrics) + 1
    protocol = {"minReaderVersion": 1, "minWriterVersion": 7, "writerFeatures": ["identityColumns"]}
    commit_by_hand(metrics, upgraded, {"protocol": protocol})
    before = pl.read_delta(str(metrics)).height
    with pytest.raises(CommitConflict, match="IdentityColumns"):
        storage.append(metrics, points(["r0"], [2]), app_transaction=("w", 2))
    assert storage.latest_version(metrics) == upgraded
    assert pl.read_delta(str(metrics)).height == before


def test_a_schema_mismatch_is_reported_as_delta_rs_reports_it(metrics: Path) -> None:
    storage.append(metrics, points(["r0"], [1]))
    version = storage.latest_version(metrics)
    with pytest.raises(SchemaMismatch):
        storage.append(metrics, points(["r0"], [2]).append_column("extra", pa.array([1])))
    assert storage.latest_version(metrics) == version


def test_checkpoints_follow_the_checkpoint_interval(metrics: Path) -> None:
    for step in range(6):
        storage.append(metrics, points(["r0"], [step]))
    # The append that crosses the interval hands the checkpoint to a thread, which takes the newest version.
    assert storage.wait_for_checkpoints(timeout=30)
    last = json.loads((metrics / "_delta_log" / "_last_checkpoint").read_text())
    assert last["version"] >= 5
    assert (metrics / "_delta_log" / f"{last['version']:020d}.checkpoint.parquet").exists()
    assert pl.read_delta(str(metrics)).height == 7


@pytest.mark.parametrize("copies", [1, 30], ids=["short columns", "long columns"])
def test_statistics_bound_only_what_they_can_bound(copies: int) -> None:
    """The same bounds whether a column is short (compared in Python) or long (Arrow's kernels)."""
    columns: dict[str, pa.Array | list[object]] = {
        "f": [1.5, math.nan, None],
        "i": [1.0, math.inf, None],
        "g": [-2.0, 4.0, None],
        "s": ["b" * 40, "a" * 40, None],
        "u": ["z", "é", None],  # UTF-8 bytes and code points sort alike: é after z
        "t": pa.array([1_999, 1_001, None], pa.timestamp("us", "UTC")),
        "d": pa.array([datetime(2024, 5, 1, tzinfo=UTC).date(), None, None], pa.date32()),
        "b": [True, False, None],
        "n": pa.array([None, None, None], pa.int64()),
    }
    data = pa.concat_tables([pa.table(columns)] * copies)
    stats = json.loads(file_stats(data))
    assert stats["numRecords"] == 3 * copies
    nulls = {"f": 1, "i": 1, "g": 1, "s": 1, "u": 1, "t": 1, "d": 2, "b": 1, "n": 3}
    assert stats["nullCount"] == {k: n * copies for k, n in nulls.items()}
    # NaN, infinity: no bounds; strings longer than 32: the minimum's prefix, no maximum; timestamps widened to ms
    assert stats["minValues"] == {
        "g": -2.0,
        "s": "a" * 32,
        "u": "z",
        "t": "1970-01-01T00:00:00.001Z",
        "d": "2024-05-01",
    }
    assert stats["maxValues"] == {"g": 4.0, "u": "é", "t": "1970-01-01T00:00:00.002Z", "d": "2024-05-01"}


@pytest.mark.parametrize("with_note", [True, False])
def test_a_schema_change_by_another_writer_makes_the_append_plan_again(metrics: Path, with_note: bool) -> None:
    storage.append(metrics, points(["r0"], [1]), app_transaction=("w", 1))
    (metadata,) = [e["metaData"] for e in log_entry(metrics, 0) if "metaData" in e]
    schema = json.loads(metadata["schemaString"])
    schema["fields"].append({"name": "note", "type": "string", "nullable": True, "metadata": {}})
    changed = storage.latest_version(metrics) + 1
    commit_by_hand(metrics, changed, {"metaData": {**metadata, "schemaString": json.dumps(schema)}})

    data = points(["r0"], [2])
    if not with_note:
        # Planned against the old schema, the files never get committed; delta-rs then refuses the rows.
        with pytest.raises(SchemaMismatch):
            storage.append(metrics, data, app_transaction=("w", 2))
        assert storage.latest_version(metrics) == changed
        assert deltalake.DeltaTable(str(metrics)).transaction_version("w") == 1
        return
    version = storage.append(metrics, data.append_column("note", pa.array(["hi"])), app_transaction=("w", 2))
    assert version == changed + 1
    assert deltalake.DeltaTable(str(metrics)).transaction_version("w") == 2
    read = pl.read_delta(str(metrics)).sort("step")
    assert read.filter(pl.col("step") == 2)["note"].to_list() == ["hi"]


def test_appending_never_imports_pandas(tmp_path: Path) -> None:
    # Importing pandas costs a training process seconds of CPU under the GIL, on its commit thread, which
    # starves the spool thread (some pyarrow calls import it: a timestamp scalar's as_py()).
    script = f"""
import sys
from datetime import UTC, datetime
import polars as pl
from lakehouse import storage
frame = pl.DataFrame({{"run_id": ["a", "b"], "step": [1, 2], "at": [datetime(2024, 1, 1, tzinfo=UTC)] * 2}})
for seq in (1, 2):
    storage.append({str(tmp_path / "t")!r}, frame.to_arrow(), partition_by=["run_id"], app_transaction=("w", seq))
print("pandas" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "False"
    assert storage.latest_version(tmp_path / "t") == 1
