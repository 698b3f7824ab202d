"""What is written to disk and read back, typed: the metadata (`meta.json`) of classifier checkpoints, generator
folders (GAN or diffusion) and self-supervised encoders, each with a `schema_version` and one migration that
turns any older file into the current shape. Readers get every field filled in (defaults for what old files
left out), so no caller needs a fallback of its own. Unknown keys are kept as they are. Below classify, gan,
diffusion and ssl: every one of them writes through here (`package_versions`)."""

from __future__ import annotations

import platform
import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pneumogan.data.decoded import DEFAULT_MAX_PIXELS
from pneumogan.data.geometry import LEGACY_FIT

SCHEMA_VERSION = 2  # 1 (or no key): written before these models existed


def package_versions() -> dict[str, str]:
    import monai
    import numpy
    import torch

    from pneumogan import __version__

    return {
        "pneumogan": __version__,
        "torch": torch.__version__,
        "monai": monai.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def stamp(meta: dict[str, Any]) -> dict[str, Any]:
    """A `meta.json` as written: the current schema version and the versions of the packages that made it."""
    return {**meta, "schema_version": SCHEMA_VERSION, "versions": package_versions()}


class Geometry(BaseModel):
    """How an image becomes a square of `size` (`fit`): what a generator's images were made from."""

    model_config = ConfigDict(extra="allow")
    size: int
    fit: str = LEGACY_FIT


class Preprocessing(Geometry):
    """The geometry, then the normalisation a classifier or encoder applies to its input."""

    mean: float = 0.5
    std: float = 0.5
    max_pixels: int = DEFAULT_MAX_PIXELS
    source_square_size: int | None = None  # the training source's side when all its images were one square size


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_version: int = SCHEMA_VERSION
    config: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    data_source_path: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        return migrate(dict(data)) if isinstance(data, dict) else data

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, every field present (what `read_*_meta` hands to callers)."""
        return self.model_dump(mode="json")


class ClassifierMeta(_Meta):
    preprocessing: Preprocessing
    arch: str
    num_classes: int = 2
    class_names: list[str] = Field(default_factory=lambda: ["NORMAL", "PNEUMONIA"])
    image_size: int  # the same value as preprocessing.size (kept: the model card and API show it)
    in_channels: int = 1
    blank_border: float = 0.0
    standardise_input: bool = False
    pretrained: bool = False
    init_from: str | None = None
    threshold: float | None = None  # None: never set on val (evaluation chooses one)
    threshold_interval: list[float] | None = None
    operating_points: dict[str, Any] = Field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    data_fingerprint: str | None = None
    epoch: int | None = None


class GeneratorMeta(_Meta):
    preprocessing: Geometry
    kind: str = "gan"  # "gan" or "diffusion": the package that loads it
    model: dict[str, Any]
    class_names: list[str]


class EncoderMeta(_Meta):
    preprocessing: Preprocessing
    kind: str
    arch: str
    image_size: int
    method: str = "simsiam"
    data_fingerprint: str | None = None


def migrate(meta: dict[str, Any]) -> dict[str, Any]:
    """Any older `meta.json` → the current shape, in one place:

    - the preprocessing block: GAN folders written before it had only `model.size`; its geometry (`fit`) is
      `crop` where it was written before `data.fit` existed; `image_size` and `preprocessing.size` are one value
      (each filled from the other);
    - the config is pinned to the checkpoint's geometry, so that data rebuilt from it (evaluate on another
      folder) is made square its way, not by `auto`;
    - the old `amp` switch reads as `precision`.
    """
    pre = dict(meta.get("preprocessing") or {})
    size = pre.get("size") or meta.get("image_size") or (meta.get("model") or {}).get("size")
    if size is not None:
        pre["size"] = size
        if "arch" in meta:
            meta.setdefault("image_size", size)
    pre.setdefault("fit", LEGACY_FIT)
    meta["preprocessing"] = pre
    config = dict(meta.get("config") or {})
    if isinstance(config.get("data"), dict):
        config["data"] = {**config["data"], "fit": pre["fit"]}
    meta["config"] = config
    if "amp" in meta and "precision" not in meta:
        meta["precision"] = "auto" if meta.pop("amp") else "fp32"
        warnings.warn("a checkpoint's 'amp' key now reads as 'precision'", FutureWarning, stacklevel=2)
    meta["schema_version"] = SCHEMA_VERSION
    return meta
