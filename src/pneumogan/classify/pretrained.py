"""ImageNet transfer: torchvision-format state dicts through the torch hub cache, mapped onto our models.

The weights are the standard torchvision files (e.g. `resnet18-f37072fd.pth`) in `<torch hub dir>/
checkpoints/` (`$TORCH_HOME/hub/checkpoints`, default `~/.cache/torch/hub/checkpoints`). When the file is
missing it is downloaded from download.pytorch.org; offline, the error names the file and the folder.
Files are read with `weights_only=True`: tensors only, never pickled code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from pneumogan.errors import PneumoganError


class ArchWeights(Protocol):
    """What loading ImageNet weights needs to know of an architecture (`models.ArchInfo` has it; the registry
    imports this module, so the type is described here rather than imported back)."""

    pretrained_file: str | None
    first_conv: str
    head: tuple[str, ...]


URL_BASE = "https://download.pytorch.org/models/"
#: Normalisation of ImageNet-initialised models: ImageNet's RGB mean and std averaged to one channel.
IMAGENET_GRAY = (0.449, 0.226)

# torchvision DenseNet names → MONAI DenseNet names. Old torchvision files spell `norm.1` for `norm1`.
_DENSE_LAYER = re.compile(r"^(features\.denseblock\d+\.denselayer\d+)\.(norm|relu|conv)\.?([12])\.(.+)$")


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def map_torchvision_keys(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename torchvision keys to ours. VGG and MONAI's ResNet already share torchvision's names."""
    if not name.startswith("densenet"):
        return dict(state)
    out = {}
    for key, value in state.items():
        match = _DENSE_LAYER.match(key)
        if match:
            key = f"{match.group(1)}.layers.{match.group(2)}{match.group(3)}.{match.group(4)}"
        elif key.startswith("classifier."):
            key = "class_layers.out." + key.removeprefix("classifier.")
        out[key] = value
    return out


def fold_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Turn an RGB first-layer kernel into `in_channels` channels, preserving the response to gray input.

    A gray image fed as R=G=B gives the summed kernel's response; for one channel that sum is exact.
    """
    if weight.shape[1] == in_channels:
        return weight
    summed = weight.sum(dim=1, keepdim=True)
    return summed.repeat(1, in_channels, 1, 1) / in_channels


def weights_file(name: str, arch: ArchWeights) -> Path:
    """Path of the cached ImageNet weights of architecture `name`, downloading them when absent."""
    file = arch.pretrained_file
    if file is None:
        raise PneumoganError(f"{name} has no ImageNet weights; set pretrained: false")
    path = hub_checkpoint_dir() / file
    if path.is_file():
        return path
    url = URL_BASE + file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)
    except Exception as exc:
        raise PneumoganError(
            f"ImageNet weights for {name} are not cached and could not be downloaded from {url} ({exc}). "
            f"Put '{file}' in {path.parent} (set TORCH_HOME to use another folder), or set pretrained: false."
        ) from None
    return path


def load_imagenet_weights(model: nn.Module, name: str, arch: ArchWeights, in_channels: int) -> dict[str, list[str]]:
    """Load ImageNet weights into `model` (all but the head). Returns the keys that were left as built."""
    try:
        raw = torch.load(weights_file(name, arch), map_location="cpu", weights_only=True)
    except PneumoganError:
        raise
    except Exception as exc:
        raise PneumoganError(f"cannot read ImageNet weights for {name}: {exc}") from None
    state = map_torchvision_keys(name, raw.get("state_dict", raw))
    state[arch.first_conv] = fold_first_conv(state[arch.first_conv], in_channels)
    own = model.state_dict()
    head = [k for k in own if k.startswith(arch.head)]
    missing = [k for k in own if k not in state and k not in head and not k.endswith("num_batches_tracked")]
    mismatched = [k for k in own if k in state and k not in head and state[k].shape != own[k].shape]
    if missing or mismatched:
        raise PneumoganError(
            f"ImageNet weights for {name} do not fit the model: missing {missing[:5]}, wrong shape {mismatched[:5]}"
        )
    merged = {k: (own[k] if k in head or k not in state else state[k]) for k in own}
    model.load_state_dict(merged)
    return {"kept_from_init": head}
