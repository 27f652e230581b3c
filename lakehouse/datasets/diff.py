"""Row-level diff of two dataset versions.

Every diff is computed in two steps that both strategies share:

1. **net rows** — the rows of ``b`` not in ``a`` (*added*) and of ``a`` not in ``b`` (*removed*), comparing
   whole rows over the columns both versions have, as multisets (a row present twice in ``b`` and once in
   ``a`` is added once). Two strategies compute this, with identical results (a property test holds them
   to it):

   * **change feed** — when ``a < b``, the change data feed covers ``a+1..b`` and no commit in between
     changed the schema, the net rows are the change feed's inserts and post-images minus its deletes and
     pre-images: the cost grows with the change, not with the table.
   * **join** — otherwise both versions are read and compared.

2. **pairing by key** (only with ``key``) — a key found among both the removed and the added rows is
   *changed* (one row with its new values and, under ``<column>_before``, its old ones); the other added and
   removed rows stay as they are. A key may appear at most once among the added and once among the removed
   rows; otherwise the diff cannot be keyed and :class:`~lakehouse.errors.InvalidData` says so.

Columns whose type changed between the versions are compared by their text form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from lakehouse.datasets.versions import SchemaChange
from lakehouse.errors import InvalidArgument, InvalidData

Method = Literal["cdf", "join"]
BEFORE_SUFFIX = "_before"
CHANGED_COLUMNS = "changed_columns"
_CHANGE_TYPE = "_change_type"
_ORDER = "__lakehouse_order"
_INDEX = "__lakehouse_index"
_OTHER = "__lakehouse_other_index"
_KEY = "__lakehouse_key"
_OLD = "__lakehouse_old"
_SEED = 20261101
_POSITIVE = ("insert", "update_postimage")


@dataclass(frozen=True)
class DatasetDiff:
    """What changed from version ``from_version`` to ``to_version``.

    ``added`` and ``removed`` are rows (with the columns of ``to_version`` and ``from_version``);
    ``changed`` (keyed diffs only) has the key, ``changed_columns``, and for every other column shared by
    both versions its new value under its own name and its old value under ``<name>_before``.
    """

    name: str
    from_version: int
    to_version: int
    key: tuple[str, ...] | None
    schema_changes: tuple[SchemaChange, ...]
    added: pl.DataFrame
    removed: pl.DataFrame
    changed: pl.DataFrame
    method: Method

    @property
    def num_added(self) -> int:
        return self.added.height

    @property
    def num_removed(self) -> int:
        return self.removed.height

    @property
    def num_changed(self) -> int:
        return self.changed.height

    @property
    def is_empty(self) -> bool:
        return not (self.schema_changes or self.num_added or self.num_removed or self.num_changed)

    def summary(self) -> dict[str, object]:
        return {
            "dataset": self.name,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "key": list(self.key) if self.key else None,
            "method": self.method,
            "schema_changes": [str(c) for c in self.schema_changes],
            "added": self.num_added,
            "removed": self.num_removed,
            "changed": self.num_changed,
        }


def check_key(key: str | Sequence[str], schema_a: Mapping[str, str], schema_b: Mapping[str, str]) -> tuple[str, ...]:
    """Validate diff key columns against ``{column: type}`` of both versions: present in both, same type."""
    keys = [key] if isinstance(key, str) else list(key)
    if not keys:
        msg = "key must name at least one column"
        raise InvalidArgument(msg)
    for k in keys:
        if not isinstance(k, str) or k not in schema_a or k not in schema_b:
            where = "either version" if k not in schema_a and k not in schema_b else "both versions"
            msg = f"key column {k!r} is not in {where}; columns are {sorted(set(schema_a) | set(schema_b))}"
            raise InvalidArgument(msg)
        if schema_a[k] != schema_b[k]:
            msg = (
                f"key column {k!r} changed type ({schema_a[k]} -> {schema_b[k]}), so rows cannot be matched by it; "
                "diff without a key"
            )
            raise InvalidArgument(msg)
    return tuple(keys)


def _comparable(frame: pl.DataFrame, columns: Sequence[str], retyped: set[str]) -> pl.DataFrame:
    """The columns compared between versions; retyped columns as text so both sides have one type."""
    return frame.select([pl.col(c).cast(pl.Utf8) if c in retyped else pl.col(c) for c in columns])


def _sorted(frame: pl.DataFrame, by: Sequence[str] | None = None) -> pl.DataFrame:
    """A deterministic order (by ``by``, which must identify rows, or every column) so both strategies
    return frames that compare equal."""
    return frame.sort(list(by or frame.columns), nulls_last=True) if frame.width and frame.height > 1 else frame


def net_rows(old: pl.DataFrame, new: pl.DataFrame, *, ordered: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(added, removed)``: rows of ``new`` missing from ``old`` and the reverse, as multisets.

    Rows are compared over the columns both frames have; the returned rows keep all their own columns and are
    sorted by every column unless ``ordered`` is False (pairing by key sorts them itself).

    Rows are paired by a hash of their values (the n-th copy of a row with the n-th copy) and each pair is
    then compared value by value, so the result is exact: the rare keys where a hash collision pairs
    different rows are diffed again by grouping on every value.
    """
    shared = [c for c in new.columns if c in old.columns]
    if not shared:
        return (_sorted(new), _sorted(old)) if ordered else (new, old)
    retyped = {c for c in shared if new.schema[c] != old.schema[c]}
    a, b = _keyed(_comparable(old, shared, retyped)), _keyed(_comparable(new, shared, retyped))
    pairs = b.join(a.select(_KEY, pl.col(_INDEX).alias(_OTHER), *[pl.col(c).alias(c + _OLD) for c in shared]), on=_KEY)
    # A pair whose values differ means a hash collision: its key is diffed again exactly. (Two copies of one
    # row sharing a key within a frame would need the copy-mixed hash to equal the plain one: 2^-64.)
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c + _OLD)) for c in shared])
    unsure = pairs.filter(differs).get_column(_KEY).unique()
    if unsure.len():
        pairs = pairs.filter(~pl.col(_KEY).is_in(unsure.implode()))
    paired_new, paired_old = pairs.get_column(_INDEX).implode(), pairs.get_column(_OTHER).implode()
    added = new.filter(~b.get_column(_INDEX).is_in(paired_new) & ~b.get_column(_KEY).is_in(unsure.implode()))
    removed = old.filter(~a.get_column(_INDEX).is_in(paired_old) & ~a.get_column(_KEY).is_in(unsure.implode()))
    if unsure.len():
        extra_added, extra_removed = _net_rows_exact(
            old.filter(a.get_column(_KEY).is_in(unsure.implode())),
            new.filter(b.get_column(_KEY).is_in(unsure.implode())),
            shared,
            retyped,
        )
        added, removed = pl.concat([added, extra_added]), pl.concat([removed, extra_removed])
    return (_sorted(added), _sorted(removed)) if ordered else (added, removed)


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its row number and a pairing key: the row's hash for its first copy, the hash mixed
    with the copy number for later copies (so the n-th copy of a row pairs with the n-th in the other frame)."""
    hashed = frame.with_row_index(_INDEX).with_columns(_row_hash(frame).alias(_KEY))
    repeated = hashed.get_column(_KEY).is_duplicated()
    if not repeated.any():  # the usual case; numbering copies with a window over every row is slow
        return hashed
    order = pl.int_range(pl.len()).over(_KEY)
    copies = hashed.filter(repeated).with_columns(
        pl.when(order == 0).then(pl.col(_KEY)).otherwise(pl.struct(_KEY, order.alias(_ORDER)).hash(seed=_SEED))
    )
    return pl.concat([hashed.filter(~repeated), copies]).sort(_INDEX)


def _row_hash(frame: pl.DataFrame) -> pl.Series:
    return frame.hash_rows(seed=_SEED)


def _net_rows_exact(
    old: pl.DataFrame, new: pl.DataFrame, shared: list[str], retyped: set[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Multiset difference by grouping on every value: exact, but slow on large frames."""

    def numbered(frame: pl.DataFrame) -> pl.DataFrame:
        return (
            _comparable(frame, shared, retyped)
            .with_columns(pl.int_range(pl.len()).over(shared).alias(_ORDER))
            .with_row_index(_INDEX)
        )

    a, b = numbered(old), numbered(new)
    on = [*shared, _ORDER]
    added_at = b.join(a.drop(_INDEX), on=on, how="anti", nulls_equal=True).get_column(_INDEX)
    removed_at = a.join(b.drop(_INDEX), on=on, how="anti", nulls_equal=True).get_column(_INDEX)
    return new[added_at], old[removed_at]


