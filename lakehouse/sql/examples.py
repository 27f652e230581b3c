"""The showcase queries, written for any lakehouse: a dataset, its metrics and a parameter fill them in.

Used by the app's SQL page, docs/SQL.md, the tests (both engines) and ``benchmarks/sql_bench.py``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse


@dataclass(frozen=True)
class Example:
    """A titled query."""

    title: str
    query: str


def best_metric_per_version(dataset: str, metric: str) -> str:
    """For every version of ``dataset``: its card, and the best ``metric`` of the runs that trained on it."""
    return f"""SELECT v.version, v.created_by, v.labelled_by, v.number_of_samples, v.description,
       COUNT(DISTINCT i.run_id) AS runs, MAX(s.max) AS best_{_word(metric)}
FROM dataset_versions v
JOIN inputs i ON i.dataset = v.dataset AND i.version = v.version
JOIN metric_summaries s ON s.run_id = i.run_id AND s.key = '{metric}'
WHERE v.dataset = '{dataset}'
GROUP BY v.version, v.created_by, v.labelled_by, v.number_of_samples, v.description
ORDER BY v.version"""


def loss_went_up(loss: str, param: str, above: float) -> str:
    """Runs whose ``param`` is above ``above`` and whose ``loss`` went up over the last 10 % of their steps."""
    return f"""WITH loss AS (SELECT run_id, step, value FROM metrics WHERE key = '{loss}'),
ends AS (SELECT run_id, MAX(step) AS last_step FROM loss GROUP BY run_id),
tail AS (
  SELECT l.run_id, l.step, l.value FROM loss l JOIN ends e ON l.run_id = e.run_id
  WHERE l.step >= 0.9 * e.last_step
),
edges AS (SELECT run_id, MIN(step) AS first_step, MAX(step) AS last_step FROM tail GROUP BY run_id)
SELECT r.name, CAST(r.params.{_quoted(param)} AS DOUBLE) AS {_word(param)}, a.value AS tail_start, b.value AS tail_end
FROM edges g
JOIN tail a ON a.run_id = g.run_id AND a.step = g.first_step
JOIN tail b ON b.run_id = g.run_id AND b.step = g.last_step
JOIN runs r ON r.run_id = g.run_id
WHERE b.value > a.value AND CAST(r.params.{_quoted(param)} AS DOUBLE) > {above}
ORDER BY r.name"""


def changed_rows(dataset: str, start: str, end: str) -> str:
    """The rows that changed between two versions, with the change type."""
    return f'SELECT * FROM "{dataset}:{start}..{end}" ORDER BY change_type'


def run_points(run_id: str, metric: str) -> str:
    """Every point of one metric of one run (reads that run's files only)."""
    return f"SELECT step, value FROM metrics WHERE run_id = '{run_id}' AND key = '{metric}' ORDER BY step"


def aliased_models(alias: str, metric: str) -> str:
    """The version of each model ``alias`` points at: its run, that run's final ``metric``, its artifacts and
    the dataset versions the run trained on (one row per dataset version)."""
    return f"""WITH files AS (SELECT run_id, COUNT(*) AS files, SUM(size) AS bytes FROM artifacts GROUP BY run_id)
SELECT v.name, v.version, r.name AS run, s.last AS final_{_word(metric)}, f.files, f.bytes,
       i.dataset, i.version AS dataset_version
FROM model_versions v
JOIN runs r ON r.run_id = v.run_id
LEFT JOIN metric_summaries s ON s.run_id = v.run_id AND s.key = '{metric}'
LEFT JOIN files f ON f.run_id = v.run_id
LEFT JOIN inputs i ON i.run_id = v.run_id
WHERE ARRAY_CONTAINS(v.aliases, '{alias}')
ORDER BY v.name, i.dataset, i.version"""


def showcase(
    *, dataset: str, metric: str, loss: str, param: str, above: float = 0.0, alias: str | None = None
) -> list[Example]:
    """The issue's showcase questions over one lakehouse's names, plus a first look at each kind of table;
    with ``alias``, the model versions it points at with their runs' metric and data."""
    models = (
        []
        if alias is None
        else [Example(f"The {alias} version of each model, its run and data", aliased_models(alias, metric))]
    )
    return [
        Example(f"Best {metric} per version of {dataset}, with its card", best_metric_per_version(dataset, metric)),
        Example(f"Runs with {param} > {above} whose {loss} went up at the end", loss_went_up(loss, param, above)),
        Example(f"Rows changed in {dataset} from v0 to latest", changed_rows(dataset, "v0", "latest")),
        Example("Runs, newest first", "SELECT name, experiment, status, start_time, params, metrics FROM runs"),
        Example("Every dataset version with its card", "SELECT * FROM dataset_versions ORDER BY dataset, version"),
        *models,
    ]


def _word(name: str) -> str:
    """``name`` as a bare output column name (anything but letters, digits and '_' becomes '_')."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _quoted(name: str) -> str:
    return name if _word(name) == name and not name[:1].isdigit() else '"' + name.replace('"', '""') + '"'


def for_lakehouse(lh: Lakehouse) -> list[Example]:
    """:func:`showcase` filled in from what ``lh`` holds: the dataset with the most versions, an accuracy-like
    metric, a loss, a learning-rate-like parameter (whatever exists when those do not) and, when models have
    aliases, ``production`` (else the most used alias)."""
    datasets = lh.sql("SELECT name, latest_version FROM datasets ORDER BY latest_version DESC, name")
    keys = lh.sql("SELECT key, COUNT(*) AS runs FROM metric_summaries GROUP BY key ORDER BY runs DESC, key")
    params = lh.sql("SELECT key, COUNT(*) AS runs FROM params GROUP BY key ORDER BY runs DESC, key")
    if datasets.is_empty() or keys.is_empty():
        return [e for e in showcase(dataset="", metric="", loss="", param="") if "FROM runs" in e.query]
    metrics = keys.get_column("key").to_list()
    metric = _pick(metrics, ("val_accuracy", "accuracy", "val_acc", "acc"), "acc")
    loss = _pick(metrics, ("val_loss", "loss"), "loss")
    param = _pick(params.get_column("key").to_list() or ["lr"], ("learning_rate", "lr"), "rate")
    used = Counter(a for names in lh.sql("SELECT aliases FROM model_versions").get_column("aliases") for a in names)
    aliases = sorted(used, key=lambda a: (-used[a], a))
    alias = _pick(aliases, ("production",), "prod") if aliases else None
    return showcase(dataset=str(datasets.item(0, "name")), metric=metric, loss=loss, param=param, alias=alias)


def _pick(options: list[str], preferred: tuple[str, ...], part: str) -> str:
    """The first of ``preferred`` in ``options``, else the first option containing ``part``, else the first."""
    for wanted in preferred:
        if wanted in options:
            return wanted
    return next((o for o in options if part in o), options[0])
