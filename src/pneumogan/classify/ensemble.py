"""Ensembles of classifier checkpoints (seeds and/or resolutions) as one model folder.

`pneumogan classify ensemble MEMBER... --out DIR` copies each member's weights and meta into DIR/members/<k>/ and
writes DIR/meta.json with `arch: ensemble`. The ensemble is an ordinary `nn.Module`: it takes images at the
largest member's size, normalised with mean 0.5 / std 0.5, resizes them for each smaller member (area
averaging), applies each member's own normalisation, and averages the members' softmax probabilities; it
returns the log of that average, so `softmax(output)` is the mean of the member probabilities and every
consumer (evaluate, predict, serve, TTA, ONNX) uses it like any classifier. Its decision threshold,
threshold interval and calibration are chosen on val from the averaged probabilities, like a single model's.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from pneumogan.artefacts import stamp
from pneumogan.classify.checkpoint import load_ensemble, read_meta
from pneumogan.classify.ensemble_model import ARCH, INPUT_MEAN, INPUT_STD, MEMBERS, Ensemble
from pneumogan.errors import PneumoganError
from pneumogan.layout import CLASSIFIER_WEIGHTS, META


def _check_members(metas: list[dict[str, Any]], paths: list[Path]) -> None:
    if len(metas) < 2:
        raise PneumoganError("an ensemble needs at least two member checkpoints")
    for path, meta in zip(paths, metas, strict=True):
        if meta.get("arch") == ARCH:
            raise PneumoganError(f"{path} is itself an ensemble; list its members instead")
        if meta.get("threshold") is None:
            raise PneumoganError(f"{path} has no decision threshold; did its training finish?")
    if len({tuple(m["class_names"]) for m in metas}) != 1:
        raise PneumoganError("members disagree on the classes (binary and 3-class models cannot be mixed)")
    if len({(m["data_source_path"], json.dumps(m["config"]["split"], sort_keys=True)) for m in metas}) != 1:
        raise PneumoganError("members were trained on different data or splits; their val threshold would mix them")
    fits = {m["preprocessing"]["fit"] for m in metas}
    if len(fits) != 1:  # one input, one way of making it square: members must agree
        raise PneumoganError(f"members make their inputs square in different ways ({', '.join(sorted(fits))})")


def build_ensemble(members: list[str | Path], out: str | Path, log=print) -> Path:
    """Copy the members into `out`, choose the ensemble's threshold and calibration on val, write meta.json."""
    from pneumogan.runs import atomic_write_json

    paths = [Path(m) for m in members]
    metas = [read_meta(p) for p in paths]
    _check_members(metas, paths)
    out = Path(out)
    if (out / META).exists():
        raise PneumoganError(f"{out} already holds a model; choose another --out")
    for k, (path, meta) in enumerate(zip(paths, metas, strict=True)):
        target = out / MEMBERS / str(k)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path / CLASSIFIER_WEIGHTS, target / CLASSIFIER_WEIGHTS)
        atomic_write_json(target / META, meta)
    largest = max(metas, key=lambda m: m["preprocessing"]["size"])
    meta = {
        "arch": ARCH,
        "members": [
            {
                "source": str(p.resolve()),
                "arch": m["arch"],
                "size": m["preprocessing"]["size"],
                "seed": m["config"]["seed"],
            }
            for p, m in zip(paths, metas, strict=True)
        ],
        "num_classes": largest["num_classes"],
        "class_names": largest["class_names"],
        "in_channels": 1,
        "image_size": largest["preprocessing"]["size"],
        "preprocessing": {
            **largest["preprocessing"],
            "mean": INPUT_MEAN,
            "std": INPUT_STD,
            "recipe": largest["preprocessing"]["recipe"] + "; smaller members: area-resized inside the model",
        },
        "positive": "PNEUMONIA (1 − P(NORMAL))",
        "config": largest["config"],  # the data and split every member shares, at the largest size
        "data_source_path": largest["data_source_path"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    meta.update(_choose_on_val(load_ensemble(out, meta), meta))
    atomic_write_json(out / META, stamp(meta))
    log(
        f"ensemble of {len(paths)} → {out}: val AUC {meta['val_metrics']['roc_auc']:.4f}, "
        f"threshold {meta['threshold']:.4f} ({meta['threshold_method']}, chosen on val)"
    )
    from pneumogan.classify.ood_fit import fit_checkpoint_ood

    fit_checkpoint_ood(out, log=log)
    return out


def _choose_on_val(model: Ensemble, meta: dict[str, Any]) -> dict[str, Any]:
    """Threshold, its bootstrap interval and calibration from the ensemble's val probabilities."""
    from pneumogan.classify.inference import positive_score, predict_proba
    from pneumogan.config import Config
    from pneumogan.data.labels import targets
    from pneumogan.data.loading import load_splits
    from pneumogan.evaluate.calibration import calibrate_on_val
    from pneumogan.evaluate.metrics import binary_metrics, choose_threshold, operating_points, threshold_interval

    cfg = Config.model_validate(meta["config"])
    data = load_splits(cfg)
    labels, keep = targets(data.val, meta["num_classes"])
    proba = predict_proba(model, data.val.select(keep).images, INPUT_MEAN, INPUT_STD, torch.device("cpu"))
    y, p = (labels[keep] > 0).astype(int), positive_score(proba)
    c = cfg.classify
    threshold = choose_threshold(y, p, c.threshold, c.target_sensitivity)
    return {
        "threshold": threshold,
        "threshold_method": c.threshold,
        "threshold_interval": threshold_interval(y, p, c.threshold, c.target_sensitivity, seed=cfg.seed),
        "val_metrics": binary_metrics(y, p, threshold),
        "operating_points": operating_points(y, p),
        "calibration": calibrate_on_val(proba, labels[keep], c.target_sensitivity),
        "data_fingerprint": data.fingerprint,
    }
