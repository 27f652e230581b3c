"""Keras runs on the torch backend in these tests: the variable must be set before keras is first imported."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"
