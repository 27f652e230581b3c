"""The Compare page: runs from the URL, overlaid curves, differing params, summaries and inputs."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import DemoRuns, OpenApp, errors, figures, frames, table_element

PAGE = "views/compare.py"


def test_a_shared_link_opens_the_comparison(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    fast, slow, wide = runs.ids["mlp-fast"], runs.ids["mlp-slow"], runs.ids["mlp-wide"]
    at = open_app(root, PAGE, runs=f"{fast},{slow},{wide}")
    assert not errors(at)
    assert at.multiselect(key="compare_runs").value == [fast, slow, wide]
    shown = figures(at)
    assert set(shown) == {"loss", "val_loss", "accuracy"}
    traces = shown["loss"]["data"]
    assert [t["name"] for t in traces] == ["mlp-fast", "mlp-slow", "mlp-wide"]
    assert len(traces[0]["y"]) == 30
    assert traces[0]["y"][-1] == 1 / (1 + 29)
    params = frames(at)["params_table"]
    assert params.columns == ["param", "mlp-fast", "mlp-slow", "mlp-wide"]
    assert dict(zip(params.get_column("param"), params.get_column("mlp-fast"), strict=True)) == {
        "lr": "0.1",
        "units": "32",
    }  # optimizer is the same for all three: not shown
    summaries = frames(at)["metrics_table"]
    assert summaries.columns == ["metric", "stat", "mlp-fast", "mlp-slow", "mlp-wide"]
    inputs = frames(at)["inputs_table"]
    assert inputs.row(0) == ("digits", "v2", "v2", "v0")


def test_runs_by_name_and_unknown_runs_in_the_url(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs="mlp-fast,no-such-run,mlp-sgd")
    (message,) = errors(at)
    assert message.startswith("`runs=no-such-run` in the URL: no run 'no-such-run'")
    assert at.multiselect(key="compare_runs").value == [runs.ids["mlp-fast"], runs.ids["mlp-sgd"]]
    assert at.query_params["runs"] == f"{runs.ids['mlp-fast']},{runs.ids['mlp-sgd']}"


def test_the_params_table_can_show_shared_params_highlighting_the_differences(
    demo: tuple[Path, DemoRuns], open_app: OpenApp
) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs=f"{runs.ids['mlp-fast']},{runs.ids['mlp-slow']}")
    assert frames(at)["params_table"].get_column("param").to_list() == ["lr"]
    at.toggle(key="compare_all_params").set_value(True).run()
    table = frames(at)["params_table"]
    assert table.get_column("param").to_list() == ["lr", "optimizer", "units"]
    styles = table_element(at, "params_table").proto.arrow_data.styler.styles
    # Row 0 (lr) differs: both run cells shaded; the shared rows are not.
    assert "background-color" in styles
    assert "_row0_col1" in styles
    assert "_row0_col2" in styles
    assert "_row1_" not in styles
    assert "_row2_" not in styles


def test_curve_controls_smoothing_log_scale_and_time_axis(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs=f"{runs.ids['mlp-fast']},{runs.ids['mlp-slow']}")
    at.multiselect(key="compare_keys").set_value(["val_loss"]).run()
    at.slider(key="compare_smoothing").set_value(0.6).run()
    at.toggle(key="compare_log").set_value(True).run()
    at.radio(key="compare_x").set_value("relative time (s)").run()
    figure = figures(at)["val_loss"]
    assert figure["layout"]["yaxis"]["type"] == "log"
    assert figure["layout"]["xaxis"]["title"]["text"] == "relative time (s)"
    raw, smoothed = figure["data"][0], figure["data"][1]  # raw (faded) under smoothed, per run
    assert raw["opacity"] == 0.25
    assert smoothed["y"][0] == raw["y"][0]
    assert smoothed["y"][-1] != raw["y"][-1]
    assert min(raw["x"]) == 0.0
    assert not errors(at)


def test_without_runs_the_page_says_how_to_pick_them(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    assert "Pick runs to compare" in at.info[0].value
