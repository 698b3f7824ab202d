"""Where tensors live: the one place that turns a `device` setting into a `torch.device`."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; any other name is taken as given."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)
