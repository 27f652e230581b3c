"""A local folder of files, read for a file dataset: listed, checked, hashed and probed.

Everything a folder can get wrong is found here, before anything is written:

* the folder must exist and be a folder;
* every name must be valid UTF-8 (a dataset path is text everywhere it is shown, queried and joined);
* symbolic links are followed only when they resolve inside the folder; a link that leaves it (or dangles) is
  refused, naming the link, so a dataset never holds bytes from outside what the caller pointed at;
* every selected file must be readable.

The folder is the caller's own local input, outside the root: it is read with plain file I/O. Files are only
written to the root through :mod:`lakehouse.objects` and the dataset's Delta table.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import stat
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from lakehouse import _gc
from lakehouse.errors import InvalidArgument

_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)

#: The pattern that selects every file (the default): nothing to match.
EVERY_FILE = "**/*"
#: What a file with no known extension is recorded as.
OCTET_STREAM = "application/octet-stream"


class FolderFile(NamedTuple):
    """A file found in the folder: its dataset path (relative, POSIX), local path, size and mtime.

    Plain strings and integers in a named tuple, not ``Path`` and ``datetime`` objects in a dataclass: a folder
    of 100,000 files is listed on every sync, and making those objects for every file cost more than the
    ``stat`` calls themselves (a frozen dataclass's ``__init__`` alone cost a third of them).
    """

    path: str
    source: str  # the local path, as the OS names it
    size: int
    mtime_us: int  # modification time in microseconds since the epoch (the precision the table keeps)

    @property
    def local(self) -> Path:
        return Path(self.source)

    @property
    def modified(self) -> datetime:
        """The modification time as the table stores it (UTC, microseconds)."""
        return datetime.fromtimestamp(self.mtime_us / 1_000_000, UTC)


@dataclass(frozen=True)
class Probe:
    """What is cheap to learn about a file beyond its bytes: its media type, image size, audio duration."""

    media_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def check_folder(folder: str | Path) -> Path:
    """``folder`` as an absolute path if it is an existing folder; :class:`InvalidArgument` naming it otherwise."""
    path = Path(folder).expanduser()
    if not path.exists():
        msg = f"folder {str(folder)!r} does not exist"
        raise InvalidArgument(msg)
    if not path.is_dir():
        msg = f"{str(folder)!r} is not a folder"
        raise InvalidArgument(msg)
    return path.resolve()


@lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A glob over relative POSIX paths as a regex: ``**/`` any folders (or none), ``*`` and ``?`` within one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def matches(path: str, pattern: str) -> bool:
    """True if the relative POSIX ``path`` matches the glob ``pattern`` (``**/*.png``, ``cats/*``…)."""
    return _pattern(pattern).fullmatch(path) is not None


def list_folder(folder: str | Path, *, pattern: str = EVERY_FILE) -> list[FolderFile]:
    """Every file under ``folder`` whose relative path matches ``pattern``, sorted by path.

    Raises:
        InvalidArgument: the folder is missing or a file; a name is not UTF-8; a link leaves the folder.
    """
    if not isinstance(pattern, str) or not pattern or pattern.startswith("/") or ".." in pattern.split("/"):
        msg = f"pattern {pattern!r} must be a relative glob such as '**/*' or 'cats/*.png'"
        raise InvalidArgument(msg)
    root = check_folder(folder)
    found: list[FolderFile] = []
    with _gc.paused():
        _walk(root, str(root), str(root), "", frozenset(), found)
    if pattern != EVERY_FILE:
        found = [f for f in found if matches(f.path, pattern)]
    found.sort()  # by path: paths are unique, so a tuple's first field decides
    return found


def _walk(root: Path, here: str, real: str, prefix: str, above: frozenset[str], found: list[FolderFile]) -> None:
    """Append the files under ``here`` to ``found``; ``real`` is ``here`` with every link resolved.

    A folder of 100,000 files is listed on every sync, so this loop is kept lean (docs/BENCHMARKS.md): one
    ``lstat`` per plain file, taken through the directory entry (whose type is already known, so the entry
    needs no other call); a plain subfolder's real path is its parent's plus its name (only a link is
    resolved on disk); files go into one list, sorted once at the end, not through nested generators.
    """
    if real in above:  # a link to a folder this one is inside: following it would never end
        msg = f"symbolic link {here!r} points to a folder it is inside of; remove it"
        raise InvalidArgument(msg)
    above = above | {real}
    add = found.append
    try:
        with os.scandir(here) as listing:
            entries = list(listing)
    except OSError as e:
        msg = f"cannot list folder {here!r}: {e.strerror or e}"
        raise InvalidArgument(msg) from e
    for entry in entries:
        name = entry.name
        if not name.isascii():
            _check_name(here, name)
        if entry.is_file(follow_symlinks=False):
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                raise _unreadable(entry.path, e) from e
            add(_new_file(FolderFile, (prefix + name, entry.path, st.st_size, st.st_mtime_ns // 1000)))
        elif entry.is_dir(follow_symlinks=False):
            _walk(root, entry.path, os.path.join(real, name), f"{prefix}{name}/", above, found)
        elif entry.is_symlink():
            target = _inside(root, Path(entry.path))
            if target.is_dir():
                _walk(root, entry.path, str(target), f"{prefix}{name}/", above, found)
            else:
                add(_file(prefix + name, entry.path))


#: ``tuple.__new__`` makes a named tuple without the Python-level ``__new__`` its class defines (a tenth of a
#: listing's time over 100,000 files).
_new_file = tuple.__new__


def _check_name(folder: str, name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        msg = f"file name {raw!r} in {folder!r} is not valid UTF-8; rename it (dataset paths are text)"
        raise InvalidArgument(msg) from None


def _inside(root: Path, link: Path) -> Path:
    """The target of the link ``link`` if it exists inside ``root``; :class:`InvalidArgument` otherwise."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as e:
        msg = f"symbolic link {str(link)!r} points to nothing that exists; remove it or fix it"
        raise InvalidArgument(msg) from e
    if not target.is_relative_to(root):
        msg = (
            f"symbolic link {str(link)!r} points outside the folder {str(root)!r} (to {str(target)!r}); "
            "links are followed only inside the folder"
        )
        raise InvalidArgument(msg)
    return target


def _unreadable(local: str, e: OSError) -> InvalidArgument:
    return InvalidArgument(f"cannot read {local!r}: {e.strerror or e}")


def _file(rel: str, local: str) -> FolderFile:
    """A file reached through a link: its target's size and time, and it must be a regular file."""
    try:
        st = os.stat(local)
    except OSError as e:
        raise _unreadable(local, e) from e
    if not stat.S_ISREG(st.st_mode):
        msg = f"{local!r} is not a regular file"
        raise InvalidArgument(msg)
    return FolderFile(rel, local, st.st_size, st.st_mtime_ns // 1000)


def read_into(file: FolderFile, view: memoryview) -> None:
    """Fill ``view`` (``file.size`` bytes long) with the bytes of ``file``, read with plain system calls.

    Reading into a caller's buffer spares a bytes object per file and the copy that would join them: a
    folder's files are read straight into the buffer that becomes their Arrow column.

    Raises:
        InvalidArgument: the file cannot be read, or its size is no longer its listed size.
    """
    spare = bytearray(1)  # a byte read into it means the file grew since it was listed
    try:
        fd = os.open(file.source, _O_READ)
        try:
            got = os.readv(fd, [view, spare])
            while 0 < got < file.size:  # a short read: read on (0 bytes more means the file shrank)
                more = os.readv(fd, [view[got:], spare])
                if more == 0:
                    break
                got += more
        finally:
            os.close(fd)
    except OSError as e:
        msg = f"cannot read {file.source!r}: {e.strerror or e}"
        raise InvalidArgument(msg) from e
    if got != file.size:
        msg = f"file {file.source!r} changed while it was being read; nothing was written"
        raise InvalidArgument(msg)


def digest(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def probe(path: str, *, data: bytes | memoryview | None = None, local: Path | None = None) -> Probe:
    """Media type from the name; image width/height from the header (Pillow); WAV duration from its header.

    A file whose header does not parse keeps its media type and gets no size or duration: the dataset holds
    the bytes as they are.
    """
    media_type = _media_type(path)
    if not media_type.startswith(("image/", "audio/")):
        return _plain_probe(media_type)
    source: Any = _source(data, local)
    if media_type.startswith("image/"):
        from lakehouse._optional import import_optional

        image = import_optional("PIL.Image", extra="files", purpose="reading image sizes")
        try:
            with image.open(source) as img:  # reads the header only; pixels are decoded on demand
                width, height = img.size
        except Exception:  # noqa: BLE001 - any unreadable header means "no size known", never a failed add
            return Probe(media_type)
        return Probe(media_type, int(width), int(height))
    if media_type in ("audio/x-wav", "audio/wav", "audio/vnd.wave"):
        try:
            with wave.open(source, "rb") as wav:
                rate = wav.getframerate()
                return Probe(media_type, duration=wav.getnframes() / rate if rate else None)
        except (wave.Error, EOFError, OSError):
            return Probe(media_type)
    return Probe(media_type)


def _media_type(path: str) -> str:
    """``mimetypes.guess_type(path, strict=False)``, or octet-stream; looked up once per extension.

    A name whose last extension is a suffix alias (``.tgz``) or an encoding (``.gz``), or a path with a ``:``
    (a URL scheme to mimetypes), is looked up whole; any other name's type depends on its extension alone.
    """
    known = None if ":" in path else _extension_type(_extension(path))
    return known or mimetypes.guess_type(path, strict=False)[0] or OCTET_STREAM


def _extension(path: str) -> str:
    """``posixpath.splitext(path)[1]``, without its generality: this runs once per file of a folder."""
    start = path.rfind("/") + 1  # where the last name starts
    dot = path.rfind(".", start)
    # No dot, or only leading dots before it (".bashrc", "..x"): splitext finds no extension there either.
    if dot < 0 or not path[start:dot].strip("."):
        return ""
    return path[dot:]


@lru_cache(maxsize=1024)
def _extension_type(ext: str) -> str | None:
    """The media type of any name ending in ``ext``; None if the name must be looked up whole."""
    lower = ext.lower()
    if lower in mimetypes.suffix_map or ext in mimetypes.encodings_map:
        return None
    return mimetypes.guess_type(f"x{lower}", strict=False)[0] or OCTET_STREAM


@lru_cache(maxsize=1024)
def _plain_probe(media_type: str) -> Probe:
    return Probe(media_type)  # one value per type, shared: a file with no size or duration to read


def _source(data: bytes | memoryview | None, local: Path | None) -> Any:
    import io

    if data is not None:
        return io.BytesIO(data)
    return str(local)
