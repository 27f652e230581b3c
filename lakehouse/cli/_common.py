"""What every CLI command shares: the ``--root`` and ``--json`` options, output, and error display."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import lakehouse

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

# A string, not a Path: a bucket root (s3://bucket/prefix) must reach lakehouse.connect as written.
RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root",
        help="Lakehouse root: a folder or s3://bucket/prefix (default: LAKEHOUSE_ROOT, then conf/lakehouse.toml).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]

console = Console()
err_console = Console(stderr=True)

_global_root: str | None = None


def set_global_root(root: str | None) -> None:
    global _global_root
    _global_root = root


def global_root() -> str | None:
    """The root given before the command (``lakehouse --root DIR ...``), if any."""
    return _global_root


def connect(root: str | None) -> Lakehouse:
    """The lakehouse named by this command's ``--root``, else the global one, else settings.

    A root that is a file, or in a bucket that is missing or refuses the credentials, is refused here, before
    any command reads or writes under it.
    """
    from lakehouse.errors import InvalidArgument

    lh = lakehouse.connect(root if root is not None else _global_root)  # checks a bucket root's bucket
    local = lh.root.local
    if local is not None and local.exists() and not local.is_dir():
        msg = f"the lakehouse root {str(lh.root)!r} is a file, not a folder"
        raise InvalidArgument(msg)
    return lh


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, datetimes, paths and polars frames into JSON-friendly values."""
    module = type(value).__module__.split(".")[0]
    if module == "polars" and hasattr(value, "to_dicts"):
        return to_jsonable(value.to_dicts())
    if hasattr(value, "to_dict") and callable(value.to_dict) and not isinstance(value, type):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(cell(v) for v in row))
    return out


def cell(value: Any, *, items: int = 6, chars: int = 80) -> str:
    """A value as table text, long lists and strings shortened (``--json`` has them whole)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple) and len(value) > items:
        return "[" + ", ".join(str(v) for v in value[:items]) + f", … {len(value)} values]"
    text = str(value)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def frame_table(title: str | None, frame: Any, *, limit: int = 50, total: int | None = None) -> Table:
    """A rich table of the first ``limit`` rows of a polars DataFrame (``total``: rows it was cut from)."""
    shown = frame.head(limit)
    out = table(title, shown.columns, shown.iter_rows())
    total = frame.height if total is None else total
    if total > shown.height:
        out.caption = f"{shown.height} of {total} rows shown"
    return out


def emit(value: Any, json_out: bool, render: Callable[[], Any]) -> None:
    """Print ``value`` as JSON with ``--json``, else whatever ``render()`` returns (rich renderables)."""
    if json_out:
        print_json(value)
        return
    rendered = render()
    for item in rendered if isinstance(rendered, list) else [rendered]:
        console.print(item)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def fail(message: str, code: int = 1) -> None:
    """Print an error (no traceback) and exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def pair(text: str, option: str) -> tuple[str, str]:
    """``key=value`` of a repeatable option such as ``--tag``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        fail(f"{option} expects key=value, got {text!r}")
    return key, value
