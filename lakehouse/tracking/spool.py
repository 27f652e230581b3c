"""The local spool: checksummed segments that hold logged data until it is committed to the tables.

Layout under the spool folder (``<root>/_spool/<host>`` unless ``spool_dir`` is set)::

    .<writer id>.setup/            a writer's folder while it is being set up (renamed into place)
    <writer id>/writer.json        who owns the folder: root, host, pid, start time
    <writer id>/lock               flock()ed by the owning process for as long as it lives
    <writer id>/000000000017.seg   segment 17: the parts of one flush, one per table
    _corrupt/<writer id>-17.seg    segments that failed their checksum, kept for inspection

A segment is written to a temporary name, fsynced, then renamed, so a segment either exists whole or not at
all; a checksum over the whole file catches later damage. The lock is the liveness test: the kernel drops
it when its process dies, even on ``kill -9``, so recovery never steals the segments of a live writer.
A writer locks its folder before the folder bears its name (it is set up under a hidden name, then renamed),
so a recovery can never take the lock first and delete the folder under a writer that is just starting.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

try:  # POSIX only; elsewhere liveness falls back to a pid check
    import fcntl

    _flock: Callable[[int, int], Any] | None = fcntl.flock
    _LOCK = fcntl.LOCK_EX | fcntl.LOCK_NB
except ImportError:  # pragma: no cover
    _flock, _LOCK = None, 0

MAGIC = b"LHSPOOL1"
SUFFIX = ".seg"
OPEN_RUNS = "open_runs.json"  # the runs the writer has open: recovery fails those a dead writer left RUNNING
_BOOKKEEPING = ("writer.json", "lock", OPEN_RUNS)
CORRUPT_DIR = "_corrupt"
SETUP_SUFFIX = ".setup"
_SETUP_GRACE_S = 60.0  # a folder still being set up after this long lost its writer during the setup
_HEADER = struct.Struct("<8sI")  # magic, header length
_TRAILER = struct.Struct("<I")  # crc32 of everything before it


class CorruptSegment(Exception):
    """A segment file that cannot be trusted (bad magic, truncated, checksum mismatch)."""


@dataclass(frozen=True)
class Segment:
    """One flush of one writer: an Arrow table per destination table, numbered per writer from 1."""

    writer: str
    seq: int
    parts: Mapping[str, pa.Table]

    @property
    def num_points(self) -> int:
        part = self.parts.get("metrics")
        return 0 if part is None else part.num_rows


def host_name() -> str:
    """This machine's name, made safe for a folder name."""
    return _folder_safe(socket.gethostname() or "localhost")


@functools.lru_cache(maxsize=4)
def _folder_safe(raw: str) -> str:
    # Remembered: the MLflow store asks for the spool folder on every logged batch.
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)[:64]


def segment_name(seq: int) -> str:
    return f"{seq:012d}{SUFFIX}"


#: Parts this long or longer are compressed: below it, starting zstd costs more than the bytes it saves (a
#: short run's finish spools a few rows per table). The reader needs no flag: Arrow IPC marks each buffer.
_COMPRESS_FROM_ROWS = 1024
_COMPRESSED = pa.ipc.IpcWriteOptions(compression="zstd")
_PLAIN = pa.ipc.IpcWriteOptions()


def _pieces(segment: Segment) -> list[bytes | pa.Buffer]:
    """The segment file as consecutive pieces (everything but the trailing checksum).

    Each part is an Arrow IPC stream, compressed with zstd once it is long: run ids and keys repeat on every
    point, so a million points shrink from ~60 MB to a few MB, which is cheaper to write and fsync than to
    compress is expensive.
    """
    bodies: list[pa.Buffer] = []
    parts = []
    for table, data in segment.parts.items():
        sink = pa.BufferOutputStream()
        options = _COMPRESSED if data.num_rows >= _COMPRESS_FROM_ROWS else _PLAIN
        with pa.ipc.new_stream(sink, data.schema, options=options) as stream:
            stream.write_table(data)
        body = sink.getvalue()
        bodies.append(body)
        parts.append({"table": table, "length": body.size, "rows": data.num_rows})
    header = json.dumps({"writer": segment.writer, "seq": segment.seq, "parts": parts}).encode()
    return [_HEADER.pack(MAGIC, len(header)), header, *bodies]


