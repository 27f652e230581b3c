"""Row-level diff of two dataset versions.

Two strategies with identical results (a property test holds them to it):

* **change feed** — when ``a < b``, the change data feed covers ``a+1..b`` and the schema did not change,
  the diff is computed from the changes alone: cost grows with the change, not with the table.
* **join** — otherwise both versions are read and compared (by key, or as multisets of whole rows).

With a key, rows are matched by key: *added* keys exist only in ``b``, *removed* only in ``a``, *changed*
keys exist in both with other values. Without a key, whole rows are compared as multisets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from lakehouse.datasets.versions import SchemaChange
from lakehouse.errors import InvalidArgument, InvalidData

Method = Literal["cdf", "join"]
BEFORE_SUFFIX = "_before"
CHANGED_COLUMNS = "changed_columns"
_CHANGE_TYPE = "_change_type"
_COMMIT_VERSION = "_commit_version"
_COUNT = "__lakehouse_count"
_ORDER = "__lakehouse_order"


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


def check_key(key: Sequence[str], columns_a: Sequence[str], columns_b: Sequence[str]) -> tuple[str, ...]:
    if isinstance(key, str):
        key = [key]
    if not key:
        msg = "key must name at least one column"
        raise InvalidArgument(msg)
    for k in key:
        if k not in columns_a or k not in columns_b:
            where = "either version" if k not in columns_a and k not in columns_b else "both versions"
            msg = f"key column {k!r} is not in {where}; columns are {sorted(set(columns_a) | set(columns_b))}"
            raise InvalidArgument(msg)
    return tuple(key)


def _unique_keys(frame: pl.DataFrame, key: tuple[str, ...], version: int) -> None:
    dup = frame.group_by(list(key)).len().filter(pl.col("len") > 1)
    if dup.height:
        sample = dup.drop("len").head(3).to_dicts()
        msg = f"key {list(key)} is not unique in version {version} (e.g. {sample}); diff without a key instead"
        raise InvalidData(msg)


def _sorted(frame: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    sortable = [
        c
        for c in by
        if frame.schema[c].is_numeric() or frame.schema[c] in (pl.Utf8, pl.Boolean) or frame.schema[c].is_temporal()
    ]
    return frame.sort(sortable, nulls_last=True) if sortable else frame


def keyed(
    old: pl.DataFrame, new: pl.DataFrame, key: tuple[str, ...], a: int, b: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(added, removed, changed)`` of two frames holding at most one row per key."""
    _unique_keys(old, key, a)
    _unique_keys(new, key, b)
    keys = list(key)
    added = new.join(old.select(keys), on=keys, how="anti", nulls_equal=True)
    removed = old.join(new.select(keys), on=keys, how="anti", nulls_equal=True)
    shared = [c for c in new.columns if c in old.columns and c not in key]
    before = old.select(keys + shared).rename({c: c + BEFORE_SUFFIX for c in shared})
    both = new.select(keys + shared).join(before, on=keys, how="inner", nulls_equal=True)
    differs = [pl.col(c).ne_missing(pl.col(c + BEFORE_SUFFIX)) for c in shared]
    if differs:
        flags = pl.concat_list(
            [pl.when(d).then(pl.lit(c)).otherwise(None) for c, d in zip(shared, differs, strict=True)]
        )
        changed = (
            both.filter(pl.any_horizontal(differs))
            .with_columns(flags.list.drop_nulls().alias(CHANGED_COLUMNS))
            .select(keys + [CHANGED_COLUMNS] + [x for c in shared for x in (c, c + BEFORE_SUFFIX)])
        )
    else:
        changed = both.head(0).with_columns(pl.lit(None, pl.List(pl.Utf8)).alias(CHANGED_COLUMNS))
    return _sorted(added, keys), _sorted(removed, keys), _sorted(changed, keys)


