"""Reading and writing data files for the CLI: streamed, with a progress bar for long writes.

Every path a command reads or writes goes through :func:`input_file` or :func:`output_file` before any work is
done, so a missing input, an output in a folder that is not there, or a folder where a file is meant is one
clear :class:`~lakehouse.errors.InvalidArgument` naming the path (one line, no traceback) and nothing changes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lakehouse.cli._common import err_console
from lakehouse.errors import InvalidArgument, InvalidData, StorageError

READ_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "newline-delimited JSON",
    ".jsonl": "newline-delimited JSON",
    ".ndjson": "newline-delimited JSON",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
}
WRITE_FORMATS = (".parquet", ".csv", ".json", ".ndjson")


def parse_meta(pairs: list[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` to a dict; values that parse as JSON (numbers, booleans, lists) keep their type."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            msg = f"--meta expects key=value, got {pair!r}"
            raise InvalidArgument(msg)
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def file_format(path: Path) -> str:
    fmt = READ_FORMATS.get(path.suffix.lower())
    if fmt is None:
        msg = f"cannot tell the format of {str(path)!r}; use one of {', '.join(sorted(READ_FORMATS))}"
        raise InvalidArgument(msg)
    return fmt


def input_file(path: Path, *, what: str = "input file") -> Path:
    """``path`` if it is a file this process can read; else InvalidArgument saying what is wrong with it."""
    if not path.exists():
        msg = f"{what} {str(path)!r} does not exist"
        raise InvalidArgument(msg)
    if path.is_dir():
        msg = f"{what} {str(path)!r} is a folder, not a file"
        raise InvalidArgument(msg)
    if not os.access(path, os.R_OK):
        msg = f"{what} {str(path)!r} cannot be read (permission denied)"
        raise InvalidArgument(msg)
    return path


def output_file(path: Path) -> Path:
    """``path`` if a data file can be written there: a format we write, not a folder, and a place where this
    process may create it (missing folders are created when it is written, under the nearest folder that exists).
    Checked before any work, so a refusal costs nothing and changes nothing."""
    if path.is_dir():
        msg = f"cannot write {str(path)!r}: it is a folder; name a file in it, such as {str(path / 'out.parquet')!r}"
        raise InvalidArgument(msg)
    check_output(path)
    return output_location(path)


def output_location(path: Path) -> Path:
    """``path`` if any file (whatever its format) can be written there: not a folder, under a folder this process
    may create it in (missing folders are created when it is written, under the nearest folder that exists)."""
    if path.is_dir():
        msg = f"cannot write {str(path)!r}: it is a folder"
        raise InvalidArgument(msg)
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        msg = f"cannot write {str(path)!r}: {str(existing)!r} is a file, not a folder"
        raise InvalidArgument(msg)
    if not os.access(existing, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        msg = f"cannot write {str(path)!r}: permission denied in {str(existing)!r}"
        raise InvalidArgument(msg)
    return path


@contextmanager
def open_batches(path: Path, progress: Progress | None) -> Iterator[pa.RecordBatchReader]:
    """Stream a data file as Arrow batches, advancing ``progress`` as it is read; closes the file on exit.

    Nothing is loaded whole: parquet is read by row group, CSV and newline-delimited JSON by block, Arrow IPC
    batch by batch from a memory map. Progress counts rows for parquet and IPC (their row counts are known
    up front) and bytes of the file otherwise.
    """
    input_file(path)
    fmt = file_format(path)
    with ExitStack() as stack:
        try:
            if fmt == "parquet":
                parquet = stack.enter_context(pq.ParquetFile(path))
                schema, batches = parquet.schema_arrow, parquet.iter_batches()
                total, handle = parquet.metadata.num_rows, None
            elif fmt == "ipc":
                ipc = pa.ipc.open_file(stack.enter_context(pa.memory_map(str(path))))
                schema = ipc.schema
                batches = (ipc.get_batch(i) for i in range(ipc.num_record_batches))
                total, handle = sum(ipc.get_batch(i).num_rows for i in range(ipc.num_record_batches)), None
            else:
                handle = stack.enter_context(path.open("rb"))
                # JSON is read as one object a line.
                reader = pacsv.open_csv(handle) if fmt == "csv" else pajson.open_json(handle)
                schema, batches, total = reader.schema, iter(reader), path.stat().st_size
        except (pa.ArrowInvalid, OSError) as e:
            msg = f"cannot read {str(path)!r} as {fmt}: {e}"
            raise InvalidData(msg) from e
        yield _stream(path, fmt, schema, batches, progress, total, handle)


def _stream(
    path: Path,
    fmt: str,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    progress: Progress | None,
    total: int,
    handle: BinaryIO | None,
) -> pa.RecordBatchReader:
    task = progress.add_task(f"writing {path.name}", total=total or None) if progress is not None else None

    def gen() -> Iterator[pa.RecordBatch]:
        try:
            for batch in batches:
                if progress is not None and task is not None:
                    if handle is None:
                        progress.advance(task, batch.num_rows)
                    else:
                        progress.update(task, completed=handle.tell())
                yield batch
        except pa.ArrowInvalid as e:  # a bad value later in the file, found while streaming
            msg = f"cannot read {str(path)!r} as {fmt}: {e}"
            raise InvalidData(msg) from e
        if progress is not None and task is not None:
            progress.update(task, completed=total)

    return pa.RecordBatchReader.from_batches(schema, gen())


def progress_bar(enabled: bool) -> Progress | None:
    """A progress bar on stderr (stdout stays clean for --json), or None."""
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def check_output(out: Path) -> None:
    """Refuse an output file whose format we cannot write, before any work is done."""
    if out.suffix.lower() not in WRITE_FORMATS:
        msg = f"cannot write {str(out)!r}: use a file ending in {', '.join(WRITE_FORMATS)}"
        raise InvalidArgument(msg)


def write_frame(frame: pl.DataFrame, out: Path) -> None:
    """Write ``frame`` to ``out`` whole or not at all: into a hidden file beside it, renamed over it at the end."""
    output_file(out)
    suffix = out.suffix.lower()
    nested = [c for c, t in frame.schema.items() if t.is_nested() or t == pl.Binary]
    if suffix == ".csv" and nested:
        msg = f"cannot write columns {nested} to CSV (nested or binary values); write {out.with_suffix('.parquet')}"
        raise InvalidArgument(msg)
    created = [p for p in out.absolute().parents if not p.exists()]
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            frame.write_parquet(partial)
        elif suffix == ".csv":
            frame.write_csv(partial)
        else:
            frame.write_ndjson(partial)
        partial.replace(out)
    except OSError as e:
        partial.unlink(missing_ok=True)
        for folder in created:  # innermost first: the folders made for this file go with it
            with contextlib.suppress(OSError):
                folder.rmdir()
        reason = e.strerror or str(e).split(":", 1)[0]  # polars' own message names the hidden file
        msg = f"cannot write {str(out)!r}: {reason}"
        raise StorageError(msg) from e


def input_folder(path: Path, *, what: str = "folder") -> Path:
    """``path`` if it is a folder this process can list; else InvalidArgument saying what is wrong with it."""
    if not path.exists():
        msg = f"{what} {str(path)!r} does not exist"
        raise InvalidArgument(msg)
    if not path.is_dir():
        msg = f"{what} {str(path)!r} is a file, not a folder"
        raise InvalidArgument(msg)
    if not os.access(path, os.R_OK | os.X_OK):
        msg = f"{what} {str(path)!r} cannot be read (permission denied)"
        raise InvalidArgument(msg)
    return path


def output_folder(path: Path) -> Path:
    """``path`` if files can be written under it: a folder (or nothing yet) under a folder this process may write."""
    if path.exists() and not path.is_dir():
        msg = f"cannot write under {str(path)!r}: it is a file, not a folder"
        raise InvalidArgument(msg)
    existing = next(p for p in [path.absolute(), *path.absolute().parents] if p.exists())
    if not existing.is_dir():
        msg = f"cannot write under {str(path)!r}: {str(existing)!r} is a file, not a folder"
        raise InvalidArgument(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"cannot write under {str(path)!r}: permission denied in {str(existing)!r}"
        raise InvalidArgument(msg)
    return path
