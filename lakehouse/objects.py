"""The content-addressed object store under a root: each distinct file stored once, by its sha256.

Layout: ``<root>/_objects/sha256/<first 2 hex digits>/<other 62>``; writes in flight live in ``_objects/tmp``.
Artifacts (and later model versions and the large files of file datasets) refer to objects by digest, so a file
logged by a hundred runs is stored once, and logging it again writes nothing.

The protocol, and the invariant each step keeps:

1. :meth:`ObjectStore.put_file` looks the source up by its fingerprint (device, inode, size, mtime and ctime in
   ns) in the root's record of files already hashed (:mod:`lakehouse.known_digests`, kept across processes). If
   its digest is known there and the object is present with the same size, the object is touched (its
   modification time is what vacuum's age check reads, so a concurrent vacuum keeps it): nothing is read or
   written.
2. Otherwise, on a local root, the source is copied into a staging file by the kernel while this process hashes
   the same bytes (one pass, see :mod:`lakehouse.fileio`); on a remote root it is hashed first, so bytes already
   stored are never sent. The staging file is renamed to the object's name only if the source's fingerprint is
   still the one it had before: a file that changed while being stored is refused. An object that turns out to
   be there already is touched and the staging file dropped. A kill -9 at any point leaves no file under an
   object name (at most a staging file, removed by :meth:`ObjectStore.sweep`). On a bucket root the bytes go
   straight to the object's key as a multipart upload, hashed again on the way and completed only if the digest
   and the fingerprint still match (:mod:`lakehouse.multipart`); a failure aborts it, and a kill -9 leaves an
   upload never completed, which is no object (sweep aborts it once it is older than the retention).
3. Every read checks the digest: :meth:`read_bytes` and :meth:`download` before handing anything out (a download
   goes to a hidden name beside the destination and is renamed only after verification); :meth:`open` streams
   and raises at the end of the object. A mismatch is :class:`~lakehouse.errors.CorruptObject` naming the object.

All I/O under the root goes through :class:`lakehouse.fileio.Files`; the source of a put and the destination of a
download are the user's own local files, outside the root.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakehouse import state
from lakehouse.errors import CorruptObject, InvalidArgument, NotFound, ObjectNotFound, StorageError
from lakehouse.fileio import CHUNK, STAGING, Files, Writable
from lakehouse.known_digests import Fingerprint, KnownDigests

PREFIX = "_objects/sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")

#: Called with the number of bytes just processed (for progress bars).
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ObjectRef:
    """An object in the store: its sha256 (64 lowercase hex digits) and size in bytes."""

    digest: str
    size: int

    @property
    def key(self) -> str:
        """Its path relative to the root."""
        return object_key(self.digest)


@dataclass(frozen=True)
class StoredObject:
    """An object found by a listing of the store."""

    digest: str
    size: int
    modified: datetime


def check_digest(digest: str) -> str:
    """``digest`` if it is a sha256 in lowercase hex, else :class:`InvalidArgument` naming it."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        msg = f"{digest!r} is not a sha256 digest (64 lowercase hex digits)"
        raise InvalidArgument(msg)
    return digest


def object_key(digest: str) -> str:
    """Where the object ``digest`` lives, relative to the root: ``_objects/sha256/ab/cdef…``."""
    check_digest(digest)
    return f"{PREFIX}/{digest[:2]}/{digest[2:]}"


