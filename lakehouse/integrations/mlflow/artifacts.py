"""MLflow's artifact repository for ``lakehouse:`` artifact URIs: files MLflow logs land in the object store.

MLflow picks an artifact repository by the scheme of a run's (or logged model's) artifact URI; this package
registers :class:`LakehouseArtifactRepository` for ``lakehouse`` (entry point group
``mlflow.artifact_repository``). The tracking store gives new experiments the location
``lakehouse:///<root>/_artifacts/<experiment id>``, so

- a run's artifact URI is ``lakehouse:///<root>/_artifacts/<experiment id>/<run id>/artifacts``: its files are
  the run's artifacts, the same ones ``run.log_artifact`` logs and ``lh.artifacts(run_id)`` lists;
- an MLflow 3 logged model's is ``.../<experiment id>/models/<model id>/artifacts``: its files are indexed under
  the model id (``m-...``) in place of a run id.

``_artifacts`` is only a name inside the URI: no file is written there. Bytes go to ``_objects`` (deduplicated,
verified on read), rows to ``tracking/artifacts``, through :mod:`lakehouse.tracking.artifacts`.

A URI naming a root alone (``lakehouse:///<root>``, optionally with ``/_artifacts``) is a *destination*: what
``mlflow server --artifacts-destination`` takes when the server proxies artifacts (clients then see
``mlflow-artifacts:/<experiment id>/<run id>/artifacts``). The server hands the repository paths relative to
the destination, which start with that same ``<experiment id>/<run id>/artifacts`` (or
``<experiment id>/models/<model id>/artifacts``): each call finds the run or model from its path.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

import lakehouse
from lakehouse.errors import InvalidArgument, LakehouseError
from lakehouse.integrations.mlflow._errors import to_mlflow
from lakehouse.integrations.mlflow.uri import SCHEME, uri_for
from lakehouse.tracking import artifacts

#: The path segment after the root that starts the artifact part of a lakehouse artifact URI.
ARTIFACTS_SEGMENT = "_artifacts"


def artifact_root(root: Path | str) -> str:
    """The artifact root the tracking store gives a lakehouse root: ``lakehouse:///<root>/_artifacts`` (or
    ``lakehouse:s3://<bucket>/<prefix>/_artifacts``)."""
    return f"{uri_for(root)}/{ARTIFACTS_SEGMENT}"


@dataclass(frozen=True)
class Location:
    """What a lakehouse artifact URI names: the root, the owner (run id or logged model id), a folder in it."""

    root: str  # what lakehouse.connect takes: a local path or s3://bucket/prefix
    owner: str
    prefix: str  # "" for the owner's top folder

    def join(self, *parts: str | None) -> str:
        return posixpath.join(self.prefix, *(p.strip("/") for p in parts if p)).strip("/")


