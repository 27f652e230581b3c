"""The storage seam for files: every read and write of a plain file under a root goes through :class:`Files`.

Delta tables go through :mod:`lakehouse.storage`; everything else a root holds (the content-addressed objects of
:mod:`lakehouse.objects`, later the large files of file datasets) goes through here, never through ``open()`` on a
root path, so that a bucket root (``s3://bucket/team``) works for every feature once this module speaks to it.

``pyarrow.fs`` does the talking: a local path today (``LocalFileSystem``), any URI pyarrow knows tomorrow
(``FileSystem.from_uri``). Why pyarrow.fs rather than plain file I/O, measured, is in docs/ARTIFACTS.md.

Writes are atomic. On a local root :meth:`Files.write_atomic` streams into a staging name under
``<root>/_objects/tmp`` (the same file system as the final name, so the last step is a rename) and makes the file
visible under its final name only when every byte is written; a crash or kill -9 leaves at most a staging file,
which vacuum removes once it is older than the retention. On a bucket root the bytes go straight to the final key
as a multipart upload (:mod:`lakehouse.multipart`) that is completed only when every byte is written and every
check passed, and aborted otherwise; a kill -9 leaves an upload never completed, which is no object.
"""

from __future__ import annotations

import builtins
import errno
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.fs as pafs

from lakehouse import multipart, state
from lakehouse.errors import InvalidArgument, NotFound, RootUnavailable, StorageError
from lakehouse.location import Location
from lakehouse.object_storage import arrow_filesystem, endpoint_name, redact

#: Bytes per read or write: large enough that per-call overhead vanishes, small enough to never hold a file.
CHUNK = 8 << 20
#: Staging area for writes in flight, under the root (same file system as every final name: rename is atomic).
STAGING = "_objects/tmp"


class Writable(Protocol):
    """What :meth:`Files.write_atomic` hands its writer: a stream of bytes."""

    def write(self, data: bytes | memoryview, /) -> int: ...


class Hasher(Protocol):
    """What :meth:`Files.copy_in` feeds the bytes it copies to (a ``hashlib`` object)."""

    def update(self, data: bytes | memoryview, /) -> None: ...


@dataclass(frozen=True)
class FileInfo:
    """A file under the root: its path relative to the root (POSIX), size and modification time (UTC)."""

    path: str
    size: int
    modified: datetime


def remote_filesystem(where: str) -> pafs.FileSystem:
    """The pyarrow file system of the bucket holding ``where``, from its root's storage options (built once per
    options and AWS variables: :func:`lakehouse.object_storage.arrow_filesystem`)."""
    return arrow_filesystem(state.owner(where).storage_options)


def check_bucket(where: Location) -> None:
    """Make sure the bucket of a remote location can be used, with one request (``HeadBucket``); nothing is
    written. A local location is not looked at.

    Raises:
        RootUnavailable: the bucket does not exist, or the endpoint refused the credentials or cannot be
            reached; the one-line message names the bucket and the endpoint, never a credential.
    """
    if not where.is_remote:
        return
    options = state.owner(where.uri).storage_options
    at = f"bucket {where.bucket!r} at {endpoint_name(options)}"
    try:
        found = remote_filesystem(where.uri).get_file_info(str(where.bucket))
    except (pa.ArrowInvalid, OSError) as e:
        msg = f"cannot use {at}: {redact(str(e), options)}"
        raise RootUnavailable(msg) from e
    if found.type == pafs.FileType.NotFound:
        msg = f"{at} does not exist (root {where.uri!r}); create it first"
        raise RootUnavailable(msg)


def _check_relative(path: str) -> str:
    """``path`` if it names something strictly inside the root: relative, POSIX, no ``..`` or empty parts."""
    parts = path.split("/")
    if not path or "\\" in path or "\x00" in path or any(p in ("", ".", "..") for p in parts):
        msg = f"file path {path!r} is not a relative path inside the root"
        raise InvalidArgument(msg)
    return path


def check_relative(path: str) -> str:
    """``path`` if it is a relative POSIX path with no ``..`` or empty parts, else :class:`InvalidArgument`."""
    return _check_relative(path)


