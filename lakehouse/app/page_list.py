"""The app's pages: their scripts, titles, icons and URL paths (the navigation and the server's routes)."""

from __future__ import annotations

from typing import NamedTuple


class PageSpec(NamedTuple):
    script: str  # relative to lakehouse/app/
    title: str
    icon: str
    url_path: str  # "" for the default page, served at the app's root


PAGES = (
    PageSpec("views/datasets.py", "Datasets", ":material/dataset:", ""),
    PageSpec("views/experiments.py", "Experiments", ":material/table_chart:", "experiments"),
    PageSpec("views/compare.py", "Compare", ":material/compare_arrows:", "compare"),
    PageSpec("views/run.py", "Run", ":material/monitoring:", "run"),
    PageSpec("views/live.py", "Live", ":material/timer:", "live"),
    PageSpec("views/models.py", "Models", ":material/model_training:", "models"),
    PageSpec("views/sql.py", "SQL", ":material/terminal:", "sql"),
)
