"""Integrations with the tools training code already uses (MLflow, Keras, Lightning)."""