def whole_rows(old: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(added, removed)`` treating each version as a multiset of rows over their shared columns."""
    shared = [c for c in new.columns if c in old.columns]
    net = pl.concat(
        [
            new.select(shared).with_columns(pl.lit(1, pl.Int64).alias(_COUNT)),
            old.select(shared).with_columns(pl.lit(-1, pl.Int64).alias(_COUNT)),
        ]
    )
    return _expand_net(net, shared, new.columns, old.columns, new, old)


def _expand_net(
    signed: pl.DataFrame,
    shared: list[str],
    new_columns: list[str],
    old_columns: list[str],
    new: pl.DataFrame | None = None,
    old: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    totals = signed.group_by(shared, maintain_order=True).agg(pl.col(_COUNT).sum()).filter(pl.col(_COUNT) != 0)
    added = totals.filter(pl.col(_COUNT) > 0)
    removed = totals.filter(pl.col(_COUNT) < 0).with_columns(-pl.col(_COUNT))
    added = _repeat(added).select(shared)
    removed = _repeat(removed).select(shared)
    # Rows of a version carry columns the other lacks; bring them back for display where we have them.
    if new is not None and set(new_columns) - set(shared):
        added = _restore(added, new, shared)
    if old is not None and set(old_columns) - set(shared):
        removed = _restore(removed, old, shared)
    return _sorted(added, added.columns), _sorted(removed, removed.columns)


def _repeat(frame: pl.DataFrame) -> pl.DataFrame:
    if frame.is_empty():
        return frame
    columns = [c for c in frame.columns if c != _COUNT]
    return frame.select([pl.col(c).repeat_by(pl.col(_COUNT)) for c in columns]).explode(columns)


def _restore(rows: pl.DataFrame, source: pl.DataFrame, shared: list[str]) -> pl.DataFrame:
    numbered = source.with_columns(pl.int_range(pl.len()).over(shared).alias(_ORDER))
    wanted = rows.with_columns(pl.int_range(pl.len()).over(shared).alias(_ORDER))
    return wanted.join(numbered, on=[*shared, _ORDER], how="left", nulls_equal=True).select(source.columns)


# --- from the change data feed -----------------------------------------------------------------------------


def keyed_from_changes(
    changes: pl.DataFrame, columns: list[str], key: tuple[str, ...], a: int, b: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Keyed diff from the change feed: the first change of a key gives its row at ``a``, the last at ``b``."""
    keys = list(key)
    pre = changes.filter(pl.col(_CHANGE_TYPE).is_in(["delete", "update_preimage"]))
    post = changes.filter(pl.col(_CHANGE_TYPE).is_in(["insert", "update_postimage"]))
    for frame, what in ((pre, "removed"), (post, "written")):
        dup = frame.group_by([*keys, _COMMIT_VERSION]).len().filter(pl.col("len") > 1)
        if dup.height:
            sample = dup.select(keys).head(3).to_dicts()
            msg = f"key {keys} is not unique: one commit {what} several rows with key {sample}; diff without a key"
            raise InvalidData(msg)
    first = changes.group_by(keys).agg(pl.col(_COMMIT_VERSION).min().alias("first"))
    last = changes.group_by(keys).agg(pl.col(_COMMIT_VERSION).max().alias("last"))
    # The row at `a`: the pre-image in the key's first changing commit (absent if that commit only inserted).
    old = pre.join(first, on=keys, nulls_equal=True).filter(pl.col(_COMMIT_VERSION) == pl.col("first"))
    # The row at `b`: the post-image in the key's last changing commit (absent if that commit only deleted).
    new = post.join(last, on=keys, nulls_equal=True).filter(pl.col(_COMMIT_VERSION) == pl.col("last"))
    return keyed(old.select(columns), new.select(columns), key, a, b)


def whole_rows_from_changes(changes: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Multiset diff from the change feed: inserts and post-images count +1, deletes and pre-images -1."""
    sign = (
        pl.when(pl.col(_CHANGE_TYPE).is_in(["insert", "update_postimage"]))
        .then(pl.lit(1, pl.Int64))
        .otherwise(pl.lit(-1, pl.Int64))
    )
    signed = changes.select([*columns, sign.alias(_COUNT)])
    return _expand_net(signed, columns, columns, columns)
