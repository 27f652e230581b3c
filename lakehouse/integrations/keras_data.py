"""Train Keras from a file dataset version: a ``keras.utils.PyDataset`` of batches read straight from it.

>>> from lakehouse.integrations.keras_data import FileBatches
>>> with lh.start_run(experiment="digits") as run:
...     batches = FileBatches("digits:v2", lakehouse=lh, run=run, decode="image", transform=to_array, batch_size=32)
...     model.fit(batches, epochs=3, callbacks=[LakehouseCallback(run=run)])

The same reader as :class:`lakehouse.integrations.torch.FileDataset` (see :mod:`lakehouse.datasets.file_reader`):
the version is resolved once and recorded as an input of ``run``; nothing is downloaded; every file is
verified. Batch ``i`` holds items ``order[i * batch_size : (i + 1) * batch_size]``; with ``shuffle`` the order
is drawn again at each epoch end. Targets come from the ``label`` column, string labels as indices into
:attr:`FileBatches.classes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lakehouse._optional import import_optional
from lakehouse.datasets.file_reader import DECODES, Decode, VersionReader, decode, open_version
from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.tracking.run import Run

keras = import_optional("keras", extra="keras", purpose="lakehouse.integrations.keras_data")


class FileBatches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
    """Batches ``(x, y)`` (or ``x`` alone with ``target=None``) of one file dataset version, as numpy arrays.

    Args:
        ref, lakehouse, run, context, decode, target: as for the torch ``FileDataset``.
        transform: turns a decoded sample into a numpy array (all of one shape, to stack).
        batch_size: items per batch. shuffle: a new random order every epoch (``seed`` for the first).
        workers, use_multiprocessing, max_queue_size: passed to ``PyDataset``.
    """

    def __init__(
        self,
        ref: str,
        *,
        lakehouse: Lakehouse,
        run: Run | None = None,
        context: str | None = "train",
        decode: Decode = "image",
        transform: Callable[[Any], Any] = np.asarray,
        target: str | None = "label",
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if decode not in DECODES:
            msg = f"decode must be one of {', '.join(DECODES)}; got {decode!r}"
            raise InvalidArgument(msg)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive integer, got {batch_size!r}"
            raise InvalidArgument(msg)
        self.reader: VersionReader = open_version(lakehouse, ref)
        if run is not None:
            run.use_dataset(self.reader.ref, context=context)
        self.kind = decode
        self.transform = transform
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self.order = self._rng.permutation(len(self.reader)) if shuffle else np.arange(len(self.reader))
        self.classes: list[Any] = []
        self.targets: np.ndarray | None = None
        if target is not None:
            if target not in self.reader.columns:
                msg = f"{self.reader.ref} has no column {target!r} to take targets from"
                raise InvalidArgument(msg)
            values = self.reader.columns[target]
            if any(v is None for v in values):
                msg = f"column {target!r} of {self.reader.ref} has files without a value; every file needs a target"
                raise InvalidArgument(msg)
            if all(isinstance(v, str) for v in values):
                self.classes = sorted(set(values))
                index = {c: i for i, c in enumerate(self.classes)}
                values = [index[v] for v in values]
            self.targets = np.asarray(values)

    @property
    def ref(self) -> str:
        return self.reader.ref

    def __len__(self) -> int:
        return -(-len(self.reader) // self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            msg = f"batch {index} is out of range: {self.reader.ref} makes {len(self)} batches of {self.batch_size}"
            raise IndexError(msg)
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = np.stack([self.transform(decode(self.reader.read(int(i)), self.kind)) for i in chosen])
        if self.targets is None:
            return x
        return x, self.targets[chosen]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self._rng.permutation(len(self.reader))
