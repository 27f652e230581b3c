"""The SQL page: the showcase examples, results as a table and a chart, the row and time limits, the names with
their columns, and refusals shown as messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import lakehouse
from lakehouse.sql import examples
from tests.app.conftest import DemoRuns, OpenApp, errors, figures, frames
from tests.sql.conftest import add_artifacts_and_models

PAGE = "views/sql.py"


def test_the_first_example_runs_and_is_charted(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    assert not errors(at)
    lh = lakehouse.connect(root)
    first = examples.for_lakehouse(lh)[0]
    assert first.title == "Best accuracy per version of digits, with its card"
    assert at.text_area(key="sql").value == first.query
    result = frames(at)["sql_result"]
    assert result.rows() == lh.sql(first.query).rows()
    assert result.height == 3
    # A numeric result gets a chart; the kind is the visitor's choice.
    assert at.radio(key="sql_chart").value == "line"
    at.radio(key="sql_chart").set_value("bar").run()
    at.selectbox(key="sql_x").set_value("version").run()
    at.multiselect(key="sql_y").set_value(["best_accuracy", "number_of_samples"]).run()
    (figure,) = figures(at).values()
    assert [t["type"] for t in figure["data"]] == ["bar", "bar"]
    assert figure["data"][0]["x"] == [0, 1, 2]
    assert figure["data"][1]["y"] == [4, 4, 6]


def test_examples_load_into_the_editor(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    titles = at.selectbox(key="sql_example").options
    assert len(titles) == 5
    changed = next(t for t in titles if t.startswith("Rows changed"))
    at.selectbox(key="sql_example").set_value(changed).run()
    assert at.text_area(key="sql").value == 'SELECT * FROM "digits:v0..latest" ORDER BY change_type'
    result = frames(at)["sql_result"]
    assert result.get_column("change_type").to_list() == ["added"] * 4 + ["removed"] * 2
    went_up = next(t for t in titles if "went up" in t)
    at.selectbox(key="sql_example").set_value(went_up).run()
    assert not errors(at)
    assert frames(at)["sql_result"].get_column("name").to_list() == ["mlp-fast", "mlp-live"]


def test_row_limit_refusals_and_names(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    at.number_input(key="sql_rows").set_value(2).run()
    at.text_area(key="sql").input("SELECT run_id, key, step, value FROM metrics").run()
    assert frames(at)["sql_result"].height == 2
    assert any("only the first 2 rows (the row limit)" in c.value for c in at.caption)
    at.text_area(key="sql").input("DROP TABLE runs").run()
    assert errors(at) == [
        "only queries run here: DROP statements are refused (SQL over the lakehouse is read-only; start with "
        "SELECT or WITH)"
    ]
    at.text_area(key="sql").input("SELECT * FROM read_csv('/etc/passwd')").run()
    assert errors(at)[0].startswith("function read_csv() is refused")
    at.text_area(key="sql").input("SELECT * FROM rusn").run()
    assert "did you mean 'runs'" in errors(at)[0]
    names = [e.label for e in at.sidebar.expander]
    assert names[:3] == ["runs", "params", "tags"]
    assert names[-2:] == ["digits", "labels"]
    card = frames(at)["sql_columns_dataset_versions"]
    assert card.get_column("column").to_list()[:3] == ["dataset", "version", "ref"]
    assert frames(at)["sql_columns_digits"].rows() == [
        ("image_id", "Int64"),
        ("label", "Int64"),
        ("augmented", "Boolean"),
    ]


def test_the_model_showcase_shows_once_a_model_has_an_alias(
    demo: tuple[Path, DemoRuns], open_app: OpenApp, tmp_path: Path
) -> None:
    source, runs = demo
    root = tmp_path / "lh"
    shutil.copytree(source, root)
    lh = lakehouse.connect(root)
    add_artifacts_and_models(lh, runs.ids, tmp_path)
    at = open_app(root, PAGE)
    title = "The production version of each model, its run and data"
    assert title in at.selectbox(key="sql_example").options
    at.selectbox(key="sql_example").set_value(title).run()
    assert not errors(at)
    result = frames(at)["sql_result"]
    assert result.rows() == lh.sql(examples.aliased_models("production", "accuracy")).rows()
    assert result.select("name", "run", "dataset").rows() == [
        ("digits-classifier", "cnn-base", "digits"),
        ("digits-classifier", "cnn-base", "labels"),
    ]
    names = [e.label for e in at.sidebar.expander]
    assert {"artifacts", "models", "model_versions", "model_aliases"} <= set(names)
    assert frames(at)["sql_columns_model_aliases"].get_column("column").to_list() == [
        "name",
        "alias",
        "change",
        "version",
        "previous_version",
        "actor",
        "at",
        "reason",
    ]
