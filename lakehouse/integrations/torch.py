"""Train from a file dataset version with torch: a map-style ``Dataset`` that reads straight from the version.

>>> from lakehouse.integrations.torch import FileDataset
>>> with lh.start_run(experiment="pets") as run:
...     data = FileDataset("pets:v2", lakehouse=lh, run=run, decode="image", transform=to_tensor)
...     loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True, num_workers=4)

:class:`IterableFileDataset` streams the same items instead, row group by row group, each worker (and each
distributed rank) reading its own share once per epoch: for versions larger than memory, or storage where
sequential reads are cheaper than random ones. With ``shuffle=True`` it visits the row groups in a seeded
order that :meth:`IterableFileDataset.set_epoch` changes, and mixes the files of ``buffer`` consecutive ones.

Each item is ``(sample, target)`` — ``target`` from the ``label`` column (``target=`` another column, or None
for samples alone); string labels become class indices into :attr:`FileDataset.classes` (sorted, as
torchvision's ``ImageFolder`` does). ``decode`` turns the bytes into a sample before ``transform``:
``"bytes"`` (as stored), ``"image"`` (a PIL image), ``"text"`` (UTF-8), ``"audio"`` (a float32 tensor of shape
``(channels, frames)`` and its sample rate, from a WAV).

The version is resolved once, when the dataset is made, and recorded as an input of ``run`` (context
``train`` unless told otherwise): ``lh.lineage("pets:v2")`` finds the run, and vacuum keeps the version
readable. Nothing is downloaded: workers read the row group holding each file (see
:mod:`lakehouse.datasets.file_reader`), and every file is verified against its sha256.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from lakehouse._optional import import_optional
from lakehouse.datasets.file_reader import DECODES, Decode, VersionReader, open_version
from lakehouse.datasets.file_reader import decode as decode_file
from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.tracking.run import Run

torch = import_optional("torch", extra="torch", purpose="lakehouse.integrations.torch")


class ItemOptions(TypedDict, total=False):
    """The keyword options of both datasets (see :class:`FileDataset` for each; the defaults are
    :class:`_Items`')."""

    lakehouse: Lakehouse | None
    run: Run | None
    context: str | None
    decode: Decode
    transform: Callable[[Any], Any] | None
    target: str | None
    target_transform: Callable[[Any], Any] | None


class _Items:
    """What both datasets share: the version's reader, the run input, and item ``index`` decoded and labelled."""

    def __init__(
        self,
        ref: str,
        *,
        lakehouse: Lakehouse | None = None,
        run: Run | None = None,
        context: str | None = "train",
        decode: Decode = "bytes",
        transform: Callable[[Any], Any] | None = None,
        target: str | None = "label",
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if decode not in DECODES:
            msg = f"decode must be one of {', '.join(DECODES)}; got {decode!r}"
            raise InvalidArgument(msg)
        if lakehouse is None:
            import lakehouse as lakehouse_package

            lakehouse = run._lh if run is not None else lakehouse_package.connect()
        self.reader: VersionReader = open_version(lakehouse, ref)
        if run is not None:
            run.use_dataset(self.reader.ref, context=context)
        self.decode = decode
        self.transform = transform
        self.target_transform = target_transform
        self.classes: list[Any] = []
        self.targets: list[Any] | None = None
        if target is not None:
            self.targets = _targets(self.reader, target)
            values = [t for t in self.targets if t is not None]
            if values and all(isinstance(t, str) for t in values):
                self.classes = sorted(set(values))
                index = {c: i for i, c in enumerate(self.classes)}
                self.targets = [None if t is None else index[t] for t in self.targets]
        if decode == "image":
            import_optional("PIL.Image", extra="torch", purpose="decode='image'")

    def item(self, index: int) -> Any:
        sample = decode_bytes(self.reader.read(index), self.decode)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.targets is None:
            return sample
        label = self.targets[index]
        if self.target_transform is not None:
            label = self.target_transform(label)
        return sample, label


class _VersionView:
    """What both datasets show of their version: its ref, classes, reader and number of files."""

    _items: _Items

    @property
    def ref(self) -> str:
        """The exact version read, e.g. ``pets:v2``."""
        return self._items.reader.ref

    @property
    def classes(self) -> list[Any]:
        """The sorted string labels whose positions the targets are (empty when labels are not strings)."""
        return self._items.classes

    @property
    def reader(self) -> VersionReader:
        """The version's files and small columns (``reader.columns``), by position."""
        return self._items.reader

    def __len__(self) -> int:
        """Files in the version (for the iterable variant: the items of one epoch over all workers and ranks)."""
        return len(self._items.reader)


class FileDataset(_VersionView, torch.utils.data.Dataset):  # type: ignore[misc,name-defined]
    """The files of one file dataset version as a map-style ``torch.utils.data.Dataset``.

    Args:
        ref: the version, e.g. ``"pets:v2"`` or ``"pets:prod"`` (resolved now to a fixed version).
        lakehouse: the lakehouse holding it (default: ``run``'s, else ``lakehouse.connect()``).
        run: the run to record the version as an input of (None: recorded nowhere).
        context: how the run uses it (``train``, ``validation``…).
        decode: what a sample is before ``transform``: ``bytes``, ``image``, ``text`` or ``audio``.
        transform: applied to each decoded sample (must pickle for ``num_workers > 0``).
        target: the label column (None: items are samples alone).
        target_transform: applied to each target.
    """

    def __init__(self, ref: str, **options: Unpack[ItemOptions]) -> None:
        self._items = _Items(ref, **options)

    @property
    def paths(self) -> list[str]:
        """The path of each item, by index."""
        return self._items.reader.paths

    def __getitem__(self, index: int) -> Any:
        return self._items.item(index)


class IterableFileDataset(_VersionView, torch.utils.data.IterableDataset):  # type: ignore[misc,name-defined]
    """The files of one file dataset version streamed row group by row group (``torch.utils.data.IterableDataset``).

    Every epoch yields each file once across all ``DataLoader`` workers and distributed ranks: the row groups
    (about a hundred small files each; a file kept in the object store counts as its row) are dealt out to
    them, and each reads its row groups one at a time, so memory holds a few row groups whatever the
    version's size. Items are those of :class:`FileDataset`.

    Args:
        ref, lakehouse, run, context, decode, transform, target, target_transform: as for :class:`FileDataset`.
        shuffle: visit the row groups in a random order (the same in every worker, from ``seed`` and the
            epoch) and mix the files of ``buffer`` consecutive row groups' worth of items.
        seed: the seed of that order.
        buffer: how many items are mixed at a time when shuffling.
    """

    def __init__(
        self, ref: str, *, shuffle: bool = False, seed: int = 0, buffer: int = 1024, **options: Unpack[ItemOptions]
    ) -> None:
        if buffer < 1:
            msg = f"buffer must be at least 1 item; got {buffer!r}"
            raise InvalidArgument(msg)
        self._items = _Items(ref, **options)
        self.shuffle = shuffle
        self.seed = seed
        self.buffer = buffer
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffled order the next iteration follows (as ``DistributedSampler`` does)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[Any]:
        groups = self._items.reader.row_groups()
        order = random.Random(f"{self.seed}:{self.epoch}")
        if self.shuffle:
            order.shuffle(groups)
        share, shares = _share()
        mine = [indices for n, indices in enumerate(groups) if n % shares == share]
        if not self.shuffle:
            for indices in mine:
                for index in indices:
                    yield self._items.item(index)
            return
        mixer = random.Random(f"{self.seed}:{self.epoch}:{share}")
        pool: list[int] = []
        for indices in mine:
            pool.extend(indices)
            while len(pool) >= self.buffer:
                yield self._items.item(_take_random(pool, mixer))
        mixer.shuffle(pool)
        for index in pool:
            yield self._items.item(index)


def _share() -> tuple[int, int]:
    """This reader's share of an epoch (which, of how many): by distributed rank, then by loader worker."""
    rank, ranks = 0, 1
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        rank, ranks = distributed.get_rank(), distributed.get_world_size()
    worker = torch.utils.data.get_worker_info()
    workers = 1 if worker is None else worker.num_workers
    return rank * workers + (0 if worker is None else worker.id), ranks * workers


def _take_random(pool: list[int], mixer: random.Random) -> int:
    """Remove and return a random element (swapped with the last: constant time)."""
    at = mixer.randrange(len(pool))
    pool[at], pool[-1] = pool[-1], pool[at]
    return pool.pop()


def _targets(reader: VersionReader, column: str) -> list[Any]:
    if column not in reader.columns:
        known = [c for c in reader.columns if c not in ("path", "object", "sha256", "size", "modified")]
        msg = f"{reader.ref} has no column {column!r} to take targets from; its columns include {known}"
        raise InvalidArgument(msg)
    return list(reader.columns[column])


def decode_bytes(data: bytes, decode: Decode) -> Any:
    """Turn a file's bytes into a sample (see :func:`lakehouse.datasets.file_reader.decode`); audio as a tensor."""
    sample = decode_file(data, decode)
    if decode == "audio":
        samples, rate = sample
        return torch.from_numpy(samples), rate
    return sample
