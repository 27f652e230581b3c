"""Integrations with the tools training code already uses. Import the one you need; each imports its
framework lazily:

- :mod:`lakehouse.integrations.keras`: ``LakehouseCallback`` for ``model.fit`` (``pip install 'lakehouse[keras]'``)
- :mod:`lakehouse.integrations.lightning`: ``LakehouseLogger`` for ``Trainer`` (``pip install 'lakehouse[lightning]'``)
- :mod:`lakehouse.integrations.mlflow`: the ``lakehouse:`` MLflow tracking store, ``mlflow.log_input`` of dataset
  versions and ``import-mlflow`` (``pip install 'lakehouse[mlflow]'``)

Keras and Lightning log through a :class:`lakehouse.Run` and never let a logging failure stop training: they warn
once (:class:`lakehouse.TrackingWarning`) and carry on, the data staying in the spool.
"""
