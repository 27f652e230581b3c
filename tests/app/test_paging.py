"""Paging the runs table on the server: whole-table sort, page slices, and ticks that survive page changes."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse.app import paging


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame({"run_id": [f"r{i}" for i in range(7)], "loss": [0.5, None, 0.1, 0.9, 0.3, None, 0.7]})


def test_sort_covers_the_whole_table_and_nulls_go_last(frame: pl.DataFrame) -> None:
    first = paging.sorted_page(frame, by="loss", descending=False, size=3, number=1)
    assert first.rows.get_column("run_id").to_list() == ["r2", "r4", "r0"]
    assert (first.number, first.pages, first.first, first.last, first.total) == (1, 3, 1, 3, 7)
    last = paging.sorted_page(frame, by="loss", descending=True, size=3, number=3)
    assert last.rows.get_column("run_id").to_list() == ["r5"]  # nulls last, in their original order
    assert (last.first, last.last) == (7, 7)


def test_page_number_is_clamped(frame: pl.DataFrame) -> None:
    assert paging.sorted_page(frame, by="run_id", descending=False, size=5, number=9).number == 2
    assert paging.sorted_page(frame, by="run_id", descending=False, size=5, number=0).number == 1
    empty = paging.sorted_page(frame.clear(), by="run_id", descending=False, size=5, number=3)
    assert (empty.number, empty.pages, empty.first, empty.last, empty.rows.height) == (1, 1, 0, 0, 0)


def test_page_count() -> None:
    assert [paging.page_count(n, 100) for n in (0, 1, 100, 101, 10_000)] == [1, 1, 1, 2, 100]


def test_grid_key_changes_with_the_rows_shown() -> None:
    assert paging.grid_key("g", ["a", "b"]) == paging.grid_key("g", ["a", "b"])
    assert paging.grid_key("g", ["a", "b"]) != paging.grid_key("g", ["b", "a"])


def test_ticks_change_only_the_rows_they_touch() -> None:
    visible = ["a", "b", "c"]
    selected = ["x", "b"]  # x: picked on another page; b: ticked here before
    assert paging.merge_ticks(selected, visible, {1}, {1, 2}) == ["x", "b", "c"]
    assert paging.merge_ticks(selected, visible, {1}, set()) == ["x"]
    # A fresh grid (another page, then back) starts unticked: ticking a row adds it without dropping b.
    assert paging.merge_ticks(selected, visible, set(), {0}) == ["x", "b", "a"]
