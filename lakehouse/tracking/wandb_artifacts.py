"""W&B-style artifacts: named, versioned sets of files with aliases, built on run artifacts.

The files of version N of artifact ``name`` are artifacts of the run that logged it, under
``wandb-artifacts/<name>/v<N>/<path>`` (stored once in the object store, indexed in ``tracking/artifacts``).
Which versions and aliases exist is the append-only event table ``tracking/wandb_artifacts``: one ``version``
row per version (its run, type, manifest digest, description, metadata) and one ``alias`` row each time an alias
is set to a version. **The fold** (:func:`fold`): versions are the ``version`` rows; an alias points where its
newest ``alias`` row says; ``latest`` is the highest version (never stored).

Logging follows W&B: a new version only when the manifest (every file's path, sha256 and size) differs from
every version of that name; an unchanged artifact logged again writes nothing but moved aliases. The order keeps
a crash harmless: every input is checked first (nothing is written for bad input), then the objects are stored,
then the files are indexed for the run, and last the version row commits, guarded per name (an app
transaction conflicting with any other commit for that name since the state was read): two processes logging
the same name at once cannot both make version N; the one that lost reads again and retries. A lost race or a
crash before the last commit can leave index rows under an unused ``v<N>`` prefix of the run; they are plain
run artifacts, never a version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import WANDB_ARTIFACTS, append_rows
from lakehouse.config import Settings
from lakehouse.errors import ArtifactNotFound, CommitConflict, CorruptObject, InvalidArgument, InvalidRef, closest
from lakehouse.query import frames
from lakehouse.refs import LATEST, parse_ref, validate_name, validate_tag
from lakehouse.tracking import artifacts

#: The folder of a run's artifacts that holds the files of the W&B artifact versions it logged.
PREFIX = "wandb-artifacts"
#: ``tracking/inputs`` records a use with ``dataset`` = ``wandb-artifacts/<name>``: a name the dataset grammar
#: cannot produce, so it never pins or shows as a dataset version. The same prefix makes an artifact reference a
#: lineage reference (:func:`lineage_ref`): ``wandb-artifacts/<name>:v0``, as the ``inputs`` of ``lh.runs()``
#: show it.
INPUT_CONTEXT = "wandb.artifact"
_ATTEMPTS = 5


@dataclass(frozen=True)
class Version:
    """One version of an artifact: where its files are (``run_id``, :attr:`prefix`) and what it is."""

    name: str
    version: int
    type: str
    run_id: str
    digest: str
    description: str | None
    metadata: Mapping[str, Any]
    aliases: tuple[str, ...]
    logged_at: datetime

    @property
    def ref(self) -> str:
        """``name:v<N>``."""
        return f"{self.name}:v{self.version}"

    @property
    def prefix(self) -> str:
        """The artifact path (in the logging run) under which this version's files are."""
        return version_prefix(self.name, self.version)

    @property
    def input_dataset(self) -> str:
        """The ``dataset`` value of the ``tracking/inputs`` row recording a use of this artifact."""
        return f"{PREFIX}/{self.name}"

    @property
    def lineage_ref(self) -> str:
        """``wandb-artifacts/<name>:v<N>``: this version for ``lh.lineage``, as ``lh.runs()`` lists its uses."""
        return f"{self.input_dataset}:v{self.version}"


def lineage_ref(ref: str) -> str | None:
    """The artifact reference (``name:v0``, ``name:latest``, ``name:<alias>``) inside a lineage reference
    ``wandb-artifacts/<artifact reference>``, or None for any other text (a dataset reference: dataset names
    cannot hold ``/``)."""
    head, sep, rest = ref.partition("/")
    return rest if sep and head == PREFIX else None


def version_prefix(name: str, version: int) -> str:
    return f"{PREFIX}/{name}/v{version}"


def manifest_digest(entries: Sequence[tuple[str, str, int]]) -> str:
    """The sha256 of a manifest: its ``(path, file sha256, size)`` entries, sorted by path."""
    hasher = hashlib.sha256()
    for path, digest, size in sorted(entries):
        hasher.update(f"{path}\t{digest}\t{size}\n".encode())
    return hasher.hexdigest()


# --- checking input ---------------------------------------------------------------------------------------


def check_name(name: object) -> str:
    """An artifact name: the dataset name grammar (``lakehouse.refs``)."""
    return validate_name(name, kind="artifact")


