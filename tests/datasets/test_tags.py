"""Tags: pointers to versions, moved only with force, with every change kept."""

from __future__ import annotations

import pytest

import lakehouse
from lakehouse import storage
from lakehouse.errors import DatasetNotFound, InvalidName, TagExists, TagNotFound, VersionNotFound
from tests.datasets.conftest import frame

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


@pytest.fixture
def ds(lh: lakehouse.Lakehouse) -> lakehouse.Dataset:
    ds = lh.dataset("d")
    for i in range(3):
        ds.write(frame([i]))
    return ds


def test_set_move_untag_with_history(ds: lakehouse.Dataset, lh: lakehouse.Lakehouse) -> None:
    first = ds.tag("prod", version=0)
    assert (first.event, first.version, first.previous_version, first.seq, first.actor) == ("set", 0, None, 1, "tester")
    assert ds.tags() == {"prod": 0}
    # Same version again: nothing to do, no new event.
    assert ds.tag("prod", version=0) == first
    with pytest.raises(TagExists, match=r"tag 'prod' of dataset 'd' already points at version 0; pass force=True"):
        ds.tag("prod", version=2)
    assert ds.tags() == {"prod": 0}
    other = lakehouse.connect(lh.root, actor="release-bot").dataset("d")
    moved = other.tag("prod", version=2, force=True)
    assert (moved.event, moved.version, moved.previous_version, moved.seq, moved.actor) == (
        "moved",
        2,
        0,
        2,
        "release-bot",
    )
    ds.tag("candidate")  # latest by default
    assert ds.tags() == {"candidate": 2, "prod": 2}
    gone = ds.untag("prod")
    assert (gone.event, gone.version, gone.previous_version, gone.seq) == ("deleted", None, 2, 3)
    assert ds.tags() == {"candidate": 2}
    again = ds.tag("prod", version=1)  # a deleted tag can be set again without force
    assert (again.event, again.previous_version, again.seq) == ("set", None, 4)
    history = ds.tag_history("prod")
    assert [(e.event, e.previous_version, e.version, e.seq, e.actor) for e in history] == [
        ("set", None, 0, 1, "tester"),
        ("moved", 0, 2, 2, "release-bot"),
        ("deleted", 2, None, 3, "tester"),
        ("set", None, 1, 4, "tester"),
    ]
    assert all(e.at.tzinfo is not None for e in history)
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert len(ds.tag_history()) == 5
    assert sorted(ds.read(tag="prod").get_column("id").to_list()) == [0, 1]


def test_tags_of_datasets_are_separate(ds: lakehouse.Dataset, lh: lakehouse.Lakehouse) -> None:
    other = lh.dataset("e")
    other.write(frame([1]))
    ds.tag("prod", version=1)
    other.tag("prod", version=0)
    assert ds.tags() == {"prod": 1}
    assert other.tags() == {"prod": 0}
    other.untag("prod")
    assert ds.tags() == {"prod": 1}


def test_tags_do_not_change_the_dataset(ds: lakehouse.Dataset) -> None:
    ds.tag("prod", version=0)
    assert storage.latest_version(ds.path) == 2  # tags live in _catalog/tags, not in the dataset's log


@pytest.mark.parametrize("name", ["latest", "v2", "v10"])
def test_reserved_names_are_refused(ds: lakehouse.Dataset, name: str) -> None:
    with pytest.raises(InvalidName, match="reserved by the ref grammar"):
        ds.tag(name, version=0)
    assert ds.tags() == {}


def test_tag_errors(ds: lakehouse.Dataset, lh: lakehouse.Lakehouse) -> None:
    with pytest.raises(VersionNotFound, match=r"no version 3; its versions are 0\.\.2"):
        ds.tag("prod", version=3)
    with pytest.raises(InvalidName, match="invalid tag name 'Prod'"):
        ds.tag("Prod")
    with pytest.raises(TagNotFound, match="dataset 'd' has no tag 'prod'"):
        ds.untag("prod")
    ds.tag("prod", version=0)
    with pytest.raises(TagNotFound, match="no tag 'prd'; did you mean 'prod'"):
        ds.untag("prd")
    with pytest.raises(DatasetNotFound):
        lh.dataset("nope").tag("prod")
    assert ds.tags() == {"prod": 0}


def test_tag_by_reference_selectors(ds: lakehouse.Dataset) -> None:
    ds.tag("a", version="v1")
    ds.tag("b", version="a")  # another tag
    ds.tag("c", version="latest")
    assert ds.tags() == {"a": 1, "b": 1, "c": 2}
