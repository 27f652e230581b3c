"""A real Keras 3 ``model.fit`` (torch backend) trained from a file dataset version of real PNGs."""

from __future__ import annotations

from pathlib import Path

import keras  # the backend (torch) is chosen in conftest.py, before this import
import numpy as np
import pytest
from PIL import Image

import lakehouse
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.keras import LakehouseCallback
from lakehouse.integrations.keras_data import FileBatches
from tests.file_trees import COLOURS, parent_label, png


def to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype="float32") / 255.0


@pytest.fixture
def lh(root: Path, tmp_path: Path) -> lakehouse.Lakehouse:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    for label, colour in COLOURS.items():
        for i in range(12):
            png(tmp_path / "pets" / label / f"{i}.png", (4, 4), colour)
    lh.dataset("pets").add_files(tmp_path / "pets", labels=parent_label)
    return lh


def test_fit_from_a_file_dataset_version_records_it_as_the_runs_input(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(experiment="pets") as run:
        batches = FileBatches("pets", lakehouse=lh, run=run, transform=to_array, batch_size=8, shuffle=True)
        assert (batches.ref, batches.classes, len(batches)) == ("pets:v0", ["cats", "dogs"], 3)
        x, y = batches[0]
        assert x.shape == (8, 4, 4, 3)
        assert y.shape == (8,)
        model = keras.Sequential(
            [keras.Input(shape=(4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(batches, epochs=2, verbose=0, callbacks=[LakehouseCallback(run=run)])
    assert len(history.history["loss"]) == 2
    assert [(i.dataset, i.version, i.context) for i in run.inputs] == [("pets", 0, "train")]
    assert lh.lineage("pets:v0")["run_id"].to_list() == [run.id]


def test_every_item_is_served_once_per_epoch_and_bad_use_is_refused(lh: lakehouse.Lakehouse) -> None:
    batches = FileBatches("pets:v0", lakehouse=lh, transform=to_array, batch_size=5)
    labels = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(labels.tolist()) == [0] * 12 + [1] * 12
    with pytest.raises(IndexError, match="batch 5 is out of range"):
        batches[5]
    with pytest.raises(InvalidArgument, match="batch_size must be a positive integer"):
        FileBatches("pets", lakehouse=lh, batch_size=0)
    with pytest.raises(InvalidArgument, match="has no column 'species'"):
        FileBatches("pets", lakehouse=lh, target="species")
