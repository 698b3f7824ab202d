"""`pneumogan run`: data check → prepare/split → GAN(s) → synthetic sets → classifiers per condition, fraction
and seed → test evaluation → GAN metrics → report. Every stage is cached by the hash of its inputs."""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pneumogan.config import Config, RunConfig, dump_config
from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.errors import PneumoganError
from pneumogan.pipeline.compare import Scores, paired_difference, seed_summary, verdict
from pneumogan.pipeline.stages import StageRunner, stage_key
from pneumogan.runs import atomic_write_json, atomic_write_text

SUMMARY_METRICS = ("accuracy", "roc_auc", "pr_auc", "recall", "specificity", "f1", "precision", "brier", "ece")
DIFF_METRICS = ("roc_auc", "accuracy")
SYNTHETIC_CONDITIONS = ("rebalanced", "enlarged", "synthetic_only")


def fraction_label(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


def synthetic_counts(real_counts: dict[str, int], condition: str, run: RunConfig) -> dict[str, int]:
    """How many synthetic images of each class a condition adds (empty for the real baseline)."""
    if condition == "real":
        return {}
    if condition == "rebalanced":
        minority = min(real_counts, key=lambda c: (real_counts[c], c))
        gap = max(real_counts.values()) - real_counts[minority]
        return {minority: gap} if gap > 0 else {}
    if condition == "enlarged":
        return {c: max(1, round(run.enlarge_ratio * n)) for c, n in real_counts.items()}
    if condition == "synthetic_only":
        return {c: run.synthetic_only_per_class or n for c, n in real_counts.items()}
    raise PneumoganError(f"unknown condition '{condition}'")


def condition_epochs(cfg: Config, n_train: int, n_real_full: int) -> int:
    """Epochs that give a condition the optimizer steps of the full-data baseline (`classify.epochs` epochs
    of all real training images), so that conditions and fractions differ in data, not in training compute."""
    batch = cfg.classify.batch_size
    budget = cfg.classify.epochs * math.ceil(n_real_full / batch)
    return max(1, round(budget / math.ceil(max(n_train, 1) / batch)))


def default_run_dir(cfg: Config, root: str | Path = "runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{stamp}-{cfg.name}"


def latest_run_dir(cfg: Config, root: str | Path = "runs") -> Path | None:
    """The newest `runs/<timestamp>-<name>` folder of this config's name, for `pneumogan run --resume`."""
    found = sorted(p for p in Path(root).glob(f"*-{cfg.name}") if p.is_dir() and (p / "config.yaml").is_file())
    return found[-1] if found else None


def _stage_cfg(cfg: Config, fraction: float, seed: int | None = None) -> Config:
    """A stage's own config: the run section and name reset so that they never invalidate a stage."""
    c = cfg.model_copy(deep=True)
    c.run, c.name = RunConfig(), "pipeline-stage"
    c.data.train_fraction, c.data.extra_train, c.data.train_real = fraction, [], True
    if seed is not None:
        c.seed = seed
    return c


def _key_parts(c: Config, *sections: str) -> dict[str, Any]:
    dump = c.model_dump(mode="json")
    return {s: dump[s] for s in sections}


def _check_supported(cfg: Config) -> None:
    if cfg.classify.num_classes != 2:
        raise PneumoganError("pneumogan run compares binary NORMAL/PNEUMONIA classifiers: set classify.num_classes=2")
    if cfg.gan.family != "dcgan" and cfg.gan.num_classes != 2:
        raise PneumoganError("pneumogan run needs a binary conditional GAN: set gan.num_classes=2")


def run_pipeline(
    cfg: Config, out: str | Path, log: Callable[[str], None] = print, on_stage: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run (or resume) the whole experiment into `out`; returns the results that `results.json` holds."""
    from pneumogan import distributed
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.train import train
    from pneumogan.data.integrity import check_source
    from pneumogan.data.loading import load_splits
    from pneumogan.data.sources import open_source
    from pneumogan.device import resolve_device
    from pneumogan.gan.evaluate import evaluate_gan
    from pneumogan.gan.sample import SampleSpec, write_synthetic_set
    from pneumogan.gan.train import train_gan

    _check_supported(cfg)
    ctx = distributed.setup(resolve_device(cfg.classify.device))  # under torchrun: training stages on all ranks
    out = Path(out)
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", dump_config(cfg))
    else:
        log = distributed.silent
    runner = StageRunner(out, log, on_stage, ctx)
    rc = cfg.run
    base = _stage_cfg(cfg, 1.0)
    base_data = load_splits(base)  # prepares (or reuses) the cache; its fingerprint covers data and split

    def check(folder: Path) -> dict[str, Any]:
        report = check_source(open_source(cfg.data.source), max_pixels=cfg.data.max_pixels, workers=cfg.data.workers)
        atomic_write_json(folder / "data_check.json", report)
        return {"total": report["total"], "counts": report["counts"], "bad": len(report["bad"]),
                "duplicate_groups": len(report["duplicates"]), "patients_in_two_splits": len(report["patient_overlap"]),
                "split": base_data.summary}  # fmt: skip

    _, data_result = runner.run("data", stage_key("data", cfg.data.source, cfg.data.max_pixels, base_data.fingerprint,
                                                  _key_parts(base, "split")), check)  # fmt: skip
    results: dict[str, Any] = {
        "name": cfg.name, "config": cfg.model_dump(mode="json"), "data": data_result, "fractions": {},
        "conditions": list(rc.conditions), "seeds": list(rc.seeds),
    }  # fmt: skip
    synthetic_wanted = [c for c in rc.conditions if c in SYNTHETIC_CONDITIONS]

    for fraction in rc.fractions:
        flabel = fraction_label(fraction)
        fcfg = _stage_cfg(cfg, fraction)
        fdata = load_splits(fcfg)
        counts = np.bincount(fdata.train.labels, minlength=2)
        real_counts = {name: int(counts[i]) for i, name in enumerate(BINARY_CLASSES)}
        plan = {cond: synthetic_counts(real_counts, cond, rc) for cond in rc.conditions}
        fres: dict[str, Any] = {"fraction": fraction, "real_train_counts": real_counts, "synthetic_counts": plan,
                                "gan": {}, "conditions": {}}  # fmt: skip
        results["fractions"][flabel] = fres
        log(f"== fraction {fraction:g}: real training images {real_counts}; synthetic per condition {plan}")

        # GANs: one DCGAN per class needed, or one conditional GAN for both classes.
        needed = sorted({cls for cond in synthetic_wanted for cls in plan[cond]})
        gan_dirs: dict[str, tuple[Path, str]] = {}  # class → (GAN folder, its stage key)
        gan_units = [[c] for c in needed] if cfg.gan.family == "dcgan" else ([needed] if needed else [])
        for unit in gan_units:
            gcfg = fcfg.model_copy(deep=True)
            tag = unit[0].lower() if cfg.gan.family == "dcgan" else "all"
            if cfg.gan.family == "dcgan":
                gcfg.gan.target_class = unit[0]
            gkey = stage_key("gan", _key_parts(gcfg, "data", "split", "gan", "seed"), fdata.fingerprint)

            def fit(folder: Path, gcfg: Config = gcfg) -> dict[str, Any]:
                train_gan(gcfg, folder, log=log)
                return {"classes": json.loads((folder / "meta.json").read_text())["class_names"]}

            gdir, _ = runner.run(f"gan-{cfg.gan.family}-{tag}-{flabel}", gkey, fit, collective=True)
            for c in unit:
                gan_dirs[c] = (gdir, gkey)

        models: dict[str, dict[int, Path]] = {}
        for cond in rc.conditions:
            synth_dir, synth_key = None, None
            if cond in SYNTHETIC_CONDITIONS and plan[cond]:
                specs_key = {c: (gan_dirs[c][1], n) for c, n in plan[cond].items()}
                synth_key = stage_key("synthetic", specs_key, rc.sample_seed)

                specs = [SampleSpec(gan_dirs[c][0], c, n, seed_index=BINARY_CLASSES.index(c))
                         for c, n in plan[cond].items()]  # fmt: skip

                def sample(folder: Path, specs: list[SampleSpec] = specs) -> dict[str, Any]:
                    target = folder / "set"
                    if not (target / "manifest.csv").is_file():  # a kill after the rename but before the marker
                        write_synthetic_set(specs, target, seed=rc.sample_seed)
                    return {"counts": {s.class_name: s.count for s in specs}}

                sdir, _ = runner.run(f"synthetic-{cond}-{flabel}", synth_key, sample)
                synth_dir = sdir / "set"
            elif cond == "rebalanced":
                log("rebalanced: the classes are already balanced; it equals the baseline")
            models[cond] = {}
            n_train = (sum(real_counts.values()) if cond != "synthetic_only" else 0) + sum(plan[cond].values())
            epochs = condition_epochs(cfg, n_train, len(base_data.train)) if rc.equal_steps else cfg.classify.epochs
            steps = epochs * math.ceil(n_train / cfg.classify.batch_size)
            fres.setdefault("training", {})[cond] = {"images": n_train, "epochs": epochs, "steps": steps}
            for seed in rc.seeds:
                ccfg = _stage_cfg(cfg, fraction, seed)
                ccfg.data.train_real = cond != "synthetic_only"
                ccfg.classify.epochs = epochs
                ckey = stage_key("classify", _key_parts(ccfg, "data", "split", "augment", "classify", "seed"),
                                 synth_key, fdata.fingerprint)  # fmt: skip
                if synth_dir is not None:
                    ccfg.data.extra_train = [str(synth_dir.resolve())]

                def fit_eval(folder: Path, ccfg: Config = ccfg) -> dict[str, Any]:
                    model = train(ccfg, folder / "model", log=log)
                    if not ctx.main:
                        return {}
                    metrics = evaluate_checkpoint(model, "test", folder / "eval_test", n_boot=ccfg.classify.bootstrap)
                    return {k: metrics[k] for k in (*SUMMARY_METRICS, "ci", "threshold", "confusion_matrix", "n",
                                                     "at_0.5")}  # fmt: skip

                cdir, metrics = runner.run(f"classify-{cond}-{flabel}-seed{seed}", ckey, fit_eval, collective=True)
                models[cond][seed] = cdir
                fres["conditions"].setdefault(cond, {"seeds": {}})["seeds"][str(seed)] = {
                    "metrics": metrics,
                    "stage": str(cdir.relative_to(out)),
                }
        if ctx.main:  # statistics and the report are rank 0's; stages below run there while the others wait
            _summarise(fres, models, rc, cfg.classify.bootstrap, cfg.seed)

        if reference := models.get("real", {}).get(rc.seeds[0]):  # Grad-CAM examples of the baseline model

            def explain(folder: Path, model: Path = reference / "model") -> dict[str, Any]:
                from pneumogan.explain.gradcam import cam_examples

                return cam_examples(model, folder / "gradcam.png")

            xdir, xres = runner.run(f"gradcam-{flabel}", stage_key("gradcam", reference.name), explain)
            fres["gradcam"] = {**xres, "png": str((xdir / "gradcam.png").relative_to(out))}

        # GAN metrics against the real data, in the feature space of this fraction's baseline classifier.
        reference = models.get("real", {}).get(rc.seeds[0])
        for gdir, gkey in {v[0]: v[1] for v in gan_dirs.values()}.items():
            ref_model = reference / "model" if reference else None
            ekey = stage_key("gan-eval", gkey, str(ref_model), rc.gan_eval_per_class)

            def measure(folder: Path, gdir: Path = gdir, ref_model: Path | None = ref_model) -> dict[str, Any]:
                return evaluate_gan(gdir, rc.gan_eval_per_class, ref_model, out_dir=folder, seed=10_000, log=log)

            edir, gm = runner.run(f"gan-eval-{gdir.name.rsplit('-', 1)[0]}", ekey, measure)
            for cls in gm["classes"]:
                fres["gan"][cls] = {"metrics": gm[cls], "gan_stage": str(gdir.relative_to(out)),
                                    "eval_stage": str(edir.relative_to(out))}  # fmt: skip

    if not ctx.main:
        return {}
    results["stages"] = runner.timings
    results["verdicts"] = [v for f in results["fractions"].values() for c in f["conditions"].values()
                           for v in c.get("verdicts", [])]  # fmt: skip
    from pneumogan.pipeline.report import write_report

    write_report(results, out, log)
    atomic_write_json(out / "results.json", results)
    log(f"report: {out / 'report.html'}")
    return results


def _load_scores(stage: Path, threshold: float) -> Scores:
    with np.load(stage / "eval_test" / "scores.npz") as z:
        return Scores(z["y"].astype(int), z["p"].astype(float), threshold)


def _summarise(fres: dict[str, Any], models: dict[str, dict[int, Path]], rc: RunConfig, n_boot: int, seed: int):
    """Mean ± CI over seeds per condition, and paired bootstrap differences from the baseline with verdicts."""
    conds = fres["conditions"]
    scores = {cond: [_load_scores(models[cond][s], conds[cond]["seeds"][str(s)]["metrics"]["threshold"])
                     for s in rc.seeds] for cond in conds}  # fmt: skip
    for cond, entry in conds.items():
        per_seed = [entry["seeds"][str(s)]["metrics"] for s in rc.seeds]
        entry["summary"] = {m: seed_summary([r[m] for r in per_seed]) for m in SUMMARY_METRICS}
        if len(rc.seeds) == 1:  # one seed: the bootstrap CI over test images is the interval we have
            for m in SUMMARY_METRICS:
                entry["summary"][m]["ci"] = per_seed[0]["ci"].get(m)
                entry["summary"][m]["ci_kind"] = "bootstrap over test images (1 seed)"
        else:
            for m in SUMMARY_METRICS:
                entry["summary"][m]["ci_kind"] = f"t-interval over {len(rc.seeds)} seeds"
        if cond != "real" and "real" in conds:
            entry["vs_real"] = {m: paired_difference(scores["real"], scores[cond], m, n_boot, seed)
                                for m in DIFF_METRICS}  # fmt: skip
            label = f"{cond} ({fres['fraction'] * 100:g} % of the real training data)"
            entry["verdicts"] = [verdict(label, entry["vs_real"][m]) for m in DIFF_METRICS]
