"""What the lakehouse keeps in memory, owned per root: one place to find it, drop it, and reset it after fork.

Every in-memory cache (warm Delta tables, table frames, folded runs, snapshots...) and every long-lived
object (the metrics writers) belongs to the :class:`RootState` of the root whose tables it holds, as a
``DeltaTable`` owns its loaded state. Each kind is a small class with its own lock, created on first use:

- :meth:`RootState.cache` holds what can be read again: :meth:`RootState.forget` (``Lakehouse.forget()``) and
  :func:`forget` drop it;
- :meth:`RootState.keep` holds what lives on (the writers): a drop leaves it, and after ``fork`` its
  ``after_fork()`` runs in the child.

One fork hook resets everything in a child process: a thread of the parent may have held any of these locks
at fork time, and the child must not reuse the parent's warm tables or buffers. Roots are told apart by their
normalized form (:func:`root_key`), so several roots in one process, later with different storage
credentials, never share a cache. Code that only has a table path finds the root holding it with
:func:`owner`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar


class Lasting(Protocol):
    """An object that outlives a drop of the caches and is told when the process forked."""

    def after_fork(self) -> None: ...


C = TypeVar("C")
L = TypeVar("L", bound=Lasting)


def root_key(root: str | os.PathLike[str]) -> str:
    """The normalized form of a root or table location: an absolute path, or a URI without a trailing slash."""
    text = str(root)
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).expanduser().absolute())


class RootState:
    """The caches and lasting objects of one root."""

    def __init__(self, root: str) -> None:
        self.root = root
        # The storage options of a bucket root (lakehouse.object_storage), set when a connection opens it; what
        # storage and fileio hand the engines for every table and file under it. Empty: the engines' defaults.
        self.storage_options: Mapping[str, str] = {}
        self._lock = threading.Lock()
        self._caches: dict[type, object] = {}
        self._kept: dict[type, Lasting] = {}

    def __repr__(self) -> str:
        return f"RootState(root={self.root!r})"

    def cache(self, kind: type[C]) -> C:
        """This root's cache of ``kind`` (created by ``kind()`` on first use; dropped by :meth:`forget`)."""
        return self._get(self._caches, kind)

    def keep(self, kind: type[L]) -> L:
        """This root's lasting object of ``kind`` (created on first use; survives :meth:`forget`)."""
        return self._get(self._kept, kind)

    def _get(self, store: dict[type, Any], kind: type[C]) -> C:
        with self._lock:
            found: C | None = store.get(kind)  # each entry is stored under its own class
            if found is None:
                found = store[kind] = kind()
        return found

    def kept(self, kind: type[L]) -> L | None:
        """The lasting object of ``kind`` if one was created."""
        with self._lock:
            return self._kept.get(kind)  # type: ignore[return-value]  # stored under its own class

    def held(self) -> list[str]:
        """Names of the caches and lasting objects held now, caches first (what :meth:`forget` would drop)."""
        with self._lock:
            return [k.__qualname__ for k in self._caches] + [k.__qualname__ for k in self._kept]

    def forget(self) -> None:
        """Drop every cache of this root: the next read loads its tables afresh."""
        with self._lock:
            self._caches.clear()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._caches.clear()
        for lasting in self._kept.values():
            lasting.after_fork()


_roots: dict[str, RootState] = {}  # roots a Layout was made for, by root_key
_unowned: dict[str, RootState] = {}  # table paths read outside any known root, each its own owner
_owners: dict[str, RootState] = {}  # memo: the owner of each path asked for (cleared when a root appears)
_root_of: dict[str, RootState] = {}  # memo: each root as given to of_root, before normalization
_lock = threading.Lock()


def of_root(root: str | os.PathLike[str], *, storage_options: Mapping[str, str] | None = None) -> RootState:
    """The state of ``root`` (registered on first use, so :func:`owner` finds it for the root's tables).

    ``storage_options``: the options every engine gets for the root's tables and files (kept until replaced).
    """
    raw = str(root)
    found = _root_of.get(raw)  # hot: asked on every query, and normalizing a path costs microseconds
    if found is not None:
        if storage_options is not None:
            found.storage_options = dict(storage_options)
        return found
    key = root_key(root)
    with _lock:
        found = _roots.get(key)
        if found is None:
            found = _roots[key] = RootState(key)
            _owners.clear()
        _root_of[raw] = found
        if storage_options is not None:
            found.storage_options = dict(storage_options)
        return found


def owner(path: str | os.PathLike[str]) -> RootState:
    """The state of the known root that holds the table at ``path`` (the path's own if none does)."""
    raw = str(path)
    found = _owners.get(raw)
    if found is not None:
        return found
    key = root_key(path)
    with _lock:
        found = _nearest_root(key)
        if found is None:
            found = _unowned.setdefault(key, RootState(key))
        _owners[raw] = found
        return found


def _nearest_root(key: str) -> RootState | None:
    candidate = key
    while candidate:
        found = _roots.get(candidate)
        if found is not None:
            return found
        parent = candidate.rpartition("/")[0]
        if parent == candidate or parent.endswith(":/"):
            return None
        candidate = parent
    return _roots.get("/")


def states() -> list[RootState]:
    """Every state this process holds, of roots and of tables outside any root."""
    with _lock:
        return [*_roots.values(), *_unowned.values()]


def forget(root: str | os.PathLike[str] | None = None) -> None:
    """Drop the caches of ``root`` (of every root and table if None). Lasting objects stay."""
    if root is not None:
        of_root(root).forget()
        return
    for state in states():
        state.forget()


def _after_fork_in_child() -> None:
    # The one fork hook: new locks everywhere, no cache inherited, each lasting object told.
    global _lock
    _lock = threading.Lock()
    for state in [*_roots.values(), *_unowned.values()]:
        state._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
