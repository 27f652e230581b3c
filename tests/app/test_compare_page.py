"""The Compare page: runs from the URL, overlaid curves, differing params, summaries and inputs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.app import curves
from tests.app.conftest import DemoRuns, OpenApp, charts, errors, frames, html_table

PAGE = "views/compare.py"


def test_a_shared_link_opens_the_comparison(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    fast, slow, wide = runs.ids["mlp-fast"], runs.ids["mlp-slow"], runs.ids["mlp-wide"]
    at = open_app(root, PAGE, runs=f"{fast},{slow},{wide}")
    assert not errors(at)
    # The runs' popover is filled only while open: its picker and a link to each run's page.
    assert not at.get("multiselect") or at.multiselect(key="compare_keys")
    at.session_state["compare_runs_open"] = True
    at.run()
    assert at.multiselect(key="compare_runs").value == [fast, slow, wide]
    assert [link.proto.label for link in at.get("page_link")] == ["mlp-fast", "mlp-slow", "mlp-wide"]
    at.multiselect(key="compare_runs").set_value([fast, wide]).run()
    assert at.session_state["compare_runs_open"]  # still open after a pick
    assert at.query_params["runs"] == f"{fast},{wide}"
    at.session_state["compare_runs_open"] = False
    at.run()  # closed again: the runs come from the URL
    assert "compare_runs" not in [m.key for m in at.get("multiselect")]
    assert [s["name"] for s in charts(at)["loss"]["series"]] == ["mlp-fast", "mlp-wide"]
    at = open_app(root, PAGE, runs=f"{fast},{slow},{wide}")
    shown = charts(at)
    # A new tab draws the curves and the first section (the params); the other sections wait to be opened.
    assert set(shown) == {"loss", "val_loss", "accuracy"}
    assert frames(at) == {}  # the params are a plain HTML table; no grid
    loss = shown["loss"]
    assert (loss["kind"], loss["x_label"], loss["log_y"], loss["ignore_outliers"]) == ("lines", "step", False, False)
    assert [s["name"] for s in loss["series"]] == ["mlp-fast", "mlp-slow", "mlp-wide"]
    assert [s["role"] for s in loss["series"]] == ["main"] * 3  # no smoothing: no raw curves
    assert loss["series"][0]["x"] == list(range(30))
    assert loss["series"][0]["y"][-1] == pytest.approx(1 / (1 + 29), rel=1e-7)  # sent as float32
    # One colour per run, by the order the runs started: the same on every chart.
    colors = [s["color"] for s in loss["series"]]
    assert colors == list(curves.PALETTE[:3])
    assert [s["color"] for s in shown["val_loss"]["series"]] == colors
    params = html_table(at, "params_table")
    assert params.header == ["param", "mlp-fast", "mlp-slow", "mlp-wide"]
    assert {row[0]: row[1] for row in params.rows} == {"lr": "0.1", "units": "32"}
    # optimizer is the same for all three: not in the table, named below it
    assert "The same in every run: `optimizer` = `adam`" in [c.value for c in at.caption]
    at.query_params["compare_summaries"] = "true"
    at.run()
    assert set(frames(at)) == {"metrics_table"}
    summaries = frames(at)["metrics_table"]
    assert summaries.columns == ["metric", "stat", "mlp-fast", "mlp-slow", "mlp-wide"]
    at.query_params["compare_mattered"] = "true"
    at.run()
    assert set(charts(at)) == {"loss", "val_loss", "accuracy", "Params → loss (last)", "loss (last) by lr"}
    # A shared link can open a section: the open ones are in the URL.
    at = open_app(root, PAGE, runs=f"{fast},{slow},{wide}", compare_inputs="true")
    inputs = frames(at)["inputs_table"]
    assert inputs.row(0) == ("digits", "v2", "v2", "v0")


def test_runs_by_name_and_unknown_runs_in_the_url(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs="mlp-fast,no-such-run,mlp-sgd")
    (message,) = errors(at)
    assert message.startswith("`runs=no-such-run` in the URL: no run 'no-such-run'")
    assert [s["name"] for s in charts(at)["loss"]["series"]] == ["mlp-fast", "mlp-sgd"]
    assert at.query_params["runs"] == f"{runs.ids['mlp-fast']},{runs.ids['mlp-sgd']}"


def test_the_params_table_shades_the_differences_and_names_the_shared_params(
    demo: tuple[Path, DemoRuns], open_app: OpenApp
) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs=f"{runs.ids['mlp-fast']},{runs.ids['mlp-slow']}")
    table = html_table(at, "params_table")
    assert table.rows == [["lr", "0.1", "0.01"]]
    assert table.shaded == {(0, 1), (0, 2)}  # no value shared by two runs: both shaded
    assert "The same in every run: `optimizer` = `adam`, `units` = `32`" in [c.value for c in at.caption]
    # Three runs, two with the same lr: only the odd one out is shaded.
    three = ",".join(runs.ids[n] for n in ("mlp-fast", "mlp-wide", "mlp-slow"))
    table = html_table(open_app(root, PAGE, runs=three), "params_table")
    lr = next(i for i, row in enumerate(table.rows) if row[0] == "lr")
    values = table.rows[lr][1:]
    odd = next(i for i, v in enumerate(values) if values.count(v) == 1)
    assert {c for r, c in table.shaded if r == lr} == {odd + 1}


def test_param_names_and_values_are_shown_as_text_never_as_markup(tmp_path: Path, open_app: OpenApp) -> None:
    lh = lakehouse.connect(tmp_path / "lh")
    ids = []
    for value in ("<b>bold</b> | `tick`", "<script>alert(1)</script>"):
        with lh.start_run(experiment="e", name=f"<i>{len(ids)}</i>", params={"x<y": value, "same": "a`b"}) as run:
            run.log({"loss": 1.0}, step=0)
            ids.append(run.id)
    at = open_app(tmp_path / "lh", PAGE, runs=",".join(ids))
    assert not errors(at)
    table = html_table(at, "params_table")
    assert table.header == ["param", "<i>0</i>", "<i>1</i>"]
    assert table.rows == [["x<y", "<b>bold</b> | `tick`", "<script>alert(1)</script>"]]
    (markup,) = [h.proto.body for h in at.get("html") if "<table" in h.proto.body]
    assert "<script>" not in markup
    assert "The same in every run: `same` = `` a`b ``" in [c.value for c in at.caption]


def test_curve_controls_smoothing_log_scale_and_time_axis(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs=f"{runs.ids['mlp-fast']},{runs.ids['mlp-slow']}")
    at.multiselect(key="compare_keys").set_value(["val_loss"]).run()
    at.slider(key="compare_smoothing").set_value(0.6).run()
    at.toggle(key="compare_log").set_value(True).run()
    at.radio(key="compare_x").set_value("relative time (s)").run()
    at.toggle(key="compare_outliers").set_value(True).run()
    chart = charts(at)["val_loss"]
    assert chart["log_y"] is True
    assert chart["ignore_outliers"] is True
    assert (chart["x_label"], chart["x_format"]) == ("relative time (s)", "number")
    # Per run: the raw curve (faint) first, then the smoothed one over it, sharing the x column.
    raw, smoothed = chart["series"][0], chart["series"][1]
    assert (raw["role"], smoothed["role"]) == ("raw", "main")
    assert raw["alpha"] == curves.RAW_ALPHA
    assert raw["x"] == smoothed["x"]
    assert min(raw["x"]) == 0.0
    assert smoothed["y"][0] == raw["y"][0]  # debiased: the first point is not pulled towards zero
    # TensorBoard's EMA: s_t = (w s_{t-1} + (1 - w) v_t) / (1 - w^(t+1)) in its debiased form.
    expected, weight, accumulated = [], 0.6, 0.0
    for t, value in enumerate(raw["y"]):
        accumulated = weight * accumulated + (1 - weight) * value
        expected.append(accumulated / (1 - weight ** (t + 1)))
    assert smoothed["y"] == pytest.approx(expected)
    at.radio(key="compare_x").set_value("wall time").run()
    chart = charts(at)["val_loss"]
    assert chart["x_format"] == "wall"
    assert chart["series"][0]["x"][0] > 1.7e9  # epoch seconds
    assert not errors(at)


def test_without_runs_the_page_says_how_to_pick_them(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, _ = demo
    at = open_app(root, PAGE)
    assert "Pick runs to compare" in at.info[0].value


def test_one_run_and_a_run_without_points(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, PAGE, runs=runs.ids["mlp-sgd"], compare_mattered="true")
    assert not errors(at)
    shown = charts(at)
    assert [s["name"] for s in shown["loss"]["series"]] == ["mlp-sgd"]
    assert shown["loss"]["series"][0]["color"] == curves.PALETTE[3]  # the fourth run started
    # One run differs from nobody: no parallel coordinates or scatter, and the page says why.
    assert "Params → loss (last)" not in shown
    assert "These runs do not differ in any param." in [c.value for c in at.caption]
    # mlp-broken logged only a NaN: its chart has no series (nothing to place), and nothing fails.
    at = open_app(root, PAGE, runs=runs.ids["mlp-broken"])
    assert not errors(at)
    assert charts(at)["loss"]["series"] == []


def test_parallel_coordinates_and_scatter_of_params_against_a_metric(
    demo: tuple[Path, DemoRuns], open_app: OpenApp
) -> None:
    root, runs = demo
    names = ("mlp-fast", "mlp-slow", "mlp-sgd")
    at = open_app(root, PAGE, runs=",".join(runs.ids[n] for n in names), compare_mattered="true")
    at.selectbox(key="compare_hp_metric").set_value("val_loss").run()
    at.radio(key="compare_hp_stat").set_value("min").run()
    at.selectbox(key="compare_hp_param").set_value("optimizer").run()
    shown = charts(at)
    parallel = shown["Params → val_loss (min)"]
    assert parallel["kind"] == "parallel"
    # Numeric params as numbers, the rest as the index of their sorted labels; the metric last.
    assert parallel["axes"] == [
        {"name": "lr", "labels": None},
        {"name": "optimizer", "labels": ["adam", "sgd"]},
        {"name": "val_loss (min)", "labels": None},
    ]
    by_run = {s["name"]: s["y"] for s in parallel["series"]}
    assert by_run["mlp-fast"][:2] == pytest.approx([0.1, 0.0], rel=1e-7)
    assert by_run["mlp-sgd"][:2] == pytest.approx([0.05, 1.0], rel=1e-7)
    at.query_params["compare_summaries"] = "true"
    at.run()
    summaries = {r[0]: r[2:] for r in frames(at)["metrics_table"].filter(pl.col("stat") == "min").rows()}
    assert [by_run[n][2] for n in names] == pytest.approx(list(summaries["val_loss"]), rel=1e-7)
    scatter = shown["val_loss (min) by optimizer"]
    assert (scatter["kind"], scatter["x_format"], scatter["x_labels"]) == ("points", "category", ["adam", "sgd"])
    assert [(s["name"], s["x"]) for s in scatter["series"]] == [
        ("mlp-fast", [0.0]),
        ("mlp-slow", [0.0]),
        ("mlp-sgd", [1.0]),
    ]


def test_many_runs_share_a_chart_s_point_budget_keeping_extremes(
    tmp_path: Path, open_app: OpenApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert curves.points_per_curve(2000, 4) == 2000  # 8,000 points in all: the budget
    assert curves.points_per_curve(2000, 12) == curves.CHART_POINTS // 12
    assert curves.points_per_curve(2000, 100) == curves.MIN_CURVE_POINTS
    assert curves.points_per_curve(2000, 10_000) == curves.MIN_CURVE_POINTS
    assert curves.points_per_curve(300, 1000) == curves.MIN_CURVE_POINTS
    lh = lakehouse.connect(tmp_path / "lh")
    ids = []
    for r in range(3):
        with lh.start_run(experiment="e", name=f"r{r}") as run:
            for step in range(600):
                run.log({"loss": 100.0 if step == 333 else 1.0 / (step + 1)}, step=step)
            ids.append(run.id)
    monkeypatch.setattr(curves, "CHART_POINTS", 3 * 250)
    at = open_app(tmp_path / "lh", PAGE, runs=",".join(ids))
    assert not errors(at)
    series = charts(at)["loss"]["series"]
    assert [s["name"] for s in series] == ["r0", "r1", "r2"]
    for s in series:
        assert len(s["y"]) <= 250  # 600 points each, thinned to the chart's share
        assert max(s["y"]) == 100.0  # the spike survives, at its step
        assert s["x"][s["y"].index(100.0)] == 333
    assert "at most 250 points" in " ".join(c.value for c in at.caption)
