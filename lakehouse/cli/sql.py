"""``lakehouse sql``: one query (a rich table, ``--json`` or ``--out file``), or an interactive prompt.

The prompt reads statements ending in ``;`` (several lines each), keeps a history across sessions
(``~/.cache/lakehouse/sql_history``) and completes table names, dataset refs and column names with Tab
(GNU readline from the standard library). ``\\d`` lists the names, ``\\d <name>`` a name's columns, ``\\q`` quits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import _common as c
from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    import polars as pl

    from lakehouse.client import Lakehouse

HISTORY = Path("~/.cache/lakehouse/sql_history")
PROMPT, MORE = "lakehouse> ", "       ...> "
_KEYWORDS = (
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "WITH",
    "DISTINCT",
    "COUNT",
    "MIN",
    "MAX",
    "AVG",
    "SUM",
    "CAST",
    "DOUBLE",
    "DESC",
    "UNION ALL",
)


def sql_command(
    query: Annotated[
        str | None,
        typer.Argument(help="A query, e.g. 'SELECT name, status FROM runs'. Without one: an interactive prompt."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the whole result to a file (.parquet, .csv, .json, .ndjson).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many rows in the table.")] = 50,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Ask the lakehouse anything in SQL: runs, params, metrics, datasets and any dataset version by ref.

    Names: runs, params, tags, metrics, metric_summaries, inputs, experiments, artifacts, models, model_versions,
    model_aliases, datasets, dataset_versions, and "digits", "digits:v2", "digits:prod",
    "digits@2026-11-01T12:00:00Z", "digits:v2..v3" (rows changed).
    Read-only: anything but a query is refused. See docs/SQL.md.
    """
    from lakehouse.cli._files import output_file

    if out is not None:
        output_file(out)  # refused before the query runs
    lh = c.connect(root)
    if query is None:
        if out is not None or json_out:
            c.fail("--out and --json need a query; the interactive prompt prints tables")
        Prompt(lh).loop()
        return
    run_one(lh, query, out=out, limit=limit, json_out=json_out)


def run_one(lh: Lakehouse, query: str, *, out: Path | None = None, limit: int = 50, json_out: bool = False) -> None:
    """Run ``query`` and print (or write) its result."""
    from lakehouse.cli._files import write_frame

    frame = lh.sql(query)
    if out is not None:
        write_frame(frame, out)
        c.emit(
            {"rows": frame.height, "columns": frame.columns, "out": str(out)},
            json_out,
            lambda: f"wrote {frame.height} rows to {out}",
        )
        return
    c.emit(frame, json_out, lambda: c.frame_table(None, frame, limit=limit))


class Completion:
    """What Tab offers at a point of a query: table names and refs, their columns, and keywords.

    Columns are read (once per name) only for the names the query so far mentions, so completing never
    builds a table the user did not name.
    """

    def __init__(self, tables: Callable[[], list[str]], columns: Callable[[str], Iterable[str]]) -> None:
        self._tables = tables
        self._columns = columns
        self._names: list[str] | None = None
        self._known: dict[str, list[str]] = {}

    def names(self) -> list[str]:
        if self._names is None:
            self._names = self._tables()
        return self._names

    def columns(self, name: str) -> list[str]:
        if name not in self._known:
            try:
                self._known[name] = list(self._columns(name))
            except LakehouseError:
                self._known[name] = []
        return self._known[name]

    def candidates(self, line: str, word: str) -> list[str]:
        """Completions of ``word``, the text being typed at the end of ``line``."""
        if word.startswith('"'):
            return sorted(f'"{n}' for n in self.names() if f'"{n}'.startswith(word))
        mentioned = [n for n in self.names() if n in line]
        columns = [col for n in mentioned for col in self.columns(n)]
        pool = [*self.names(), *columns, *_KEYWORDS]
        lower = word.lower()
        return sorted({p for p in pool if p.lower().startswith(lower)}, key=lambda p: (p.lower(), p))


class Prompt:
    """The interactive loop on readline."""

    def __init__(self, lh: Lakehouse, history: Path = HISTORY) -> None:
        from lakehouse.sql import catalog

        self.lh = lh
        self.history = history.expanduser()
        self.completion = Completion(lambda: catalog.table_names(lh), lambda n: catalog.columns(lh, n))
        self._matches: list[str] = []

    def complete(self, word: str, state: int) -> str | None:
        """readline's completer: the ``state``-th completion of ``word``."""
        import readline

        if state == 0:
            self._matches = self.completion.candidates(readline.get_line_buffer(), word)
        return self._matches[state] if state < len(self._matches) else None

    def loop(self) -> None:
        import readline

        with contextlib.suppress(OSError):
            readline.read_history_file(self.history)
        readline.set_completer(self.complete)
        readline.set_completer_delims(" \t\n,()=<>;")  # '"', ':', '.' and '@' belong to names and refs
        readline.parse_and_bind("tab: complete")
        c.console.print(
            "SQL over the lakehouse: end a query with ';'.  \\d lists names, \\d <name> its columns, \\q quits"
        )
        try:
            self._read_eval()
        finally:
            with contextlib.suppress(OSError):
                self.history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(self.history)

    def _read_eval(self) -> None:
        lines: list[str] = []
        while True:
            try:
                line = input(MORE if lines else PROMPT)
            except EOFError:
                c.console.print()
                return
            except KeyboardInterrupt:
                c.console.print()
                lines = []
                continue
            stripped = line.strip()
            if not lines and stripped in ("\\q", "quit", "exit"):
                return
            if not lines and stripped.startswith("\\d"):
                self._describe(stripped[2:].strip())
                continue
            if stripped:
                lines.append(line)
            if lines and stripped.endswith(";"):
                self._run("\n".join(lines))
                lines = []

    def _run(self, query: str) -> None:
        try:
            run_one(self.lh, query)
        except LakehouseError as e:
            c.err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)

    def _describe(self, name: str) -> None:
        from lakehouse.sql import catalog

        try:
            if not name:
                rows: list[Any] = [
                    (n, catalog.NAMES[n].about if n in catalog.NAMES else "dataset")
                    for n in catalog.table_names(self.lh)
                ]
                c.console.print(c.table("names", ["name", "what"], rows))
                return
            columns: dict[str, pl.DataType] = catalog.columns(self.lh, name)
            c.console.print(c.table(name, ["column", "type"], [(k, str(v)) for k, v in columns.items()]))
        except LakehouseError as e:
            c.err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
