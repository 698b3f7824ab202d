"""Training health: NaN losses, a discriminator loss stuck near zero, and falling sample diversity."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


class CollapseMonitor:
    """Warns (and records) NaN losses, a discriminator loss stuck near zero, and falling sample diversity."""

    def __init__(
        self,
        stuck_steps: int = 200,
        stuck_level: float = 0.05,
        diversity_drop: float = 0.5,
        real_diversity: float = 0.0,
        collapse_ratio: float = 0.25,
    ) -> None:
        self.stuck_steps, self.stuck_level, self.diversity_drop = stuck_steps, stuck_level, diversity_drop
        # Samples far less diverse than real images of the same classes mean collapse even if they never
        # were more diverse (a relative drop alone misses a generator that collapses early).
        self.real_diversity, self.collapse_ratio = real_diversity, collapse_ratio
        self.low_run = 0
        self.best_diversity = 0.0
        self.events: list[dict[str, Any]] = []

    def _event(self, step: int, kind: str, message: str) -> dict[str, Any]:
        event = {"step": step, "kind": kind, "message": message}
        self.events.append(event)
        return event

    def losses(self, step: int, d: float, g: float) -> dict[str, Any] | None:
        if not (math.isfinite(d) and math.isfinite(g)):
            return self._event(step, "nan", f"non-finite loss (D {d}, G {g}): training diverged")
        self.low_run = self.low_run + 1 if d < self.stuck_level else 0
        if self.low_run == self.stuck_steps:
            return self._event(step, "d_stuck", f"D loss below {self.stuck_level} for {self.stuck_steps} steps")
        return None

    def diversity(self, step: int, value: float) -> dict[str, Any] | None:
        self.best_diversity = max(self.best_diversity, value)
        if self.real_diversity and value < self.collapse_ratio * self.real_diversity:
            message = (
                f"sample diversity {value:.3f} is below {self.collapse_ratio:.0%} of the real images' "
                f"{self.real_diversity:.3f}: mode collapse"
            )
            return self._event(step, "diversity", message)
        if value < self.diversity_drop * self.best_diversity:
            message = (
                f"sample diversity {value:.3f} fell below {self.diversity_drop:.0%} of its best "
                f"{self.best_diversity:.3f}: mode collapse?"
            )
            return self._event(step, "diversity", message)
        return None


def sample_diversity(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean pairwise L2 distance between samples of the same class (per pixel), averaged over classes."""
    values = []
    for c in labels.unique():
        x = images[labels == c].flatten(1)
        if len(x) > 1:
            d = torch.cdist(x, x) / math.sqrt(x.shape[1])
            values.append(float(d.sum() / (len(x) * (len(x) - 1))))
    return float(np.mean(values)) if values else 0.0
