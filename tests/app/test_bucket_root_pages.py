"""The app on a bucket root: every page reads the same kinds of things as from a folder, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import OpenApp, build_datasets, build_files, build_runs, errors, frames
from tests.roots import seam

pytestmark = pytest.mark.slow


def test_every_page_reads_a_bucket_root_and_writes_nothing(bucket_root: str, tmp_path: Path, open_app: OpenApp) -> None:
    build_datasets(bucket_root)  # type: ignore[arg-type]
    build_files(bucket_root, tmp_path / "folder")  # type: ignore[arg-type]
    runs = build_runs(bucket_root)  # type: ignore[arg-type]
    runs.live.finish()
    before = {f.path: f.size for f in seam(bucket_root).list_all()}
    assert before
    ids = runs.ids
    visits: list[tuple[str | None, dict[str, str]]] = [
        (None, {"tab": tab}) for tab in ("History", "Schema", "Preview", "Tags", "Runs")
    ]
    visits.append((None, {"dataset": "pics", "tab": "Files", "files_version": "v1"}))
    visits += [
        ("views/experiments.py", {}),
        ("views/compare.py", {"runs": ",".join(ids.values())}),
        ("views/run.py", {"run": ids["mlp-fast"]}),
        ("views/live.py", {"run": ids["mlp-live"]}),
        ("views/sql.py", {}),
    ]
    for page, query in visits:
        at = open_app(bucket_root, page, **query)  # type: ignore[arg-type]
        assert not errors(at), (page, query, errors(at))
    experiments = open_app(bucket_root, "views/experiments.py", experiment="(all experiments)")  # type: ignore[arg-type]
    shown = frames(experiments)["runs_table"]
    assert set(shown.get_column("name")) == set(ids)
    assert dict(shown.select("name", "status").rows())["mlp-live"] == "FINISHED"
    assert {f.path: f.size for f in seam(bucket_root).list_all()} == before
