"""The Experiments page: the runs table, its filters, and picking runs to compare."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import lakehouse
from tests.app.conftest import DemoRuns, OpenApp, errors, frames

PAGE = "views/experiments.py"


def names(at: AppTest) -> set[str]:
    return set(frames(at)["runs_table"].get_column("name").to_list())


def open_panel(at: AppTest, key: str) -> AppTest:
    """Open a filter panel as a click on its header does (its widgets exist only while it is open)."""
    at.session_state[key] = True
    return at.run()


def close_panel(at: AppTest, key: str) -> AppTest:
    at.session_state[key] = False
    return at.run()


def test_runs_of_an_experiment_with_params_metrics_and_inputs(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    assert not errors(at)
    runs = frames(at)["runs_table"]
    assert set(runs.get_column("name")) == {"mlp-fast", "mlp-slow", "mlp-wide", "mlp-sgd", "mlp-broken", "mlp-live"}
    fast = runs.filter(pl.col("name") == "mlp-fast").row(0, named=True)
    assert (fast["status"], fast["params.lr"], fast["params.optimizer"]) == ("FINISHED", "0.1", "adam")
    assert fast["metrics.loss.last"] == 1 / (1 + 29)
    assert fast["metrics.loss.max"] == 1.0
    assert fast["inputs"] == "digits:v2"
    statuses = dict(runs.select("name", "status").rows())
    assert (statuses["mlp-broken"], statuses["mlp-live"]) == ("FAILED", "RUNNING")
    at = open_app(root, PAGE, experiment="digits-cnn")
    assert names(at) == {"cnn-base"}
    assert frames(at)["runs_table"].row(0, named=True)["inputs"] == "digits:v2, labels:v0"
    at = open_app(root, PAGE, experiment="(all experiments)")
    assert len(names(at)) == 7


def test_text_search_status_and_param_filters(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE, q="SGD")
    assert names(at) == {"mlp-sgd"}
    at = open_app(root, PAGE, q="digits:v0")  # the raw version, by the inputs column
    assert names(at) == {"mlp-wide", "mlp-live"}
    at = open_app(root, PAGE)
    at.multiselect(key="status").set_value(["FAILED"]).run()
    assert names(at) == {"mlp-broken"}
    at.multiselect(key="status").set_value([]).run()
    assert not at.get("slider"), "a closed panel draws no widgets"
    open_panel(at, "labels_panel")
    at.multiselect(key="values:params.optimizer").set_value(["adam"]).run()
    assert names(at) == {"mlp-fast", "mlp-slow", "mlp-wide", "mlp-broken", "mlp-live"}
    at.slider(key="range:params.units").set_value((32.0, 64.0)).run()
    assert names(at) == {"mlp-fast", "mlp-slow", "mlp-broken"}
    at.slider(key="range:params.lr").set_value((0.05, 1.0)).run()
    assert names(at) == {"mlp-fast"}
    assert not errors(at)
    # Closed, the panel still filters and says by what; opened again, its widgets show the same picks.
    close_panel(at, "labels_panel")
    assert names(at) == {"mlp-fast"}
    assert not at.get("slider")
    note = " ".join(c.value for c in at.caption)
    assert "params.optimizer: adam" in note
    assert "params.lr 0.05–1" in note
    open_panel(at, "labels_panel")
    assert at.slider(key="range:params.lr").value == (0.05, 1.0)
    assert at.multiselect(key="values:params.optimizer").value == ["adam"]
    assert names(at) == {"mlp-fast"}
    at.slider(key="range:params.lr").set_value((0.01, 10.0)).run()  # the full span: no longer a filter
    assert names(at) == {"mlp-fast", "mlp-slow", "mlp-broken"}
    close_panel(at, "labels_panel")
    assert "params.lr" not in " ".join(c.value for c in at.caption)


def test_each_experiment_keeps_its_own_filters(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_panel(open_app(root, PAGE), "labels_panel")
    at.slider(key="range:params.lr").set_value((0.05, 1.0)).run()
    assert names(at) == {"mlp-fast", "mlp-sgd", "mlp-live"}
    at.selectbox(key="experiment").set_value("digits-cnn").run()
    assert names(at) == {"cnn-base"}  # lr 0.001: outside the other experiment's range, not filtered here
    assert "params.lr" not in " ".join(c.value for c in at.caption)
    at.selectbox(key="experiment").set_value("digits-mlp").run()
    assert names(at) == {"mlp-fast", "mlp-sgd", "mlp-live"}
    assert at.slider(key="range:params.lr").value == (0.05, 1.0)


def test_metric_range_filter(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    open_panel(at, "metrics_panel")
    at.multiselect(key="metric_filters").set_value(["metrics.val_loss.last"]).run()
    low, high = at.slider(key="range:metrics.val_loss.last").value
    at.slider(key="range:metrics.val_loss.last").set_value((low, 0.2)).run()
    # Only the runs whose final validation loss is below 0.2 remain; the overfitting run ends far above.
    kept = frames(at)["runs_table"]
    assert "mlp-fast" not in set(kept.get_column("name"))
    assert kept.height > 0
    assert (kept.get_column("metrics.val_loss.last") <= 0.2).all()


def test_selecting_runs_links_to_their_comparison(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, PAGE)
    picked = [runs.ids["mlp-fast"], runs.ids["mlp-slow"]]
    at.multiselect(key="selected_runs").set_value(picked).run()
    links = {link.proto.page: link.proto for link in at.get("page_link")}
    assert links["compare"].label == "Compare 2 runs"
    assert not links["compare"].disabled
    assert parse_qs(links["compare"].query_string) == {"runs": [",".join(picked)]}
    assert links["run"].disabled
    at.multiselect(key="selected_runs").set_value(picked[:1]).run()
    links = {link.proto.page: link.proto for link in at.get("page_link")}
    assert parse_qs(links["run"].query_string) == {"run": [picked[0]]}
    assert links["compare"].disabled


def test_unknown_experiment_in_the_url_is_explained(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE, experiment="nope")
    assert any("`experiment=nope` in the URL is not a valid experiment" in e for e in errors(at))
    assert "mlp-fast" in names(at)


def test_no_runs_says_what_to_run(datasets_root: Path, open_app: OpenApp) -> None:
    for page in (PAGE, "views/compare.py", "views/run.py", "views/live.py"):
        at = open_app(datasets_root, page)
        assert not errors(at)
        assert "make demo" in at.info[0].value, page


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """130 runs of one experiment; their final loss is not in start order, so sorting by it reorders pages."""
    root = tmp_path_factory.mktemp("app-many") / "lh"
    lh = lakehouse.connect(root)
    losses: dict[str, float] = {}
    for i in range(130):
        with lh.start_run(experiment="sweep", name=f"trial-{i:03d}", params={"seed": i}) as run:
            run.log({"loss": (i * 37 % 130) / 130}, step=0)
        losses[run.id] = (i * 37 % 130) / 130
    return root, losses


def test_the_runs_table_is_paged_and_sorted_on_the_server(
    many_runs: tuple[Path, dict[str, float]], open_app: OpenApp
) -> None:
    root, losses = many_runs
    at = open_app(root, PAGE)
    first = frames(at)["runs_table"]
    assert first.height == 100  # one page goes to the browser, not the whole table
    assert first.get_column("name").to_list()[:2] == ["trial-129", "trial-128"]  # newest first
    assert "1–100 of 130 matching runs" in at.caption[0].value
    at.number_input(key="page").set_value(2).run()
    second = frames(at)["runs_table"]
    assert second.height == 30
    assert set(first.get_column("run_id")) | set(second.get_column("run_id")) == set(losses)
    # Sorting orders the whole table, then pages it: page 1 starts at the lowest loss of all 130 runs.
    at.selectbox(key="sort").set_value("metrics.loss.last").run()
    at.toggle(key="descending").set_value(False).run()
    at.number_input(key="page").set_value(1).run()
    ranked = sorted(losses, key=lambda r: losses[r])
    assert frames(at)["runs_table"].get_column("run_id").to_list() == ranked[:100]
    at.selectbox(key="page_size").set_value(50).run()
    at.number_input(key="page").set_value(3).run()
    assert frames(at)["runs_table"].get_column("run_id").to_list() == ranked[100:]
    # A filter that leaves fewer rows than the page asked for shows the last page there is.
    at.text_input(key="q").set_value("trial-00").run()
    assert set(names(at)) == {f"trial-00{i}" for i in range(10)}
    assert at.number_input(key="page").value == 1
    assert not errors(at)
    assert not at.exception
