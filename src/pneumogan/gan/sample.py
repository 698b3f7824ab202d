"""`pneumogan gan sample`: a Kaggle-layout folder of synthetic PNGs plus `manifest.csv`.

Image i of class c comes from the latent drawn with seed `seed * 1_000_000 + c * 100_000 + i`, so a set is
reproducible image by image and two sets with different seeds do not share latents. The folder is a data
source like any other: the classifier's data layer reads it (provenance "synthetic").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pneumogan.device import autocast, resolve_device, resolve_precision
from pneumogan.errors import PneumoganError
from pneumogan.evaluate.grids import to_uint8
from pneumogan.gan.checkpoint import generator_hash, load_generator
from pneumogan.layout import SYNTHETIC_MANIFEST
from pneumogan.progress import track
from pneumogan.runs import atomic_directory, atomic_write_csv

MAX_PER_CLASS = 100_000


def latent_seed(seed: int, class_index: int, i: int) -> int:
    return seed * 1_000_000 + class_index * MAX_PER_CLASS + i


@torch.no_grad()
def generate(
    generator,
    class_index: int | None,
    seeds: list[int],
    device: torch.device,
    precision: str = "fp32",
    truncation: float = 1.0,
) -> np.ndarray:
    """uint8 images (N, S, S) for the given latent seeds (and class, for conditional generators); `precision`
    is a resolved one (fp32 | bf16). `truncation` ψ < 1 scales each latent towards the mean latent (0 for our
    Gaussian prior): typical, cleaner images at the cost of variety (the truncation trick of BigGAN/StyleGAN)."""
    if not 0 < truncation <= 1:
        raise PneumoganError(f"truncation must lie in (0, 1], not {truncation}")
    z = torch.stack([torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    z = z * truncation
    y = None if not generator.num_classes else torch.full((len(seeds),), class_index, dtype=torch.long)
    with autocast(device, precision):
        return to_uint8(generator(z.to(device), None if y is None else y.to(device)))


def sample_set(
    checkpoint: str | Path,
    per_class: int,
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    classes: list[str] | None = None,
    precision: str = "auto",
    truncation: float = 1.0,
) -> Path:
    """Write `per_class` images of every class of the generator (or of `classes`) to `out`."""
    _, meta = load_generator(checkpoint, torch.device("cpu"))
    names: list[str] = meta["class_names"]
    wanted = classes or names
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise PneumoganError(f"this generator makes {names}, not {unknown}")
    specs = [SampleSpec(Path(checkpoint), c, per_class, truncation=truncation) for c in wanted]
    return write_synthetic_set(specs, out, seed, batch_size, precision)


@dataclass(frozen=True)
class SampleSpec:
    """`count` images of `class_name` from the generator at `checkpoint`."""

    checkpoint: Path
    class_name: str
    count: int
    seed_index: int | None = None  # class index in the latent seed; default: the class's index in the generator
    truncation: float = 1.0  # ψ: latents scaled towards the mean latent (1: none)


#: `score(class_name, images) -> scores`: how much a filter trusts each candidate image (higher: keep first).
Scorer = Callable[[str, np.ndarray], np.ndarray]


def write_synthetic_set(
    specs: list[SampleSpec],
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    precision: str = "auto",
    score: Scorer | None = None,
    oversample: float = 1.0,
) -> Path:
    """One synthetic set from one or several generators (e.g. a DCGAN per class), written atomically.

    With `score`, each class draws `oversample` × its count of candidates and keeps the best-scored ones (the
    manifest records every kept image's score)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PneumoganError(f"{out} exists and is not empty; choose a new folder")
    if oversample < 1:
        raise PneumoganError(f"oversample must be at least 1, not {oversample}")
    device = resolve_device("auto")
    precision = resolve_precision(precision, device)
    rows: list[dict] = []
    with atomic_directory(out) as tmp:
        for spec in specs:
            rows += _write_class(spec, tmp, seed, batch_size, device, precision, score, oversample)
        fields = ["file", "class", "latent_seed", "generator", "truncation", *["filter_score"] * (score is not None)]
        atomic_write_csv(tmp / SYNTHETIC_MANIFEST, rows, fields)
    return out


def _write_class(
    spec: SampleSpec,
    tmp: Path,
    seed: int,
    batch_size: int,
    device: torch.device,
    precision: str,
    score: Scorer | None,
    oversample: float,
) -> list[dict]:
    wanted = spec.count if score is None else math.ceil(spec.count * oversample)
    if not 0 < spec.count <= MAX_PER_CLASS or wanted > MAX_PER_CLASS:
        raise PneumoganError(f"images per class must be in 1..{MAX_PER_CLASS}, got {spec.count} (× {oversample})")
    g, meta = load_generator(spec.checkpoint, device)
    names: list[str] = meta["class_names"]
    if spec.class_name not in names:
        raise PneumoganError(f"{spec.checkpoint} makes {names}, not {spec.class_name}")
    c = names.index(spec.class_name)
    k = c if spec.seed_index is None else spec.seed_index
    ghash = generator_hash(spec.checkpoint)
    folder = tmp / "train" / spec.class_name
    folder.mkdir(parents=True, exist_ok=True)
    seeds = [latent_seed(seed, k, i) for i in range(wanted)]
    chunks = [seeds[j : j + batch_size] for j in range(0, wanted, batch_size)]
    images = np.concatenate(
        [
            generate(g, c, chunk, device, precision, spec.truncation)
            for chunk in track(chunks, len(chunks), f"sampling {spec.class_name}")
        ]
    )
    scores = None if score is None else np.asarray(score(spec.class_name, images), dtype=np.float64)
    kept = range(wanted) if scores is None else sorted(np.argsort(-scores, kind="stable")[: spec.count])
    rows = []
    for i in kept:
        name = f"synthetic_{spec.class_name.lower()}_{seeds[i] - latent_seed(seed, k, 0):06d}.png"
        Image.fromarray(images[i]).save(folder / name)
        row = {
            "file": f"train/{spec.class_name}/{name}",
            "class": spec.class_name,
            "latent_seed": seeds[i],
            "generator": ghash,
            "truncation": spec.truncation,
        }
        if scores is not None:
            row["filter_score"] = round(float(scores[i]), 6)
        rows.append(row)
    return rows
