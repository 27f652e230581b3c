"""The Datasets page on real Delta tables, driven through Streamlit's AppTest."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import polars as pl

import lakehouse
from tests.app.conftest import DemoRuns, OpenApp, build_datasets, errors, frames, metrics


def test_lists_datasets_and_history_with_commit_metadata(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root)
    tables = frames(at)
    overview = tables["datasets_table"].sort("dataset")
    assert overview.get_column("dataset").to_list() == ["digits", "labels"]
    assert overview.row(0, named=True)["latest"] == "v2"
    assert overview.row(0, named=True)["rows"] == 6
    history = tables["history_table"]
    assert history.get_column("version").to_list() == [2, 1, 0]
    v1 = history.filter(pl.col("version") == 1).row(0, named=True)
    assert (v1["operation"], v1["labelled_by"], v1["description"]) == ("upsert", "bob", "relabelled")
    assert (v1["rows_added"], v1["rows_updated"], v1["number_of_samples"]) == (0, 2, 4)
    v0 = history.filter(pl.col("version") == 0).row(0, named=True)
    assert (v0["created_by"], v0["tags"], json.loads(v0["other metadata"])) == ("alice", "raw", {"source": "sklearn"})
    assert metrics(at)["Latest version"] == "v2"
    timeline = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [str(t) for t in timeline["data"][0]["y"]] == ["4", "4", "6"]


def test_schema_per_version_shows_the_added_column(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, tab="Schema", schema_version="v2")
    schema = frames(at)["schema_table"]
    assert schema.filter(pl.col("column") == "augmented").row(0, named=True)["change"] == "added"
    at = open_app(datasets_root, tab="Schema", schema_version="v0")
    assert frames(at)["schema_table"].get_column("column").to_list() == ["image_id", "label"]


def test_preview_of_a_tag_a_version_and_a_time(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, tab="Preview", ref="digits:raw")
    assert frames(at)["preview_table"].sort("image_id").get_column("label").to_list() == [0, 1, 2, 3]
    at = open_app(datasets_root, tab="Preview", ref="digits:v1")
    assert frames(at)["preview_table"].sort("image_id").get_column("label").to_list() == [0, 7, 2, 9]
    # Any ref the grammar allows works from a link, a time too (commit times and the log files' times, which
    # time travel uses, can differ by milliseconds: ask for a time well after the last commit).
    later = lakehouse.connect(datasets_root).dataset("digits").version(2).created_at + timedelta(seconds=5)
    at = open_app(datasets_root, tab="Preview", ref=f"digits@{later.isoformat()}")
    assert not errors(at)
    assert "`digits:v2`" in " ".join(c.value for c in at.main.caption)


def test_bad_refs_in_the_url_are_explained_not_raised(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, tab="Preview", ref="digits:nope")
    assert errors(at) == ["dataset 'digits' has no tag 'nope'; valid choices: 'prod', 'raw'"]
    assert "preview_table" not in frames(at)
    at = open_app(datasets_root, tab="Preview", ref="digits:v99")
    assert any("no version 99" in e for e in errors(at))
    at = open_app(datasets_root, tab="Diff", a="v42")
    assert any("has no version 42" in e for e in errors(at))
    assert metrics(at)["Added rows"] == "2"  # the default diff still renders below the message


def test_unknown_or_path_like_dataset_names_never_leave_the_root(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, dataset="digitz")
    assert any("dataset 'digitz' does not exist" in e and "did you mean 'digits'" in e for e in errors(at))
    at = open_app(datasets_root, dataset="../../etc")
    assert any("invalid dataset name '../../etc'" in e for e in errors(at))
    at = open_app(datasets_root, tab="Preview", ref="../secrets:v0")
    assert any("invalid reference '../secrets:v0'" in e for e in errors(at))


def test_diff_of_two_versions_by_key_and_as_whole_rows(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, tab="Diff", a="v0", b="v1")
    assert metrics(at) | {} == metrics(at)
    assert (metrics(at)["Added rows"], metrics(at)["Removed rows"], metrics(at)["Changed rows"]) == ("0", "0", "2")
    changed = frames(at)["diff_changed"].sort("image_id")
    assert changed.select("image_id", "label", "label_before").rows() == [(1, 7, 1), (3, 9, 3)]
    at.multiselect(key="diff_key").set_value([]).run()
    assert (metrics(at)["Added rows"], metrics(at)["Removed rows"], metrics(at)["Changed rows"]) == ("2", "2", "—")
    at = open_app(datasets_root, tab="Diff", a="v1", b="v2")
    assert metrics(at)["Schema changes"] == "1"
    assert "+ augmented" in at.code[0].value


def test_tags_and_their_history(datasets_root: Path, open_app: OpenApp) -> None:
    at = open_app(datasets_root, tab="Tags")
    tables = frames(at)
    assert dict(tables["tags_table"].rows()) == {"prod": 2, "raw": 0}
    moves = tables["tag_history_table"].filter(pl.col("tag") == "prod").sort("at")
    assert moves.select("event", "version", "previous_version").rows() == [("set", 1, None), ("moved", 2, 1)]


def test_empty_lakehouse_says_what_to_run(tmp_path: Path, open_app: OpenApp) -> None:
    at = open_app(tmp_path / "nothing-here")
    assert not errors(at)
    assert "make demo" in at.info[0].value
    assert not (tmp_path / "nothing-here").exists()


def test_a_new_commit_shows_on_the_next_load(tmp_path: Path, open_app: OpenApp) -> None:
    root = tmp_path / "lh"
    build_datasets(root)
    at = open_app(root)
    assert metrics(at)["Latest version"] == "v2"
    lakehouse.connect(root).dataset("digits").write(pl.DataFrame({"image_id": [9], "label": [9], "augmented": [False]}))
    at.run()
    assert metrics(at)["Latest version"] == "v3"
    assert frames(at)["history_table"].get_column("version").to_list() == [3, 2, 1, 0]


def test_runs_tab_lists_the_runs_that_used_each_version(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, tab="Runs")
    assert at.selectbox(key="runs_version").options == ["v2", "v1", "v0"]
    assert set(frames(at)["lineage_table"].get_column("name")) == {"mlp-fast", "mlp-slow", "cnn-base"}
    at = open_app(root, tab="Runs", runs_version="v0")
    assert set(frames(at)["lineage_table"].get_column("name")) == {"mlp-wide", "mlp-live"}
    (link,) = at.get("page_link")
    assert set(parse_qs(link.proto.query_string)["runs"][0].split(",")) == {runs.ids["mlp-wide"], runs.ids["mlp-live"]}
    at = open_app(root, tab="Runs", dataset="labels")
    assert frames(at)["lineage_table"].get_column("name").to_list() == ["cnn-base"]
