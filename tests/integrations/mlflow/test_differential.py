"""The same MLflow client calls against ``sqlite:///`` and ``lakehouse:///`` give the same results.

MLflow's SQL store is the reference: each scenario below is played on both, every outcome (returned entities
with run ids replaced by run names, or the error code of a refused call) is recorded, and the two recordings
must be equal.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType

from tests.integrations.mlflow.conftest import Recorder, differential

T0 = 1_700_000_000_000  # ms


def _history(r: Recorder, label: str, run_id: str, key: str) -> None:
    r(label, lambda: sorted(r.plain(r.client.get_metric_history(run_id, key)), key=repr))


def test_runs_params_tags_and_metric_histories(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        exp = c.create_experiment("roundtrip", tags={"team": "vision"})
        r("experiment", c.get_experiment, exp)
        a = r.run("alpha", exp, start_time=T0, tags={"mlflow.user": "ada", "stage": "dev"})
        b = r.run("beta", exp, start_time=T0 + 5)
        c.log_batch(
            a,
            metrics=[Metric("loss", 1.0 / (i + 1), T0 + i, i) for i in range(20)],
            params=[Param("lr", "0.01"), Param("layers", "3")],
            tags=[RunTag("note", "first"), RunTag("stage", "prod")],
        )
        c.log_metric(a, "acc", 0.5, timestamp=T0 + 1, step=1)
        c.log_metric(a, "acc", 0.5, timestamp=T0 + 1, step=1)  # an exact duplicate is one point
        c.log_metric(a, "acc", 0.7, timestamp=T0 + 1, step=1)  # another value at the same step is another
        c.log_metric(a, "weird", math.nan, timestamp=T0 + 2, step=0)
        c.log_metric(a, "weird", math.inf, timestamp=T0 + 3, step=1)
        c.log_metric(a, "weird", -math.inf, timestamp=T0 + 4, step=2)
        c.log_metric(a, "negative_step", 3.0, timestamp=T0, step=-5)
        c.log_param(a, "lr", "0.01")  # the same value again is fine
        c.set_tag(a, "note", "second")
        c.set_tag(b, "temp", "x")
        c.delete_tag(b, "temp")
        r("delete missing tag", c.delete_tag, b, "temp")
        c.update_run(b, name="beta-renamed")
        c.set_terminated(a, "FAILED", end_time=T0 + 100)
        c.log_metric(a, "after_end", 1.0, timestamp=T0 + 101, step=0)  # a finished run still takes data
        c.set_terminated(b, end_time=T0 + 200)
        r("run a", c.get_run, a)
        r("run b", c.get_run, b)
        for key in ("loss", "acc", "weird", "negative_step", "after_end", "never_logged"):
            _history(r, f"history {key}", a, key)
        r("missing run", c.get_run, "0" * 32)
        r("bad run id", c.get_run, "not a run id!")

    differential(clients, scenario)


def test_param_immutability_and_log_batch_limits(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        exp = c.create_experiment("limits")
        a = r.run("limited", exp, start_time=T0)
        c.log_param(a, "optimizer", "adam")
        r("param changed", c.log_param, a, "optimizer", "sgd")
        r("batch param changed", c.log_batch, a, params=[Param("new", "1"), Param("optimizer", "sgd")])
        r("duplicate keys", c.log_batch, a, params=[Param("k", "1"), Param("k", "2")])
        # The client splits big batches itself; the store's own limits are what a REST request meets.
        store = c._tracking_client.store
        many = [Metric("m", float(i), T0, i) for i in range(1001)]
        r("1001 metrics", store.log_batch, a, metrics=many, params=[], tags=[])
        r("1000 metrics", store.log_batch, a, metrics=many[:1000], params=[], tags=[])
        r("101 params", store.log_batch, a, metrics=[], params=[Param(f"p{i}", "v") for i in range(101)], tags=[])
        r("101 tags", store.log_batch, a, metrics=[], params=[], tags=[RunTag(f"t{i}", "v") for i in range(101)])
        mixed = {
            "metrics": many[:950],
            "params": [Param("q", "1")] * 0,
            "tags": [RunTag(f"u{i}", "v") for i in range(60)],
        }
        r("1010 entities", store.log_batch, a, **mixed)
        r("100 params", store.log_batch, a, metrics=[], params=[Param(f"p{i}", "v") for i in range(100)], tags=[])
        r("client splits 2500 metrics", c.log_batch, a, metrics=[Metric("big", float(i), T0, i) for i in range(2500)])
        r("bad metric name", c.log_batch, a, metrics=[Metric("ok", 1.0, T0, 0), Metric("../escape", 1.0, T0, 0)])
        r("bad metric value", c.log_batch, a, metrics=[Metric("ok2", "high", T0, 0)])  # type: ignore[arg-type]
        r("too long param", c.log_param, a, "long", "x" * 6001)
        r("run after refusals", c.get_run, a)
        r("m history length", lambda: len(c.get_metric_history(a, "m")))
        r("big history length", lambda: len(c.get_metric_history(a, "big")))
        r("log to missing run", c.log_metric, "f" * 32, "x", 1.0)
        c.delete_run(a)
        r("log to deleted run", c.log_metric, a, "x", 1.0)
        r("param to deleted run", c.log_param, a, "x", "1")
        c.restore_run(a)
        r("log after restore", c.log_metric, a, "x", 1.0, timestamp=T0, step=0)
        r("restored run", c.get_run, a)

    outcomes = dict(differential(clients, scenario))
    assert outcomes["param changed"] == ("error", "INVALID_PARAMETER_VALUE")
    assert outcomes["1001 metrics"] == ("error", "INVALID_PARAMETER_VALUE")
    assert outcomes["log to deleted run"] == ("error", "INVALID_PARAMETER_VALUE")
    assert outcomes["log to missing run"] == ("error", "RESOURCE_DOES_NOT_EXIST")
    assert outcomes["m history length"] == 1000


SEARCH_FILTERS = [
    "",
    "metrics.loss < 0.5",
    "metrics.loss >= 0.5 AND params.optimizer = 'adam'",
    "metrics.loss != 0.3",
    "metrics.score > 0",
    "metrics.score != 1",
    "params.optimizer LIKE 'ad%'",
    "params.optimizer ILIKE 'AD%'",
    "params.optimizer != 'adam'",
    "params.batch IS NULL",
    "params.batch IS NOT NULL",
    "tags.team = 'red'",
    "tags.team LIKE '%e%'",
    "tags.`with space` = 'yes'",
    "tags.mlflow.runName LIKE 'run-1%'",
    "attributes.run_name = 'run-03'",
    "run_name ILIKE 'RUN-0%'",
    "attributes.status = 'FINISHED'",
    "status != 'RUNNING'",
    "attributes.start_time > 1700000000005",
    "created <= 1700000000003",
    "attributes.end_time > 0",
    "attributes.user_id = 'ada'",
    "params.lr = '0.1'",
    "attributes.run_id IN ('nope', 'nada')",
    "metrics.loss > 0.2 AND metrics.loss < 0.8 AND tags.team != 'blue'",
]

SEARCH_ORDERS: list[list[str]] = [
    [],
    ["metrics.loss"],
    ["metrics.loss DESC"],
    ["metrics.score ASC"],
    ["metrics.score DESC"],
    ["params.optimizer", "metrics.loss DESC"],
    ["tags.team DESC", "attributes.start_time"],
    ["attributes.run_name"],
    ["attributes.end_time DESC"],
    ["start_time ASC"],
    ["attributes.status", "params.batch DESC"],
]


def _search_world(r: Recorder) -> str:
    c = r.client
    exp = c.create_experiment("search")
    other = c.create_experiment("elsewhere")
    r.run("run-elsewhere", other, start_time=T0)
    for i in range(12):
        run_id = r.run(
            f"run-{i:02d}",
            exp,
            # Distinct start times, not in name order: ties would be broken by run id, which differs by store.
            start_time=T0 + (i * 5) % 12,
            tags={"mlflow.user": "ada" if i % 3 == 0 else "bob"},
        )
        params = [Param("optimizer", "adam" if i % 2 else "sgd"), Param("lr", "0.1" if i < 6 else "0.01")]
        if i % 4 == 0:
            params.append(Param("batch", str(32 * (i + 1))))
        tags = [RunTag("team", ["red", "blue", "green"][i % 3])]
        if i == 5:
            tags.append(RunTag("with space", "yes"))
        metrics = [Metric("loss", round(1.0 - i / 12, 4), T0 + i, 0)]
        if i % 3 != 2:
            metrics.append(Metric("score", [math.nan, 1.0, 2.0, -1.0][i % 4], T0 + i, 0))
        c.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        if i % 2 == 0:
            c.set_terminated(run_id, end_time=T0 + 1000 - i)
    return exp


def test_search_runs_filters_and_ordering(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        exp = _search_world(r)
        cases = [(f, SEARCH_ORDERS[i % len(SEARCH_ORDERS)]) for i, f in enumerate(SEARCH_FILTERS)]
        cases += [("", order) for order in SEARCH_ORDERS] + [("metrics.loss < 0.9", order) for order in SEARCH_ORDERS]
        for filter_string, order_by in cases:
            found = r.client.search_runs([exp], filter_string, order_by=order_by)
            r(f"search {filter_string!r} {order_by}", lambda f=found: [r.names[x.info.run_id] for x in f])
        r("search with whole runs", r.client.search_runs, [exp], "metrics.loss < 0.7", order_by=["metrics.loss"])
        for bad in ["metrics.loss = 'x'", "params.lr > 1", "foo.bar = 1", "attributes.nope = 'x'", "tags.t ~ 'x'"]:
            r(f"bad filter {bad!r}", r.client.search_runs, [exp], bad)
        r("bad order", r.client.search_runs, [exp], "", order_by=["metrics.loss SIDEWAYS"])
        r("duplicate order", r.client.search_runs, [exp], "", order_by=["metrics.loss", "metrics.loss DESC"])

    differential(clients, scenario)


def test_search_runs_pagination_and_view_types(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        exp = _search_world(r)
        for order_by in ([], ["metrics.loss"]):
            token = None
            pages: list[Any] = []
            while True:
                page = c.search_runs([exp], "", max_results=5, order_by=order_by, page_token=token)
                pages.append([r.names[x.info.run_id] for x in page])
                token = page.token
                if not token:
                    break
            r(f"pages {order_by}", lambda p=pages: p)
        ids = {name: run_id for run_id, name in r.names.items()}
        c.delete_run(ids["run-03"])
        c.delete_run(ids["run-04"])
        for view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
            found = c.search_runs([exp], "", run_view_type=view)
            r(f"view {view}", lambda f=found: [r.names[x.info.run_id] for x in f])
        c.restore_run(ids["run-03"])
        found = c.search_runs([exp], "", run_view_type=ViewType.DELETED_ONLY)
        r("after restore", lambda f=found: [r.names[x.info.run_id] for x in f])
        everywhere = c.search_runs([exp, c.get_experiment_by_name("elsewhere").experiment_id], "params.lr = '0.1'")
        r("two experiments", lambda f=everywhere: [r.names[x.info.run_id] for x in f])
        r("max_results 0", c.search_runs, [exp], "", max_results=0)

    differential(clients, scenario)


def test_experiment_lifecycle_rename_tags_and_search(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        ids = {name: c.create_experiment(name, tags={"n": name[-1]}) for name in ["e-a", "e-b", "e-c", "e-d", "e-e"]}
        r("default", c.get_experiment, "0")
        r("by name", c.get_experiment_by_name, "e-b")
        r("missing by name", c.get_experiment_by_name, "nope")
        r("missing id", c.get_experiment, "12345")
        r("duplicate name", c.create_experiment, "e-a")
        run = r.run("in-e-c", ids["e-c"], start_time=T0)
        c.set_experiment_tag(ids["e-a"], "owner", "ada")
        c.set_experiment_tag(ids["e-a"], "owner", "grace")
        c.delete_experiment_tag(ids["e-a"], "n")
        r("delete missing experiment tag", c.delete_experiment_tag, ids["e-a"], "n")
        r("tagged", c.get_experiment, ids["e-a"])
        c.rename_experiment(ids["e-b"], "e-b2")
        r("renamed", c.get_experiment, ids["e-b"])
        r("old name gone", c.get_experiment_by_name, "e-b")
        # SQL answers BAD_REQUEST from its unique constraint, lakehouse RESOURCE_ALREADY_EXISTS: both HTTP 400.
        r("rename to taken name", c.rename_experiment, ids["e-b"], "e-a", http_status=True)
        c.delete_experiment(ids["e-c"])
        r("deleted experiment", c.get_experiment, ids["e-c"])
        r("its run", c.get_run, run)
        r("run in deleted experiment", c.create_run, ids["e-c"])
        r("rename deleted", c.rename_experiment, ids["e-c"], "whatever")
        r("tag deleted", c.set_experiment_tag, ids["e-c"], "k", "v")
        r("delete twice", c.delete_experiment, ids["e-c"])
        r("name of deleted is taken", c.create_experiment, "e-c")
        r("restore active", c.restore_experiment, ids["e-a"])
        for view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
            r(f"experiments {view}", c.search_experiments, view_type=view)
        c.restore_experiment(ids["e-c"])
        r("restored run", c.get_run, run)
        for filter_string in [
            "name LIKE 'e-%'",
            "name = 'e-b2'",
            "tags.n = 'd'",
            "tags.owner IS NOT NULL",
            "name ILIKE 'E-_'",
        ]:
            r(f"experiments {filter_string!r}", c.search_experiments, filter_string=filter_string)
        r("experiments by name", c.search_experiments, order_by=["name DESC"])
        token = None
        pages = []
        while True:
            page = c.search_experiments(max_results=2, order_by=["name"], page_token=token)
            pages.append([e.name for e in page])
            token = page.token
            if not token:
                break
        r("experiment pages", lambda: pages)

    differential(clients, scenario)


def test_store_level_history_pagination_and_bulk_interval(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        store = c._tracking_client.store
        exp = c.create_experiment("curves")
        runs = [r.run(f"curve-{i}", exp, start_time=T0 + i) for i in range(3)]
        for n, run_id in enumerate(runs):
            points = 37 + 20 * n
            c.log_batch(run_id, metrics=[Metric("loss", 1.0 / (s + 1), T0 + s, s * 2) for s in range(points)])
        c.log_batch(runs[0], metrics=[Metric("flat", float(i), T0 + i, 0) for i in range(30)])  # one step, many points
        token = None
        pages = []
        while True:
            page = store.get_metric_history(runs[1], "loss", max_results=10, page_token=token)
            pages.append(r.plain(list(page)))
            token = page.token
            if not token:
                break
        r("history pages", lambda: pages)
        for max_results, start, end in [(10, None, None), (1, None, None), (7, 10, 40), (500, None, None), (3, 0, 0)]:
            sampled = store.get_metric_history_bulk_interval(runs, "loss", max_results, start, end)
            r(
                f"bulk interval {max_results} {start}-{end}",
                lambda s=sampled: [(r.names[m.run_id], m.key, m.value, m.timestamp, m.step) for m in s],
            )
        flat = store.get_metric_history_bulk_interval([runs[0]], "flat", 5, None, None)
        r("bulk interval on one step", lambda: [(m.value, m.step) for m in flat])
        r("half range", store.get_metric_history_bulk_interval, runs, "loss", 5, 3, None)
        # Runs come in run id order, which differs by store: compare each run's points, and a limit on one run.
        bulk = store.get_metric_history_bulk(runs, "loss", 500)
        r("bulk", lambda: sorted((r.names[m.run_id], m.value, m.step) for m in bulk))
        limited = store.get_metric_history_bulk(runs[:1], "loss", 9)
        r("bulk limited", lambda: [(m.value, m.step) for m in limited])

    differential(clients, scenario)


def test_logged_models(clients: dict[str, MlflowClient]) -> None:
    from mlflow.entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus

    def scenario(r: Recorder) -> None:
        c = r.client
        store = c._tracking_client.store
        exp = c.create_experiment("models")
        run = r.run("trainer", exp, start_time=T0)
        ids = {}
        for i, name in enumerate(["alpha", "beta", "gamma"]):
            model = c.create_logged_model(
                exp, name=name, source_run_id=run, tags={"k": str(i)}, params={"lr": str(i / 10)}, model_type="clf"
            )
            ids[name] = model.model_id
            r.names[model.model_id] = name

        def plain(m: Any) -> Any:
            return (
                m.name,
                str(m.status),
                dict(m.tags),
                dict(m.params),
                m.model_type,
                r.names.get(m.source_run_id),
                m.experiment_id == exp,
                sorted((x.key, x.value, x.step, x.timestamp, r.names[x.run_id]) for x in m.metrics or []),
            )

        r("created", lambda: plain(c.get_logged_model(ids["alpha"])))
        # Metrics logged with a model id: the run's points and the model's metrics (a repeat is kept once).
        for name, acc in [("alpha", 0.9), ("beta", 0.7), ("alpha", 0.9)]:
            c.log_metric(run, "acc", acc, timestamp=T0 + 5, step=2, model_id=ids[name])
        c.log_batch(run, metrics=[Metric("loss", 0.25, T0 + 6, 3, model_id=ids["gamma"])])
        _history(r, "run history acc", run, "acc")
        c.finalize_logged_model(ids["alpha"], LoggedModelStatus.READY)
        c.finalize_logged_model(ids["beta"], LoggedModelStatus.FAILED)
        c.set_logged_model_tags(ids["alpha"], {"stage": "prod", "k": "changed"})
        c.delete_logged_model_tag(ids["gamma"], "k")
        r("delete missing model tag", c.delete_logged_model_tag, ids["gamma"], "k")
        for name in ids:
            r(f"model {name}", lambda n=name: plain(c.get_logged_model(ids[n])))
        r("missing model", c.get_logged_model, "m-" + "0" * 32)
        r("invalid name", c.create_logged_model, exp, name="a/b")
        store.log_outputs(run, [LoggedModelOutput(ids["alpha"], step=3)])
        store.log_inputs(run, models=[LoggedModelInput(ids["beta"])])
        got = c.get_run(run)
        r("run outputs", lambda: [(r.names[o.model_id], o.step) for o in got.outputs.model_outputs])
        r("run model inputs", lambda: [r.names[i.model_id] for i in got.inputs.model_inputs])
        for filter_string, order_by in [
            (None, [{"field_name": "name", "ascending": True}]),
            ("name = 'beta'", None),
            ("tags.k = '1'", None),
            ("params.lr = '0.2'", None),
            ("metrics.acc > 0.8", None),
            (None, [{"field_name": "metrics.acc", "ascending": False}]),
            (None, [{"field_name": "creation_timestamp", "ascending": False}]),
        ]:
            found = c.search_logged_models([exp], filter_string=filter_string, order_by=order_by)
            r(f"search models {filter_string} {order_by}", lambda f=found: [m.name for m in f])
        c.delete_logged_model(ids["gamma"])
        r("deleted model", c.get_logged_model, ids["gamma"])
        r("searched after delete", lambda: sorted(m.name for m in c.search_logged_models([exp])))

    differential(clients, scenario)


def test_dataset_logged_again_is_ignored(clients: dict[str, MlflowClient]) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    def scenario(r: Recorder) -> None:
        c = r.client
        exp = c.create_experiment("inputs")
        a = r.run("reader", exp, start_time=T0)
        b = r.run("other", exp, start_time=T0 + 1)
        train = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}')
        test = Dataset("test", "def456", "local", '{"uri": "/data/test.csv"}')

        def used(dataset: Dataset, context: str, *extra: tuple[str, str]) -> DatasetInput:
            tags = [InputTag("mlflow.data.context", context), *(InputTag(k, v) for k, v in extra)]
            return DatasetInput(dataset, tags)

        c.log_inputs(a, [used(train, "training", ("split", "first"))])
        # The same name and digest again: MLflow keeps the first input and its tags, in one call or another.
        c.log_inputs(a, [used(train, "eval", ("split", "second"))])
        c.log_inputs(a, [used(test, "eval"), used(test, "training")])
        c.log_inputs(a, [used(Dataset("train", "other9", "local", '{"uri": "/data/train2.csv"}'), "training")])
        r("run a", c.get_run, a)
        c.log_inputs(b, [used(train, "eval")])  # another run keeps its own input, with its own tags
        r("run b", c.get_run, b)
        for filter_string in ["dataset.context = 'eval'", "dataset.context = 'training'", "dataset.digest = 'other9'"]:
            found = c.search_runs([exp], filter_string)
            r(f"search {filter_string!r}", lambda f=found: sorted(r.names[x.info.run_id] for x in f))

    differential(clients, scenario)


ATTRIBUTE_FILTERS = [
    "attributes.run_name = '10'",
    "attributes.run_name != '9'",
    "attributes.run_name LIKE '1%'",
    "attributes.run_name ILIKE 'b'",
    "attributes.run_name != 'x'",
    "tags.mlflow.runName ILIKE 'b'",
    "attributes.run_name LIKE 'r%'",
    "attributes.user_id = '10'",
    "attributes.user_id != 'ada'",
    "attributes.user_id LIKE 'A%'",
    "attributes.status = 'KILLED'",
    "attributes.status != 'FINISHED'",
    "attributes.status LIKE '%ED'",
    "attributes.end_time > 1700000000000",
    "attributes.end_time <= 1700000000100",
    "attributes.end_time != 1700000000100",
    "attributes.end_time = 1700000000100",
    "attributes.start_time = 1700000000000",
    "attributes.start_time >= 1700000000000.5",
    "attributes.created < 1700000000003",
    "attributes.artifact_uri LIKE '%/artifacts'",
    "attributes.run_name = '10' AND attributes.status = 'FINISHED'",
]

ATTRIBUTE_ORDERS: list[list[str]] = [
    ["attributes.run_name"],
    ["attributes.run_name DESC"],
    ["attributes.user_id"],
    ["attributes.user_id DESC", "attributes.run_name"],
    ["attributes.status"],
    ["attributes.status DESC"],
    ["attributes.end_time"],
    ["attributes.end_time DESC"],
    ["attributes.start_time"],
    ["attributes.start_time DESC"],
    ["attributes.created"],
    ["run_name", "attributes.end_time DESC"],
    ["attributes.artifact_uri"],
]


def _attribute_world(r: Recorder) -> str:
    """Runs whose names and users look like numbers, ties in start time, runs with and without an end time."""
    c = r.client
    exp = c.create_experiment("attributes")
    plan = [
        # name, user, start offset, how it ends
        ("10", "ada", 0, ("FINISHED", 100)),
        ("9", "10", 0, ("FINISHED", 100)),
        ("2", "9", 0, None),
        ("b", "bob", 0, None),
        ("B", "Ada", 3, ("KILLED", 50)),
        ("run-1", "ada", 3, ("FAILED", 100)),
        ("Run-1", "", 5, ("FINISHED", 200)),
        ("10.0", "bob", 5, ("FINISHED", 100)),
    ]
    for name, user, offset, end in plan:
        tags = {"mlflow.user": user} if user else {}
        run_id = r.run(name, exp, start_time=T0 + offset, tags=tags)
        if end is not None:
            c.set_terminated(run_id, end[0], end_time=T0 + end[1])
    # Without its name tag a run keeps its name (and its place in name order); name filters read the tag.
    c.delete_tag(next(i for i, n in r.names.items() if n == "b"), "mlflow.runName")
    return exp


def _ranked(r: Recorder, runs: list[Any], order_by: list[str]) -> list[Any]:
    """Names in result order, runs tied on every sort key (and start time) grouped: within a group the order is
    by run id, which differs by store, so each group records its names and whether its ids ascend."""
    fields = {"run_name": "run_name", "user_id": "user_id", "status": "status", "end_time": "end_time"}
    fields |= {"start_time": "start_time", "created": "start_time", "artifact_uri": "artifact_uri"}
    keys = [fields[o.split()[0].removeprefix("attributes.")] for o in order_by] + ["start_time"]
    groups: list[tuple[tuple[Any, ...], list[str]]] = []
    for run in runs:
        key = tuple(getattr(run.info, k) for k in keys if k != "artifact_uri")
        if groups and groups[-1][0] == key:
            groups[-1][1].append(run.info.run_id)
        else:
            groups.append((key, [run.info.run_id]))
    return [(sorted(r.names[i] for i in ids), ids == sorted(ids)) for _, ids in groups]


def test_search_by_attributes_orders_and_filters_as_sql(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        exp = _attribute_world(r)
        for order_by in [*ATTRIBUTE_ORDERS, []]:
            found = c.search_runs([exp], "", order_by=order_by)
            if order_by == ["attributes.artifact_uri"]:  # .../<run id>/artifacts: in run id order in both stores
                r(
                    "order by artifact uri",
                    lambda f=found: [x.info.run_id for x in f] == sorted(x.info.run_id for x in f),
                )
                continue
            r(f"order {order_by}", lambda f=found, o=order_by: _ranked(r, list(f), o))
        for filter_string in ATTRIBUTE_FILTERS:
            found = c.search_runs([exp], filter_string, order_by=["attributes.run_name"])
            r(f"filter {filter_string!r}", lambda f=found: [r.names[x.info.run_id] for x in f])
        ids = {name: run_id for run_id, name in r.names.items()}
        chosen = f"attributes.run_id IN ('{ids['10']}', '{ids['b']}')"
        r("run_id IN", lambda: sorted(r.names[x.info.run_id] for x in c.search_runs([exp], chosen)))
        others = f"attributes.run_id NOT IN ('{ids['10']}', '{ids['b']}')"
        r("run_id NOT IN", lambda: sorted(r.names[x.info.run_id] for x in c.search_runs([exp], others)))
        for bad in ["attributes.status IN ('FINISHED')", "attributes.start_time = 'x'", "attributes.run_name > 'a'"]:
            r(f"bad {bad!r}", c.search_runs, [exp], bad)
        r("bad order", c.search_runs, [exp], "", order_by=["attributes.lifecycle_stage"])

    differential(clients, scenario)


def test_deleting_the_run_name_tag(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        exp = c.create_experiment("names")
        a = r.run("named", exp, start_time=T0)
        b = r.run("kept", exp, start_time=T0 + 1)
        r("delete the name tag", c.delete_tag, a, "mlflow.runName")
        r("run without its name tag", c.get_run, a)
        r("delete it again", c.delete_tag, a, "mlflow.runName")
        for filter_string in ["attributes.run_name = 'named'", "tags.mlflow.runName = 'named'", ""]:
            found = c.search_runs([exp], filter_string, order_by=["attributes.run_name"])
            r(f"search {filter_string!r}", lambda f=found: [(x.info.run_name, r.names[x.info.run_id]) for x in f])
        c.update_run(a, name="renamed")
        r("renamed", c.get_run, a)
        c.delete_tag(a, "mlflow.runName")
        c.set_tag(a, "mlflow.runName", "by-tag")
        r("named by tag", c.get_run, a)
        c.delete_tag(b, "mlflow.runName")
        c.log_batch(b, tags=[RunTag("mlflow.runName", "by-batch")])
        r("named by batch", c.get_run, b)

    differential(clients, scenario)


def test_error_codes_and_messages(clients: dict[str, MlflowClient]) -> None:
    from mlflow.entities import LoggedModelParameter, LoggedModelTag

    def scenario(r: Recorder) -> None:
        c = r.client
        store = c._tracking_client.store
        exp = c.create_experiment("errors")
        run = r.run("errs", exp, start_time=T0)
        for label, call in [
            ("get", lambda: c.get_experiment("abc")),
            ("create run", lambda: c.create_run("abc")),
            ("search runs", lambda: c.search_runs(["abc"])),
            ("search runs mixed", lambda: c.search_runs([exp, "1x"])),
            ("delete", lambda: c.delete_experiment("abc")),
            ("restore", lambda: c.restore_experiment("abc")),
            ("rename", lambda: c.rename_experiment("abc", "new")),
            ("set tag", lambda: c.set_experiment_tag("abc", "k", "v")),
            ("delete tag", lambda: c.delete_experiment_tag("abc", "k")),
            ("create model", lambda: c.create_logged_model("abc")),
            ("search models", lambda: c.search_logged_models(["abc"])),
        ]:
            r(f"non-numeric experiment id: {label}", call, message=True)
        r("missing experiment", c.get_experiment, "987", message=True)
        r("metric without value", c.log_metric, run, "m", None, timestamp=T0, message=True)
        r("metric with a text value", c.log_metric, run, "m", "high", timestamp=T0, message=True)
        r("metric with a bad name", c.log_metric, run, "../m", 1.0, timestamp=T0, message=True)
        r("metric with a bad step", c._tracking_client.store.log_metric, run, Metric("m", 1.0, T0, "x"), message=True)  # type: ignore[arg-type]
        r("param with a bad name", c.log_param, run, "../p", "1", message=True)
        r("param without value", store.log_param, run, Param("p", None), http_status=True)  # type: ignore[arg-type]
        r("batch param without value", store.log_batch, run, [], [Param("p", None)], [], http_status=True)  # type: ignore[arg-type]
        r("tag with a bad name", c.set_tag, run, "../t", "1", message=True)
        r("batch metric without value", store.log_batch, run, [Metric("m", None, T0, 0)], [], [], message=True)  # type: ignore[arg-type]
        model = c.create_logged_model(exp, name="tagged")
        r("model tag None", store.set_logged_model_tags, model.model_id, [LoggedModelTag("k", None)], http_status=True)  # type: ignore[arg-type]
        r(
            "new model with tag None",
            store.create_logged_model,
            exp,
            name="m2",
            tags=[LoggedModelTag("k", None)],  # type: ignore[arg-type]
            http_status=True,
        )
        r(
            "new model with param None",
            store.create_logged_model,
            exp,
            name="m3",
            params=[LoggedModelParameter("p", None)],  # type: ignore[arg-type]
            http_status=True,
        )
        r("model tags after", lambda: dict(c.get_logged_model(model.model_id).tags))
        r("models after", lambda: sorted(m.name for m in c.search_logged_models([exp])))
        r("run after", c.get_run, run)

    outcomes = dict(differential(clients, scenario))
    assert outcomes["non-numeric experiment id: get"] == (
        "error",
        "INVALID_PARAMETER_VALUE",
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    )
    assert outcomes["metric without value"] == (
        "error",
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'value'.",
    )


def test_traces_stay_refused_with_a_clear_message(clients: dict[str, MlflowClient]) -> None:
    """The one place the lakehouse answers differently on purpose: MLflow's SQL store keeps traces, this store
    refuses every trace call with NOT_IMPLEMENTED (HTTP 501) and a message saying where traces can go."""
    from mlflow.exceptions import MlflowException

    sqlite_store = clients["sqlite"]._tracking_client.store
    lakehouse_store = clients["lakehouse"]._tracking_client.store
    with pytest.raises(MlflowException) as missing:
        sqlite_store.get_trace_info("tr-0123")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"  # the SQL store looks, and finds nothing
    for call in (
        lambda: lakehouse_store.get_trace_info("tr-0123"),
        lambda: lakehouse_store.set_trace_tag("tr-0123", "k", "v"),
        lambda: clients["lakehouse"].get_trace("tr-0123"),
    ):
        with pytest.raises(MlflowException) as refused:
            call()
        assert refused.value.error_code == "NOT_IMPLEMENTED"
        assert refused.value.get_http_status_code() == 501
        assert "not supported by the lakehouse tracking store" in refused.value.message
        assert "sqlite:///mlflow.db" in refused.value.message


def test_status_and_end_time_apply_in_call_order_not_by_their_times(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        store = c._tracking_client.store
        exp = c.create_experiment("lifecycle")
        early = r.run("ended-before-start", exp, start_time=T0 + 1000)
        c.set_terminated(early, "FINISHED", end_time=T0)  # an import, or two machines whose clocks disagree
        r("ended before its start", c.get_run, early)
        unset = r.run("finished-without-end", exp, start_time=T0)
        info = store.update_run_info(unset, RunStatus.FINISHED, None, None)
        r("update without end time", lambda: (info.status, info.end_time))
        r("finished, no end time", c.get_run, unset)
        running = r.run("running-with-end", exp, start_time=T0)
        store.update_run_info(running, RunStatus.RUNNING, T0 + 50, None)
        r("running keeps the given end", c.get_run, running)
        store.update_run_info(running, RunStatus.FINISHED, None, None)
        r("finished later keeps it too", c.get_run, running)
        back = r.run("back-and-forth", exp, start_time=T0)
        c.set_terminated(back, "KILLED", end_time=T0 + 300)
        store.update_run_info(back, RunStatus.RUNNING, None, None)  # as mlflow.start_run(run_id=...) resumes
        c.set_terminated(back, "FAILED", end_time=T0 + 200)
        r("resumed and failed earlier", c.get_run, back)
        for status in ("FINISHED", "RUNNING", "FAILED", "KILLED"):
            found = c.search_runs([exp], f"attributes.status = '{status}'", order_by=["attributes.run_name"])
            r(f"status {status}", lambda f=found: [r.names[x.info.run_id] for x in f])
        found = c.search_runs([exp], "attributes.end_time < 100", order_by=["attributes.run_name"])
        r("ended early", lambda f=found: [r.names[x.info.run_id] for x in f])

    differential(clients, scenario)


def test_latest_metric_among_equal_steps_and_times_is_the_greatest_value(clients: dict[str, MlflowClient]) -> None:
    def scenario(r: Recorder) -> None:
        c = r.client
        exp = c.create_experiment("ties")
        values = {"falls": [0.9, 0.3], "rises": [0.3, 0.9], "nan": [math.nan, -1.0], "three": [0.5, 2.0, 1.0]}
        names = ("a", "b", "c")
        for i, name in enumerate(names):
            run_id = r.run(name, exp, start_time=T0 + i)
            for key, series in values.items():
                for value in series:
                    c.log_metric(run_id, key, value + i / 10, timestamp=T0 + 7, step=3)  # one step, one millisecond
            c.log_batch(run_id, metrics=[Metric("batched", v, T0 + 7, 3) for v in (5.0 - i, 1.0, 3.0)])
        for name, run_id in ((n, i) for i, n in r.names.items()):
            r(f"run {name}", c.get_run, run_id)
        for key in (*values, "batched"):
            for order in ("ASC", "DESC"):
                found = c.search_runs([exp], "", order_by=[f"metrics.{key} {order}"])
                r(f"order {key} {order}", lambda f=found: [r.names[x.info.run_id] for x in f])
        filters = ("metrics.falls > 0.5", "metrics.falls < 0.5", "metrics.three >= 2", "metrics.batched = 5")
        for filter_string in filters:
            found = c.search_runs([exp], filter_string, order_by=["attributes.run_name"])
            r(f"filter {filter_string}", lambda f=found: [r.names[x.info.run_id] for x in f])

    outcomes = dict(differential(clients, scenario))
    assert outcomes["run a"]["metrics"]["falls"] == 0.9
    assert outcomes["filter metrics.falls > 0.5"] == ["a", "b", "c"]
