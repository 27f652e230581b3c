"""Bad input to file datasets: a clear error naming the thing, and the dataset and its objects unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.errors import CorruptObject, InvalidArgument
from lakehouse.objects import object_key
from tests.file_trees import make_tree, tree_state

REPO = Path(__file__).resolve().parents[2]
# Root bypasses file permissions; without these two capabilities it is held to them like anyone.
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root, inline_file_bytes=2000)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "photos", big=3000)


@pytest.fixture
def existing(lh: lakehouse.Lakehouse, folder: Path) -> lakehouse.Lakehouse:
    """A lakehouse whose dataset ``pets`` has one version (the tree with one large file as an object)."""
    lh.dataset("pets").add_files(folder)
    return lh


def refused(lh: lakehouse.Lakehouse, call: Callable[[], object], error: type[Exception], match: str) -> None:
    """``call`` raises ``error`` matching ``match`` and nothing under the root changes (tables, objects)."""
    before = tree_state(lh.root)
    with pytest.raises(error, match=match):
        call()
    assert tree_state(lh.root) == before


def test_a_missing_folder_or_a_file_is_refused(existing: lakehouse.Lakehouse, folder: Path) -> None:
    ds = existing.dataset("pets")
    refused(existing, lambda: ds.add_files(folder / "nope"), InvalidArgument, r"folder '.*nope' does not exist")
    refused(existing, lambda: ds.sync_files(folder / "notes" / "readme.txt"), InvalidArgument, "is not a folder")
    refused(existing, lambda: existing.dataset("new").add_files(folder / "nope"), InvalidArgument, "does not exist")


def test_links_outside_the_folder_are_refused_and_links_inside_followed(
    existing: lakehouse.Lakehouse, folder: Path, tmp_path: Path
) -> None:
    ds = existing.dataset("pets")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the dataset", encoding="utf-8")
    (folder / "leak.txt").symlink_to(secret)
    refused(existing, lambda: ds.sync_files(folder), InvalidArgument, r"link '.*leak.txt' points outside the folder")
    (folder / "leak.txt").unlink()
    (folder / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    refused(existing, lambda: ds.sync_files(folder), InvalidArgument, r"link '.*elsewhere' points outside")
    (folder / "elsewhere").unlink()
    (folder / "dangling").symlink_to(tmp_path / "gone")
    refused(existing, lambda: ds.sync_files(folder), InvalidArgument, r"link '.*dangling' points to nothing")
    (folder / "dangling").unlink()
    (folder / "cats" / "loop").symlink_to(folder, target_is_directory=True)
    refused(existing, lambda: ds.sync_files(folder), InvalidArgument, r"link '.*cats/loop' points to a folder it is")
    (folder / "cats" / "loop").unlink()
    # Inside the folder a link is followed: its path holds the bytes of its target.
    (folder / "alias.png").symlink_to(folder / "cats" / "0.png")
    (folder / "kittens").symlink_to(folder / "cats", target_is_directory=True)
    v = ds.sync_files(folder)
    assert v is not None
    files = ds.files()
    assert {"alias.png", "kittens/0.png", "kittens/1.png"} <= set(files["path"].to_list())
    assert ds.read_file("alias.png") == (folder / "cats" / "0.png").read_bytes()


def test_a_name_that_is_not_utf8_is_refused(existing: lakehouse.Lakehouse, folder: Path) -> None:
    with open(os.fsencode(folder / "cats") + b"/caf\xe9.png", "wb") as f:  # a Latin-1 name, as old tools write
        f.write(b"x")
    refused(
        existing,
        lambda: existing.dataset("pets").sync_files(folder),
        InvalidArgument,
        r"file name b'caf\\xe9.png' .* is not valid UTF-8",
    )


@pytest.mark.parametrize(
    ("paths", "match"),
    [
        (["cats/0.png", "../outside.png"], r"'\.\./outside.png' is not a relative path inside the root"),
        (["/etc/passwd"], r"labels path '/etc/passwd' must be relative"),
        (["cats/0.png", "cats/7.png"], r"labels name 'cats/7.png', which is not a file of"),
        (["cats/0.png", "cats/0.png"], r"labels give path 'cats/0.png' more than once"),
    ],
)
def test_bad_sidecar_paths_are_refused(
    existing: lakehouse.Lakehouse, folder: Path, tmp_path: Path, paths: list[str], match: str
) -> None:
    sidecar = tmp_path / "labels.csv"
    pl.DataFrame({"path": paths, "label": ["x"] * len(paths)}).write_csv(sidecar)
    ds = existing.dataset("pets")
    refused(existing, lambda: ds.add_files(folder, labels=sidecar), InvalidArgument, match)
    refused(existing, lambda: ds.sync_files(folder, labels=sidecar), InvalidArgument, match)


def test_labels_that_name_file_columns_or_fail_are_refused(existing: lakehouse.Lakehouse, folder: Path) -> None:
    ds = existing.dataset("pets")
    refused(existing, lambda: ds.add_files(folder, labels=lambda p: {"size": 1}), InvalidArgument, r"\['size'\]")

    def broken(path: str) -> str:
        raise KeyError(path)

    refused(existing, lambda: ds.add_files(folder, labels=broken), InvalidArgument, r"failed on 'blobs/big.bin'")


def test_an_unreadable_file_is_refused(existing: lakehouse.Lakehouse, folder: Path) -> None:
    (folder / "zz-locked.txt").write_text("private", encoding="utf-8")
    (folder / "zz-locked.txt").chmod(0)
    before = tree_state(existing.root)
    done = subprocess.run(
        [*UNPRIVILEGED, sys.executable, str(REPO / "tests/datasets/files_child.py"), "add", str(existing.root)]
        + ["pets", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "InvalidArgument: cannot read" in done.stdout
    assert "zz-locked.txt" in done.stdout
    assert "Permission denied" in done.stdout
    assert tree_state(existing.root) == before


def test_a_download_into_a_folder_it_may_not_write_is_refused(existing: lakehouse.Lakehouse, tmp_path: Path) -> None:
    dest = tmp_path / "locked"
    dest.mkdir()
    dest.chmod(0o555)
    before = tree_state(existing.root)
    done = subprocess.run(
        [*UNPRIVILEGED, sys.executable, str(REPO / "tests/datasets/files_child.py"), "download", str(existing.root)]
        + ["pets:v0", str(dest)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert f"StorageError: cannot write to download destination '{dest}'" in done.stdout
    assert list(dest.iterdir()) == []
    assert tree_state(existing.root) == before


def test_a_download_into_a_file_is_refused(existing: lakehouse.Lakehouse, folder: Path) -> None:
    target = folder / "notes" / "readme.txt"
    refused(existing, lambda: existing.download("pets", target), InvalidArgument, "is not a folder")


def test_a_corrupted_object_is_reported_on_read_and_download(existing: lakehouse.Lakehouse, tmp_path: Path) -> None:
    ds = existing.dataset("pets")
    digest = ds.files().filter(pl.col("path") == "blobs/big.bin")["object"][0]
    stored = Path(existing.root) / object_key(digest)
    data = bytearray(stored.read_bytes())
    data[10] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))
    refused(existing, lambda: ds.read_file("blobs/big.bin"), CorruptObject, rf"{digest[2:12]}.* is corrupt")
    dest = tmp_path / "out"
    refused(existing, lambda: ds.download(dest), CorruptObject, "is corrupt")
    assert not (dest / "blobs" / "big.bin").exists()
    assert not [p for p in dest.rglob("*") if p.name.endswith(".partial")]


def test_a_bad_pattern_and_an_empty_selection_are_refused(existing: lakehouse.Lakehouse, folder: Path) -> None:
    ds = existing.dataset("pets")
    refused(existing, lambda: ds.add_files(folder, pattern="../*"), InvalidArgument, r"pattern '\.\./\*'")
    refused(existing, lambda: ds.add_files(folder, pattern="*.none"), InvalidArgument, "has no files matching")


def test_a_table_dataset_is_not_a_file_dataset(lh: lakehouse.Lakehouse, folder: Path, tmp_path: Path) -> None:
    lh.dataset("table").write(pl.DataFrame({"id": [1, 2]}))
    refused(lh, lambda: lh.dataset("table").files(), InvalidArgument, "'table' is not a file dataset")
    refused(lh, lambda: lh.download("table", tmp_path / "d"), InvalidArgument, "is not a file dataset")
    refused(lh, lambda: lh.dataset("table").add_files(folder), InvalidArgument, "'table' is not a file dataset")