def encode(segment: Segment) -> bytes:
    """Serialise a segment: magic, header JSON, zstd-compressed Arrow IPC streams, crc32 of all that."""
    blob = b"".join(bytes(p) if isinstance(p, pa.Buffer) else p for p in _pieces(segment))
    return blob + _TRAILER.pack(zlib.crc32(blob))


def decode(blob: bytes) -> Segment:
    """Parse and verify a segment; raises :class:`CorruptSegment` on any inconsistency."""
    if len(blob) < _HEADER.size + _TRAILER.size:
        msg = f"truncated segment ({len(blob)} bytes)"
        raise CorruptSegment(msg)
    (crc,) = _TRAILER.unpack_from(blob, len(blob) - _TRAILER.size)
    if zlib.crc32(memoryview(blob)[: -_TRAILER.size]) != crc:
        msg = "checksum mismatch"
        raise CorruptSegment(msg)
    magic, header_length = _HEADER.unpack_from(blob, 0)
    if magic != MAGIC:
        msg = f"not a spool segment (magic {magic!r})"
        raise CorruptSegment(msg)
    try:
        offset = _HEADER.size
        header = json.loads(blob[offset : offset + header_length])
        offset += header_length
        parts: dict[str, pa.Table] = {}
        for part in header["parts"]:
            body = memoryview(blob)[offset : offset + part["length"]]
            offset += part["length"]
            parts[part["table"]] = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        return Segment(writer=str(header["writer"]), seq=int(header["seq"]), parts=parts)
    except (ValueError, KeyError, TypeError, pa.ArrowException) as e:
        msg = f"unreadable segment: {e}"
        raise CorruptSegment(msg) from e


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class WriterSpool:
    """The spool folder of one writer: segments it wrote and has not committed yet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def writer_id(self) -> str:
        return self.folder.name

    def write(self, segment: Segment, *, fsync: bool) -> Path:
        """Write a segment atomically (temporary file, fsync, rename)."""
        final = self.folder / segment_name(segment.seq)
        temporary = self.folder / f".{final.name}.tmp"
        crc = 0
        with open(temporary, "wb") as out:
            for piece in _pieces(segment):
                out.write(piece)
                crc = zlib.crc32(piece, crc)
            out.write(_TRAILER.pack(crc))
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, final)
        if fsync:
            _fsync_dir(self.folder)
        return final

    def sync(self, seqs: list[int]) -> None:
        """fsync the segments ``seqs`` (those still there) and the folder: their content and their names."""
        for seq in seqs:
            try:
                fd = os.open(self.folder / segment_name(seq), os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(self.folder)

    def read(self, seq: int) -> Segment:
        return decode((self.folder / segment_name(seq)).read_bytes())

    def delete(self, seq: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / segment_name(seq)).unlink()

    def sequence_numbers(self) -> list[int]:
        """Numbers of the complete segments on disk, oldest first (temporary files are not segments)."""
        out = []
        for entry in self.folder.glob(f"*{SUFFIX}"):
            stem = entry.name[: -len(SUFFIX)]
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def quarantine(self, seq: int) -> Path:
        """Move a corrupt segment aside to ``<spool>/_corrupt/`` and return its new path."""
        target_dir = self.folder.parent / CORRUPT_DIR
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{self.writer_id}-{segment_name(seq)}"
        os.replace(self.folder / segment_name(seq), target)
        return target

    def owner(self) -> dict[str, Any]:
        try:
            data = json.loads((self.folder / "writer.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def note_open_runs(self, run_ids: tuple[str, ...]) -> None:
        """Record (atomically) which runs the writer has open."""
        _replace(self.folder / OPEN_RUNS, json.dumps(list(run_ids)))

    def open_runs(self) -> list[str]:
        """The runs the writer had open when it last wrote a segment."""
        try:
            data = json.loads((self.folder / OPEN_RUNS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [str(run_id) for run_id in data] if isinstance(data, list) else []

    def forget_open_runs(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / OPEN_RUNS).unlink()

    def last_seen(self) -> datetime:
        """The writer's last sign of life: the newest change to its folder or a file in it."""
        stamps = [self.folder.stat().st_mtime]
        for entry in self.folder.iterdir():
            with contextlib.suppress(OSError):
                stamps.append(entry.stat().st_mtime)
        return datetime.fromtimestamp(max(stamps), UTC)

    def remove_if_empty(self) -> bool:
        """Remove the folder if only bookkeeping files remain; True if it is gone."""
        try:
            leftovers = [p for p in self.folder.iterdir() if p.name not in _BOOKKEEPING]
        except FileNotFoundError:  # removed already (a recovery that found it empty)
            return True
        if leftovers:
            return False
        for name in _BOOKKEEPING:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()
        return not self.folder.exists()