class Files:
    """The files under one root (a local folder, or a URI pyarrow.fs understands), addressed by relative paths.

    Args:
        root: a local folder (``str`` or ``Path``) or a URI such as ``s3://bucket/prefix``.
    """

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if "://" in text:
            where = Location.of(text)
            text = where.uri
            try:
                # The storage options the root was opened with (lakehouse.object_storage), else the AWS chain.
                self._fs: pafs.FileSystem = remote_filesystem(text)
            except (pa.ArrowInvalid, OSError) as e:
                msg = f"cannot open the file system of root {text!r}: {e}"
                raise StorageError(msg) from e
            self._base = f"{where.bucket}/{where.key}".rstrip("/")
            self._options: Mapping[str, str] = state.owner(text).storage_options
            self.local = False
        else:
            self._fs = pafs.LocalFileSystem()
            self._base = Path(text).expanduser().absolute().as_posix()
            self._options = {}
            self.local = True
        self.root = text

    def __repr__(self) -> str:
        return f"Files(root={self.root!r})"

    def check_bucket(self) -> None:
        """Make sure a bucket root can be used (:func:`check_bucket`); a local root is not looked at."""
        check_bucket(Location.of(self.root))

    def _full(self, path: str) -> str:
        return f"{self._base}/{_check_relative(path)}"

    def local_path(self, path: str) -> Path | None:
        """The local file system path of ``path`` (None on a remote root)."""
        return Path(self._full(path)) if self.local else None

    # --- reading -------------------------------------------------------------------------------------------

    def info(self, path: str) -> FileInfo | None:
        """Size and modification time of the file at ``path``, or None if there is none."""
        full = self._full(path)
        with _translated(full, "reading the size of"):
            found = self._fs.get_file_info(full)
        if found.type != pafs.FileType.File:
            return None
        return _info(_check_relative(path), found)

    def exists(self, path: str) -> bool:
        return self.info(path) is not None

    def has_folder(self, path: str) -> bool:
        """True if ``path`` is a folder (on an object store: a prefix with at least one object under it)."""
        full = self._full(path)
        with _translated(full, "looking at"):
            return bool(self._fs.get_file_info(full).type == pafs.FileType.Directory)

    @contextmanager
    def open_read(self, path: str) -> Iterator[pa.NativeFile]:
        """A sequential reader of the file at ``path``; :class:`~lakehouse.errors.NotFound` if it is missing."""
        full = self._full(path)
        try:
            stream = self._fs.open_input_stream(full)
        except FileNotFoundError as e:
            msg = f"no file {path!r} under {self.root!r}"
            raise NotFound(msg) from e
        except (pa.ArrowInvalid, OSError) as e:
            msg = f"cannot read {full!r}: {e}"
            raise StorageError(msg) from e
        with stream:
            yield stream

    def list(self, prefix: str) -> Iterator[FileInfo]:
        """Every file under the folder ``prefix`` (recursively); nothing if the folder does not exist."""
        full = self._full(prefix)
        selector = pafs.FileSelector(full, recursive=True, allow_not_found=True)
        with _translated(full, "listing"):
            found = self._fs.get_file_info(selector)
        start = len(self._base) + 1
        for entry in found:
            if entry.type == pafs.FileType.File:
                yield _info(entry.path[start:], entry)

    def list_all(self) -> Iterator[FileInfo]:
        """Every file under the root (recursively)."""
        selector = pafs.FileSelector(self._base, recursive=True, allow_not_found=True)
        with _translated(self._base, "listing"):
            found = self._fs.get_file_info(selector)
        start = len(self._base) + 1
        for entry in found:
            if entry.type == pafs.FileType.File:
                yield _info(entry.path[start:], entry)

    def folders(self, prefix: str = "") -> builtins.list[str]:
        """Names of the folders directly in the folder ``prefix`` (``""``: the root), sorted; none if it is absent.

        On an object store a folder is a common prefix of keys: one listing call, not one per object.
        """
        full = self._full(prefix) if prefix else self._base
        selector = pafs.FileSelector(full, recursive=False, allow_not_found=True)
        with _translated(full, "listing"):
            found = self._fs.get_file_info(selector)
        return sorted(e.base_name for e in found if e.type == pafs.FileType.Directory)

    # --- writing -------------------------------------------------------------------------------------------

    def write_atomic(self, path: str, write: Callable[[Writable], None]) -> None:
        """Make the file ``path`` hold what ``write(stream)`` writes, all of it or nothing.

        ``write`` streams into a staging file; only after it returns is the file renamed to ``path`` (replacing
        any file there). If ``write`` raises, the staging file is removed and ``path`` is untouched. On a bucket
        root ``write`` streams into an upload to ``path`` that is completed only after it returns.
        """
        final = self._full(path)
        if not self.local:
            with _translated(final, "writing"), self._upload(final) as out:
                write(out)
            return
        staging = self._full(f"{STAGING}/{uuid.uuid4().hex}")
        with _translated(final, "writing"):
            self._fs.create_dir(staging.rsplit("/", 1)[0], recursive=True)
            try:
                with self._fs.open_output_stream(staging) as out:
                    write(out)
                self._fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
                self._fs.move(staging, final)  # a rename on a local root: the file appears whole or not at all
            except BaseException:
                self._remove_quietly(staging)
                raise

    def copy_in(
        self,
        source: Path,
        path: str | Callable[[], str | None],
        *,
        check: Callable[[], None],
        progress: Callable[[int], None] | None = None,
        hasher: Hasher | None = None,
    ) -> None:
        """Copy the local file ``source`` to ``path`` under the root, all of it or nothing.

        The bytes go to a staging file first (on a local root by the kernel, ``os.sendfile``, without passing
        through this process); ``check()`` runs after the copy and before the rename, and may raise to refuse
        it (the staging file is then removed and ``path`` is untouched). With a ``hasher``, every byte copied is
        also fed to it, so the copy is the only pass over the file; ``path`` may then be a function called
        after ``check()`` (when the hasher has seen everything) that names the final path, or returns None to
        drop the staging file (the bytes turned out to be there already).

        On a bucket root the bytes go straight to ``path`` (which must then be a ``str``) as an upload completed
        only after ``check()`` passed: a failure of the source, of ``check()``, or an interrupt aborts it, and
        nothing appears under ``path``.
        """
        if not self.local:
            if not isinstance(path, str):
                msg = "a copy to a bucket root needs its final path before the copy"
                raise TypeError(msg)
            self._copy_up(source, path, check=check, progress=progress, hasher=hasher)
            return
        staging = self._full(f"{STAGING}/{uuid.uuid4().hex}")
        with _translated(self._full(path) if isinstance(path, str) else staging, "writing"):
            self._fs.create_dir(staging.rsplit("/", 1)[0], recursive=True)
            try:
                if hasher is not None:
                    _kernel_copy_hashing(source, Path(staging), hasher, progress)
                else:
                    _kernel_copy(source, Path(staging), progress)
                check()
                named = path if isinstance(path, str) else path()
                if named is None:
                    self._remove_quietly(staging)
                    return
                final = self._full(named)
                self._fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
                self._fs.move(staging, final)
            except BaseException:
                self._remove_quietly(staging)
                raise

    def _copy_up(
        self,
        source: Path,
        path: str,
        *,
        check: Callable[[], None],
        progress: Callable[[int], None] | None,
        hasher: Hasher | None,
    ) -> None:
        """:meth:`copy_in` to a bucket root: read, hash and send in one pass; complete only if ``check()`` passes."""
        final = self._full(path)
        with _translated(final, "writing"), source.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            with self._upload(final, size=size) as out:
                while chunk := handle.read(CHUNK):
                    if hasher is not None:
                        hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
                check()

    def _upload(self, full: str, *, size: int | None = None) -> AbstractContextManager[multipart.DirectUpload]:
        """An upload of the object ``full`` (``bucket/key``) that appears only if the block ends without error."""
        bucket, _, key = full.partition("/")
        return multipart.upload(self._options, bucket, key, size=size)

    def abort_stale_uploads(self, prefix: str, *, older_than: datetime, dry_run: bool) -> builtins.list[str]:
        """End (with ``dry_run``: list) uploads under ``prefix`` begun before ``older_than`` and never completed
        (their writer died); the paths they were for, relative to the root. A local root has none."""
        if self.local:
            return []
        bucket, _, key = self._full(prefix).partition("/")
        start = len(self._base) + 1
        ended = multipart.abort_stale(self._options, bucket, f"{key}/", older_than=older_than, dry_run=dry_run)
        return [f"{bucket}/{k}"[start:] for k in ended]

    def touch(self, path: str, *, size: int | None = None) -> None:
        """Set the modification time of the file at ``path`` (of ``size`` bytes, if known) to now (what
        age-based clean-up reads).

        A local root sets it in place; pyarrow.fs has no such call, so a remote root copies the object onto
        itself, which object stores do server-side without moving the bytes through this process: one
        ``CopyObject``, or for an object above S3's 5 GiB limit of that call a multipart copy
        (:func:`lakehouse.multipart.copy_in_place`).
        """
        full = self._full(path)
        with _translated(full, "touching"):
            if self.local:
                os.utime(full)
                return
            if size is None:
                size = int(self._fs.get_file_info(full).size or 0)
            if size > multipart.COPY_LIMIT:
                bucket, _, key = full.partition("/")
                multipart.copy_in_place(self._options, bucket, key, size)
            else:
                self._fs.copy_file(full, full)

    def delete(self, path: str) -> bool:
        """Remove the file at ``path``; False if there was none."""
        full = self._full(path)
        try:
            self._fs.delete_file(full)
        except FileNotFoundError:
            return False
        except OSError as e:
            msg = f"cannot delete {full!r}: {e}"
            raise StorageError(msg) from e
        return True

    def _remove_quietly(self, full: str) -> None:
        try:
            self._fs.delete_file(full)
        except OSError:  # never there, or already gone: the caller's error is the one to report
            pass


