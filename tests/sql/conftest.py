"""A small real lakehouse for the SQL tests: the app tests' datasets (digits in three versions with tags,
labels) and runs (two experiments, params, tags, inputs, curves), every run finished; two runs' artifacts (one
path logged then deleted) and two registered models (``digits-classifier`` with two versions and a moved
``production`` alias, ``digits-tiny`` with one version and no alias).

Modules marked ``roots`` read it on a local root and on a bucket root (the same lakehouse, built once per run in
a bucket of the test server); the others (the CLI, Spark) on the local root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import lakehouse
from tests.app.conftest import build_datasets, build_runs
from tests.roots import seam
from tests.s3_server import S3Server


@dataclass(frozen=True)
class Demo:
    root: Path | str  # a local folder, or s3://<bucket>/lh on the test server
    ids: dict[str, str]  # run ids by run name

    @property
    def lh(self) -> lakehouse.Lakehouse:
        return lakehouse.connect(self.root)


def build_demo(root: Path | str, files: Path) -> Demo:
    build_datasets(root)  # type: ignore[arg-type]  # the builders take any root lakehouse.connect takes
    runs = build_runs(root)  # type: ignore[arg-type]
    runs.live.finish()
    lh = lakehouse.connect(root)
    lh.flush()
    add_artifacts_and_models(lh, runs.ids, files)
    return Demo(root, runs.ids)


@pytest.fixture(scope="session")
def local_demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build_demo(tmp_path_factory.mktemp("sql-demo") / "lh", tmp_path_factory.mktemp("sql-files"))


@pytest.fixture(scope="session")
def bucket_demo(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The same lakehouse in a bucket of the test server, built once (about 5 s) for every ``roots`` module here."""
    from lakehouse.tracking.writer import active_writers

    with pytest.MonkeyPatch.context() as env:
        for name, value in s3_server.environ.items():
            env.setenv(name, value)
        env.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("sql-cache")))  # the bucket root's spool
        env.setenv("LAKEHOUSE_ACTOR", "tester")
        built = build_demo(f"s3://{s3_server.new_bucket('sql')}/lh", tmp_path_factory.mktemp("sql-bucket-files"))
        for writer in active_writers():  # everything committed while the server's variables are set
            if str(writer.layout.root) == built.root:
                writer.close(timeout=30)
    return built


@pytest.fixture
def demo(request: pytest.FixtureRequest) -> Demo:
    """The demo lakehouse of a test: local, or (``bucket``, in a ``roots`` module) in a bucket, read with the
    standard AWS variables of the test server set for this test only."""
    if getattr(request, "param", "local") != "bucket":
        return request.getfixturevalue("local_demo")  # type: ignore[no-any-return]
    request.getfixturevalue("s3_env")
    return request.getfixturevalue("bucket_demo")  # type: ignore[no-any-return]


def add_artifacts_and_models(lh: lakehouse.Lakehouse, ids: dict[str, str], files: Path) -> None:
    """Artifacts of ``mlp-slow`` and ``cnn-base`` (``notes.txt`` of mlp-slow deleted), then the two models."""
    (files / "model.bin").write_bytes(b"weights" * 10)
    (files / "notes.txt").write_text("first try")
    (files / "cnn.bin").write_bytes(b"filters" * 3)
    with lh.start_run(resume=ids["mlp-slow"]) as run:
        run.log_artifact(files / "model.bin", name="model/model.bin")
        run.log_artifact(files / "notes.txt")
    with lh.start_run(resume=ids["cnn-base"]) as run:
        run.log_artifact(files / "cnn.bin", name="model/model.bin")
    lh.delete_artifact(ids["mlp-slow"], "notes.txt")
    lh.register_model("digits-classifier", run=ids["mlp-slow"], path="model", description="baseline")
    lh.register_model("digits-classifier", run=ids["cnn-base"], path="model", tags={"stage": "candidate"})
    lh.register_model("digits-tiny", run=ids["mlp-fast"], path="model")
    model = lh.model("digits-classifier")
    model.set_alias("production", 1, reason="first release")
    model.set_alias("staging", 2)
    model.set_alias("production", 2, reason="beats v1")
    model.delete_alias("staging", reason="promoted")
    model.set_tag("team", "vision")


def snapshot(root: Path | str) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal before and after means unchanged."""
    if "://" in str(root):
        return {f.path: (f.size, int(f.modified.timestamp() * 1e9)) for f in seam(root).list_all()}
    root = Path(root)
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