class OwnedSpool(WriterSpool):
    """A writer's own spool folder, locked for the lifetime of the process that created it."""

    def __init__(self, spool_root: Path, writer_id: str, *, root: str | os.PathLike[str]) -> None:
        setup = spool_root / f".{writer_id}{SETUP_SUFFIX}"
        setup.mkdir(parents=True, exist_ok=True)
        # The lock lives in the file (the inode), so it moves with the folder's rename below.
        self._lock_file: IO[bytes] | None = open(setup / "lock", "ab")  # noqa: SIM115 - held for the process
        if _flock is not None:
            _flock(self._lock_file.fileno(), _LOCK)
        owner = {
            "writer": writer_id,
            "root": str(root),
            "host": host_name(),
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(),
        }
        _replace(setup / "writer.json", json.dumps(owner))
        folder = spool_root / writer_id
        os.rename(setup, folder)
        super().__init__(folder)

    def release(self, *, remove: bool) -> None:
        """Drop the lock (the process is done with the folder); remove the folder if asked and empty."""
        if remove:
            self.remove_if_empty()
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                self._lock_file.close()
            self._lock_file = None


@contextlib.contextmanager
def claim(folder: Path) -> Iterator[WriterSpool | None]:
    """Lock a writer folder for recovery; yields None if its writer (or another recoverer) still holds it."""
    lock_path = folder / "lock"
    try:
        handle = open(lock_path, "ab")  # noqa: SIM115 - closed below
    except OSError:
        yield None
        return
    try:
        if not _try_lock(handle, folder):
            yield None
            return
        yield WriterSpool(folder)
    finally:
        handle.close()


def _try_lock(handle: IO[bytes], folder: Path) -> bool:
    """Take the folder's lock without waiting; False while its writer (or another recoverer) holds it."""
    if _flock is None:  # pragma: no cover - no flock: trust the pid recorded by the writer
        return not _pid_alive(WriterSpool(folder).owner().get("pid"))
    try:
        _flock(handle.fileno(), _LOCK)
    except OSError:
        return False
    return True


def _pid_alive(pid: object) -> bool:  # pragma: no cover - used where flock is missing
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_folders(spool_root: Path) -> list[Path]:
    """Every writer folder under a spool root (live or dead; not those still being set up)."""
    if not spool_root.is_dir():
        return []
    return sorted(p for p in spool_root.iterdir() if p.is_dir() and p.name != CORRUPT_DIR and p.name[0] != ".")


def remove_abandoned_setups(spool_root: Path) -> int:
    """Remove folders whose writer died while setting them up (no segment can be in them); returns how many.

    Only folders older than any setup takes: a younger one may belong to a writer about to lock it.
    """
    if not spool_root.is_dir():
        return 0
    removed = 0
    now = datetime.now(UTC).timestamp()
    for setup in spool_root.glob(f".*{SETUP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - setup.stat().st_mtime < _SETUP_GRACE_S:
                continue
            with claim(setup) as owned:
                if owned is not None:
                    for temporary in setup.glob(".*.tmp"):
                        temporary.unlink()
                    removed += owned.remove_if_empty()
    return removed


def _replace(path: Path, text: str) -> None:
    """Write a small file atomically: a reader sees the old content or the new, never a part."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
