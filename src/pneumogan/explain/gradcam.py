"""Grad-CAM and Grad-CAM++ (MONAI's `visualize` module) for every classifier, overlays, and a localisation check.

The target layer is the last spatial feature map of each architecture (`ArchInfo.cam_layer`), overridable.
Maps are upsampled to the input size and min-max normalised to [0, 1] per image.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from pneumogan.classify import models
from pneumogan.data.datasets import normalise
from pneumogan.data.regions import THORAX_BOX, box_slices
from pneumogan.errors import PneumoganError

Method = Literal["gradcam", "gradcam++"]


def target_layer(arch: str, override: str | None = None) -> str:
    layer = override or models.info(arch).cam_layer
    if not layer:
        raise PneumoganError(f"no Grad-CAM layer known for '{arch}'; pass one explicitly")
    return layer


class CamExplainer:
    """Grad-CAM(++) maps for a classifier; `__call__` takes uint8 images (B, H, W) and returns (B, H, W) maps."""

    def __init__(
        self,
        model: nn.Module,
        arch: str,
        mean: float,
        std: float,
        method: Method = "gradcam",
        layer: str | None = None,
    ) -> None:
        from monai.visualize import GradCAM, GradCAMpp

        names = dict(model.named_modules())
        self.layer = target_layer(arch, layer)
        if self.layer not in names:
            raise PneumoganError(f"layer '{self.layer}' is not in the {arch} model")
        if method not in ("gradcam", "gradcam++"):
            raise PneumoganError(f"unknown CAM method '{method}'; use gradcam or gradcam++")
        for module in model.modules():  # backward hooks forbid in-place ops on hooked outputs; same maths
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.model, self.mean, self.std, self.method = model.eval(), mean, std, method
        self.device = next(model.parameters()).device
        self.cam = (GradCAM if method == "gradcam" else GradCAMpp)(nn_module=model, target_layers=self.layer)

    def __call__(self, images: np.ndarray, class_idx: int | None = None) -> np.ndarray:
        x = normalise(torch.from_numpy(np.array(images, dtype=np.uint8))[:, None], self.mean, self.std)  # copy: mmap
        maps = []
        with torch.enable_grad():
            for one in x:  # one image per call: MONAI's GradCAM++ mis-broadcasts the score over a batch
                maps.append(self.cam(one[None].to(self.device), class_idx=class_idx)[0, 0].detach().float().cpu())
        return torch.stack(maps).numpy()


class EnsembleCamExplainer:
    """Grad-CAM(++) of an ensemble: each member's map at its own resolution, resized to the input size and
    averaged, then min-max normalised per image; same interface as `CamExplainer`."""

    def __init__(self, model: nn.Module, member_archs: list[str], method: Method = "gradcam") -> None:
        self.size = model.size
        self.parts = [
            CamExplainer(member, arch, mean, std, method)
            for member, arch, (mean, std) in zip(model.members, member_archs, model.norms, strict=True)
        ]
        self.sizes = model.sizes
        self.layer = ", ".join(f"{arch}: {part.layer}" for arch, part in zip(member_archs, self.parts, strict=True))
        self.method = method

    def __call__(self, images: np.ndarray, class_idx: int | None = None) -> np.ndarray:
        import torch.nn.functional as F

        x = torch.from_numpy(np.array(images, dtype=np.float32))[:, None]
        total = torch.zeros(x.shape, dtype=torch.float32)
        for part, size in zip(self.parts, self.sizes, strict=True):
            view = x if size == x.shape[-1] else F.interpolate(x, size=(size, size), mode="area")
            maps = torch.from_numpy(part(view[:, 0].round().clamp(0, 255).to(torch.uint8).numpy(), class_idx))
            total += F.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
        lo = total.amin(dim=(2, 3), keepdim=True)
        hi = total.amax(dim=(2, 3), keepdim=True)
        return ((total - lo) / (hi - lo).clamp_min(1e-12))[:, 0].numpy()


def explainer_for(
    model: nn.Module, meta: dict, method: Method = "gradcam", layer: str | None = None
) -> CamExplainer | EnsembleCamExplainer:
    """The explainer that fits a loaded checkpoint: one model's, or the averaged one of an ensemble."""
    if meta.get("arch") == "ensemble":
        if layer:
            raise PneumoganError("an ensemble's Grad-CAM uses each member's own layer; do not pass --layer")
        return EnsembleCamExplainer(model, [m["arch"] for m in meta["members"]], method)
    pre = meta["preprocessing"]
    return CamExplainer(model, meta["arch"], pre["mean"], pre["std"], method, layer)


