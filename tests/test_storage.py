"""delta-rs exceptions become lakehouse errors by their type, each case provoked on a real table; a warm table's
file list (``live_files``) follows every commit, also when the log entries it missed were cleaned up."""

from __future__ import annotations

import json
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest

from lakehouse import storage
from lakehouse.errors import CommitConflict, SchemaMismatch, StorageError, TableNotFound, VersionNotFound

ROWS = pa.table({"x": pa.array([1, 2], pa.int64())})


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t"
    storage.write(path, ROWS, mode="create")
    return path


def require(path: Path, protocol: dict[str, object]) -> None:
    """Commit a protocol change by hand, as another engine would: the table then needs those features."""
    version = storage.latest_version(path) + 1
    entries = [{"commitInfo": {"timestamp": 1, "operation": "SET TBLPROPERTIES"}}, {"protocol": protocol}]
    log = path / "_delta_log" / f"{version:020d}.json"
    log.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


def test_table_not_found_error_is_table_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(deltalake.exceptions.TableNotFoundError) as raised:
        deltalake.DeltaTable(str(missing))
    found = storage.translate(raised.value, missing, "loading")
    assert isinstance(found, TableNotFound)
    assert str(missing) in str(found)
    with pytest.raises(TableNotFound, match="no Delta table at"):
        storage.open_table(missing)


def test_a_lost_commit_is_a_commit_conflict_and_changes_nothing(table: Path) -> None:
    # Two commits of the same app transaction from the same read version: the second one loses.
    storage.write(table, ROWS, mode="append", app_transaction=("w", 1), read_version=0)
    with pytest.raises(CommitConflict, match="did not commit") as raised:
        storage.write(table, ROWS, mode="append", app_transaction=("w", 1), read_version=0)
    assert isinstance(raised.value.__cause__, deltalake.exceptions.CommitFailedError)
    assert storage.latest_version(table) == 1
    assert storage.read_arrow(table).num_rows == 4


def test_a_writer_feature_delta_rs_lacks_is_a_commit_conflict_naming_it(table: Path) -> None:
    require(table, {"minReaderVersion": 1, "minWriterVersion": 7, "writerFeatures": ["identityColumns"]})
    with pytest.raises(CommitConflict, match="IdentityColumns"):
        storage.write(table, ROWS, mode="append")
    assert storage.latest_version(table) == 1
    assert storage.read_arrow(table).num_rows == 2


def test_schema_mismatch_error_is_schema_mismatch(table: Path) -> None:
    with pytest.raises(SchemaMismatch, match=f"append write on {str(table)!r}") as raised:
        storage.write(table, pa.table({"y": pa.array([1], pa.int64())}), mode="append")
    assert isinstance(raised.value.__cause__, deltalake.exceptions.SchemaMismatchError)
    assert storage.latest_version(table) == 0


def test_protocol_error_is_a_storage_error_naming_the_feature(table: Path) -> None:
    features = ["deletionVectors"]
    require(
        table, {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": features, "writerFeatures": features}
    )
    with pytest.raises(StorageError, match="protocol feature this engine cannot handle.*deletionVectors") as raised:
        storage.read_arrow(table)
    assert isinstance(raised.value.__cause__, deltalake.exceptions.DeltaProtocolError)


def test_any_other_delta_error_is_a_storage_error(table: Path) -> None:
    # The change data feed is off on this table (storage.write sets no table properties).
    with pytest.raises(StorageError, match=r"reading changes 0\.\.0 on .* failed: .*change data") as raised:
        storage.changes(table, 0, 0)
    assert type(raised.value.__cause__) is deltalake.exceptions.DeltaError


def test_an_os_error_is_a_storage_error(table: Path) -> None:
    for data_file in table.glob("*.parquet"):
        data_file.unlink()
    with pytest.raises(StorageError, match="reading on .* failed") as raised:
        storage.read_arrow(table)
    assert isinstance(raised.value.__cause__, OSError)


def test_a_version_beyond_the_log_is_version_not_found(table: Path) -> None:
    with pytest.raises(VersionNotFound, match=r"no such version \(the latest is 0\)"):
        storage.open_table(table, 7)


def test_a_create_that_finds_the_table_is_a_commit_conflict(table: Path, tmp_path: Path) -> None:
    with pytest.raises(CommitConflict, match="another writer created it first"):
        storage.write(table, ROWS, mode="create")
    # The race itself: delta-rs finding the table at create time, which it reports as a generic DeltaError.
    with pytest.raises(deltalake.exceptions.DeltaError) as raised:
        deltalake.write_deltalake(str(table), ROWS, mode="error")
    with pytest.raises(CommitConflict, match="created the table at .* concurrently"):
        storage._raise_if_created_concurrently(table, raised.value)
    storage._raise_if_created_concurrently(tmp_path / "absent", raised.value)  # no table: not a lost create
    assert storage.latest_version(table) == 0


# --- live_files: a warm listing, checked with two stat calls when nothing changed ----------------------------


def test_an_unchanged_table_gives_the_same_listing_and_a_commit_a_new_one(table: Path) -> None:
    first = storage.live_files(table)
    assert storage.live_files(table) is first
    storage.write(table, ROWS, mode="append")  # through another handle of the table, as another process would
    second = storage.live_files(table)
    assert (second.version, len(second.files)) == (1, 2)
    assert storage.live_files(table) is second


@pytest.mark.parametrize("checkpoint_before", [False, True], ids=["no-checkpoint-yet", "older-checkpoint"])
def test_commits_whose_log_entries_were_cleaned_up_are_seen(table: Path, checkpoint_before: bool) -> None:
    if checkpoint_before:
        storage.checkpoint(table)
    assert storage.live_files(table).version == 0
    for _ in range(3):
        storage.write(table, ROWS, mode="append")
    storage.checkpoint(table)
    # Log clean-up removes the entries below the newest checkpoint, here the next one the warm listing expects.
    for version in (1, 2):
        (table / "_delta_log" / f"{version:020d}.json").unlink()
    found = storage.live_files(table)
    assert (found.version, len(found.files)) == (3, 4)
    assert sum(f.num_records or 0 for f in found.files) == 8
