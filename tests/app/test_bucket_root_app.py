"""The app serving a bucket root (``s3://...`` on the suite's S3 server): the main pages, as on a local root."""

from __future__ import annotations

from tests.app.conftest import OpenApp, build_datasets, build_runs, errors, frames, metrics
from tests.s3_server import SECRET_ACCESS_KEY


def test_main_pages_on_a_bucket_root(bucket_root: str, open_app: OpenApp) -> None:
    build_datasets(bucket_root)  # type: ignore[arg-type]  # the builders take any root connect() takes
    runs = build_runs(bucket_root)  # type: ignore[arg-type]
    try:
        at = open_app(bucket_root)  # the Datasets page
        assert not errors(at)
        tables = frames(at)
        assert sorted(tables["datasets_table"].get_column("dataset")) == ["digits", "labels"]
        assert tables["history_table"].get_column("version").to_list() == [2, 1, 0]

        at = open_app(bucket_root, "views/experiments.py")
        assert not errors(at)
        statuses = dict(frames(at)["runs_table"].select("name", "status").rows())
        assert (statuses["mlp-fast"], statuses["mlp-broken"], statuses["mlp-live"]) == ("FINISHED", "FAILED", "RUNNING")

        at = open_app(bucket_root, "views/run.py", run=runs.ids["cnn-base"])
        assert not errors(at)
        assert (metrics(at)["Experiment"], metrics(at)["Status"]) == ("digits-cnn", "FINISHED")

        at = open_app(bucket_root, "views/compare.py", runs=f"{runs.ids['mlp-fast']},{runs.ids['mlp-slow']}")
        assert not errors(at)
        shown = [str(element.value) for element in at.markdown] + [str(e.value) for e in at.caption]
        assert not any(SECRET_ACCESS_KEY in text for text in shown)
    finally:
        runs.live.finish()
