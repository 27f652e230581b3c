"""The Datasets page's file views on a real file dataset: thumbnail grid, label filter, paging, previews, diff."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import lakehouse
from lakehouse import storage
from tests.app.conftest import OpenApp, build_files, errors, metrics


@pytest.fixture(scope="module")
def files_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("app-files")
    build_files(base / "lh", base / "folder")
    return base / "lh"


def images(at: AppTest, key: str) -> list[tuple[str, bytes]]:
    """``(caption, thumbnail bytes)`` of every image in the container keyed ``key``."""
    found: list[tuple[str, bytes]] = []

    def walk(node: object, inside: bool) -> None:
        inside = inside or getattr(node, "key", None) == key
        if inside and getattr(node, "type", None) == "image":
            found.extend((img.caption, _served(img.url)) for img in node.proto.imgs)  # type: ignore[attr-defined]
        for child in getattr(node, "children", {}).values():
            walk(child, inside)

    walk(at._tree, False)
    return found


def _served(url: str) -> bytes:
    """The image bytes of a ``data:`` URL."""
    assert url.startswith("data:image/")
    return base64.b64decode(url.split(",", 1)[1])


def test_grid_shows_the_page_of_images_with_labels_and_previews(files_root: Path, open_app: OpenApp) -> None:
    at = open_app(files_root, dataset="pics", tab="Files", files_version="v0")
    assert not errors(at)
    shown = images(at, "files_grid_images")
    assert [c for c, _ in shown] == ["cat · 0.png", "cat · 1.png", "dog · 2.png", "dog · 3.png", "owl · 4.png"]
    thumb = Image.open(io.BytesIO(shown[0][1]))
    assert max(thumb.size) == 128  # shrunk on the server from 200×100
    assert (thumb.format, thumb.getpixel((5, 5))[0] // 10) == ("JPEG", 1)  # red 10, JPEG-close
    assert "first line\nsecond line" in at.code[0].value
    assert len(at.code[0].value.splitlines()) == 8
    assert len(at.get("audio")) == 1
    assert "files 1–7 of 7" in " ".join(c.value for c in at.main.caption)


def test_label_filter_and_paging(files_root: Path, open_app: OpenApp) -> None:
    at = open_app(files_root, dataset="pics", tab="Files", files_version="v0")
    at.multiselect(key="files_label").set_value(["dog"]).run()
    assert [c for c, _ in images(at, "files_grid_images")] == ["dog · 2.png", "dog · 3.png"]
    assert not at.code
    assert not at.get("audio")
    at = open_app(files_root, dataset="pics", tab="Files", files_version="v0", files_label=["owl", "cat"])
    assert [c for c, _ in images(at, "files_grid_images")] == ["cat · 0.png", "cat · 1.png", "owl · 4.png"]
    at.multiselect(key="files_label").set_value([]).run()
    at.selectbox(key="files_page_size").set_value(24).run()
    assert at.number_input(key="files_page").max == 1
    at = open_app(files_root, dataset="pics", tab="Files", files_version="v1")
    assert [c for c, _ in images(at, "files_grid_images")][-1] == "owl · 5.png"
    tiny = Image.open(io.BytesIO(images(at, "files_grid_images")[-1][1]))
    assert (tiny.format, tiny.size) == ("PNG", (64, 64))  # 8×8 scaled up pixel-exact


def test_pages_read_only_their_rows(tmp_path: Path, open_app: OpenApp, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(130):
        Image.new("L", (4, 4), i).save(folder / f"{i:03d}.png")
    lakehouse.connect(tmp_path / "lh").dataset("many").add_files(folder)
    # Which bytes are read: the real reads, recorded (the version holds 100 files per row group).
    reads: list[int | None] = []
    real_group, real_whole = storage.OpenDataFile.read_row_group, storage.OpenDataFile.read

    def recorded_group(self: storage.OpenDataFile, group: int, columns: Sequence[str]) -> pa.Table:
        if "content" in columns:
            reads.append(group)
        return real_group(self, group, columns)

    def recorded_whole(self: storage.OpenDataFile, columns: Sequence[str]) -> pa.Table:
        if "content" in columns:
            reads.append(None)
        return real_whole(self, columns)

    monkeypatch.setattr(storage.OpenDataFile, "read_row_group", recorded_group)
    monkeypatch.setattr(storage.OpenDataFile, "read", recorded_whole)
    at = open_app(tmp_path / "lh", dataset="many", tab="Files")
    assert [c for c, _ in images(at, "files_grid_images")][:2] == ["000.png", "001.png"]
    assert at.number_input(key="files_page").max == 3
    assert reads == [0]  # page 1 (files 0–47): the first row group's bytes only
    at.number_input(key="files_page").set_value(3).run()
    assert reads == [0, 1]  # page 3 (files 96–129) straddles both; the first is still in the reader's cache
    assert [c for c, _ in images(at, "files_grid_images")] == [f"{i:03d}.png" for i in range(96, 130)]
    assert "files 97–130 of 130" in " ".join(c.value for c in at.main.caption)


def test_diff_shows_added_removed_and_changed_files(files_root: Path, open_app: OpenApp) -> None:
    at = open_app(files_root, dataset="pics", tab="Diff", a="v0", b="v1")
    assert (metrics(at)["Added rows"], metrics(at)["Removed rows"], metrics(at)["Changed rows"]) == ("1", "1", "1")
    assert [c for c, _ in images(at, "diff_added_files_images")] == ["owl · 5.png"]
    assert [c for c, _ in images(at, "diff_removed_files_images")] == ["dog · 3.png"]
    (before,) = images(at, "diff_changed_before_images")
    (after,) = images(at, "diff_changed_after_images")
    assert before[0] == after[0] == "cat · 0.png"
    blue_before = Image.open(io.BytesIO(before[1])).getpixel((5, 5))[2]
    blue_after = Image.open(io.BytesIO(after[1])).getpixel((5, 5))[2]
    assert blue_before < 50 < blue_after  # the red square became a blue one


def test_a_table_dataset_or_a_bad_version_is_explained(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, dataset="digits", tab="Files")
    assert not errors(at)
    assert "is a table, not a file dataset" in at.info[0].value
    at = open_app(datasets_root, dataset="digits", tab="Files", files_version="v9")
    assert any("has no version 9" in e for e in errors(at))
