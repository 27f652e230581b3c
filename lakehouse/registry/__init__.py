"""The model registry: registered models, versions 1, 2, 3… per name, aliases with their history, in
``_catalog/models`` (append-only events; see docs/MODELS.md)."""

from lakehouse.registry.models import Model, check_model_name, version_number

__all__ = ["Model", "check_model_name", "version_number"]
