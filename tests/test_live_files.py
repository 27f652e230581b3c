"""A warm table's file list (``storage.live_files``) follows every commit, also when the log entries of the
commits it missed were cleaned up below a newer checkpoint; an unchanged table gives the same listing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse import storage

ROWS = pa.table({"x": pa.array([1, 2], pa.int64())})


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t"
    storage.write(path, ROWS, mode="create")
    return path


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
