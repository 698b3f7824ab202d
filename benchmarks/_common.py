"""Helpers shared by the benchmark scripts: where the real data is, machine facts, saving results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
RESULTS = Path(__file__).resolve().parent / "results"
# A GAN without its stabilisers (no spectral norm, non-saturating loss, no EMA, no DiffAugment, DCGAN's Adam
# betas): the reference the GAN benchmarks compare the stabilised variants with.
PLAIN_GAN = [
    "gan.spectral_norm=false",
    "gan.loss=nonsaturating",
    "gan.ema=false",
    "gan.diffaugment=''",
    "gan.betas=[0.5, 0.999]",
]


def machine() -> dict[str, Any]:
    import torch

    from pneumogan.device import cpu_flags, cpu_kind, cpu_model

    return {
        "cpu_kind": cpu_kind(),  # model + ISA flags: what results are compared within
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Wall times of `repeats` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def summary(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}


def provenance() -> dict[str, Any]:
    """The command, commit and date of a result (a payload's own keys take precedence)."""
    import shlex
    import subprocess
    import sys
    from datetime import UTC, datetime

    from pneumogan.runs import git_commit

    status = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False)
    return {
        "command": shlex.join(["python", *sys.argv]),
        "commit": git_commit(REPO),
        "uncommitted_changes": bool(status.stdout.strip()),  # true: the commit alone does not reproduce this
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def result_path(name: str, suffix: str = ".json") -> Path:
    """benchmarks/results/<study>/<name><suffix>: the study is the running script's (layout.EVIDENCE_STUDIES);
    a NAME of the form STUDY/NAME names the study itself."""
    import sys

    from pneumogan.layout import evidence_study

    study, _, rest = name.rpartition("/")
    return RESULTS / (study or evidence_study(sys.argv[0])) / f"{rest}{suffix}"


def save(name: str, payload: dict[str, Any]) -> Path:
    path = result_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **provenance(), **payload}, indent=2) + "\n")
    print(f"saved {path}")
    return path


def trained_model(checkpoint: Path | str) -> tuple[Any, dict[str, Any], Any, Any]:
    """A checkpoint's model on the CPU, its meta, its config and the data splits it was trained with."""
    from pneumogan.classify.checkpoint import load_checkpoint
    from pneumogan.config import Config
    from pneumogan.data.loading import load_splits

    model, meta = load_checkpoint(checkpoint, "cpu")
    cfg = Config.model_validate(meta["config"])
    return model, meta, cfg, load_splits(cfg)


def tstr_run(data: str, size: int, synthetic: Path, seed: int, epochs: int, out: Path, *extra: str) -> dict[str, float]:
    """Train on synthetic, test on real: a classifier (the quick recipe at `size`) trained on the synthetic set
    only; its val ROC-AUC (for choosing) and test accuracy and ROC-AUC (for reporting: one test readout)."""
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.train import train
    from pneumogan.config import load_config
    from pneumogan.layout import META

    overrides = [
        f"data.source={data}",
        f"data.size={size}",
        f"seed={seed}",
        "data.train_real=false",
        f"data.extra_train=['{synthetic.resolve()}']",
        f"classify.epochs={epochs}",
        *extra,
    ]
    train(load_config("quick", overrides), out, resume=True, log=lambda m: None)
    test = evaluate_checkpoint(out, "test")
    val = json.loads((out / META).read_text())["val_metrics"]
    print(f"  TSTR seed {seed}: val AUC {val['roc_auc']:.3f}, test acc {test['accuracy']:.3f}", flush=True)
    return {"val_auc": val["roc_auc"], "accuracy": test["accuracy"], "auc": test["roc_auc"]}


class Memoised:
    """A feature extractor that remembers its answer for image arrays it has seen (the real images of a class
    are featurised once per study instead of at every snapshot)."""

    def __init__(self, extractor) -> None:
        self.extractor, self.cache = extractor, {}

    def __call__(self, images: Any):
        import hashlib

        import numpy as np

        key = (images.shape, hashlib.blake2b(np.ascontiguousarray(images).tobytes(), digest_size=16).digest())
        if key not in self.cache:
            self.cache[key] = self.extractor(images)
        return self.cache[key]
