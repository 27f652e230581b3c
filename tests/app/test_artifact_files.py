"""Files in the app: the Run page lists a run's artifacts, draws its images and offers downloads; the Models
page lists each version's files with download buttons."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import lakehouse
from lakehouse.app import files
from tests.app.conftest import OpenApp, errors, frames

RUN = "views/run.py"
MODELS = "views/models.py"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("app-files")
    (base / "model").mkdir()
    (base / "model" / "weights.bin").write_bytes(b"w" * 3000)
    (base / "model" / "config.json").write_text('{"units": 32}')
    (base / "confusion.png").write_bytes(png())
    lh = lakehouse.connect(base / "lh")
    with lh.start_run(experiment="e", name="trained") as run:
        run.log({"acc": 0.9}, step=0)
        run.log_artifacts(base / "model", prefix="model")
        run.log_artifact(base / "confusion.png", name="plots/confusion.png")
    with lh.start_run(experiment="e", name="bare"):
        pass
    lh.register_model("clf", run="trained", path="model")
    return base / "lh"


def buttons(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_the_run_page_lists_draws_and_offers_the_artifacts(root: Path, open_app: OpenApp) -> None:
    at = open_app(root, RUN, run="trained")
    assert not errors(at)
    listed = frames(at)["run_artifacts_table"]
    assert listed.select("path", "size").rows() == [
        ("model/config.json", "13 B"),
        ("model/weights.bin", "2.9 KiB"),
        ("plots/confusion.png", f"{len(png())} B"),
    ]
    assert listed.get_column("logged at").null_count() == 0
    assert [i.proto.imgs[0].caption for i in at.get("image")] == ["plots/confusion.png"]
    assert buttons(at) == [
        "model/config.json (13 B)",
        "model/weights.bin (2.9 KiB)",
        f"plots/confusion.png ({len(png())} B)",
    ]


def test_files_over_the_limit_get_no_button_and_a_note(
    root: Path, open_app: OpenApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DOWNLOAD_LIMIT", 1000)
    at = open_app(root, RUN, run="trained")
    assert buttons(at) == ["model/config.json (13 B)", f"plots/confusion.png ({len(png())} B)"]
    notes = " ".join(c.value for c in at.caption)
    assert "not offered here: `model/weights.bin`" in notes
    assert "lakehouse artifacts get" in notes


def test_a_run_without_files_says_so(root: Path, open_app: OpenApp) -> None:
    at = open_app(root, RUN, run="bare")
    assert not errors(at)
    assert "run_artifacts_table" not in frames(at)
    assert any("This run logged no files" in c.value for c in at.caption)


def test_the_models_page_lists_a_versions_files_with_downloads(root: Path, open_app: OpenApp) -> None:
    at = open_app(root, MODELS, model="clf", version="v1")
    assert not errors(at)
    assert frames(at)["version_files_table"].get_column("path").to_list() == [
        "model/config.json",
        "model/weights.bin",
    ]
    assert buttons(at) == ["model/config.json (13 B)", "model/weights.bin (2.9 KiB)"]
    assert not at.get("image")


def test_the_files_of_a_version_are_its_source_folder(root: Path) -> None:
    lh = lakehouse.connect(root)
    assert lh.model_files("clf:v1").get_column("path").to_list() == ["model/config.json", "model/weights.bin"]
    lh.register_model("single", run="trained", path="model/config.json")
    assert lh.model_files("single:v1").get_column("path").to_list() == ["model/config.json"]
    lh.register_model("nothing", run="bare", path="model")
    assert lh.model_files("nothing").is_empty()
