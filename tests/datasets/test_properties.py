"""Property tests: random sequences of writes, tags and vacuums against a simple in-memory model.

The model keeps every version as a list of rows and the live tags as a dict. After each sequence the real
dataset must agree with it: every version that retention promises to keep reads back exactly, the history
lists every version with its row count and operation, the tags match, and diffs (by change feed and by
join, keyed and not) match the model's multiset difference.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.errors import InvalidArgument, InvalidData, TagExists, TagNotFound, VersionNotFound

Row = tuple[int, str | None, float | None]
SCHEMA = {"id": pl.Int64, "label": pl.String, "weight": pl.Float64}
TAGS = ("prod", "dev")

row = st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", None]), st.sampled_from([0.5, 1.0, None]))
rows_ = st.lists(row, min_size=0, max_size=3)
keyed_rows = st.lists(row, min_size=0, max_size=3, unique_by=lambda r: r[0])
write = st.one_of(
    st.tuples(st.just("append"), rows_),
    st.tuples(st.just("overwrite"), rows_),
    st.tuples(st.just("upsert"), keyed_rows),
)
# Mostly one tag without force, so moves get refused as often as they succeed.
tag = st.tuples(
    st.just("tag"), st.sampled_from(["prod", "prod", "dev"]), st.integers(0, 20), st.sampled_from([False, False, True])
)
step = st.one_of(
    write,
    write,
    tag,
    tag,
    st.tuples(st.just("untag"), st.sampled_from(TAGS)),
    st.tuples(st.just("vacuum")),
)
# A first write creates the dataset; a vacuum at the end (usually) exercises retention after the churn.
sequences = st.tuples(
    st.tuples(st.just("append"), rows_),
    st.lists(step, min_size=2, max_size=6),
    st.sampled_from([True, True, False]),
)


@dataclass
class Model:
    versions: list[list[Row]] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    tag_events: Counter[str] = field(default_factory=Counter)
    maybe_gone: set[int] = field(default_factory=set)  # vacuum may have removed these versions' files
    vacuumed: bool = False

    def write(self, mode: str, rows: list[Row]) -> None:
        current = list(self.versions[-1]) if self.versions else []
        if mode == "append":
            new = current + rows
        elif mode == "overwrite":
            new = list(rows)
        else:  # every row holding a given key is updated (a dataset may hold a key twice); new keys are added
            given = {r[0]: r for r in rows}
            new = [given.get(r[0], r) for r in current] + [r for r in rows if r[0] not in {c[0] for c in current}]
        self.versions.append(new)
        self.operations.append(mode)


def _frame(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def _sorted(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=repr)


def _apply(ds: lakehouse.Dataset, model: Model, op: tuple[Any, ...]) -> None:
    kind = op[0]
    event(f"op {kind}")
    if kind in ("append", "overwrite", "upsert"):
        version = ds.write(_frame(op[1]), mode=kind, key="id" if kind == "upsert" else None)
        model.write(kind, op[1])
        assert version.version == len(model.versions) - 1
        assert version.num_rows == len(model.versions[-1])
    elif kind == "tag":
        _, tag, pick, force = op
        number = pick % len(model.versions)
        current = model.tags.get(tag)
        try:
            ds.tag(tag, version=number, force=force)
        except TagExists:
            event("tag move refused without force")
            assert current is not None
            assert current != number
            assert not force
            return
        except VersionNotFound:
            assert number in model.maybe_gone  # only a vacuumed version can refuse a tag
            return
        assert current is None or current == number or force
        if current != number:
            model.tags[tag] = number
            model.tag_events[tag] += 1
    elif kind == "untag":
        tag = op[1]
        if tag not in model.tags:
            with pytest.raises(TagNotFound):
                ds.untag(tag)
            return
        ds.untag(tag)
        del model.tags[tag]
        model.tag_events[tag] += 1
    else:
        latest = len(model.versions) - 1
        pinned = set(model.tags.values())
        ds.vacuum(retention_hours=0)
        model.maybe_gone |= {v for v in range(latest) if v not in pinned}
        added = ds.latest_version - latest
        assert added in (0, 2)  # a vacuum that deletes something commits a start and an end
        for operation in ("vacuum start", "vacuum end")[:added]:
            model.versions.append(list(model.versions[-1]))
            model.operations.append(operation)
        model.vacuumed = model.vacuumed or added > 0
        event(f"vacuum deleted files: {added > 0}")


def _model_diff(old: list[Row], new: list[Row], keyed: bool) -> dict[str, Any] | None:
    """The expected diff, or None where a keyed diff is ambiguous (a key repeated among changed rows)."""
    added = _sorted(list((Counter(new) - Counter(old)).elements()))
    removed = _sorted(list((Counter(old) - Counter(new)).elements()))
    if not keyed:
        return {"added": added, "removed": removed, "changed": []}
    added_keys, removed_keys = Counter(r[0] for r in added), Counter(r[0] for r in removed)
    if any(n > 1 for n in added_keys.values()) or any(n > 1 for n in removed_keys.values()):
        return None
    before = {r[0]: r for r in removed}
    changed = _sorted([(r[0], r[1], before[r[0]][1], r[2], before[r[0]][2]) for r in added if r[0] in before])
    return {
        "added": [r for r in added if r[0] not in before],
        "removed": [r for r in removed if r[0] not in added_keys],
        "changed": changed,
    }


def _check_diff(ds: lakehouse.Dataset, model: Model, a: int, b: int, readable: set[int]) -> None:
    if a not in readable or b not in readable:
        return
    for keyed in (False, True):
        expected = _model_diff(model.versions[a], model.versions[b], keyed)
        methods = ["join", "cdf"] if a < b else ["join"]
        for method in methods:
            try:
                diff = ds.diff(a, b, key="id" if keyed else None, method=method)  # type: ignore[arg-type]
            except InvalidData:
                event("keyed diff ambiguous")
                assert expected is None, (a, b, keyed, method)
                continue
            except InvalidArgument:
                event("change feed unavailable after vacuum")
                assert method == "cdf"
                assert model.vacuumed  # the feed only falls short once vacuum removed files
                continue
            assert expected is not None, (a, b, keyed, method)
            assert _sorted(list(diff.added.iter_rows())) == expected["added"], (a, b, keyed, method)
            assert _sorted(list(diff.removed.iter_rows())) == expected["removed"], (a, b, keyed, method)
            if keyed:
                changed = diff.changed.select("id", "label", "label_before", "weight", "weight_before")
                assert _sorted(list(changed.iter_rows())) == expected["changed"], (a, b, keyed, method)
            else:
                assert diff.changed.is_empty()
            assert diff.schema_changes == ()


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(sequences)
def test_dataset_agrees_with_model(sequence: tuple[tuple[str, list[Row]], list[tuple[Any, ...]], bool]) -> None:
    first, steps, final_vacuum = sequence
    with tempfile.TemporaryDirectory() as folder:
        lh = lakehouse.connect(folder, actor="prop")
        ds = lh.dataset("d")
        model = Model()
        for op in [first, *steps, *([("vacuum",)] if final_vacuum else [])]:
            _apply(ds, model, op)

        history = ds.history()
        assert [v.version for v in history] == list(range(len(model.versions)))[::-1]
        assert [v.num_rows for v in history][::-1] == [len(rows) for rows in model.versions]
        assert [v.operation for v in history][::-1] == model.operations
        assert all(v.created_by == "prop" for v in history if v.data_change)

        readable = set()
        for number, expected in enumerate(model.versions):
            try:
                got = _sorted(list(ds.read(number).iter_rows()))
            except VersionNotFound:
                event("a vacuumed version is unreadable")
                assert number in model.maybe_gone, number
                continue
            assert got == _sorted(expected), number
            readable.add(number)

        assert ds.tags() == model.tags
        for tag, number in model.tags.items():
            assert _sorted(list(ds.read(tag=tag).iter_rows())) == _sorted(model.versions[number])
        for tag in TAGS:
            events = ds.tag_history(tag)
            assert len(events) == model.tag_events[tag]
            assert [e.seq for e in events] == list(range(1, len(events) + 1))

        last = len(model.versions) - 1
        for a, b in {(0, last), (max(last - 1, 0), last), (last, 0)}:
            _check_diff(ds, model, a, b, readable)