def _kernel_copy(
    source: Path,
    dest: Path,
    progress: Callable[[int], None] | None,
    *,
    pace: Callable[[], bool] | None = None,
) -> None:
    """Copy ``source`` to a new local file ``dest`` with ``os.sendfile`` in chunks (what ``shutil.copyfile`` uses
    on Linux), reporting progress; plain reads and writes where the kernel cannot (another OS, special files).

    ``pace()``, if given, is called before each chunk: it may wait (see :func:`_kernel_copy_hashing`) and returns
    False to end the copy early (its caller failed and discards ``dest``).
    """
    with source.open("rb") as src, dest.open("xb") as out:
        size = os.fstat(src.fileno()).st_size  # a file still growing is copied up to its size now, never forever
        offset = 0
        try:
            while offset < size and (pace is None or pace()):
                end = min(offset + CHUNK, size)
                while offset < end and (sent := os.sendfile(out.fileno(), src.fileno(), offset, end - offset)):
                    offset += sent
                    if progress is not None:
                        progress(sent)
                if offset < end:  # the file is shorter than it was: the caller's check refuses the copy
                    return
            return
        except (AttributeError, OSError) as e:
            if offset or isinstance(e, OSError) and e.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise
        while offset < size and (chunk := src.read(min(CHUNK, size - offset))):
            out.write(chunk)
            offset += len(chunk)
            if progress is not None:
                progress(len(chunk))


