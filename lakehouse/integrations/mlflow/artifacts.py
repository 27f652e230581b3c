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
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl
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


class LakehouseArtifactRepository(ArtifactRepository):
    """Artifacts of one run (or logged model) in the lakehouse object store, for the MLflow client and server."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        try:
            self.location = parse(artifact_uri)
            self.lakehouse = lakehouse.connect(self.location.root)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    # --- writing -------------------------------------------------------------------------------------------

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        name = self.location.join(artifact_path, Path(local_file).name)
        self._log(lambda: artifacts.plan_file(local_file, name=name))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        prefix = self.location.join(artifact_path) or None
        self._log(lambda: artifacts.plan_folder(local_dir, prefix=prefix))

    def _log(self, plan: Any) -> None:
        lh = self.lakehouse
        try:
            artifacts.log_files(lh.layout, lh.settings, self.location.owner, plan(), actor=lh.actor)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        folder = self.location.join(artifact_path)
        lh = self.lakehouse
        try:
            for path in self._listing().get_column("path").to_list():
                if not folder or path == folder or path.startswith(folder + "/"):
                    artifacts.delete(lh.layout, lh.settings, self.location.owner, path, actor=lh.actor)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    # --- reading -------------------------------------------------------------------------------------------

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly inside ``path`` (relative to this repository), as MLflow lists them."""
        folder = self.location.join(path)
        start = len(self.location.prefix) + 1 if self.location.prefix else 0
        below = folder + "/" if folder else ""
        found: dict[str, FileInfo] = {}
        for row in self._listing().iter_rows(named=True):
            full: str = row["path"]
            if not full.startswith(below):
                continue
            head, slash, _ = full[len(below) :].partition("/")
            entry = (below + head)[start:]
            found.setdefault(entry, FileInfo(entry, True, None) if slash else FileInfo(entry, False, row["size"]))
        return [found[k] for k in sorted(found)]

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        try:
            found = artifacts.get(self.lakehouse.layout, self.location.owner, self.location.join(remote_file_path))
            found.download(local_path)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    def _listing(self) -> pl.DataFrame:
        return artifacts.listing(self.lakehouse.layout, self.location.owner)
