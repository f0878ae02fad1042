"""Training images from an archive (zip of images + dataset.json), and the order they are read in.

The archive format (member names, labels, decoding) is `catalog/archive.py`'s; this module
makes it a torch Dataset. Images are decoded lazily, one entry at a time, so an
archive larger than memory still trains; every header is checked once on open, so a stray
image size fails in seconds rather than hours into a run.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from fauxshop.catalog import archive
from fauxshop.errors import FauxshopError


class ImageArchive(torch.utils.data.Dataset):
    """Images as uint8 C x H x W tensors with one-hot labels (an empty tensor when unlabelled).

    `use_labels` asks for the archive's labels (class-conditional training); `xflip` doubles
    the dataset with mirrored copies: index `i + n` is image `i` flipped left to right.
    """

    def __init__(self, path: str | Path, use_labels: bool = False, xflip: bool = False) -> None:
        self.path = Path(path)
        self.xflip = xflip
        self._zip_handle: tuple[int, zipfile.ZipFile] | None = None
        if not self.path.is_file():
            raise FauxshopError(f"{self.path}: no such image archive")
        names = archive.image_names(self._zip())
        if not names:
            raise FauxshopError(f"{self.path}: no PNG or JPEG images in the archive")
        self.names = names
        self.channels, self.resolution = self._check_headers()
        labels, self.label_names = self._read_labels()
        if use_labels and labels is None:
            raise FauxshopError(f"{self.path}: conditional training needs labels in dataset.json")
        self.labels = labels if use_labels else None

    # -- reading the zip ------------------------------------------------------------------------

    def _zip(self) -> zipfile.ZipFile:
        """One open handle per process: DataLoader workers must not share a file position."""
        if self._zip_handle is None or self._zip_handle[0] != os.getpid():
            self._zip_handle = (os.getpid(), archive.open_archive(self.path))
        return self._zip_handle[1]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip_handle": None}

    def _check_headers(self) -> tuple[int, tuple[int, int]]:
        """Channels and (H, W) shared by every image; headers only, so it is quick."""
        first = None
        for name in self.names:
            shape = archive.image_shape(self._zip(), name)
            if first is None:
                first = shape
            elif shape != first:
                raise FauxshopError(
                    f"{self.path}: {name} is {_describe(shape)} but {self.names[0]} is "
                    f"{_describe(first)}; all images in an archive must match (re-run pack)"
                )
        return first

    def _read_labels(self) -> tuple[np.ndarray | None, list[str]]:
        """Integer labels in image order (None if the archive has none) and their names."""
        meta = archive.metadata(self._zip())
        if meta is None:
            return None, []
        names = archive.label_names(meta)
        if not meta.get("labels"):
            return None, names
        by_name = dict(meta["labels"])
        missing = [n for n in self.names if n not in by_name]
        if missing:
            raise FauxshopError(f"{self.path}: dataset.json has no label for {missing[0]}")
        labels = np.array([by_name[n] for n in self.names], dtype=np.int64)
        if labels.min() < 0:
            raise FauxshopError(f"{self.path}: dataset.json has a negative label")
        return labels, names

    # -- the dataset ------------------------------------------------------------------------

    @property
    def num_images(self) -> int:
        """Distinct images in the archive; `len()` counts mirrored copies too."""
        return len(self.names)

    @property
    def c_dim(self) -> int:
        """Length of the one-hot label: 0 when unlabelled."""
        if self.labels is None:
            return 0
        return max(len(self.label_names), int(self.labels.max()) + 1)

    @cached_property
    def fingerprint(self) -> str:
        """The archive's fingerprint: a run resumes only on the data it started with."""
        return archive.archive_fingerprint(self.path)

    def __len__(self) -> int:
        return self.num_images * (2 if self.xflip else 1)

    def image(self, index: int) -> torch.Tensor:
        """uint8 C x H x W, mirrored for indices past the real images."""
        name = self.names[index % self.num_images]
        array = archive.decode_image(self._zip(), name)
        if index >= self.num_images:
            array = array[:, ::-1]
        tensor = torch.from_numpy(np.array(array.transpose(2, 0, 1)))  # a writable copy
        if tuple(tensor.shape) != (self.channels, *self.resolution):
            raise FauxshopError(f"{self.path}: {name}: changed since the archive was opened")
        return tensor

    def label(self, index: int) -> torch.Tensor:
        """float32 one-hot of length c_dim (empty when unconditional)."""
        onehot = torch.zeros(self.c_dim)
        if self.labels is not None:
            onehot[self.labels[index % self.num_images]] = 1
        return onehot

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(index), self.label(index)


def _describe(shape: tuple[int, tuple[int, int]]) -> str:
    channels, (h, w) = shape
    return f"{h}x{w} {'grey' if channels == 1 else 'RGB'}"


class InfiniteSampler(torch.utils.data.Sampler):
    """Dataset indices forever, in a fresh permutation per epoch drawn from (seed, epoch).

    The order is a pure function of the position in one global stream, so a run resumed at
    `position` reads exactly what an unbroken run would have. With `world_size` ranks, rank r
    takes global positions r, r + world_size, ..., so the ranks together read the stream once.
    With `weights`, each epoch is instead `size` draws with replacement at those probabilities
    (class-balanced training), still a pure function of (seed, epoch).
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        position: int = 0,
        weights: np.ndarray | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("cannot sample from an empty dataset")
        if weights is not None and (len(weights) != size or not np.isclose(weights.sum(), 1)):
            raise ValueError(f"weights must be {size} probabilities summing to 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.position = position  # items this rank has yielded so far
        self.weights = weights
        self._epoch_order: tuple[int, np.ndarray] | None = None

    def _order(self, epoch: int) -> np.ndarray:
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            if self.weights is not None:
                order = rng.choice(self.size, self.size, p=self.weights)
            elif self.shuffle:
                order = rng.permutation(self.size)
            else:
                order = np.arange(self.size)
            self._epoch_order = (epoch, order)
        return self._epoch_order[1]

    def index_at(self, position: int) -> int:
        """The dataset index this rank reads at its `position`-th item."""
        epoch, offset = divmod(position * self.world_size + self.rank, self.size)
        return int(self._order(epoch)[offset])

    def __iter__(self) -> Iterator[int]:
        while True:
            yield self.index_at(self.position)
            self.position += 1