def _kernel_copy_hashing(source: Path, dest: Path, hasher: Hasher, progress: Callable[[int], None] | None) -> None:
    """:func:`_kernel_copy` in a thread while this one reads the same bytes and feeds them to ``hasher``.

    Measured on a 1 GiB file (docs/BENCHMARKS.md): sha256 is the slower of the two, so with a core to spare the
    pair costs about the hash alone where hashing then copying cost their sum (hashlib releases the GIL on large
    buffers: the kernel copies while this thread hashes); writing the bytes from this process instead was slower
    there, and on a machine with no core to spare every variant costs its CPU time, about the same for all. The
    copy never runs ahead of the read: chunk
    ``k`` is copied only once this thread has read it, so the copy finds it in the page cache even when the
    file was not, and a slow reader (a progress bar, a test pausing it) slows the copy alike. ``progress``
    counts the bytes hashed. A file that changes meanwhile is the caller's ``check`` to catch, as for a plain
    copy.
    """
    ready = threading.Semaphore(0)  # one release per chunk read, and one when reading ended
    ended = threading.Event()
    ok = [False]
    failed: list[BaseException] = []

    def pace() -> bool:
        if not ended.is_set():
            ready.acquire()
        return not ended.is_set() or ok[0]

    def copy() -> None:
        try:
            _kernel_copy(source, dest, None, pace=pace)
        except BaseException as e:  # handed to the reading thread, which raises it
            failed.append(e)

    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with source.open("rb", buffering=0) as handle:
        copier = threading.Thread(target=copy, name="lakehouse-copy", daemon=True)
        copier.start()
        try:
            while not failed and (n := handle.readinto(buffer)):
                ready.release()
                hasher.update(view[:n])  # the GIL is released here: the copier's sendfile of this chunk runs
                if progress is not None:
                    progress(n)
            ok[0] = not failed
        finally:
            ended.set()  # a copier waiting for a chunk wakes, and stops unless reading ended well
            ready.release()
            copier.join()
    if failed:
        raise failed[0]


def _info(path: str, entry: pafs.FileInfo) -> FileInfo:
    mtime = entry.mtime
    modified = mtime.astimezone(UTC) if mtime is not None else datetime.fromtimestamp(0, UTC)
    return FileInfo(path=path, size=int(entry.size or 0), modified=modified)


@contextmanager
def _translated(full: str, what: str) -> Iterator[None]:
    try:
        yield
    except (pa.ArrowInvalid, OSError) as e:
        msg = f"{what} {full!r} failed: {e}"
        raise StorageError(msg) from e