def thorax_mass_fraction(cam: np.ndarray, box: tuple[float, float, float, float] = THORAX_BOX) -> float:
    """Share of a map's total mass that falls inside the central thoracic box (uniform map: the box's area)."""
    rows, cols = box_slices(cam.shape, box)
    total = float(cam.sum())
    return float(cam[rows, cols].sum() / total) if total > 0 else float("nan")


def box_area(box: tuple[float, float, float, float] = THORAX_BOX) -> float:
    return (box[1] - box[0]) * (box[3] - box[2])


def overlay(gray: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 image: the X-ray in grey with the map in the 'jet' colour map blended on top."""
    from matplotlib import colormaps

    base = np.repeat(np.asarray(gray, dtype=np.float32)[..., None] / 255.0, 3, axis=2)
    heat = colormaps["jet"](np.clip(cam, 0, 1))[..., :3].astype(np.float32)
    weight = alpha * np.clip(cam, 0, 1)[..., None] ** 0.5  # weak activations stay mostly transparent
    return np.clip((1 - weight) * base + weight * heat, 0, 1).__mul__(255).round().astype(np.uint8)


def thorax_shares(explainer: CamExplainer, images: np.ndarray, class_idx: int = 1, batch: int = 64) -> np.ndarray:
    """Thoracic-box share of each image's map (all-zero maps, which have no share, are left out)."""
    shares = np.array(
        [
            thorax_mass_fraction(m)
            for k in range(0, len(images), batch)
            for m in explainer(images[k : k + batch], class_idx=class_idx)
        ]
    )
    return shares[np.isfinite(shares)]


def montage(images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """RGB strip: each input above its overlay."""
    tiles = [
        np.concatenate([np.repeat(im[..., None], 3, 2), overlay(im, m)], axis=0)
        for im, m in zip(images, maps, strict=True)
    ]
    return np.concatenate(tiles, axis=1)


def cam_examples(checkpoint, out_png, per_class: int = 4, method: Method = "gradcam") -> dict:
    """Overlays of the first test images of each class (evidence for PNEUMONIA) saved as one PNG, plus the
    share of CAM mass inside the thoracic box over all PNEUMONIA test images."""
    from PIL import Image

    from pneumogan.classify.checkpoint import load_checkpoint
    from pneumogan.config import Config
    from pneumogan.data.loading import load_splits

    model, meta = load_checkpoint(checkpoint)
    test = load_splits(Config.model_validate(meta["config"])).test
    explainer = explainer_for(model, meta, method)
    images = np.asarray(test.images)
    pneumonia = images[test.labels == 1]
    shares = thorax_shares(explainer, pneumonia)
    picks = np.concatenate([np.flatnonzero(test.labels == c)[:per_class] for c in (0, 1)])
    strip = montage(images[picks], explainer(images[picks], class_idx=1))
    Image.fromarray(strip).resize((128 * len(picks), 256)).save(out_png)
    return {
        "layer": explainer.layer,
        "method": method,
        "n_pneumonia": len(shares),
        "median_thorax_share": float(np.median(shares)),
        "uniform_share": box_area(),
        "share_above_uniform": float(np.mean(shares > box_area())),
        "per_class": per_class,
    }