class ObjectStore:
    """The objects under one root.

    Args:
        files: the root's file seam (or a root path / URI to make one from).
    """

    def __init__(self, files: Files | str | Path) -> None:
        self.files = files if isinstance(files, Files) else Files(files)

    def __repr__(self) -> str:
        return f"ObjectStore(root={self.files.root!r})"

    # --- writing -------------------------------------------------------------------------------------------

    def put_file(self, path: str | Path, *, progress: Progress | None = None, expected: str | None = None) -> ObjectRef:
        """Store the local file at ``path`` (streamed, never held in memory) and return its reference.

        ``progress`` is called with byte counts as the file is read. ``expected`` is the digest a caller that
        hashed the file already found: if that object is stored, the file is hashed again to confirm (a read)
        rather than copied while hashed (a read and a write). Raises :class:`InvalidArgument` if ``path`` is not
        a readable file or changes while being stored.
        """
        source = Path(path)
        now = time.time_ns()  # before the stat: a change after it is later than any time the stat shows
        before = _fingerprint(source)
        size = before[2]
        known = state.of_root(self.files.root).cache(KnownDigests)
        digest = known.get(self.files, source, before)

        def unchanged() -> None:
            if _fingerprint(source) != before:
                msg = f"file {str(source)!r} changed while it was being stored; nothing was stored"
                raise InvalidArgument(msg)

        if (
            digest is None
            and self.files.local
            and not (expected is not None and self._stored(ObjectRef(check_digest(expected), size)))
        ):
            # One pass: the kernel copies into a staging file while this process hashes (see fileio); the digest,
            # hence the object's name, is known at the end. A file already stored costs a staging file dropped.
            hasher = hashlib.sha256()

            def name() -> str | None:
                ref = ObjectRef(hasher.hexdigest(), size)
                return None if self._reused(ref) else ref.key

            self.files.copy_in(source, name, check=unchanged, progress=progress, hasher=hasher)
            digest = hasher.hexdigest()
        else:
            # Known by its fingerprint, likely stored already, or on a remote root where sending bytes is the
            # expensive part: hash first, so a file already stored is never sent.
            digest = digest or _hash_file(source, progress)
            if not self._reused(ObjectRef(digest, size)):
                sent = hashlib.sha256()

                def same_bytes() -> None:  # the bytes copied are the ones hashed: else nothing appears
                    unchanged()
                    if sent.hexdigest() != digest:
                        msg = f"file {str(source)!r} changed while it was being stored; nothing was stored"
                        raise InvalidArgument(msg)

                self.files.copy_in(source, object_key(digest), check=same_bytes, progress=progress, hasher=sent)
        known.remember(self.files, source, before, digest, now_ns=now)
        return ObjectRef(digest, size)

    def _stored(self, ref: ObjectRef) -> bool:
        found = self.files.info(ref.key)
        return found is not None and found.size == ref.size

    def _reused(self, ref: ObjectRef) -> bool:
        """True if ``ref`` is stored already, touched: young again, so a vacuum running now keeps it (see the
        module docstring)."""
        if not self._stored(ref):
            return False
        self.files.touch(ref.key, size=ref.size)
        return True

    def put_bytes(self, data: bytes) -> ObjectRef:
        """Store ``data`` (small payloads; files go through :meth:`put_file`)."""
        ref = ObjectRef(hashlib.sha256(data).hexdigest(), len(data))
        if self._reused(ref):
            return ref

        def write(out: Writable) -> None:
            out.write(data)

        self.files.write_atomic(ref.key, write)
        return ref

    # --- reading -------------------------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        return self.files.exists(object_key(digest))

    def size(self, digest: str) -> int:
        """The stored size of ``digest``; :class:`ObjectNotFound` if it is not in the store."""
        found = self.files.info(object_key(digest))
        if found is None:
            raise ObjectNotFound(self._missing(digest))
        return found.size

    @contextmanager
    def open(self, digest: str) -> Iterator[io.BufferedReader]:
        """A binary reader of the object; reading to its end raises :class:`CorruptObject` on a mismatch.

        The digest can only be known at the end of a stream: callers that must not act on unverified bytes
        use :meth:`read_bytes` or :meth:`download`, which verify first.
        """
        key = object_key(digest)
        with self._opened(digest) as stream:
            yield io.BufferedReader(_VerifyingReader(stream, digest, key, self.files.root), buffer_size=CHUNK)

    def read_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified before they are returned."""
        with self.open(digest) as reader:
            return reader.read()

    def download(self, digest: str, dest: str | Path, *, progress: Progress | None = None) -> Path:
        """Write the object to the local file ``dest``, replacing it; verified before ``dest`` appears.

        The bytes go to a hidden file beside ``dest``, renamed over it only once their digest matched: a
        corrupt object or a crash leaves ``dest`` as it was.
        """
        target = Path(dest)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        hasher = hashlib.sha256()
        try:
            with self._opened(digest) as stream, partial.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
            if hasher.hexdigest() != digest:
                raise CorruptObject(self._corrupt(digest, hasher.hexdigest()))
            os.replace(partial, target)
        except BaseException as e:
            partial.unlink(missing_ok=True)  # only on failure: after the rename there is nothing to remove
            if isinstance(e, OSError):
                msg = f"cannot write {str(target)!r}: {e.strerror or e}"
                raise StorageError(msg) from e
            raise
        return target

    @contextmanager
    def _opened(self, digest: str) -> Iterator[pa.NativeFile]:
        try:
            with self.files.open_read(object_key(digest)) as stream:
                yield stream
        except ObjectNotFound:
            raise
        except NotFound as e:
            raise ObjectNotFound(self._missing(digest)) from e

    def _missing(self, digest: str) -> str:
        return f"object {object_key(digest)!r} is not in the object store of {self.files.root!r}"

    def _corrupt(self, digest: str, actual: str) -> str:
        return _corrupt_message(object_key(digest), self.files.root, actual)

    # --- listing and removal (vacuum) ----------------------------------------------------------------------

    def objects(self) -> Iterator[StoredObject]:
        """Every object in the store (files under ``_objects/sha256`` whose name is a digest)."""
        for found in self.files.list(PREFIX):
            digest = found.path[len(PREFIX) + 1 :].replace("/", "")
            if _DIGEST.fullmatch(digest) and found.path == object_key(digest):
                yield StoredObject(digest, found.size, found.modified)

    def sweep(self, referenced: Collection[str], *, older_than: datetime, dry_run: bool) -> list[str]:
        """Remove (or with ``dry_run`` list) objects no one refers to, and staging files of dead writes.

        Only files last modified before ``older_than`` go: a put in flight or an object just re-used (which a
        put touches) is younger. Returns the removed paths, relative to the root.
        """
        doomed = [o.digest for o in self.objects() if o.digest not in referenced and o.modified < older_than]
        removed: list[str] = []
        for digest in doomed:
            key = object_key(digest)
            # Looked at again just before removal: a put may have re-used it since the listing.
            found = self.files.info(key)
            if found is None or found.modified >= older_than:
                continue
            if dry_run or self.files.delete(key):
                removed.append(key)
        for leftover in self.files.list(STAGING):
            if leftover.modified < older_than and (dry_run or self.files.delete(leftover.path)):
                removed.append(leftover.path)
        # On a bucket root, the uploads of writers that died mid-way: never objects, but their parts cost storage.
        removed.extend(self.files.abort_stale_uploads(PREFIX, older_than=older_than, dry_run=dry_run))
        return removed


class _VerifyingReader(io.RawIOBase):
    """A raw reader that hashes what passes through and raises at the end if the digest differs."""

    def __init__(self, stream: pa.NativeFile, digest: str, key: str, root: str) -> None:
        super().__init__()
        self._stream = stream
        self._digest = digest
        self._key = key
        self._root = root
        self._hasher = hashlib.sha256()
        self._done = False

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        # io's default reads 8 KiB at a time: on a bucket root each read is a ranged GET (19 MiB took 15 s).
        parts: list[bytes] = []
        while part := self.read(CHUNK):
            parts.append(part)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        n = len(data)
        if n:
            view[:n] = data
            self._hasher.update(data)
            return n
        if not self._done:
            self._done = True
            actual = self._hasher.hexdigest()
            if actual != self._digest:
                raise CorruptObject(_corrupt_message(self._key, self._root, actual))
        return 0


def _corrupt_message(key: str, root: str, actual: str) -> str:
    return (
        f"object {key!r} in the object store of {root!r} is corrupt: its bytes hash to sha256 {actual[:16]}…, "
        f"not the digest it is stored under; nothing was returned"
    )


def _fingerprint(source: Path) -> Fingerprint:
    """The :data:`Fingerprint` of the local file ``source``, or :class:`InvalidArgument` saying why it cannot be
    stored."""
    try:
        if source.is_dir():
            msg = f"{str(source)!r} is a folder, not a file"
            raise InvalidArgument(msg)
        st = source.stat()
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except FileNotFoundError:
        msg = f"file {str(source)!r} does not exist"
        raise InvalidArgument(msg) from None
    except OSError as e:
        raise _unreadable(source, e) from e


def file_digest(path: str | Path) -> str:
    """The sha256 of the local file at ``path``, streamed; :class:`InvalidArgument` if it cannot be read."""
    return _hash_file(Path(path), None)


def _hash_file(source: Path, progress: Progress | None) -> str:
    hasher = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    try:
        with source.open("rb", buffering=0) as handle:
            while n := handle.readinto(buffer):
                hasher.update(view[:n])
                if progress is not None:
                    progress(n)
    except OSError as e:
        raise _unreadable(source, e) from e
    return hasher.hexdigest()


def _unreadable(source: Path, error: OSError) -> InvalidArgument:
    msg = f"cannot read {str(source)!r}: {error.strerror or error}"
    return InvalidArgument(msg)
