"""URL query parameters: how a view is shared as a link, and how a bad one is explained."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import streamlit as st

from lakehouse.app.shell import error, guarded

T = TypeVar("T")


def raw(key: str) -> str | None:
    """The value of ``?key=`` in the URL, if any."""
    value = st.query_params.get(key)
    return value or None


def raw_list(key: str) -> list[str]:
    """All values of ``?key=a,b`` or ``?key=a&key=b``, in order, without duplicates."""
    values: list[str] = []
    for item in st.query_params.get_all(key):
        for part in item.split(","):
            part = part.strip()
            if part and part not in values:
                values.append(part)
    return values


def choice(
    label: str,
    options: Sequence[T],
    *,
    key: str,
    index: int = 0,
    explain: Callable[[str], Any] | None = None,
    format_func: Callable[[T], str] = str,
    **kwargs: Any,
) -> T | None:
    """A selectbox whose value lives in the URL (``?key=``) so the view can be shared as a link.

    Streamlit silently drops a URL value that is not an option; we say why first: ``explain(value)``
    should raise the lakehouse error that describes the bad value (e.g. ``VersionNotFound``).
    """
    given = raw(key)
    # Streamlit writes the option's label (``format_func(option)``) into the URL.
    if given is not None and given not in {format_func(o) for o in options}:
        with guarded(label):
            if explain is not None:
                explain(given)
            error(f"`{key}={given}` in the URL is not a valid {label.lower()}; showing the default instead.")
    picked: T | None = st.selectbox(
        label, options, index=index, key=key, bind="query-params", format_func=format_func, **kwargs
    )
    return picked