def check_aliases(aliases: object) -> tuple[str, ...]:
    """User aliases, checked (tag grammar; ``v<N>`` is reserved). ``latest`` is accepted and dropped: it always
    names the newest version, as in W&B."""
    if aliases is None:
        return ()
    if isinstance(aliases, str) or not isinstance(aliases, Sequence):
        msg = f"aliases must be a list of strings, got {aliases!r}"
        raise InvalidArgument(msg)
    out: list[str] = []
    for alias in aliases:
        if alias == LATEST:
            continue
        checked = validate_tag(alias, kind="alias")
        if checked not in out:
            out.append(checked)
    return tuple(out)


def check_sources(files: Sequence[tuple[Path, str]]) -> None:
    """Every source is an existing file and every path is a clean relative path given once: checked before
    anything is written."""
    seen: set[str] = set()
    for source, path in files:
        artifacts.check_path(path, what="path in the artifact")
        if path in seen:
            msg = f"path {path!r} is added twice to the artifact"
            raise InvalidArgument(msg)
        seen.add(path)
        artifacts.check_local(source, kind="file", hint="add a folder with add_dir")


# --- reading ----------------------------------------------------------------------------------------------


def fold(events: pl.DataFrame) -> list[Version]:
    """Every version with its current aliases (see the module docstring), by name and version."""
    ordered = events.sort("seq", maintain_order=True)
    aliases = (
        ordered.filter(pl.col("kind") == "alias")
        .unique(["name", "alias"], keep="last", maintain_order=True)
        .select("name", "alias", "version")
    )
    pointing: dict[tuple[str, int], list[str]] = {}
    for name, alias, version in aliases.iter_rows():
        pointing.setdefault((name, version), []).append(alias)
    rows = ordered.filter(pl.col("kind") == "version").unique(["name", "version"], keep="first").sort("name", "version")
    newest = dict(rows.group_by("name").agg(pl.col("version").max()).iter_rows())
    out = []
    for r in rows.iter_rows(named=True):
        own = sorted(pointing.get((r["name"], r["version"]), []))
        if newest[r["name"]] == r["version"]:
            own = [LATEST, *own]
        out.append(
            Version(
                name=r["name"],
                version=int(r["version"]),
                type=r["type"],
                run_id=r["run_id"],
                digest=r["digest"],
                description=r["description"],
                metadata=json.loads(r["metadata"] or "{}"),
                aliases=tuple(own),
                logged_at=r["at"],
            )
        )
    return out


def _state(layout: Layout) -> tuple[pl.DataFrame, int | None]:
    return frames.versioned_frame(layout.wandb_artifacts, WANDB_ARTIFACTS)


def versions(layout: Layout, name: str | None = None) -> list[Version]:
    """Every version (of ``name``), oldest first."""
    found = fold(_state(layout)[0])
    return [v for v in found if name is None or v.name == name]


def table(found: Sequence[Version]) -> pl.DataFrame:
    """Versions as a frame: ``ref`` (the lineage reference, ``wandb-artifacts/<name>:v<N>``), ``name``,
    ``version``, ``type``, ``aliases``, ``logged_by`` (the run holding the files), ``logged_at``,
    ``description``, ``digest``."""
    return pl.DataFrame(
        {
            "ref": [v.lineage_ref for v in found],
            "name": [v.name for v in found],
            "version": [v.version for v in found],
            "type": [v.type for v in found],
            "aliases": [list(v.aliases) for v in found],
            "logged_by": [v.run_id for v in found],
            "logged_at": [v.logged_at for v in found],
            "description": [v.description for v in found],
            "digest": [v.digest for v in found],
        },
        schema={
            "ref": pl.String,
            "name": pl.String,
            "version": pl.Int64,
            "type": pl.String,
            "aliases": pl.List(pl.String),
            "logged_by": pl.String,
            "logged_at": pl.Datetime("us", "UTC"),
            "description": pl.String,
            "digest": pl.String,
        },
    )


