"""`pneumogan gan sample`: a Kaggle-layout folder of synthetic PNGs plus `manifest.csv`.

Image i of class c comes from the latent drawn with seed `seed * 1_000_000 + c * 100_000 + i`, so a set is
reproducible image by image and two sets with different seeds do not share latents. The folder is a data
source like any other: the classifier's data layer reads it (provenance "synthetic").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pneumogan.classify.train import resolve_device
from pneumogan.errors import PneumoganError
from pneumogan.gan.checkpoint import generator_hash, load_generator
from pneumogan.gan.models import to_uint8
from pneumogan.progress import track
from pneumogan.runs import atomic_directory, atomic_write_csv

MAX_PER_CLASS = 100_000


def latent_seed(seed: int, class_index: int, i: int) -> int:
    return seed * 1_000_000 + class_index * MAX_PER_CLASS + i


@torch.no_grad()
def generate(generator, class_index: int | None, seeds: list[int], device: torch.device) -> np.ndarray:
    """uint8 images (N, S, S) for the given latent seeds (and class, for conditional generators)."""
    z = torch.stack([torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    y = None if not generator.num_classes else torch.full((len(seeds),), class_index, dtype=torch.long)
    return to_uint8(generator(z.to(device), None if y is None else y.to(device)))


def sample_set(
    checkpoint: str | Path,
    per_class: int,
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    classes: list[str] | None = None,
) -> Path:
    """Write `per_class` images of every class of the generator (or of `classes`) to `out`."""
    if not 0 < per_class <= MAX_PER_CLASS:
        raise PneumoganError(f"--per-class must be in 1..{MAX_PER_CLASS}, got {per_class}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PneumoganError(f"{out} exists and is not empty; choose a new folder")
    device = resolve_device("auto")
    g, meta = load_generator(checkpoint, device)
    names: list[str] = meta["class_names"]
    wanted = classes or names
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise PneumoganError(f"this generator makes {names}, not {unknown}")
    ghash = generator_hash(checkpoint)
    rows = []
    with atomic_directory(out) as tmp:
        for cname in wanted:
            c = names.index(cname)
            folder = tmp / "train" / cname
            folder.mkdir(parents=True)
            seeds = [latent_seed(seed, c, i) for i in range(per_class)]
            chunks = [seeds[k : k + batch_size] for k in range(0, per_class, batch_size)]
            for chunk in track(chunks, len(chunks), f"sampling {cname}"):
                for s, img in zip(chunk, generate(g, c, chunk, device), strict=True):
                    name = f"synthetic_{cname.lower()}_{s - latent_seed(seed, c, 0):06d}.png"
                    Image.fromarray(img).save(folder / name)
                    rows.append({"file": f"train/{cname}/{name}", "class": cname, "latent_seed": s,
                                 "generator": ghash})  # fmt: skip
        atomic_write_csv(tmp / "manifest.csv", rows, ["file", "class", "latent_seed", "generator"])
    return out
