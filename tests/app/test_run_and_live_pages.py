"""The Run page (one run in full) and the Live page (a run still training)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import lakehouse
from lakehouse.app import curves, live_watch
from lakehouse.app import run_queries as rq
from tests.app.conftest import DemoRuns, OpenApp, charts, errors, frames, metrics, steady_clock

RUN = "views/run.py"
LIVE = "views/live.py"


def chart_titles(at: AppTest) -> list[str]:
    return list(charts(at))


def test_run_page_shows_params_tags_curves_inputs_and_environment(
    demo: tuple[Path, DemoRuns], open_app: OpenApp
) -> None:
    root, runs = demo
    at = open_app(root, RUN, run=runs.ids["cnn-base"])
    assert not errors(at)
    facts = metrics(at)
    assert (facts["Experiment"], facts["Status"], facts["Last step"]) == ("digits-cnn", "FINISHED", "29")
    tables = frames(at)
    assert dict(tables["run_params_table"].rows()) == {"filters": "8", "lr": "0.001"}
    assert dict(tables["run_tags_table"].rows()) == {"team": "vision"}
    assert tables["run_inputs_table"].select("dataset", "version", "asked for").rows() == [
        ("digits", 2, "digits:prod"),
        ("labels", 0, "labels:v0"),
    ]
    summary = tables["run_metrics_table"].filter(pl.col("metric") == "loss").row(0, named=True)
    assert (summary["points"], summary["last step"], summary["max"]) == (30, 29, 1.0)
    assert sorted(chart_titles(at)) == ["accuracy", "loss", "val_loss"]
    loss = charts(at)["loss"]
    assert [(s["name"], s["color"]) for s in loss["series"]] == [("cnn-base", curves.PALETTE[4])]  # as on Compare
    at.slider(key="run_smoothing").set_value(0.5).run()
    at.toggle(key="run_log").set_value(True).run()
    loss = charts(at)["loss"]
    assert loss["log_y"] is True
    assert [s["role"] for s in loss["series"]] == ["raw", "main"]
    environment = [json.loads(j.proto.body) for j in at.json]
    assert any("host" in e for e in environment)
    links = {link.proto.label: parse_qs(link.proto.query_string) for link in at.get("page_link")}
    assert links["digits:v2"] == {"dataset": ["digits"], "tab": ["Preview"], "ref": ["digits:v2"]}


def test_run_page_takes_a_name_or_prefix_and_explains_a_bad_one(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, RUN, run="mlp-sgd")
    assert at.query_params["run"] == runs.ids["mlp-sgd"]
    at = open_app(root, RUN, run=runs.ids["mlp-wide"][:10])
    assert at.query_params["run"] == runs.ids["mlp-wide"]
    at = open_app(root, RUN, run="mlp-sdg")
    (message,) = errors(at)
    assert message.startswith("`run=mlp-sdg` in the URL: no run 'mlp-sdg'")
    assert "mlp-sgd" in message


def test_a_failed_run_shows_its_status_and_error(demo: tuple[Path, DemoRuns], open_app: OpenApp) -> None:
    root, runs = demo
    at = open_app(root, RUN, run=runs.ids["mlp-broken"])
    assert metrics(at)["Status"] == "FAILED"
    assert not errors(at)


def test_a_run_that_raised_says_why_it_failed(tmp_path: Path, open_app: OpenApp) -> None:
    lh = lakehouse.connect(tmp_path / "lh")

    def train() -> None:
        with lh.start_run(experiment="e", name="doomed") as run:
            run.log({"loss": 1.0})
            raise ValueError("loss is NaN")

    with pytest.raises(ValueError, match="loss is NaN"):
        train()
    (run_id,) = lh.runs(experiment="e").get_column("run_id").to_list()
    at = open_app(tmp_path / "lh", RUN, run=run_id)
    assert metrics(at)["Status"] == "FAILED"
    assert [w.value for w in at.warning] == ["**Failed**: ValueError: loss is NaN"]
    assert not errors(at)
    finished = lh.start_run(experiment="e", name="fine")
    finished.finish()
    assert not open_app(tmp_path / "lh", RUN, run=finished.id).warning


def test_live_page_follows_the_running_run_and_flags_overfitting(
    demo: tuple[Path, DemoRuns], open_app: OpenApp
) -> None:
    root, runs = demo
    at = open_app(root, LIVE)
    assert not errors(at)
    assert at.query_params["run"] == runs.ids["mlp-live"]
    assert metrics(at)["Status"] == "RUNNING"
    assert metrics(at)["Last step"] == "11"
    assert chart_titles(at) == ["loss (train vs validation)"]
    (chart,) = charts(at).values()
    # The run's own colour (the seventh run started), validation dashed; the legend hides either curve.
    assert [(s["name"], s["group"], s["color"], s["dash"]) for s in chart["series"]] == [
        ("loss", "loss", curves.PALETTE[6], False),
        ("val_loss", "val_loss", curves.PALETTE[6], True),
    ]
    assert chart["series"][1]["y"][-1] == pytest.approx(1 / 12 + 0.04 * 11)
    assert "overfitting" in at.warning[0].value
    assert at.toggle(key="live_auto").value is True


def _training_on_live(root: Path, open_app: OpenApp) -> tuple[lakehouse.Lakehouse, lakehouse.Run, AppTest]:
    """A run with one point committed, open on the Live page."""
    lh = lakehouse.connect(root)
    run = lh.start_run(experiment="e", name="training")
    run.log({"loss": 1.0}, step=0)
    run.flush()
    at = open_app(root, LIVE)
    assert metrics(at)["Last step"] == "0"
    return lh, run, at


def test_live_page_shows_new_points_on_the_next_refresh(tmp_path: Path, open_app: OpenApp) -> None:
    _, run, at = _training_on_live(tmp_path / "lh", open_app)
    for step in range(1, 5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.flush()
    before = at.get("bidi_component")[0].proto.id
    assert charts(at)["loss"]["series"][0]["y"] == [1.0]
    at.run()  # what the auto-refresh does every few seconds
    assert metrics(at)["Last step"] == "4"
    # The same element (keyed) with the new columns: the browser gives them to the chart it already drew.
    assert at.get("bidi_component")[0].proto.id == before
    assert charts(at)["loss"]["series"][0]["y"] == pytest.approx([1.0 / (step + 1) for step in range(5)], rel=1e-7)
    run.finish()
    at.run()
    assert metrics(at)["Status"] == "FINISHED"
    assert "The run ended" in at.success[0].value
    at.toggle(key="live_auto").set_value(False).run()
    assert not errors(at)


def test_live_page_warns_about_a_running_run_gone_silent(tmp_path: Path, open_app: OpenApp) -> None:
    lh = lakehouse.connect(tmp_path / "lh")
    run = lh.start_run(experiment="e", name="stalled")
    run.log({"loss": 1.0}, step=0, timestamp=time.time() - 30 * 60)
    run.flush()
    at = open_app(tmp_path / "lh", LIVE)
    assert metrics(at)["Status"] == "RUNNING"
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("No new point for 30 min.")
    assert "lakehouse runs recover" in warning
    run.log({"loss": 0.5}, step=1)  # it was only slow: the warning goes with the next point
    run.flush()
    at.run()
    assert not at.warning
    run.finish()


def test_live_page_without_a_running_run(tmp_path: Path, open_app: OpenApp) -> None:
    lh = lakehouse.connect(tmp_path / "lh")
    with lh.start_run(experiment="e") as run:
        run.log({"loss": 1.0})
    at = open_app(tmp_path / "lh", LIVE)
    assert "No run is running right now" in at.info[0].value


def test_run_and_live_pages_say_when_a_running_run_is_lost(
    tmp_path: Path, open_app: OpenApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    lh = lakehouse.connect(tmp_path / "lh", flush_interval=60, maintenance_commits=0)  # beats once a minute
    run = lh.start_run(experiment="e", name="gone")
    run.log({"loss": 1.0}, step=0)
    run.flush()
    monkeypatch.setenv("LAKEHOUSE_LOST_AFTER", "0.5s")  # the app's tolerance, shorter than that minute
    time.sleep(0.7)
    for page in (RUN, LIVE):
        at = open_app(tmp_path / "lh", page, run=run.id)
        assert not errors(at)
        assert metrics(at)["Status"] == "RUNNING (lost)"
        (warning,) = [w.value for w in at.warning]
        assert warning.startswith("Lost: no sign of life from this run's process since ")
        assert "`lakehouse runs recover --stale 10m`, from any machine, marks it FAILED." in warning
    run.finish()


def test_run_page_lists_the_wandb_artifacts_a_run_logged_and_used(tmp_path: Path, open_app: OpenApp) -> None:
    import lakehouse.wandb as wandb

    root = tmp_path / "lh"
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights")
    producer = wandb.init(project="mnist", name="train", root=root)
    wandb.log_artifact(weights, name="mnist-model", type="model", aliases=["best"])
    wandb.finish()
    consumer = wandb.init(project="mnist", name="eval", root=root)
    wandb.use_artifact("mnist-model:best")
    wandb.finish()

    at = open_app(root, RUN, run=consumer.id)
    assert not errors(at)
    tables = frames(at)
    assert "run_inputs_table" not in tables  # an artifact is not a dataset version
    used = tables["run_wandb_artifacts_table"]
    assert used.select("artifact", "role", "asked for", "type", "aliases", "logged_by").rows() == [
        ("mnist-model:v0", "used", "mnist-model:best", "model", "latest, best", producer.id)
    ]
    links = {link.proto.label: parse_qs(link.proto.query_string) for link in at.get("page_link")}
    assert links[f"logged by {producer.id}"] == {"run": [producer.id]}

    at = open_app(root, RUN, run=producer.id)
    logged = frames(at)["run_wandb_artifacts_table"]
    assert logged.select("artifact", "role", "asked for").rows() == [("mnist-model:v0", "logged", None)]

    # a model built by the consumer: its lineage links the artifact to the run that logged it, not to a dataset
    lakehouse.connect(root).register_model("clf", run=consumer.id, path="model")
    at = open_app(root, "views/models.py", model="clf", version="v1")
    assert not errors(at)
    links = {link.proto.label: parse_qs(link.proto.query_string) for link in at.get("page_link")}
    assert links["wandb-artifacts/mnist-model:v0"] == {"run": [producer.id]}


def test_live_page_mounts_the_watcher_with_what_it_was_drawn_at(tmp_path: Path, open_app: OpenApp) -> None:
    """The browser compares the route's answer with ``shown`` every ``seconds``; auto-refresh off: no watcher."""
    steady_clock(10)  # the page's stamp and the test's are taken in one turn of the lost-check clock
    lh, run, at = _training_on_live(tmp_path / "lh", open_app)

    def watchers() -> list[dict[str, object]]:
        found = [e.proto for e in at.get("bidi_component") if e.proto.component_name == live_watch.NAME]
        return [json.loads(proto.json) for proto in found]

    (watcher,) = watchers()
    assert watcher == {
        "url": live_watch.ROUTE,
        "shown": live_watch.digest(rq.live_stamp()),
        "seconds": lh.settings.app_refresh_seconds,
    }
    run.log({"loss": 0.5}, step=1)
    run.flush()
    assert live_watch.digest(rq.live_stamp()) != watcher["shown"]  # what the browser's next check sees
    at.run()
    assert watchers()[0]["shown"] == live_watch.digest(rq.live_stamp())
    at.toggle(key="live_auto").set_value(False).run()
    assert watchers() == []
    run.finish()


def test_live_checks_for_new_points_by_table_versions(tmp_path: Path, open_app: OpenApp) -> None:
    """What the Live page's check every refresh compares: unchanged while nothing is committed, changed by a
    new point, a run's end or another run starting (each of which the page must redraw for)."""
    steady_clock(10)
    lh, run, at = _training_on_live(tmp_path / "lh", open_app)
    drawn = rq.live_stamp()
    assert rq.live_stamp() == drawn  # idle: the check finds nothing to redraw
    run.log({"loss": 0.5}, step=1)
    run.flush()
    after_point = rq.live_stamp()
    assert after_point != drawn
    at.run()  # the rerun the check asks for draws the new point
    assert metrics(at)["Last step"] == "1"
    assert charts(at)["loss"]["series"][0]["y"] == [1.0, 0.5]
    other = lh.start_run(experiment="e", name="other")
    other.flush()
    assert rq.live_stamp() != after_point
    other.finish()
    run.finish()
    at.run()
    assert metrics(at)["Status"] == "FINISHED"
