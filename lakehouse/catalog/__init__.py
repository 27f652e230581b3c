"""Where tables live under the root, their schemas, and the registries kept in ``_catalog/``."""

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import TableSpec

__all__ = ["Layout", "TableSpec"]