def net_rows_from_changes(
    changes: pl.DataFrame, columns: list[str], *, ordered: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(added, removed)`` from a change feed: inserts and post-images minus deletes and pre-images."""
    positive = pl.col(_CHANGE_TYPE).is_in(list(_POSITIVE))
    old, new = changes.filter(~positive).select(columns), changes.filter(positive).select(columns)
    return net_rows(old, new, ordered=ordered)


def pair_by_key(
    added: pl.DataFrame, removed: pl.DataFrame, key: tuple[str, ...], a: int, b: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(added, removed, changed)``: net rows whose key is on both sides become one *changed* row."""
    keys = list(key)
    for frame, what in ((added, "added"), (removed, "removed")):
        whole_key = pl.col(keys[0]) if len(keys) == 1 else pl.struct(keys)
        repeated = frame.select(whole_key.is_duplicated()).to_series()
        if repeated.any():
            sample = frame.filter(repeated).select(keys).unique(maintain_order=True).head(3).to_dicts()
            msg = (
                f"key {keys} is not unique between versions {a} and {b}: several {what} rows share a key "
                f"(e.g. {sample}); diff without a key"
            )
            raise InvalidData(msg)
    shared = [c for c in added.columns if c in removed.columns and c not in key]
    retyped = {c for c in shared if added.schema[c] != removed.schema[c]}
    before = removed.select(keys + shared).rename({c: c + BEFORE_SUFFIX for c in shared})
    both = added.select(keys + shared).join(before, on=keys, how="inner", nulls_equal=True)
    differs = {
        c: (
            pl.col(c).cast(pl.Utf8).ne_missing(pl.col(c + BEFORE_SUFFIX).cast(pl.Utf8))
            if c in retyped
            else pl.col(c).ne_missing(pl.col(c + BEFORE_SUFFIX))
        )
        for c in shared
    }
    flags = [pl.when(d).then(pl.lit(c)).otherwise(None) for c, d in differs.items()]
    names = pl.concat_list(flags).list.drop_nulls() if flags else pl.lit([], pl.List(pl.Utf8))
    changed = both.with_columns(names.alias(CHANGED_COLUMNS)).select(
        keys + [CHANGED_COLUMNS] + [x for c in shared for x in (c, c + BEFORE_SUFFIX)]
    )
    only_added = added.join(removed.select(keys), on=keys, how="anti", nulls_equal=True)
    only_removed = removed.join(added.select(keys), on=keys, how="anti", nulls_equal=True)
    # Keys are unique on each side (checked above), so they order each frame completely.
    return _sorted(only_added, keys), _sorted(only_removed, keys), _sorted(changed, keys)


def empty_changed(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``changed`` frame of a diff without a key: always empty."""
    return frame.head(0)
