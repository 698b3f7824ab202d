"""`pneumogan gan evaluate`: FD, KID, precision/recall, near-copies and class fidelity, per class and overall,
against the real training images the GAN learned from, plus real-vs-synthetic and closest-pair montages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.classify.inference import positive_score
from pneumogan.config import Config
from pneumogan.device import resolve_device, resolve_precision
from pneumogan.errors import PneumoganError
from pneumogan.evaluate.gan_metrics import FEATURE_NOTE, FeatureExtractor, compare
from pneumogan.evaluate.grids import save_grid, to_uint8
from pneumogan.gan.checkpoint import generator_hash, load_generator
from pneumogan.gan.data import real_images_config, training_images
from pneumogan.gan.sample import generate, latent_seed
from pneumogan.layout import GAN_EVAL, GAN_METRICS, META, REFERENCE_CLASSIFIER
from pneumogan.runs import atomic_write_json


def reference_classifier(gan_dir: Path, cfg: Config, reference: str | Path | None, log=print) -> Path:
    """The given classifier checkpoint, or a small simple_cnn trained once on the real data and cached."""
    if reference:
        return Path(reference)
    target = gan_dir / REFERENCE_CLASSIFIER
    if (target / META).is_file() and load_checkpoint(target)[1].get("threshold") is not None:
        return target
    from pneumogan.classify.train import train

    ref_cfg = cfg.model_copy(deep=True)
    ref_cfg.data.extra_train, ref_cfg.data.train_real = [], True
    small = {"arch": "simple_cnn", "pretrained": False, "epochs": 4, "stage1_epochs": 0, "num_classes": 2}
    ref_cfg.classify = ref_cfg.classify.model_copy(update=small)
    log("training a reference classifier (simple_cnn, 4 epochs, real data only) for the GAN metrics")
    return train(ref_cfg, target, log=log)


def evaluate_gan(
    checkpoint: str | Path,
    n_per_class: int = 500,
    reference: str | Path | None = None,
    out_dir: str | Path | None = None,
    seed: int = 10_000,
    log=print,
    precision: str = "auto",
    encoder: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics per class (and overall) of `n_per_class` samples; `precision` is the sampling's (features are
    always computed in fp32). The top-level per-class numbers are in the reference classifier's feature space;
    with `encoder` (an `ssl pretrain` folder) the same metrics in its label-free space go under `ssl_encoder`."""
    checkpoint = Path(checkpoint)
    device = resolve_device("auto")
    sampling_precision = resolve_precision(precision, device)
    g, meta = load_generator(checkpoint, device)
    cfg = Config.model_validate(meta["config"])
    # The real reference is the full real training split of each class, whatever fraction the GAN learned
    # from, so that metrics of GANs trained on 10 % and on 100 % of the data are comparable.
    reference_cfg = real_images_config(meta)
    reference_cfg.data.train_fraction = 1.0
    images, labels, names = training_images(reference_cfg)
    real_all = to_uint8(images)
    ref_path = reference_classifier(checkpoint, cfg, reference, log)
    ref_model, ref_meta = load_checkpoint(ref_path, device)
    if ref_meta["num_classes"] != 2:
        raise PneumoganError("the reference classifier must be a binary NORMAL/PNEUMONIA model")
    pre = ref_meta["preprocessing"]
    extractor = FeatureExtractor(ref_model, pre["mean"], pre["std"], pre["size"], device)
    out = Path(out_dir) if out_dir else checkpoint / GAN_EVAL
    results: dict[str, Any] = {
        "note": FEATURE_NOTE,
        "reference": str(ref_path),
        "generator": generator_hash(checkpoint),
        "n_per_class": n_per_class,
        "real_reference": "the full real training split of each class (equal n: the larger side subsampled)",
        "train_fraction_of_gan": cfg.data.train_fraction,
        "feature_space": "classifier",
    }
    second = None
    if encoder:
        from pneumogan.gan.feature_spaces import encoder_extractor

        second, info = encoder_extractor(encoder, device)
        results["ssl_encoder"] = {**info}
    fakes, reals = [], []
    for c, name in enumerate(names):
        g_class = meta["class_names"].index(name)  # the generator's own class order
        seeds = [latent_seed(seed, g_class, i) for i in range(n_per_class)]
        fake = np.concatenate(
            [generate(g, g_class, seeds[k : k + 128], device, sampling_precision) for k in range(0, len(seeds), 128)]
        )
        real = real_all[labels.numpy() == c]
        res = compare(real, fake, extractor, seed=cfg.seed)
        _, probs = extractor(fake)
        positive = positive_score(probs) >= ref_meta["threshold"]
        wants_positive = name != "NORMAL"
        res["class_fidelity"] = float(np.mean(positive == wants_positive))
        _montages(real, fake, res.pop("_pixel_nn"), name, out)
        results[name] = res
        if second is not None:
            in_second = compare(real, fake, second, seed=cfg.seed)
            in_second.pop("_pixel_nn")
            results["ssl_encoder"][name] = in_second
        fakes.append(fake)
        reals.append(real)
    if len(names) > 1:
        results["overall"] = _overall(reals, fakes, extractor, cfg.seed)
        results["overall"]["class_fidelity"] = float(np.mean([results[n]["class_fidelity"] for n in names]))
        if second is not None:
            results["ssl_encoder"]["overall"] = _overall(reals, fakes, second, cfg.seed)
    results["classes"] = names
    atomic_write_json(out / GAN_METRICS, results)
    return results


def _overall(reals: list[np.ndarray], fakes: list[np.ndarray], extractor, seed: int) -> dict[str, Any]:
    """All classes together, with the real class mix on both sides (synthetic sets are drawn per class in
    equal numbers, so pooling them as they are would compare different class balances)."""
    share = np.array([len(r) for r in reals], float) / sum(len(r) for r in reals)
    total = int(min(len(f) / s for f, s in zip(fakes, share, strict=True)))
    counts = [max(1, round(total * s)) for s in share]
    rng = np.random.default_rng(seed)
    real = np.concatenate(
        [r[rng.choice(len(r), min(k, len(r)), replace=False)] for r, k in zip(reals, counts, strict=True)]
    )
    fake = np.concatenate([f[: min(k, len(f))] for f, k in zip(fakes, counts, strict=True)])
    overall = compare(real, fake, extractor, seed=seed)
    overall.pop("_pixel_nn")
    overall["class_mix"] = "the real training split's"
    return overall


def _montages(real: np.ndarray, fake: np.ndarray, pix: dict[str, Any], name: str, out: Path, n: int = 8) -> None:
    rng = np.random.default_rng(0)
    pick_real = real[rng.choice(len(real), min(n, len(real)), replace=False)]
    pick_fake = fake[:n]
    both = np.concatenate([pick_real, pick_fake]).astype(np.float32) / 127.5 - 1
    save_grid(torch.from_numpy(both)[:, None], 2, out / f"real_vs_synthetic_{name}.png")
    closest = np.argsort(pix["fake_nn"])[:n]
    pairs = np.concatenate([fake[closest], real[pix["real_index"][closest]]]).astype(np.float32) / 127.5 - 1
    save_grid(torch.from_numpy(pairs)[:, None], 2, out / f"closest_pairs_{name}.png")  # top: synthetic, bottom: real
