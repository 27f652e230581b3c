"""``search_runs`` in polars: MLflow's filter and order-by grammar over the folded runs.

Parsing is MLflow's own (:class:`mlflow.utils.search_utils.SearchUtils`), so the grammar, the accepted
identifiers and the error messages are exactly MLflow's. Each parsed clause becomes a polars expression or a
semi-join on the long params / tags / latest-metrics frames, so ten thousand runs are filtered and sorted
without building a Python object per run. The semantics follow MLflow's SQL store (the reference of the
differential tests): a run without the key never matches a comparison; a NaN metric matches only ``!=``;
``LIKE`` is case-sensitive and ``ILIKE`` is not; sorting puts values first, then NaN, then missing values,
and breaks ties by start time (newest first) and run id.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.search_utils import SearchUtils

from lakehouse.integrations.mlflow._errors import invalid
from lakehouse.integrations.mlflow.view import RunsFrames

_ATTRIBUTE_COLUMNS = {
    "run_id": "run_id",
    "run_name": "name",
    "status": "status",
    "user_id": "user_id",
    "artifact_uri": "artifact_uri",
    "lifecycle_stage": "lifecycle",
    "start_time": "start_time",
    "end_time": "end_time",
}


@dataclass(frozen=True)
class Page:
    run_ids: list[str]
    next_offset: int | None


def search(
    snapshot: RunsFrames,
    *,
    homes: pl.DataFrame,
    filter_string: str | None,
    view_type: int,
    order_by: Sequence[str] | None,
    offset: int,
    max_results: int | None,
    unnamed: Collection[str] = frozenset(),
) -> Page:
    """Run ids of one page of results, and the offset of the next page (None when this is the last).

    ``homes`` has one row per experiment key searched: ``experiment``, ``experiment_id``, ``artifact_location``.
    ``unnamed``: runs whose ``mlflow.runName`` tag was deleted (they keep their name, but not the tag).
    """
    parsed = SearchUtils.parse_search_filter(filter_string)
    runs = snapshot.runs.base.lazy().join(homes.lazy(), on="experiment", how="inner")
    runs = runs.filter(_lifecycle(view_type)).with_columns(
        pl.when(pl.col("artifact_location").is_not_null() & (pl.col("artifact_location") != ""))
        .then(
            pl.col("artifact_location").str.strip_chars_end("/") + pl.lit("/") + pl.col("run_id") + pl.lit("/artifacts")
        )
        .alias("artifact_uri")
    )
    tags = _tags(snapshot, unnamed)
    for clause in parsed:
        runs = _apply(runs, clause, snapshot, tags)
    runs, sort_columns, descending = _ordering(runs, order_by, snapshot, tags)
    ordered = runs.sort(sort_columns, descending=descending, nulls_last=True, maintain_order=True).select("run_id")
    if max_results is None:
        ids = ordered.slice(offset).collect().get_column("run_id").to_list()
        return Page(ids, None)
    ids = ordered.slice(offset, max_results + 1).collect().get_column("run_id").to_list()
    if len(ids) > max_results:
        return Page(ids[:max_results], offset + max_results)
    return Page(ids, None)


def _lifecycle(view_type: int) -> pl.Expr:
    if view_type == ViewType.ACTIVE_ONLY:
        return pl.col("lifecycle") == "active"
    if view_type == ViewType.DELETED_ONLY:
        return pl.col("lifecycle") == "deleted"
    return pl.lit(value=True)


# --- filters -----------------------------------------------------------------------------------------------


def _apply(runs: pl.LazyFrame, clause: dict[str, Any], snapshot: RunsFrames, tags: pl.LazyFrame) -> pl.LazyFrame:
    key_type = clause["type"]
    key = SearchUtils.translate_key_alias(clause["key"])
    comparator = str(clause["comparator"]).upper()
    value = clause["value"]
    if SearchUtils.is_string_attribute(key_type, key, comparator) or SearchUtils.is_numeric_attribute(
        key_type, key, comparator
    ):
        if key == "run_name":  # MLflow's SQL store filters the run name by the tag mlflow.runName
            named = tags.filter((pl.col("key") == MLFLOW_RUN_NAME) & _compare(pl.col("value"), comparator, value))
            return runs.join(named.select("run_id"), on="run_id", how="semi")
        column = _ATTRIBUTE_COLUMNS.get(key)
        if column is None:
            msg = f"Invalid attribute key '{key}' specified"
            raise invalid(msg)
        return runs.filter(_compare(pl.col(column), comparator, value))
    if SearchUtils.is_metric(key_type, comparator):
        long = snapshot.metrics.lazy().filter(pl.col("key") == key)
        number = float(value)
        v = pl.col("value")
        if comparator == "!=":
            hit = (v != number) | v.is_nan()
        else:
            hit = _compare(v, comparator, number) & v.is_not_nan()
        return runs.join(long.filter(hit).select("run_id"), on="run_id", how="semi")
    if SearchUtils.is_param(key_type, comparator) or SearchUtils.is_tag(key_type, comparator):
        source = snapshot.runs.params.lazy() if key_type == SearchUtils._PARAM_IDENTIFIER else tags
        long = source.filter(pl.col("key") == key)
        if comparator == "IS NULL":
            return runs.join(long.select("run_id"), on="run_id", how="anti")
        if comparator == "IS NOT NULL":
            return runs.join(long.select("run_id"), on="run_id", how="semi")
        matching = long.filter(_compare(pl.col("value"), comparator, value)).select("run_id")
        return runs.join(matching, on="run_id", how="semi")
    if SearchUtils.is_dataset(key_type, comparator):
        return runs.join(_dataset_hits(snapshot, key, comparator, value), on="run_id", how="semi")
    msg = f"Invalid search expression type '{key_type}'"
    raise invalid(msg)


def _tags(snapshot: RunsFrames, unnamed: Collection[str]) -> pl.LazyFrame:
    """Tags as searched: the run name is the tag ``mlflow.runName``, as in MLflow's stores (unless deleted)."""
    base = snapshot.runs.base.lazy()
    if unnamed:
        base = base.filter(~pl.col("run_id").is_in(list(unnamed)))
    names = base.select("run_id", pl.lit(MLFLOW_RUN_NAME).alias("key"), pl.col("name").alias("value"))
    others = snapshot.runs.tags.lazy().filter(pl.col("key") != MLFLOW_RUN_NAME)
    return pl.concat([others, names.drop_nulls("value")])


