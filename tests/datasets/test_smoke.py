"""A first end-to-end pass over the dataset API on a real Delta table."""

from __future__ import annotations

import polars as pl
import pytest

import lakehouse

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def test_write_read_tag_diff_round_trip(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("mnist-train")
    v0 = ds.write(pl.DataFrame({"id": [1, 2, 3], "label": ["a", "b", "c"]}), metadata={"labelled_by": "team"})
    v1 = ds.write(pl.DataFrame({"id": [2, 4], "label": ["B", "d"]}), mode="upsert", key="id")
    assert (v0.version, v1.version) == (0, 1)
    assert v0.metadata["labelled_by"] == "team"
    assert (v1.num_rows, v1.rows_added, v1.rows_updated) == (4, 1, 1)
    ds.tag("prod", version=0)
    assert lh.read("mnist-train:prod").sort("id").to_dict(as_series=False) == {
        "id": [1, 2, 3],
        "label": ["a", "b", "c"],
    }
    diff = ds.diff(0, 1, key=["id"])
    assert diff.added.to_dicts() == [{"id": 4, "label": "d"}]
    assert diff.changed.select("id", "label", "label_before").to_dicts() == [
        {"id": 2, "label": "B", "label_before": "b"}
    ]
