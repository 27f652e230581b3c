"""Diffs: keyed and whole-row, schema changes, counts, and the two strategies agreeing."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import lakehouse
from lakehouse import DatasetDiff, SchemaChange
from lakehouse.errors import InvalidArgument, InvalidData
from tests.datasets.conftest import frame

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def _same(x: DatasetDiff, y: DatasetDiff) -> None:
    assert (x.from_version, x.to_version, x.key, x.schema_changes) == (
        y.from_version,
        y.to_version,
        y.key,
        y.schema_changes,
    )
    assert_frame_equal(x.added, y.added)
    assert_frame_equal(x.removed, y.removed)
    assert_frame_equal(x.changed, y.changed)


def _both(ds: lakehouse.Dataset, a: int, b: int, key: list[str] | None = None) -> DatasetDiff:
    by_feed = ds.diff(a, b, key=key, method="cdf")
    by_join = ds.diff(a, b, key=key, method="join")
    assert (by_feed.method, by_join.method) == ("cdf", "join")
    _same(by_feed, by_join)
    assert ds.diff(a, b, key=key).method == "cdf"  # auto prefers the feed where it covers the range
    return by_feed


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> lakehouse.Dataset:
    """Four versions, built once: the tests below only read them (and tag, which changes no data)."""
    ds = lakehouse.connect(tmp_path_factory.mktemp("diff")).dataset("d")
    ds.write(pl.DataFrame({"id": [1, 2, 3, 4], "label": ["a", "b", "c", "d"], "score": [1.0, 2.0, 3.0, None]}))  # v0
    ds.write(pl.DataFrame({"id": [5, 6], "label": ["e", "f"], "score": [5.0, 6.0]}))  # v1 append
    ds.write(  # v2 upsert: 2 changes label, 4 gets a score, 7 is new
        pl.DataFrame({"id": [2, 4, 7], "label": ["B", "d", "g"], "score": [2.0, 4.0, 7.0]}), mode="upsert", key="id"
    )
    ds.write(  # v3 overwrite: drops 1 and 6, changes 3, keeps the rest
        pl.DataFrame({"id": [2, 3, 4, 5, 7], "label": ["B", "C", "d", "e", "g"], "score": [2.0, 30.0, 4.0, 5.0, 7.0]}),
        mode="overwrite",
    )
    return ds


def test_keyed_diff_across_append_upsert_and_overwrite(ds: lakehouse.Dataset) -> None:
    d = _both(ds, 0, 3, key=["id"])
    assert (d.num_added, d.num_removed, d.num_changed) == (2, 1, 3)
    assert d.added.to_dicts() == [
        {"id": 5, "label": "e", "score": 5.0},
        {"id": 7, "label": "g", "score": 7.0},
    ]
    assert d.removed.to_dicts() == [{"id": 1, "label": "a", "score": 1.0}]
    assert d.changed.to_dicts() == [
        {"id": 2, "changed_columns": ["label"], "label": "B", "label_before": "b", "score": 2.0, "score_before": 2.0},
        {
            "id": 3,
            "changed_columns": ["label", "score"],
            "label": "C",
            "label_before": "c",
            "score": 30.0,
            "score_before": 3.0,
        },
        {"id": 4, "changed_columns": ["score"], "label": "d", "label_before": "d", "score": 4.0, "score_before": None},
    ]
    assert d.schema_changes == ()
    assert d.summary() == {
        "dataset": "d",
        "from_version": 0,
        "to_version": 3,
        "key": ["id"],
        "method": "cdf",
        "schema_changes": [],
        "added": 2,
        "removed": 1,
        "changed": 3,
    }


def test_whole_row_diff(ds: lakehouse.Dataset) -> None:
    d = _both(ds, 1, 2)
    # Without a key a changed row is one removed and one added row.
    assert sorted(r["id"] for r in d.added.to_dicts()) == [2, 4, 7]
    assert sorted(r["id"] for r in d.removed.to_dicts()) == [2, 4]
    assert d.changed.is_empty()
    assert d.key is None


@pytest.mark.parametrize(("a", "b"), [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3), (3, 3)])
@pytest.mark.parametrize("key", [None, ["id"]])
def test_every_pair_agrees(ds: lakehouse.Dataset, a: int, b: int, key: list[str] | None) -> None:
    if a == b:
        d = ds.diff(a, b, key=key)
        assert d.is_empty
        assert d.method == "join"
    else:
        _both(ds, a, b, key=key)


def test_reverse_diff_swaps_added_and_removed(ds: lakehouse.Dataset) -> None:
    forward, backward = ds.diff(0, 3, key="id"), ds.diff(3, 0, key="id")
    assert backward.method == "join"
    assert_frame_equal(backward.added, forward.removed)
    assert_frame_equal(backward.removed, forward.added)
    assert backward.changed["label_before"].to_list() == forward.changed["label"].to_list()


def test_diff_by_tag_and_latest(ds: lakehouse.Dataset) -> None:
    ds.tag("prod", version=1)
    d = ds.diff("prod", "latest", key="id")
    assert (d.from_version, d.to_version) == (1, 3)
    assert ds.diff("v1").to_version == 3


def test_duplicates_count_as_a_multiset(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("dups")
    ds.write(frame([1, 1, 2]))
    ds.write(frame([1, 2]))
    d = _both(ds, 0, 1)
    assert d.added.to_dicts() == [{"id": 1, "label": "l1"}, {"id": 2, "label": "l2"}]
    assert d.removed.is_empty()
    # Keyed, rows are paired by key among the rows that differ: here each key differs once.
    assert _both(ds, 0, 1, key=["id"]).added.get_column("id").to_list() == [1, 2]
    # A key repeated among the added rows is ambiguous, whichever strategy runs.
    ds.write(frame([1, 1], ["x", "y"]))
    for method in ("cdf", "join"):
        with pytest.raises(InvalidData, match=r"key \['id'\] is not unique between versions 1 and 2.*\{'id': 1\}"):
            ds.diff(1, 2, key="id", method=method)  # type: ignore[arg-type]


def test_schema_changes_are_reported_and_use_the_join(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("evolve")
    ds.write(pl.DataFrame({"id": [1, 2], "x": [10, 20]}))
    ds.write(pl.DataFrame({"id": [3], "x": [30], "note": ["new"]}), schema_mode="merge")
    d = ds.diff(0, 1, key="id")
    assert d.method == "join"
    assert d.schema_changes == (SchemaChange("note", "added", after="string"),)
    assert d.added.to_dicts() == [{"id": 3, "x": 30, "note": "new"}]
    assert d.changed.is_empty()
    with pytest.raises(InvalidArgument, match="needs an older version first, the same schema"):
        ds.diff(0, 1, method="cdf")
    # Retyped columns are compared by their text form; the rows keep their own types.
    ds.write(pl.DataFrame({"id": [1, 2], "x": ["10", "21"]}), mode="overwrite", schema_mode="overwrite")
    retyped = ds.diff(0, 2, key="id")
    assert retyped.schema_changes == (SchemaChange("x", "type_changed", before="int64", after="string"),)
    assert retyped.changed.to_dicts() == [{"id": 2, "changed_columns": ["x"], "x": "21", "x_before": 20}]
    whole = ds.diff(0, 2)
    assert whole.added.to_dicts() == [{"id": 2, "x": "21"}]
    assert whole.removed.to_dicts() == [{"id": 2, "x": 20}]
    # The feed is not used across a range whose schema changed and changed back.
    ds.write(pl.DataFrame({"id": [1], "x": [5]}), mode="overwrite", schema_mode="overwrite")
    assert ds.diff(0, 3).method == "join"
    assert ds.diff(2, 3).method == "join"


def test_key_that_changed_type(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("k")
    ds.write(pl.DataFrame({"id": [1], "x": [1]}))
    ds.write(pl.DataFrame({"id": ["1"], "x": [1]}), mode="overwrite", schema_mode="overwrite")
    with pytest.raises(InvalidArgument, match=r"key column 'id' changed type \(int64 -> string\)"):
        ds.diff(0, 1, key="id")
    with pytest.raises(InvalidArgument, match=r"key column 'nope' is not in either version; columns are \['id', 'x'\]"):
        ds.diff(0, 1, key="nope")
    with pytest.raises(InvalidArgument, match="method must be"):
        ds.diff(0, 1, method="fast")  # type: ignore[arg-type]


def test_rich_types_agree(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("rich")
    base = {
        "id": [1, 2, 3],
        "when": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
        "pixels": [[0, 1], [2, 3], [4, 5]],
        "blob": [b"a", b"b", b"c"],
        "ok": [True, False, None],
    }
    ds.write(pl.DataFrame(base))
    ds.write(
        pl.DataFrame({**{k: v[1:2] for k, v in base.items()}, "pixels": [[9, 9]], "ok": [True]}),
        mode="upsert",
        key="id",
    )
    ds.write(pl.DataFrame({k: v[2:] for k, v in base.items()}, schema_overrides={"ok": pl.Boolean}))
    d = _both(ds, 0, 2, key=["id"])
    assert d.changed.select("id", "changed_columns").to_dicts() == [{"id": 2, "changed_columns": ["pixels", "ok"]}]
    assert d.added.get_column("id").to_list() == [3]
    _both(ds, 0, 2)


@pytest.mark.parametrize("weak", [False, True])
def test_join_diff_is_exact_even_when_hashes_collide(weak: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are paired by hash and then compared; a weak hash (every row colliding) gives the same answer."""
    from lakehouse.datasets import diff as diffing

    if weak:
        monkeypatch.setattr(diffing, "_row_hash", lambda frame: pl.Series([7] * frame.height, dtype=pl.UInt64))
    old = pl.DataFrame({"id": [1, 1, 2, 3, 4, None], "x": ["a", "a", "b", "c", None, "n"]})
    new = pl.DataFrame({"id": [1, 2, 2, 3, 5, None], "x": ["a", "b", "b", "C", None, "n"]})
    added, removed = diffing.net_rows(old, new)
    assert added.rows() == [(2, "b"), (3, "C"), (5, None)]
    assert removed.rows() == [(1, "a"), (3, "c"), (4, None)]
