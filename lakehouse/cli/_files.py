"""Reading and writing data files for the CLI, with progress for long reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from lakehouse.errors import InvalidArgument, InvalidData

READ_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
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


def open_batches(path: Path, progress: Progress | None) -> pa.RecordBatchReader:
    """Stream a data file as Arrow batches, advancing ``progress`` by bytes read."""
    if not path.is_file():
        msg = f"input file {str(path)!r} does not exist" if not path.exists() else f"{str(path)!r} is not a file"
        raise InvalidArgument(msg)
    fmt = file_format(path)
    size = path.stat().st_size
    task = progress.add_task(f"reading {path.name}", total=size) if progress else None
    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(path)
            reader = _stream(parquet.schema_arrow, parquet.iter_batches(), progress, task, size)
        elif fmt == "csv":
            reader = _stream_csv(path, progress, task, size)
        elif fmt == "json":
            table = pajson.read_json(path)
            reader = _stream(table.schema, iter(table.to_batches()), progress, task, size)
        else:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            reader = _stream(table.schema, iter(table.to_batches()), progress, task, size)
    except (pa.ArrowInvalid, OSError) as e:
        msg = f"cannot read {str(path)!r} as {fmt}: {e}"
        raise InvalidData(msg) from e
    return reader


def _stream(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], progress: Progress | None, task: Any, size: int
) -> pa.RecordBatchReader:
    def gen() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if progress is not None:
                progress.update(task, advance=batch.nbytes)
            yield batch
        if progress is not None:
            progress.update(task, completed=size)

    return pa.RecordBatchReader.from_batches(schema, gen())


def _stream_csv(path: Path, progress: Progress | None, task: Any, size: int) -> pa.RecordBatchReader:
    handle = path.open("rb")
    reader = pacsv.open_csv(handle)

    def gen() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                if progress is not None:
                    progress.update(task, completed=handle.tell())
                yield batch
        except pa.ArrowInvalid as e:
            msg = f"cannot read {str(path)!r} as csv: {e}"
            raise InvalidData(msg) from e
        finally:
            handle.close()

    return pa.RecordBatchReader.from_batches(reader.schema, gen())


def progress_bar(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), transient=True
    )


def write_frame(frame: pl.DataFrame, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix not in WRITE_FORMATS:
        msg = f"cannot write {str(out)!r}: use a file ending in {', '.join(WRITE_FORMATS)}"
        raise InvalidArgument(msg)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.write_parquet(out)
    elif suffix == ".csv":
        frame.write_csv(out)
    else:
        frame.write_ndjson(out)
