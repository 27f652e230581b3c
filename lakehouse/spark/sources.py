"""Input files for ingestion: paths, directories and globs expanded through Hadoop's file system.

Listing goes through the JVM's Hadoop ``FileSystem`` so the same job reads local folders, HDFS or object
stores. Local files are also checked for being what their extension says (a ``.parquet`` file must carry
the Parquet magic bytes, a ``.csv``/``.json`` file must be text), so a mislabelled file is a clear error
rather than a stream of garbage records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

from lakehouse.errors import InvalidArgument, InvalidData
from lakehouse.spark._errors import translated

Format = Literal["csv", "json", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "json", "parquet")
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Compressed text Spark decompresses by extension.
_COMPRESSION = (".gz", ".bz2", ".zst", ".lz4", ".snappy", ".deflate")
_GLOB = re.compile(r"[*?\[{]")
_TEXT_PROBE = 4096


@dataclass(frozen=True)
class Sources:
    """The files one ingest reads, all of one format."""

    format: Format
    files: tuple[str, ...]
    ignored: tuple[str, ...] = ()


def suffix_format(name: str) -> Format | None:
    """The format a file name's extension says (``x.csv.gz`` is csv), or None."""
    lower = name.lower()
    for ext in _COMPRESSION:
        if lower.endswith(ext):
            lower = lower[: -len(ext)]
            break
    return _SUFFIXES.get(Path(lower).suffix)


def _qualify(path: str) -> str:
    """Absolute local paths for the JVM (which may not share our working directory); URIs unchanged."""
    if "://" in path or path.startswith("file:"):
        return path
    return str(Path(path).expanduser().absolute())


def _hidden(name: str) -> bool:
    # Spark and Hadoop conventions: _SUCCESS, _delta_log, .crc files and the like are not data.
    return name.startswith(("_", "."))


def check_local_paths(paths: Sequence[str]) -> None:
    """Refuse missing local paths before Spark starts (globs and URIs are left to Hadoop's file system)."""
    if not paths:
        msg = "no input paths given"
        raise InvalidArgument(msg)
    for given in paths:
        if "://" in given or given.startswith("file:") or _GLOB.search(given):
            continue
        if not Path(given).expanduser().exists():
            msg = f"input path {given!r} does not exist"
            raise InvalidArgument(msg)


def find_sources(spark: SparkSession, paths: Sequence[str], fmt: str | None = None) -> Sources:
    """Expand ``paths`` (files, directories, globs) into data files of one format.

    Raises:
        InvalidArgument: a path does not exist or matches nothing, a directory has no data files, the
            format is unknown or the files mix formats.
        InvalidData: a local file is not what its extension says.
    """
    if fmt is not None and fmt not in FORMATS:
        msg = f"format must be one of {', '.join(FORMATS)}; got {fmt!r}"
        raise InvalidArgument(msg)
    if not paths:
        msg = "no input paths given"
        raise InvalidArgument(msg)
    jvm: Any = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    files: list[str] = []
    ignored: list[str] = []
    for given in paths:
        with translated(f"listing input {given!r}"):
            found, skipped = _expand(jvm, hadoop_conf, given, fmt)
        files.extend(found)
        ignored.extend(skipped)
    files = list(dict.fromkeys(files))
    chosen = _decide_format(files, fmt)
    for f in files:
        _sniff(f, chosen)
    return Sources(chosen, tuple(files), tuple(ignored))


def _expand(jvm: Any, hadoop_conf: Any, given: str, fmt: str | None) -> tuple[list[str], list[str]]:
    hpath = jvm.org.apache.hadoop.fs.Path(_qualify(given))
    fs = hpath.getFileSystem(hadoop_conf)
    statuses = fs.globStatus(hpath)
    if not statuses:
        what = "matches no files" if _GLOB.search(given) else "does not exist"
        msg = f"input path {given!r} {what}"
        raise InvalidArgument(msg)
    files: list[str] = []
    ignored: list[str] = []
    for status in statuses:
        if not status.isDirectory():
            files.append(str(status.getPath().toString()))
            continue
        listed = fs.listFiles(status.getPath(), True)
        base = str(status.getPath().toString()).rstrip("/")
        in_dir: list[str] = []
        others: list[str] = []
        while listed.hasNext():
            uri = str(listed.next().getPath().toString())
            relative = uri[len(base) :].lstrip("/")
            if any(_hidden(part) for part in relative.split("/")):
                continue
            if suffix_format(uri) is not None and (fmt is None or suffix_format(uri) == fmt):
                in_dir.append(uri)
            else:
                others.append(uri)
        if not in_dir:
            msg = (
                f"input directory {given!r} has no data files"
                + (f" with a .{fmt} extension" if fmt else " (.csv, .json, .jsonl, .ndjson or .parquet)")
                + (f"; it holds {len(others)} other file(s)" if others else "; it is empty")
            )
            raise InvalidArgument(msg)
        files.extend(sorted(in_dir))
        ignored.extend(others)
    return files, ignored


def _decide_format(files: Iterable[str], fmt: str | None) -> Format:
    by_suffix = {f: suffix_format(f) for f in files}
    if fmt is not None:
        for f, known in by_suffix.items():
            if known is not None and known != fmt:
                msg = f"input file {_display(f)!r} has a {known} extension but format {fmt!r} was given"
                raise InvalidArgument(msg)
        return fmt  # type: ignore[return-value]
    unknown = [f for f, known in by_suffix.items() if known is None]
    if unknown:
        msg = f"cannot tell the format of {_display(unknown[0])!r} from its extension; pass --format csv|json|parquet"
        raise InvalidArgument(msg)
    kinds = sorted({k for k in by_suffix.values() if k is not None})
    if len(kinds) > 1:
        msg = f"the inputs mix formats ({', '.join(kinds)}); ingest one format at a time"
        raise InvalidArgument(msg)
    return kinds[0]


def _display(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _local(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else None


def _sniff(uri: str, fmt: Format) -> None:
    """Refuse a local file whose first bytes contradict its format (remote files are left to Spark)."""
    path = _local(uri)
    if path is None or not path.is_file():
        return
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_TEXT_PROBE)
        tail = b""
        if fmt == "parquet" and size >= 8:
            handle.seek(size - 4)
            tail = handle.read(4)
    name = str(path)
    if fmt == "parquet":
        if head[:4] != b"PAR1" or tail != b"PAR1":
            msg = f"input file {name!r} is not a Parquet file (no PAR1 magic bytes); check the file or its extension"
            raise InvalidData(msg)
        return
    if name.lower().endswith(".gz"):
        if size and head[:2] != b"\x1f\x8b":
            msg = f"input file {name!r} is not gzip-compressed although its name ends in .gz"
            raise InvalidData(msg)
        return
    if name.lower().endswith(_COMPRESSION):
        return  # other codecs: Spark decodes them and reports what it cannot
    if head.startswith(b"PAR1") or head.startswith(b"\x1f\x8b") or head.startswith(b"PK\x03\x04") or b"\x00" in head:
        kind = "Parquet" if head.startswith(b"PAR1") else "binary"
        msg = f"input file {name!r} is named as {fmt} but holds {kind} data; check the file or its extension"
        raise InvalidData(msg)
