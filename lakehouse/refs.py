"""The one reference grammar used by the Python API, the CLI, the app and lineage.

``name`` or ``name:latest`` (newest) · ``name:v7`` (version 7) · ``name:<tag>`` · ``name@<ISO time>``
(the version current at that time); ``name:<ref>..<ref>`` names two versions of one dataset (a range, for
diffs). Names are ``^[a-z0-9][a-z0-9._-]{0,127}$``: nothing that can leave
the root. ``latest`` and ``v<digits>`` are reserved and cannot be tag names.

Lineage also takes ``wandb-artifacts/<artifact ref>``: a W&B artifact version (the ``/`` no dataset name can hold
marks it; :func:`lakehouse.tracking.wandb_artifacts.lineage_ref`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from lakehouse.errors import InvalidName, InvalidRef

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}", re.ASCII)
_VERSION = re.compile(r"v(\d+)", re.ASCII)
LATEST = "latest"
NAME_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter or digit, at most 128 characters"


def validate_name(name: object, *, kind: str = "dataset") -> str:
    """Return ``name`` if it is a valid dataset/tag name, else raise :class:`InvalidName`."""
    if not isinstance(name, str):
        msg = f"{kind} name must be a string, got {type(name).__name__} {name!r}"
        raise InvalidName(msg)
    if not _NAME.fullmatch(name):
        msg = f"invalid {kind} name {name!r}: use {NAME_RULE}"
        raise InvalidName(msg)
    return name


def is_reserved_tag(tag: str) -> bool:
    """True for the words the ref grammar owns: ``latest`` and ``v<digits>``."""
    return tag == LATEST or _VERSION.fullmatch(tag) is not None


def validate_tag(tag: object, *, kind: str = "tag") -> str:
    """Return ``tag`` if it can be used as a tag name (``kind="alias"``: a model alias), else raise
    :class:`InvalidName`."""
    name = validate_name(tag, kind=kind)
    if is_reserved_tag(name):
        match = _VERSION.fullmatch(name)
        how = f"refer to version {match.group(1)} as ':{name}' directly" if match else "it always means the newest"
        msg = (
            f"{kind} name {name!r} is reserved by the ref grammar ('latest' is the newest version and "
            f"'v<N>' is version N); {how}, and pick another {kind} name such as 'prod' or 'release-{name}'"
        )
        raise InvalidName(msg)
    return name


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 time; a time without an offset is taken as UTC. Returns an aware UTC datetime."""
    raw = text.strip()
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError as e:
        msg = f"invalid time {text!r}: use ISO 8601, e.g. 2026-11-01T12:00:00Z"
        raise InvalidRef(msg) from e
    return as_utc(when)


def as_utc(when: datetime) -> datetime:
    """Return ``when`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


@dataclass(frozen=True)
class Ref:
    """A parsed reference to one dataset version: at most one of ``version``, ``tag``, ``as_of`` is set."""

    name: str
    version: int | None = None
    tag: str | None = None
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        validate_name(self.name)
        chosen = [x for x in (self.version, self.tag, self.as_of) if x is not None]
        if len(chosen) > 1:
            msg = f"reference to {self.name!r} can select by version, tag or time, not several at once"
            raise InvalidRef(msg)
        if self.version is not None and (isinstance(self.version, bool) or self.version < 0):
            msg = f"version of {self.name!r} must be a non-negative integer, got {self.version!r}"
            raise InvalidRef(msg)
        if self.tag is not None:
            validate_name(self.tag, kind="tag")

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.tag is None and self.as_of is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:v{self.version}"
        if self.tag is not None:
            return f"{self.name}:{self.tag}"
        if self.as_of is not None:
            return f"{self.name}@{self.as_of.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
        return self.name


def parse_ref(text: object, *, kind: str = "dataset") -> Ref:
    """Parse ``name``, ``name:latest``, ``name:v7``, ``name:<tag>`` or ``name@<ISO time>``.

    ``kind`` names what the reference points into (``dataset``, ``model``) in error messages.
    """
    if not isinstance(text, str) or not text:
        msg = f"a reference must be a non-empty string like 'mnist:v3', got {text!r}"
        raise InvalidRef(msg)
    if "@" in text:
        name, _, when = text.partition("@")
        _check_name_part(name, text, kind)
        if not when:
            msg = f"invalid reference {text!r}: nothing after '@'; expected a time like {name}@2026-11-01T00:00:00Z"
            raise InvalidRef(msg)
        return Ref(name, as_of=parse_time(when))
    name, sep, selector = text.partition(":")
    _check_name_part(name, text, kind)
    if not sep:
        return Ref(name)
    if not selector:
        msg = f"invalid reference {text!r}: nothing after ':'; expected a version (v3), a tag, or 'latest'"
        raise InvalidRef(msg)
    if selector == LATEST:
        return Ref(name)
    match = _VERSION.fullmatch(selector)
    if match:
        return Ref(name, version=int(match.group(1)))
    if not _NAME.fullmatch(selector):
        msg = f"invalid reference {text!r}: {selector!r} is neither a version (v<N>) nor a valid tag ({NAME_RULE})"
        raise InvalidRef(msg)
    return Ref(name, tag=selector)


def _check_name_part(name: str, text: str, kind: str) -> None:
    if not _NAME.fullmatch(name):
        msg = f"invalid reference {text!r}: {kind} name {name!r} must use {NAME_RULE}"
        raise InvalidRef(msg)


RANGE = ".."


def is_range(text: str) -> bool:
    """True if ``text`` is written as a range of two versions (``digits:v2..v3``).

    The left side must select a version (``:`` or ``@``): dataset names may themselves hold ``..``.
    """
    left, sep, _ = text.rpartition(RANGE)
    return bool(sep) and (":" in left or "@" in left)


def parse_range(text: object) -> tuple[Ref, Ref]:
    """Parse ``name:<a>..<b>``: two versions of one dataset, e.g. ``digits:v2..v3`` or ``digits:raw..prod``.

    ``<a>`` is any selector of :func:`parse_ref` (``v2``, a tag, ``latest``, or ``name@<time>``); ``<b>`` a
    selector of the same dataset (``v3``, a tag, ``latest`` or ``@<time>``).
    """
    if not isinstance(text, str) or not is_range(text):
        msg = f"a version range must look like 'name:v2..v3', got {text!r}"
        raise InvalidRef(msg)
    left, _, right = text.rpartition(RANGE)
    start = parse_ref(left)
    if not right:
        msg = f"invalid range {text!r}: nothing after '..'; expected a version such as v3, a tag, or 'latest'"
        raise InvalidRef(msg)
    end = parse_ref(start.name + right if right.startswith("@") else f"{start.name}:{right}")
    return start, end
