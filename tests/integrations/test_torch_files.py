"""Training from a file dataset version: a real DataLoader with worker processes over real PNGs and WAVs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lakehouse
from lakehouse.errors import CorruptObject, InvalidArgument
from lakehouse.integrations.torch import FileDataset, IterableFileDataset
from lakehouse.objects import object_key
from tests.file_trees import COLOURS, make_tree, parent_label, png, wav


def to_tensor(image: Image.Image) -> torch.Tensor:
    """A picklable transform (workers receive it): the top-left 4×4, HWC uint8 → CHW float in [0, 1]."""
    corner = image.convert("RGB").crop((0, 0, 4, 4))
    return torch.from_numpy(np.asarray(corner, dtype=np.float32) / 255.0).permute(2, 0, 1)


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root, inline_file_bytes=150)  # some PNGs are stored as objects, some inline


@pytest.fixture
def pets(lh: lakehouse.Lakehouse, tmp_path: Path) -> Path:
    folder = tmp_path / "pets"
    noise = np.random.default_rng(7)
    for label, colour in COLOURS.items():
        for i in range(120):  # more than one row group (100 rows) per data file
            png(folder / label / f"{i:03d}.png", (4, 4), colour)
            if i % 10 == 0:  # noisy (large) images go to the object store; the top-left pixel stays the colour
                pixels = noise.integers(0, 255, (12, 12, 3), dtype=np.uint8)
                pixels[0, 0] = colour
                Image.fromarray(pixels).save(folder / label / f"{i:03d}.png")
    lh.dataset("pets").add_files(folder, labels=parent_label)
    return folder


def test_a_dataloader_with_two_workers_reads_every_image_of_the_version(lh: lakehouse.Lakehouse, pets: Path) -> None:
    objects = {p for p in lh.dataset("pets").files()["object"].to_list() if p is not None}
    assert objects  # the larger images live in the object store
    with lh.start_run(experiment="pets") as run:
        data = FileDataset("pets", lakehouse=lh, run=run, decode="image", transform=to_tensor)
        assert data.ref == "pets:v0"
        assert data.classes == ["cats", "dogs"]
        assert len(data) == 240
        loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, num_workers=2)
        seen: dict[int, int] = {}
        count = 0
        for images, labels in loader:
            for image, label in zip(images, labels, strict=True):
                colour = COLOURS[data.classes[int(label)]]
                assert torch.allclose(image[:, 0, 0], torch.tensor(colour, dtype=torch.float32) / 255.0)
                seen[int(label)] = seen.get(int(label), 0) + 1
            count += len(labels)
    assert count == 240
    assert seen == {0: 120, 1: 120}
    assert [(i.dataset, i.version, i.context) for i in run.inputs] == [("pets", 0, "train")]
    assert lh.lineage("pets:v0")["run_id"].to_list() == [run.id]


def test_items_match_the_files_and_the_dataset_pickles(lh: lakehouse.Lakehouse, pets: Path) -> None:
    data = FileDataset("pets:v0", lakehouse=lh, decode="bytes")
    again = pickle.loads(pickle.dumps(data))
    for i in (0, 119, 120, 239, -1):
        raw, label = again[i]
        assert raw == (pets / data.paths[i]).read_bytes()
        assert data.classes[label] == data.paths[i].split("/")[0]


def test_a_version_stays_fixed_while_the_dataset_moves_on(lh: lakehouse.Lakehouse, pets: Path) -> None:
    data = FileDataset("pets", lakehouse=lh, decode="image", target=None)
    png(pets / "cats" / "000.png", (16, 16), (0, 255, 0))
    lh.dataset("pets").sync_files(pets)
    image = data[data.paths.index("cats/000.png")]
    assert image.getpixel((0, 0)) == COLOURS["cats"]


def test_text_and_audio_decoding(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "mixed")
    wav(folder / "sounds" / "long.wav", seconds=0.5, rate=4000)
    lh.dataset("mixed").add_files(folder, pattern="sounds/*")
    lh.dataset("notes").add_files(folder, pattern="notes/*")
    audio = FileDataset("mixed", lakehouse=lh, decode="audio", target=None)
    samples, rate = audio[audio.paths.index("sounds/long.wav")]
    assert rate == 4000
    assert samples.shape == (1, 2000)
    assert samples[0, 0].item() == pytest.approx(1 / 32768)
    text = FileDataset("notes", lakehouse=lh, decode="text", target=None)
    assert text[0] == "a small text file\n"


def test_bad_use_is_refused(lh: lakehouse.Lakehouse, pets: Path) -> None:
    with pytest.raises(InvalidArgument, match="decode must be one of"):
        FileDataset("pets", lakehouse=lh, decode="video")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="has no column 'species'"):
        FileDataset("pets", lakehouse=lh, target="species")
    lh.dataset("table").write([{"id": 1}])
    with pytest.raises(InvalidArgument, match="'table' is not a file dataset"):
        FileDataset("table", lakehouse=lh)
    data = FileDataset("pets", lakehouse=lh, target=None)
    with pytest.raises(IndexError, match="out of range for pets:v0, which has 240 files"):
        data[240]


def test_a_corrupted_object_fails_the_item_naming_it(lh: lakehouse.Lakehouse, pets: Path) -> None:
    data = FileDataset("pets", lakehouse=lh, target=None)
    index = next(i for i, o in enumerate(data.reader.columns["object"]) if o is not None)
    stored = Path(lh.root) / object_key(data.reader.columns["object"][index])
    stored.chmod(0o644)
    stored.write_bytes(b"\x00" + stored.read_bytes()[1:])
    with pytest.raises(CorruptObject, match="is corrupt"):
        data[index]


def _epoch(data: IterableFileDataset, workers: int) -> list[tuple[bytes, int]]:
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=workers)
    return [(raw, int(label)) for raw, label in loader]


def test_the_iterable_variant_streams_every_file_once_per_epoch_across_workers(
    lh: lakehouse.Lakehouse, pets: Path
) -> None:
    with lh.start_run(experiment="pets") as run:
        data = IterableFileDataset("pets", lakehouse=lh, run=run, decode="bytes")
        assert (data.ref, len(data), data.classes) == ("pets:v0", 240, ["cats", "dogs"])
        items = _epoch(data, workers=2)
    paths = data.reader.paths
    assert len(items) == 240  # each file once: the row groups are dealt out, never read twice
    expected = sorted(((pets / p).read_bytes(), data.classes.index(p.split("/")[0])) for p in paths)
    assert sorted(items) == expected
    # In order, one worker: storage order, which is the map-style dataset's order.
    assert _epoch(data, workers=0) == [
        (raw, label) for raw, label in (FileDataset("pets", lakehouse=lh)[i] for i in range(240))
    ]
    assert [(i.dataset, i.version, i.context) for i in run.inputs] == [("pets", 0, "train")]


def test_the_iterable_variant_shuffles_by_seed_and_epoch(lh: lakehouse.Lakehouse, pets: Path) -> None:
    data = IterableFileDataset("pets", lakehouse=lh, decode="bytes", shuffle=True, seed=3, buffer=50)
    first = _epoch(data, workers=2)
    again = _epoch(data, workers=2)
    data.set_epoch(1)
    other = _epoch(data, workers=2)
    in_order = _epoch(IterableFileDataset("pets", lakehouse=lh, decode="bytes"), workers=0)
    assert sorted(first) == sorted(other) == sorted(in_order)  # the same files, each once
    assert first == again  # the same seed and epoch: the same order
    assert first not in (other, in_order)
    with pytest.raises(InvalidArgument, match="buffer"):
        IterableFileDataset("pets", lakehouse=lh, shuffle=True, buffer=0)


def test_a_version_on_a_bucket_root_is_read_without_downloading(bucket_root: str, tmp_path: Path) -> None:
    lh = lakehouse.connect(bucket_root, inline_file_bytes=150)  # the noisy image goes to the bucket's object store
    folder = tmp_path / "pets"
    png(folder / "cats" / "000.png", (4, 4), COLOURS["cats"])
    (folder / "dogs").mkdir(parents=True)
    noisy = np.random.default_rng(3).integers(0, 255, (12, 12, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(folder / "dogs" / "000.png")
    lh.dataset("pets").add_files(folder, labels=parent_label)
    assert [o is not None for o in lh.dataset("pets").files().sort("path")["object"].to_list()] == [False, True]
    data = FileDataset("pets", lakehouse=lh, decode="bytes")
    streamed = IterableFileDataset("pets", lakehouse=lh, decode="bytes")
    expected = sorted(((folder / p).read_bytes(), data.classes.index(p.split("/")[0])) for p in data.paths)
    assert sorted(data[i] for i in range(len(data))) == expected
    assert sorted(_epoch(streamed, workers=2)) == expected