def _like(pattern: str, *, ignore_case: bool) -> str:
    regex = re.escape(pattern).replace("%", ".*").replace("_", ".")
    regex = ("" if pattern.startswith("%") else "^") + regex + ("" if pattern.endswith("%") else "$")
    return ("(?is)" if ignore_case else "(?s)") + regex


def _compare(column: pl.Expr, comparator: str, value: Any) -> pl.Expr:
    if comparator == "LIKE":
        return column.str.contains(_like(str(value), ignore_case=False))
    if comparator == "ILIKE":
        return column.str.contains(_like(str(value), ignore_case=True))
    if comparator == "IN":
        return column.is_in(list(value))
    if comparator == "NOT IN":
        return ~column.is_in(list(value))
    operations = {
        "=": column.__eq__,
        "!=": column.__ne__,
        ">": column.__gt__,
        ">=": column.__ge__,
        "<": column.__lt__,
        "<=": column.__le__,
    }
    if comparator not in operations:
        msg = f"Invalid comparator '{comparator}'"
        raise invalid(msg)
    # A missing value (null) never matches, as in SQL: the comparison is null and the filter drops the row.
    return operations[comparator](pl.lit(value))


def _dataset_hits(snapshot: RunsFrames, key: str, comparator: str, value: Any) -> pl.LazyFrame:
    """Runs having a dataset input whose ``name``, ``digest`` or ``context`` matches."""
    from lakehouse.integrations.mlflow import inputs as mlflow_inputs

    rows: list[dict[str, Any]] = []
    for run_id, entity in mlflow_inputs.first_of_each(snapshot.runs.inputs.iter_rows()):
        rows.append(
            {
                "run_id": run_id,
                "name": entity.dataset.name,
                "digest": entity.dataset.digest,
                "context": mlflow_inputs.context_of(entity),
            }
        )
    for row in snapshot.lineage.select("run_id", "dataset", "context").iter_rows(named=True):
        rows.append({"run_id": row["run_id"], "name": row["dataset"], "digest": None, "context": row["context"]})
    frame = pl.DataFrame(
        rows, schema={"run_id": pl.String, "name": pl.String, "digest": pl.String, "context": pl.String}
    )
    return frame.lazy().filter(_compare(pl.col(key), comparator, value)).select("run_id")


# --- ordering ----------------------------------------------------------------------------------------------


def _ordering(
    runs: pl.LazyFrame, order_by: Sequence[str] | None, snapshot: RunsFrames, tags: pl.LazyFrame
) -> tuple[pl.LazyFrame, list[str], list[bool]]:
    columns: list[str] = []
    descending: list[bool] = []
    seen: set[tuple[str, str]] = set()
    for i, clause in enumerate(order_by or []):
        key_type, key, ascending = SearchUtils.parse_order_by_for_search_runs(clause)
        key = SearchUtils.translate_key_alias(key)
        if (key_type, key) in seen:
            msg = f"`order_by` contains duplicate fields: {list(order_by or [])}"
            raise MlflowException(msg)
        seen.add((key_type, key))
        rank, value = f"__rank{i}", f"__value{i}"
        if key_type == SearchUtils._ATTRIBUTE_IDENTIFIER:
            column = _ATTRIBUTE_COLUMNS.get(key)
            if column is None:
                msg = f"Invalid attribute key '{key}' specified"
                raise invalid(msg)
            runs = runs.with_columns(pl.col(column).alias(value))
            runs = runs.with_columns(pl.col(value).is_null().cast(pl.Int8).alias(rank))
        else:
            if key_type == SearchUtils._METRIC_IDENTIFIER:
                long = snapshot.metrics.lazy()
            elif key_type == SearchUtils._PARAM_IDENTIFIER:
                long = snapshot.runs.params.lazy()
            elif key_type == SearchUtils._TAG_IDENTIFIER:
                long = tags
            else:
                msg = f"Invalid identifier type '{key_type}'"
                raise invalid(msg)
            one = long.filter(pl.col("key") == key).select("run_id", pl.col("value").alias(value))
            runs = runs.join(one, on="run_id", how="left")
            if key_type == SearchUtils._METRIC_IDENTIFIER:
                v = pl.col(value)
                # Values first, then NaN, then runs without the metric; NaNs are equal among themselves.
                runs = runs.with_columns(
                    pl.when(v.is_null()).then(2).when(v.is_nan()).then(1).otherwise(0).cast(pl.Int8).alias(rank),
                    pl.when(v.is_nan()).then(None).otherwise(v).alias(value),
                )
            else:
                runs = runs.with_columns(pl.col(value).is_null().cast(pl.Int8).alias(rank))
        columns += [rank, value]
        descending += [False, not ascending]
    if (SearchUtils._ATTRIBUTE_IDENTIFIER, "start_time") not in seen:
        columns.append("start_time")
        descending.append(True)
    columns.append("run_id")
    descending.append(False)
    return runs, columns, descending
