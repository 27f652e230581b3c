"""The model registry: MLflow's sqlite registry and the lakehouse one, side by side in one run.

    python benchmarks/registry_bench.py            # 100 models x 100 versions (10,000 versions)
    python benchmarks/registry_bench.py --quick    # 20 models x 20 versions
    python benchmarks/registry_bench.py --json-out results.json

(1) ``models:/<name>@production`` resolved warm: ``MlflowClient.get_model_version_by_alias`` (what
    ``models:/name@alias`` URIs go through), both stores; and the lakehouse's own ``lh.model_version``
(2) ``MlflowClient.search_model_versions`` over every version: one model's versions (``name = '...'``), a tag
    filter over all of them, and the first page (1000) of everything in MLflow's default order

Both registries hold the same models, versions, tags and aliases, written in bulk (MLflow's own SQL models in
one session; the registry's events in one Delta commit), so what is timed is reading. The calls alternate
sqlite / lakehouse call by call in one window, so both see the same machine load; every figure is the median
over the repeats, the ratio is sqlite time / lakehouse time (above 1: lakehouse ahead). "Warm" means after a
first call that loads the table (and, for sqlite, opens the connection pool).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")  # MLflow's own notices are not what we measure

from bench_report import write_json  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.store.model_registry.dbmodels.models import (  # noqa: E402
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
)
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore  # noqa: E402

import lakehouse  # noqa: E402
from lakehouse.catalog.tables import MODEL_EVENTS, append_rows  # noqa: E402
from lakehouse.integrations.mlflow import uri_for  # noqa: E402

T0_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Sizes:
    models: int
    versions: int  # per model
    repeats: int


FULL = Sizes(models=100, versions=100, repeats=200)
QUICK = Sizes(models=20, versions=20, repeats=50)


def _tag(number: int) -> str:
    return str(number % 10)


def populate_sqlite(uri: str, sizes: Sizes) -> None:
    """The registry through MLflow's own SQL models, in one session."""
    store = SqlAlchemyStore(uri)
    with store.ManagedSessionMaker() as session:
        for m in range(sizes.models):
            name = f"model-{m}"
            session.add(SqlRegisteredModel(name=name, creation_time=T0_MS, last_updated_time=T0_MS))
            session.flush()
            for v in range(1, sizes.versions + 1):
                at = T0_MS + m * sizes.versions + v
                session.add(
                    SqlModelVersion(
                        name=name,
                        version=v,
                        creation_time=at,
                        last_updated_time=at,
                        source=f"runs:/run{v}/model",
                        storage_location=f"runs:/run{v}/model",
                        run_id=f"run{v}",
                    )
                )
                session.add(SqlModelVersionTag(name=name, version=v, key="i", value=_tag(v)))
            session.add(SqlRegisteredModelAlias(name=name, alias="production", version=sizes.versions // 2))


def populate_lakehouse(lh: lakehouse.Lakehouse, sizes: Sizes) -> None:
    """The same registry as events in one Delta commit (what the registry's operations write, in bulk)."""
    rows: list[dict[str, Any]] = []
    seq = 1_800_000_000_000_000
    base = datetime.fromtimestamp(T0_MS / 1000, UTC)

    def add(**row: Any) -> None:
        nonlocal seq
        seq += 1
        rows.append({"at": base, "writer": "bench", "seq": seq, "actor": "bench", **row})

    for m in range(sizes.models):
        model_id = f"bench{m:04d}"
        add(model_id=model_id, kind="model_created", name=f"model-{m}")
        for v in range(1, sizes.versions + 1):
            add(model_id=model_id, kind="version_created", version=v, source=f"runs:/run{v}/model", run_id=f"run{v}")
            add(model_id=model_id, kind="version_tagged", version=v, key="i", value=_tag(v))
        add(model_id=model_id, kind="alias_set", key="production", version=sizes.versions // 2)
    append_rows(lh.layout.models, MODEL_EVENTS, rows, lh.settings)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def alternate(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, after one warm-up each, alternating call by call."""
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            times[name].append(timed(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="registry-bench-"))
    sqlite_uri = f"sqlite:///{folder / 'mlflow.db'}"
    lh = lakehouse.connect(folder / "lh")
    started = datetime.now(UTC)
    load = os.getloadavg()
    populate_sqlite(sqlite_uri, sizes)
    populate_lakehouse(lh, sizes)
    sqlite, ours = MlflowClient(sqlite_uri), MlflowClient(uri_for(lh.root))
    name = f"model-{sizes.models // 2}"
    total = sizes.models * sizes.versions
    for client in (sqlite, ours):  # the same registry on both sides
        assert int(client.get_model_version_by_alias(name, "production").version) == sizes.versions // 2
        assert len(client.search_model_versions(f"name = '{name}'")) == sizes.versions

    results = []
    resolve = alternate(
        {
            "sqlite": lambda: sqlite.get_model_version_by_alias(name, "production"),
            "lakehouse": lambda: ours.get_model_version_by_alias(name, "production"),
            "native": lambda: lh.model_version(f"{name}:production"),
        },
        sizes.repeats,
    )
    results.append(("(1) models:/name@production, warm (get_model_version_by_alias)", resolve))
    search_repeats = max(5, sizes.repeats // 20)
    searches = {
        f"(2) search_model_versions name = '{name}' ({sizes.versions} of {total})": f"name = '{name}'",
        f"(2) search_model_versions tags.i = '7' ({total // 10} of {total})": "tags.i = '7'",
        f"(2) search_model_versions, first page of 1000 of {total}": None,
    }
    for label, filter_string in searches.items():
        medians = alternate(
            {
                "sqlite": lambda f=filter_string: sqlite.search_model_versions(f, max_results=1000),
                "lakehouse": lambda f=filter_string: ours.search_model_versions(f, max_results=1000),
            },
            search_repeats,
        )
        results.append((label, medians))

    finished = datetime.now(UTC)
    print(f"{platform.node()} · {os.cpu_count()} cores · {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC")
    print(f"load average at start {load[0]:.1f}, at end {os.getloadavg()[0]:.1f}; {sizes}")
    print(f"{'measurement':<72} {'sqlite ms':>10} {'lakehouse ms':>13} {'ratio':>7}")
    out = []
    for label, medians in results:
        ratio = medians["sqlite"] / medians["lakehouse"]
        print(f"{label:<72} {medians['sqlite']:>10.3f} {medians['lakehouse']:>13.3f} {ratio:>6.1f}x")
        if "native" in medians:
            print(f"{'    lh.model_version(name:production), the Python API':<72} {'':>10} {medians['native']:>13.3f}")
        out.append({"name": label, **{f"{k}_ms": round(v, 4) for k, v in medians.items()}, "ratio": ratio})
    if args.json_out:
        machine = {"host": platform.node(), "cpus": os.cpu_count(), "load_start": load, "load_end": os.getloadavg()}
        write_json(args.json_out, machine=machine, quick=args.quick, results=out)


if __name__ == "__main__":
    main()
