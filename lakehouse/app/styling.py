"""Tables with emphasis: the params that differ between runs."""

from __future__ import annotations

import html
import re

import polars as pl

import lakehouse

# st.html draws the table with the page's font but none of Markdown's table rules: they are given once here, for
# the table's class (inline on every cell they made a 12-run table 50 KB, a third of the page's bytes).
TABLE_CLASS = "lh-params"
SHADED = "unlike"  # the class of a value unlike its row's most common one
TABLE_STYLE = (
    f".{TABLE_CLASS} {{border-collapse: collapse; font-size: 0.875rem; margin: 0.25rem 0}}"
    f" .{TABLE_CLASS} th, .{TABLE_CLASS} td {{border: 1px solid rgba(128, 128, 128, 0.25);"
    " padding: 0.25rem 0.5rem; text-align: left; vertical-align: top}"
    f" .{TABLE_CLASS} td.{SHADED} {{background-color: rgba(255, 196, 0, 0.28); font-weight: 600}}"
)


def shared_params(comparison: lakehouse.RunComparison) -> dict[str, str]:
    """The params every run has with the same value (a param none of them has is not shared)."""
    return {k: str(v) for k, v in sorted(comparison.same_params.items()) if v is not None}


def code_span(text: str) -> str:
    """``text`` as a Markdown code span, shown as it is whatever backticks or markup it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"{fence}{text}{fence}"


def unlike_common(values: list[str]) -> list[bool]:
    """Which values to shade in a row: those unlike the row's most common value (all of them when no value is
    shared by two runs)."""
    common = max(set(values), key=values.count)
    alone = values.count(common) == 1
    return [alone or v != common for v in values]


def params_html(frame: pl.DataFrame, labels: dict[str, str], colors: dict[str, str]) -> str:
    """``frame`` (``param`` and one column per run id) as an HTML table, differing values shaded, each run's
    column headed by its name in its colour. Every text is escaped.

    A plain HTML table for ``st.html`` because the browser draws it with little code of its own: a grid or
    ``st.table`` first loads their own code and Arrow's, and Markdown with HTML in it loads a 190 KB HTML parser
    (measured in docs/BENCHMARKS.md).
    """
    runs = [c for c in frame.columns if c != "param"]
    head = "".join(
        f'<th><span style="color: {html.escape(colors.get(r, "inherit"))}">&#9632;</span> '
        f"{html.escape(labels.get(r, r))}</th>"
        for r in runs
    )
    rows = []
    for row in frame.iter_rows(named=True):
        values = ["" if row[r] is None else str(row[r]) for r in runs]
        cells = "".join(
            f'<td class="{SHADED}">{html.escape(v)}</td>' if shaded else f"<td>{html.escape(v)}</td>"
            for v, shaded in zip(values, unlike_common(values), strict=True)
        )
        rows.append(f"<tr><td>{html.escape(str(row['param']))}</td>{cells}</tr>")
    # The style element after the table: one leading a fragment would be dropped by the sanitizer's parser.
    return (
        f'<div style="overflow-x: auto"><table class="{TABLE_CLASS}"><thead><tr><th>param</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table><style>{TABLE_STYLE}</style></div>"
    )
