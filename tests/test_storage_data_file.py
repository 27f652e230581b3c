"""One Parquet data file held open and read by row group (what file dataset readers and downloads use)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse import storage
from lakehouse.errors import LakehouseError


def _two_groups(tmp_path: Path) -> str:
    path = tmp_path / "part-0.parquet"
    pq.write_table(pa.table({"k": list(range(5)), "v": list("abcde")}), path, row_group_size=3)
    return str(path)


def test_row_groups_read_from_one_open_file(tmp_path: Path) -> None:
    opened = storage.open_data_file(_two_groups(tmp_path))

    assert opened.row_groups == [3, 2]
    assert storage.row_groups(opened.path) == [3, 2]
    second = opened.read_row_group(1, ["v", "k"])
    assert second.column_names == ["v", "k"]
    assert second.to_pydict() == {"v": ["d", "e"], "k": [3, 4]}
    assert opened.read(["k"]).column("k").to_pylist() == [0, 1, 2, 3, 4]


def test_a_column_the_file_predates_reads_as_nulls(tmp_path: Path) -> None:
    opened = storage.open_data_file(_two_groups(tmp_path))

    group = opened.read_row_group(0, ["k", "label"])
    assert group.column("label").to_pylist() == [None, None, None]
    assert storage.read_data_file(opened.path, ["label"], row_group=1).num_rows == 2


def test_a_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.parquet")
    with pytest.raises(LakehouseError, match="gone.parquet"):
        storage.open_data_file(missing)
