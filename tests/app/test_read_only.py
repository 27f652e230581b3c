"""The app never writes: every page and tab leaves every file under the root as it was."""

from __future__ import annotations

from pathlib import Path

import lakehouse
from tests.app.conftest import OpenApp, build_datasets, build_files, build_runs, errors, tree_state
from tests.app.test_artifact_files import png


def test_visiting_every_page_writes_nothing(tmp_path: Path, open_app: OpenApp) -> None:
    root = tmp_path / "lh"
    build_datasets(root)
    build_files(root, tmp_path / "folder")
    runs = build_runs(root)
    runs.live.finish()
    lakehouse.connect(root).register_model("clf", run="mlp-fast", path="model")
    lakehouse.connect(root).model("clf").set_alias("production", 1)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "weights.bin").write_bytes(b"w" * 100)
    (tmp_path / "files" / "plot.png").write_bytes(png())
    with lakehouse.connect(root).start_run(experiment="files", name="with-files") as run:
        run.log_artifacts(tmp_path / "files", prefix="model")
    lakehouse.connect(root).register_model("clf", run="with-files", path="model")
    before = tree_state(root)
    assert before
    ids = runs.ids
    visits: list[tuple[str | None, dict[str, str]]] = [
        (None, {"tab": tab}) for tab in ("History", "Schema", "Preview", "Files", "Diff", "Tags", "Runs")
    ]
    visits.append((None, {"dataset": "labels", "tab": "Preview", "ref": "labels:v0"}))
    visits.append((None, {"dataset": "pics", "tab": "Files", "files_version": "v1", "files_label": "cat"}))
    visits.append((None, {"dataset": "pics", "tab": "Diff", "a": "v0", "b": "v1"}))
    visits += [
        ("views/experiments.py", {}),
        ("views/experiments.py", {"experiment": "(all experiments)", "q": "adam"}),
        ("views/compare.py", {"runs": ",".join(ids.values())}),
        ("views/run.py", {"run": ids["mlp-fast"]}),
        ("views/live.py", {"run": ids["mlp-live"]}),
        ("views/models.py", {"model": "clf", "version": "v1"}),
        ("views/run.py", {"run": run.id}),
        ("views/models.py", {"model": "clf", "version": "v2"}),
        ("views/sql.py", {}),
    ]
    for page, query in visits:
        at = open_app(root, page, **query)
        assert not errors(at), (page, query, errors(at))
    assert tree_state(root) == before
