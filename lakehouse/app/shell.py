"""The frame around every page: the connection, the sidebar, and errors shown as messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

import lakehouse

log = logging.getLogger("lakehouse.app")


@st.cache_resource(show_spinner=False)
def _connect(root: str) -> lakehouse.Lakehouse:
    return lakehouse.connect(root)


def handle() -> lakehouse.Lakehouse:
    """The lakehouse this server was started on (settings: ``LAKEHOUSE_ROOT`` or ``conf/lakehouse.toml``)."""
    return _connect(str(lakehouse.Location.of(lakehouse.load_settings().root)))


def root() -> lakehouse.Location:
    return handle().root


Stamp = tuple[str, tuple[tuple[str, int], ...]]


def stamp(*prefixes: str) -> Stamp:
    """The root and the versions of its tables under ``prefixes`` (all if none): the cache key of a read.

    Cached reads take it as an argument, so a new commit to any table they read changes their key.
    """
    lh = handle()
    versions = lh.table_versions()
    return str(lh.root), tuple(sorted((k, v) for k, v in versions.items() if not prefixes or k.startswith(prefixes)))


def sidebar() -> None:
    with st.sidebar:
        st.caption(f"Lakehouse root  \n`{root()}`")
        st.caption("Read-only. Reload the page to see new commits.")


def error(message: str) -> None:
    """Show a problem as one message, never a traceback."""
    st.error(message, icon=":material/error:")


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Turn exceptions raised in the block into a message; the rest of the page keeps rendering.

    Lakehouse errors are the visitor's to fix (a bad ref, an unknown run) and are shown as they are.
    Anything else is a bug: the message says so and the traceback goes to the server log only.
    Streamlit's own control flow (``st.stop``, ``st.rerun``, page switches) derives from BaseException
    and passes through.
    """
    try:
        yield
    except lakehouse.LakehouseError as e:
        error(str(e))
    except Exception as e:
        log.exception("unexpected error in %s", what)
        error(f"{what} failed unexpectedly ({type(e).__name__}: {e}); the server log has the details.")


def empty_lakehouse(what: str) -> None:
    """The empty state: say what is missing and what to run."""
    st.info(
        f"No {what} under `{root()}` yet.\n\n"
        "To explore a sample lakehouse, run `make demo` (or `lakehouse demo --root DIR`, then "
        "`lakehouse app --root DIR`).",
        icon=":material/lightbulb:",
    )


def table(frame: Any, *, key: str, grid_key: str | None = None, **kwargs: Any) -> Any:
    """``st.dataframe`` in a container keyed ``key`` (tests and the browser find a table by it).

    A selectable table's own state is ``st.session_state[grid_key]`` (default ``key + "_grid"``).
    """
    with st.container(key=key):
        if "on_select" in kwargs:
            kwargs["key"] = grid_key or f"{key}_grid"
        return st.dataframe(frame, hide_index=True, **kwargs)
