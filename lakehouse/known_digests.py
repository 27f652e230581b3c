"""Digests of local files known without reading them: a file's fingerprint, remembered with its sha256.

Logging an unchanged checkpoint again (every epoch, the best one at the end, the same file from a new process)
should cost a ``stat``, not a pass over gigabytes, as git's index and DVC's state database avoid re-hashing. A
file's **fingerprint** is its device, inode, size, modification and change time (ns); :class:`KnownDigests`
maps a file's absolute path to the fingerprint it had when it was hashed and the digest found.

Where the record lives, and why: ``<root>/_objects/fingerprints/<host>.json``, written through the root's
:class:`~lakehouse.fileio.Files` (atomically, :meth:`~lakehouse.fileio.Files.write_atomic`). Paths and inodes
only mean something on the machine that has the file, so each host keeps its own small file; it sits with the
root it speeds up (removed with it, no stray cache in a home folder, the same on a laptop and a cluster node
whose home is not kept). On a bucket root this costs one read of the record per process and root, and one
write per new large file stored, both small beside the upload of that file.

The record fails safe: anything in doubt means the file is hashed.

- Every field of the fingerprint must match. A write changes mtime and ctime; putting mtime back
  (``os.utime``) sets ctime to now, which no call can set back; a replaced file has a new inode.
- A file modified or changed less than :data:`SETTLED_NS` before it was looked at is never remembered: file
  systems stamp times from a coarse clock (a few ms; FAT's 2 s), so a second write within the same tick would
  leave the fingerprint as it was. This is git's "racily clean" entry, handled by not trusting it.
- A record that cannot be read or parsed, or an entry of the wrong shape, is ignored (and replaced on the next
  write); the record is a cache, never a source of truth. A digest it gives is still checked against the store:
  an object missing or of another size is stored afresh.
- Small: only files of :data:`RECORDED_FROM` bytes or more are recorded (smaller ones hash in milliseconds), and
  at most :data:`CAPACITY` entries are kept, the least recently stored dropped first. Several processes of one
  host writing at once may drop each other's newest entries: those files are hashed once more.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from pathlib import Path
from typing import Any

from lakehouse.errors import LakehouseError, StorageError
from lakehouse.fileio import CHUNK, Files, Writable

#: What identifies a local file's content without reading it: device, inode, size, modification and change time
#: (ns).
Fingerprint = tuple[int, int, int, int, int]

#: A file whose change time is less than this before it was looked at may still change within the same
#: timestamp tick: it is hashed every time (2 s: FAT's granularity, the coarsest of the common file systems).
SETTLED_NS = 2_000_000_000
#: Files smaller than this are not recorded: hashing them costs about as much as the record.
RECORDED_FROM = CHUNK
#: Entries kept per host and root (about 200 bytes each).
CAPACITY = 512
FOLDER = "_objects/fingerprints"
_FORMAT = 1
_DIGEST = re.compile(r"[0-9a-f]{64}")


def record_path(host: str | None = None) -> str:
    """Where this host's record lives, relative to the root."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", host if host is not None else socket.gethostname())[:64]
    return f"{FOLDER}/{name or 'host'}.json"


def settled(fingerprint: Fingerprint, *, now_ns: int) -> bool:
    """True if the file last changed long enough before ``now_ns`` (when it was looked at) to be remembered.

    Both times are read: some file systems (FAT) keep no change time and report the creation time instead.
    """
    return max(fingerprint[3], fingerprint[4]) < now_ns - SETTLED_NS


class KnownDigests:
    """The digests of local files one root has stored, by absolute path and fingerprint (a root's cache).

    The record of this host is read from the root on first use (again after ``lh.forget()``); entries found in
    this process are kept in memory whatever their size, and written to the record if large enough.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[str, tuple[Fingerprint, str]] = {}
        self.loaded = False

    def get(self, files: Files, source: Path, fingerprint: Fingerprint) -> str | None:
        """The digest of ``source`` if it was stored with this very fingerprint, else None."""
        with self.lock:
            if not self.loaded:
                self.known = {**_read(files), **self.known}
                self.loaded = True
            found = self.known.get(str(source.absolute()))
        return found[1] if found is not None and found[0] == fingerprint else None

    def remember(self, files: Files, source: Path, fingerprint: Fingerprint, digest: str, *, now_ns: int) -> None:
        """Note that ``source``, with ``fingerprint`` as it was at ``now_ns``, has ``digest``.

        A file not :func:`settled` is forgotten instead. The record is written only when an entry of a large
        file is new or different, so storing a known file again writes nothing.
        """
        key = str(source.absolute())
        with self.lock:
            if not settled(fingerprint, now_ns=now_ns):
                self.known.pop(key, None)
                return
            if self.known.get(key) == (fingerprint, digest):
                return
            self.known[key] = (fingerprint, digest)
            if fingerprint[2] < RECORDED_FROM:
                return
            # Merged with what other processes of this host wrote since it was read; this entry goes last (newest).
            merged = {k: v for k, v in _read(files).items() if k != key}
            merged[key] = (fingerprint, digest)
            kept = dict(list(merged.items())[-CAPACITY:])
            self.known.update(kept)
            try:
                _write(files, kept)
            except StorageError:  # the file is stored; only the shortcut for next time is lost
                pass


def _read(files: Files) -> dict[str, tuple[Fingerprint, str]]:
    """This host's record, oldest entry first; empty if there is none or it cannot be trusted as a whole."""
    try:
        with files.open_read(record_path()) as stream:
            data = json.loads(stream.read())
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("files"), list):
            return {}
        return dict(entry for row in data["files"] if (entry := _entry(row)) is not None)
    except (LakehouseError, OSError, ValueError):  # missing, unreadable or malformed: a failed cache means "hash"
        return {}


def _entry(row: Any) -> tuple[str, tuple[Fingerprint, str]] | None:
    """One ``[path, dev, ino, size, mtime_ns, ctime_ns, digest]`` row, or None if it has any other shape."""
    if not isinstance(row, list) or len(row) != 7:
        return None
    path, *numbers, digest = row
    if not isinstance(path, str) or not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        return None
    if not all(type(n) is int for n in numbers):
        return None
    dev, ino, size, mtime, ctime = numbers
    return path, ((dev, ino, size, mtime, ctime), digest)


def _write(files: Files, entries: dict[str, tuple[Fingerprint, str]]) -> None:
    rows = [[path, *fingerprint, digest] for path, (fingerprint, digest) in entries.items()]
    payload = json.dumps({"format": _FORMAT, "files": rows}, separators=(",", ":")).encode()

    def write(out: Writable) -> None:
        out.write(payload)

    files.write_atomic(record_path(), write)