def parse(uri: str) -> Location:
    """The :class:`Location` of ``lakehouse:///<root>/_artifacts/<exp>/<run id>/artifacts[/path]`` (or
    ``.../<exp>/models/<model id>/artifacts[/path]``); :class:`InvalidArgument` for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME or parsed.netloc not in ("", "localhost") or parsed.query or parsed.fragment:
        msg = f"not a lakehouse artifact URI: {uri!r}"
        raise InvalidArgument(msg)
    path = unquote(parsed.path)
    # lakehouse:s3://bucket/prefix/...: the bucket part is kept whole, the parts below it are searched.
    scheme, sep, below = path.partition("://")
    head = f"{scheme}://" if sep else ""
    parts = (below if sep else path).split("/")
    for i, part in enumerate(parts):
        if part != ARTIFACTS_SEGMENT:
            continue
        rest = parts[i + 2 :]  # after the experiment id
        if len(rest) >= 2 and rest[1] == "artifacts" and rest[0]:
            owner, sub = rest[0], rest[2:]
        elif len(rest) >= 3 and rest[0] == "models" and rest[2] == "artifacts" and rest[1]:
            owner, sub = rest[1], rest[3:]
        else:
            continue
        prefix = "/".join(p for p in sub if p)
        if prefix:
            artifacts.check_path(prefix)
        return Location(head + ("/".join(parts[:i]) or "/"), owner, prefix)
    msg = (
        f"lakehouse artifact URI {uri!r} names no run or model: expected "
        f"lakehouse:///<root>/{ARTIFACTS_SEGMENT}/<experiment id>/<run id>/artifacts[/path]"
    )
    raise InvalidArgument(msg)


def destination_root(uri: str) -> str | None:
    """The root a destination URI names (``lakehouse:///<root>`` or ``lakehouse:///<root>/_artifacts``), or None
    when ``uri`` is not one (it names a run or a model, or is not a lakehouse URI)."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME or parsed.netloc not in ("", "localhost") or parsed.query or parsed.fragment:
        return None
    path = unquote(parsed.path).rstrip("/")
    if not path or path.endswith("://"):
        return None
    parts = path.split("/")
    if ARTIFACTS_SEGMENT in parts[:-1]:
        return None  # below _artifacts: a run's or a model's location
    if parts[-1] == ARTIFACTS_SEGMENT:
        path = path[: -len(ARTIFACTS_SEGMENT) - 1] or "/"
    return path


@dataclass(frozen=True)
class _Place:
    """Where a path handed to the repository points: whose artifacts, which folder of them, and the path that
    folder has as the repository shows it (listings are relative to the repository)."""

    location: Location
    shown: str  # the repository-relative path of ``location.prefix``

    def show(self, inner: str) -> str:
        """The repository-relative path of ``inner`` (a path among the owner's artifacts, below the prefix)."""
        rest = inner[len(self.location.prefix) :].lstrip("/") if self.location.prefix else inner
        return posixpath.join(self.shown, rest).strip("/") if rest else self.shown


class LakehouseArtifactRepository(ArtifactRepository):
    """Artifacts of one run (or logged model) in the lakehouse object store, for the MLflow client and server;
    or, given a destination URI, of every run and model, as ``mlflow server`` proxies them."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        try:
            root = destination_root(artifact_uri)
            self.location: Location | None = None
            if root is None:
                self.location = parse(artifact_uri)
                root = self.location.root
            self.root = root
            self.lakehouse = lakehouse.connect(root)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    def _place(self, path: str | None) -> _Place:
        """Where ``path`` (relative to this repository) points; :class:`InvalidArgument` for a destination path
        above a run's or model's artifacts."""
        if self.location is not None:
            return _Place(replace(self.location, prefix=self.location.join(path)), (path or "").strip("/"))
        inner = "/".join(p for p in (path or "").split("/") if p)
        return _Place(parse(f"{artifact_root(self.root)}/{inner}"), inner)

    # --- writing -------------------------------------------------------------------------------------------

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        self._log(
            artifact_path,
            lambda folder: artifacts.plan_file(local_file, name=posixpath.join(folder, Path(local_file).name)),
        )

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        self._log(artifact_path, lambda folder: artifacts.plan_folder(local_dir, prefix=folder or None))

    def _log(self, artifact_path: str | None, plan: Any) -> None:
        lh = self.lakehouse
        try:
            place = self._place(artifact_path)
            owner, folder = place.location.owner, place.location.prefix
            artifacts.log_files(lh.layout, lh.settings, owner, plan(folder), actor=lh.actor)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        lh = self.lakehouse
        try:
            place = self._place(artifact_path)
            owner, folder = place.location.owner, place.location.prefix
            for path in artifacts.listing(lh.layout, owner).get_column("path").to_list():
                if not folder or path == folder or path.startswith(folder + "/"):
                    artifacts.delete(lh.layout, lh.settings, owner, path, actor=lh.actor)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    # --- reading -------------------------------------------------------------------------------------------

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly inside ``path`` (relative to this repository), as MLflow lists them.

        A destination lists nothing above a run's or model's artifacts (experiments and runs are the tracking
        store's to list)."""
        try:
            place = self._place(path)
        except InvalidArgument:
            if self.location is None:
                return []
            raise
        folder = place.location.prefix
        below = folder + "/" if folder else ""
        found: dict[str, FileInfo] = {}
        for row in artifacts.listing(self.lakehouse.layout, place.location.owner).iter_rows(named=True):
            full: str = row["path"]
            if not full.startswith(below):
                continue
            head, slash, _ = full[len(below) :].partition("/")
            entry = place.show(below + head)
            found.setdefault(entry, FileInfo(entry, True, None) if slash else FileInfo(entry, False, row["size"]))
        return [found[k] for k in sorted(found)]

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        try:
            location = self._place(remote_file_path).location
            artifacts.get(self.lakehouse.layout, location.owner, location.prefix).download(local_path)
        except LakehouseError as e:
            raise to_mlflow(e) from e
