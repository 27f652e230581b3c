"""The sample lakehouse of ``lakehouse demo`` (needs the ``demo`` extra: scikit-learn, Keras).

- :mod:`lakehouse.demo.sample` builds it: the digits datasets in several versions, with cards and tags, then
  the training runs;
- :mod:`lakehouse.demo.training` holds those runs (short Keras fits) and the slow live trainer
  ``python -m lakehouse.demo.training [ROOT]`` that ``make demo`` runs beside the app.

Not part of the library's API: nothing under ``lakehouse`` imports it except the ``demo`` command.
"""
