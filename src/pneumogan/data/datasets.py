"""A torch Dataset over prepared uint8 arrays, with seeded per-sample augmentation.

Each sample's augmentation is seeded from (seed, epoch, index), so a run gives the same batches whatever
the number of DataLoader workers, and a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset


def normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8-range or [0, 1] pixels → model input. Training, evaluation and predict all call this."""
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    return (x - mean) / std


class ImageDataset(Dataset):
    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        transform: Callable | None = None,
        mean: float = 0.5,
        std: float = 0.5,
        seed: int = 0,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform
        self.mean, self.std = mean, std
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(np.array(self.images[index], dtype=np.float32, copy=True)).div_(255.0)[None]
        if self.transform is not None:
            state = (self.seed * 1_000_003 + self.epoch * 100_003 + int(index)) % (2**32)
            self.transform.set_random_state(seed=state)
            x = self.transform(x)
            x = x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)  # drop MONAI metadata
        return normalise(x, self.mean, self.std), int(self.labels[index])
