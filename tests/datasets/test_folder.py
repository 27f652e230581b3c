"""Listing a folder: names, extensions and media types as the standard library would give them."""

from __future__ import annotations

import itertools
import posixpath
from pathlib import Path

import pytest

from lakehouse.datasets import folder
from lakehouse.errors import InvalidArgument


def test_the_extension_of_every_short_path_is_what_splitext_finds() -> None:
    for length in range(1, 7):
        for letters in itertools.product("a./", repeat=length):
            path = "".join(letters)
            assert folder._extension(path) == posixpath.splitext(path)[1], path


def test_media_types_come_from_the_last_extension(tmp_path: Path) -> None:
    expected = {
        "a/b.png": "image/png",
        "notes.TXT": "text/plain",
        ".hidden": folder.OCTET_STREAM,
        "x/..png": folder.OCTET_STREAM,
        "archive.tar.gz": "application/x-tar",
        "no_extension": folder.OCTET_STREAM,
        "dots.in.name.json": "application/json",
    }
    for path, media_type in expected.items():
        assert folder.probe(path).media_type == media_type, path


def test_the_listing_is_sorted_by_path_and_a_pattern_selects(tmp_path: Path) -> None:
    for name in ("a/x.png", "a-b/y.txt", "a/b/z.png", "c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    listed = folder.list_folder(tmp_path)
    assert [f.path for f in listed] == ["a-b/y.txt", "a/b/z.png", "a/x.png", "c.png"]
    assert [f.size for f in listed] == [len(f.path) for f in listed]
    assert [f.path for f in folder.list_folder(tmp_path, pattern="**/*.png")] == ["a/b/z.png", "a/x.png", "c.png"]
    assert [f.path for f in folder.list_folder(tmp_path, pattern="a/*")] == ["a/x.png"]


def test_a_file_is_read_into_the_callers_buffer_and_a_changed_size_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"0123456789")
    (listed,) = folder.list_folder(tmp_path)
    block = bytearray(12)
    folder.read_into(listed, memoryview(block)[1:11])
    assert block == b"\x000123456789\x00"
    (tmp_path / "f.bin").write_bytes(b"0123456789+")  # grew since it was listed
    with pytest.raises(InvalidArgument, match=r"f\.bin' changed while it was being read"):
        folder.read_into(listed, memoryview(bytearray(10)))
    (tmp_path / "f.bin").write_bytes(b"01234")  # shrank
    with pytest.raises(InvalidArgument, match=r"f\.bin' changed while it was being read"):
        folder.read_into(listed, memoryview(bytearray(10)))
    (tmp_path / "f.bin").unlink()
    with pytest.raises(InvalidArgument, match=r"cannot read .*f\.bin"):
        folder.read_into(listed, memoryview(bytearray(10)))
