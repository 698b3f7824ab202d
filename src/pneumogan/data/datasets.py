"""Training batches straight from the prepared uint8 array: one index and one conversion per batch.

No per-image Python in the loop: a batch is `images[indices]` as a tensor, augmented as a whole
(`data.augment.BatchAugment`, seeded per image), then normalised.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from pneumogan.data.augment import BatchAugment


def normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8-range or [0, 1] pixels → model input. Training, evaluation and predict all call this."""
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    return (x - mean) / std


class TrainBatches:
    """Batches of (normalised, augmented images, labels) in the order a sampler gives."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        augment: BatchAugment | None = None,
        mean: float = 0.5,
        std: float = 0.5,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        # One in-memory uint8 copy (a memory-mapped cache is read once, not once per epoch).
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.augment, self.mean, self.std = augment, mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: Sequence[int] | np.ndarray, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(indices, dtype=np.int64)
        x = self.images[torch.from_numpy(idx)].unsqueeze(1).float().div_(255.0)
        if self.augment is not None:
            x = self.augment(x, idx, epoch)
        return normalise(x, self.mean, self.std), self.labels[torch.from_numpy(idx)]

    def epoch(
        self, order: Sequence[int] | np.ndarray, batch_size: int, epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive batches of `order` (the last one may be smaller, as a DataLoader's would be)."""
        order = np.asarray(order, dtype=np.int64)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size], epoch)
