"""Tables with emphasis: the params that differ between runs."""

from __future__ import annotations

from typing import Any

import polars as pl

import lakehouse

DIFFERENT = "background-color: rgba(255, 196, 0, 0.28); font-weight: 600"


def params_table(comparison: lakehouse.RunComparison, *, show_all: bool) -> pl.DataFrame:
    """Params by run (one column per run id): the differing ones, and with ``show_all`` the shared ones too."""
    ids = list(comparison.run_ids)
    differing = comparison.params.with_columns(pl.lit(True).alias("differs"))
    # A param none of these runs has (null in all) is not a shared param.
    shared = {k: v for k, v in comparison.same_params.items() if v is not None}
    if not show_all or not shared:
        return differing
    same = pl.DataFrame(
        [{"param": k, **dict.fromkeys(ids, v), "differs": False} for k, v in shared.items()],
        schema=differing.schema,
    )
    return pl.concat([differing, same]).sort("param")


def highlight_differences(frame: pl.DataFrame, labels: dict[str, str]) -> Any:
    """A pandas Styler that shades the values that differ: in each row, those unlike the most common value
    (all of them when no value is shared)."""
    shown = frame.rename(labels)
    pandas = shown.drop("differs").to_pandas()
    runs = [c for c in pandas.columns if c != "param"]

    def shade(row: Any) -> list[str]:
        values = [str(row[c]) for c in runs]
        common = max(set(values), key=values.count)
        alone = values.count(common) == 1
        return [
            DIFFERENT if column != "param" and (alone or str(row[column]) != common) else "" for column in row.index
        ]

    return pandas.style.apply(shade, axis=1)