def resolve(layout: Layout, ref: object) -> Version:
    """The version ``name``, ``name:latest``, ``name:v<N>`` or ``name:<alias>`` names; :class:`ArtifactNotFound`
    naming what is missing (with the nearest names or aliases)."""
    parsed = parse_ref(ref, kind="artifact")
    if parsed.as_of is not None:
        msg = f"artifact reference {ref!r}: select a version (v<N>), an alias or 'latest', not a time"
        raise InvalidRef(msg)
    every = versions(layout)
    own = [v for v in every if v.name == parsed.name]
    if not own:
        names = sorted({v.name for v in every})
        hint = closest(parsed.name, names) if names else "; no artifact has been logged under this root"
        msg = f"no artifact named {parsed.name!r}{hint}"
        raise ArtifactNotFound(msg)
    if parsed.version is not None:
        chosen = [v for v in own if v.version == parsed.version]
        what = f"version v{parsed.version}"
    elif parsed.tag is not None:
        chosen = [v for v in own if parsed.tag in v.aliases]
        what = f"alias {parsed.tag!r}"
    else:
        chosen, what = own[-1:], LATEST
    if not chosen:
        known = ", ".join([f"v{v.version}" for v in own] + sorted({a for v in own for a in v.aliases if a != LATEST}))
        msg = f"artifact {parsed.name!r} has no {what} (it has {known})"
        raise ArtifactNotFound(msg)
    return chosen[0]


def files(layout: Layout, found: Version) -> list[artifacts.Artifact]:
    """The version's files as run artifacts, checked against its manifest digest."""
    start = f"{found.prefix}/"
    listing = artifacts.listing(layout, found.run_id).filter(pl.col("path").str.starts_with(start))
    held = [
        artifacts.Artifact(found.run_id, r["path"], r["digest"], int(r["size"]), r["logged_at"], layout)
        for r in listing.iter_rows(named=True)
    ]
    actual = manifest_digest([(a.path[len(start) :], a.digest, a.size) for a in held])
    if actual != found.digest:
        msg = (
            f"the files of artifact {found.ref} (run {found.run_id}, {start}) no longer match its manifest "
            f"{found.digest[:12]}: an artifact of the run was replaced or deleted"
        )
        raise CorruptObject(msg)
    return held


# --- writing ----------------------------------------------------------------------------------------------


def log(
    layout: Layout,
    settings: Settings,
    run_id: str,
    *,
    name: str,
    type_: str,
    entries: Sequence[tuple[Path, str]],
    aliases: Sequence[str] = (),
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> Version:
    """Log ``entries`` (local file, path in the artifact) as the next version of ``name``, or find the version
    with the same manifest; set ``aliases`` on it. Returns the version."""
    check_name(name)
    validate_name(type_, kind="artifact type")
    wanted = check_aliases(aliases)
    check_sources(entries)
    meta = json.dumps(dict(metadata or {}), sort_keys=True, default=str)
    refs = [layout.objects.put_file(source) for source, _ in entries]
    digest = manifest_digest([(p, r.digest, r.size) for (_, p), r in zip(entries, refs, strict=True)])
    for _attempt in range(_ATTEMPTS):
        events, table_version = _state(layout)
        own = [v for v in fold(events) if v.name == name]
        same = next((v for v in own if v.digest == digest), None)
        number = same.version if same else (own[-1].version + 1 if own else 0)
        now = datetime.now(UTC)
        seq = events.filter(pl.col("name") == name).height
        rows: list[Mapping[str, Any]] = []
        if same is None:
            planned = [(source, f"{version_prefix(name, number)}/{path}") for source, path in entries]
            artifacts.log_files(layout, settings, run_id, planned, actor=actor)
            seq += 1
            rows.append(
                {
                    "name": name,
                    "kind": "version",
                    "version": number,
                    "run_id": run_id,
                    "type": type_,
                    "digest": digest,
                    "description": description,
                    "metadata": meta,
                    "seq": seq,
                    "actor": actor,
                    "at": now,
                }
            )
        for alias in wanted:
            if same is not None and alias in same.aliases:
                continue
            seq += 1
            rows.append(
                {
                    "name": name,
                    "kind": "alias",
                    "version": number,
                    "alias": alias,
                    "seq": seq,
                    "actor": actor,
                    "at": now,
                }
            )
        if same is not None and not rows:
            return same  # unchanged files and aliases: nothing is written
        try:
            append_rows(
                layout.wandb_artifacts,
                WANDB_ARTIFACTS,
                rows,
                settings,
                app_transaction=(f"lakehouse.wandb-artifact/{name}", seq),
                read_version=table_version,
            )
        except CommitConflict:
            continue
        return next(v for v in versions(layout, name) if v.version == number)
    msg = f"artifact {name!r} kept changing while it was logged; gave up after {_ATTEMPTS} tries"
    raise CommitConflict(msg)
