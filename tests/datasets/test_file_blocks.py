"""A folder's small files read into blocks that become the content column as they are, batch by batch."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.datasets import files
from lakehouse.datasets import folder as folders


def test_runs_are_cut_before_they_pass_the_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_BATCH_BYTES", 20)
    assert list(files._cuts([5, 0, 30, 10, 10, 1, 0])) == [range(0, 2), range(2, 3), range(3, 5), range(5, 7)]
    assert list(files._cuts([])) == []


def test_each_batch_of_an_add_is_its_block_and_a_subset_is_joined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_BATCH_BYTES", 25)
    contents = {f"f{i}.bin": bytes([i]) * (4 + i) for i in range(8)} | {"big.bin": b"B" * 100}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    listing = folders.list_folder(tmp_path)
    reported: list[int] = []
    read = files.read_files(listing, inline_limit=50, progress=reported.append)
    assert sum(reported) == len(listing)
    table = files.build_rows(read, None)
    assert dict(zip(table.column("path").to_pylist(), table.column("content").to_pylist(), strict=True)) == {
        name: None if name == "big.bin" else data for name, data in contents.items()
    }
    batches = table.to_batches()
    assert len(batches) > 2  # the small batch size cut the add into several
    blocks = {id(r.block): r.block for r in read if r.block is not None}
    for batch in batches:  # the column's data buffer is one of the reader's blocks itself, not a copy
        data = batch.column("content").buffers()[2]
        assert any(data.address == pa.py_buffer(b).address for b in blocks.values())
    # A sync keeps some of the files it read: their bytes are joined, and the same.
    some = [r for r in read if r.file.path in ("f1.bin", "f6.bin")]
    assert files.build_rows(some, None).column("content").to_pylist() == [contents["f1.bin"], contents["f6.bin"]]
