"""Recipes × seeds on the real data, shared by the studies that compare classifier training recipes
(`bench_ablation.py`, `bench_classifier_recipes.py`).

A run lives in <root>/<recipe>/s<seed>; one whose test metrics exist is never retrained, so a study killed
mid-way resumes where it stopped. Differences from the baseline are paired by seed with a t-interval over the
per-seed differences (training variance included); the image-only bootstrap is kept as `*_test_sampling`.
The choice of a recipe is made on mean val ROC-AUC only.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

METRICS = ("accuracy", "roc_auc", "recall", "specificity")


def train_and_test(out: Path, overrides: list[str], transductive: bool = False, precision: str = "auto") -> None:
    """Train one recipe × seed on the `quick` config with `overrides` and evaluate it on test, once (inference in
    `precision`)."""
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.train import train
    from pneumogan.config import load_config
    from pneumogan.device import cpu_model

    if (out / "eval_test" / "metrics.json").exists():
        return
    cfg = load_config("quick", overrides)
    start = time.perf_counter()
    train(cfg, out, resume=True)  # continues a run killed mid-way
    wall = time.perf_counter() - start
    evaluate_checkpoint(out, "test", transductive=transductive, precision=precision)
    (out / "bench_wall_s.txt").write_text(f"{wall:.1f}\n")
    (out / "bench_cpu.txt").write_text(f"{cpu_model()}\n")  # studies restored across machines mix CPUs


def read_run(folder: Path) -> dict:
    """One finished recipe × seed: its val and test metrics, epochs, training speed and wall time."""
    res = json.loads((folder / "eval_test" / "metrics.json").read_text())
    meta = json.loads((folder / "meta.json").read_text())
    if meta["arch"] == "ensemble":  # no training history of its own; its members are the seeds
        hist, seed = [], None
    else:
        hist, seed = json.loads((folder / "history.json").read_text()), int(folder.name[1:])
    wall_file, cpu_file = folder / "bench_wall_s.txt", folder / "bench_cpu.txt"
    row = {
        "seed": seed,
        "threshold": res["threshold"],
        "val_roc_auc": meta["val_metrics"]["roc_auc"],  # the selected epoch's, at the val-chosen threshold
        "val_accuracy": meta["val_metrics"]["accuracy"],
        **{k: res[k] for k in METRICS},
        "ece": res["ece"],
        "epochs_run": len(hist),
        "train_images_per_s": statistics.median(h["images_per_s"] for h in hist) if hist else None,
        "wall_s": float(wall_file.read_text()) if wall_file.exists() else None,
        "cpu_model": cpu_file.read_text().strip() if cpu_file.exists() else None,
        "precision": meta.get("precision"),  # what it trained in (an ensemble's meta has none)
        "test_bootstrap_ci": {k: res["ci"][k] for k in METRICS if k in res["ci"]},
    }
    selected = [h for h in hist if h.get("epoch") == meta.get("epoch") and "val_loss" in h]
    if selected:  # the selected epoch's val log-loss (mean NLL of the val labels): less saturated than val AUC
        row["val_log_loss"] = selected[-1]["val_loss"]
    if seed is None:
        row["members"] = [m["seed"] for m in meta["members"]]
    if "calibration" in res:  # evaluations made before calibration existed lack these
        row["ece_after_temperature"] = res["calibration"]["after_temperature"]["ece"]
        row["temperature"] = res["calibration"]["temperature"]
        at = res["at_val_target_sensitivity"]
        row["sensitivity_at_val_target"], row["specificity_at_val_target"] = at["recall"], at["specificity"]
    for section in ("transductive_prior_shift", "transductive_batchnorm"):
        if section in res:
            row[section] = res[section]
    return row


def finished_runs(root: Path, names: list[str]) -> dict[str, list[dict]]:
    """Every finished recipe × seed under `root` (also those of earlier invocations with other seeds)."""
    runs: dict[str, list[dict]] = {}
    for name in names:
        for done in sorted(root.glob(f"{name}/s*/eval_test/metrics.json")):
            runs.setdefault(name, []).append(read_run(done.parent.parent))
    return runs


def summarise(
    runs: dict[str, list[dict]],
    root: Path,
    overrides_of: Callable[[str], list[str]],
    extra: tuple[str, ...] = (),
    restored_baseline: list[dict] | None = None,
) -> dict[str, dict]:
    """Per recipe: mean and t-interval over seeds of each metric, and its paired difference from the baseline.

    `restored_baseline`: the baseline's per-seed records from a committed study, used when its runs are not on
    this machine; the seed-aware differences need only per-seed metrics, the image bootstrap (`*_test_sampling`)
    needs the test scores and is left out then."""
    import numpy as np

    from pneumogan.pipeline.compare import Scores, interval_over_seeds, paired_difference, seed_summary

    def load(name: str, r: dict) -> Scores:
        z = np.load(root / name / f"s{r['seed']}" / "eval_test" / "scores.npz")
        return Scores(y=z["y"], p=z["p"], threshold=r["threshold"])

    # each file read once; only a baseline trained here has test scores to pair with
    scores = {name: [load(name, r) for r in rows] for name, rows in runs.items()} if "baseline" in runs else {}
    base_rows = {r["seed"]: r for r in runs.get("baseline", restored_baseline or [])}
    table = {}
    for name, rows in runs.items():
        present = [m for m in (*METRICS, "val_roc_auc", *extra) if all(m in r for r in rows)]
        entry = {m: seed_summary([r[m] for r in rows]) for m in present}
        walls = [r["wall_s"] for r in rows if r["wall_s"]]
        entry["wall_s_median"] = statistics.median(walls) if walls else None
        entry["overrides"] = overrides_of(name)
        if name != "baseline" and all(r["seed"] in base_rows for r in rows):
            for m in ("roc_auc", "accuracy", "val_roc_auc"):
                per_seed = [r[m] - base_rows[r["seed"]][m] for r in rows]
                entry[f"delta_{m}"] = interval_over_seeds(per_seed, m)
            if "baseline" in runs:
                by_seed = {r["seed"]: s for s, r in zip(scores["baseline"], runs["baseline"], strict=True)}
                base = [by_seed[r["seed"]] for r in rows]
                for m in ("roc_auc", "accuracy"):
                    entry[f"delta_{m}_test_sampling"] = paired_difference(base, scores[name], m)
        table[name] = entry
    add_holm(table)
    return table


def add_holm(table: dict[str, dict]) -> None:
    """`p_holm` beside each seed-aware paired difference: Holm-adjusted over the recipes compared with the
    baseline, per metric (several changes tested against one baseline are several chances to find one)."""
    from pneumogan.pipeline.compare import holm_adjust

    for m in ("roc_auc", "accuracy"):
        deltas = [e[f"delta_{m}"] for e in table.values() if e.get(f"delta_{m}", {}).get("p_value") is not None]
        for delta, adjusted in zip(deltas, holm_adjust([d["p_value"] for d in deltas]), strict=True):
            delta["p_holm"] = adjusted
            delta["holm_family"] = len(deltas)


SELECTION_METRICS = {"val_roc_auc": "mean val ROC-AUC over seeds", "val_log_loss": "mean val log-loss over seeds"}


def select_on_val(table: dict[str, dict], metric: str = "val_roc_auc") -> dict:
    """The recipe with the best mean of a val `metric` — the highest ROC-AUC, or the lowest log-loss — the baseline
    winning ties: the choice never looks at test. Only recipes with as many seeds as the most-seeded one compete: a
    mean over fewer seeds is noisier, and a study interrupted part-way must not crown its unfinished recipe. Each
    run was evaluated on test once, after training, for reporting."""
    sign = -1.0 if metric == "val_log_loss" else 1.0
    competing = {name: e for name, e in table.items() if metric in e}
    most = max(e[metric].get("n_seeds", 1) for e in competing.values())
    finished = [name for name, e in competing.items() if e[metric].get("n_seeds", 1) == most]
    best = max(finished, key=lambda name: (sign * competing[name][metric]["mean"], name == "baseline"))
    return {
        "selection_split": "val",
        "selection_metric": SELECTION_METRICS[metric],
        "selected": best,
        "test_evaluations": sum(e["accuracy"]["n_seeds"] for e in table.values()),
    }


def print_table(table: dict[str, dict]) -> None:
    def pct(s: dict) -> str:
        ci = f" [{100 * s['ci'][0]:.1f}, {100 * s['ci'][1]:.1f}]" if s["ci"] else ""
        return f"{100 * s['mean']:.1f}{ci}"

    def delta(d: dict | None) -> str:
        if d is None:
            return "—"
        if not d["ci"]:
            return f"{100 * d['difference']:+.1f} (1 seed)"
        return f"{100 * d['difference']:+.1f} [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]"

    print("| recipe | seeds | val AUC % | Δ val AUC | ACC % | ROC-AUC % | sens % | spec % | Δ AUC | Δ ACC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, e in table.items():
        cells = [
            name,
            str(e["accuracy"]["n_seeds"]),
            pct(e["val_roc_auc"]),
            delta(e.get("delta_val_roc_auc")),
            *(pct(e[m]) for m in ("accuracy", "roc_auc", "recall", "specificity")),
            delta(e.get("delta_roc_auc")),
            delta(e.get("delta_accuracy")),
        ]
        print("| " + " | ".join(cells) + " |")


def print_run(name: str, row: dict) -> None:
    print(
        f"{name} seed {row['seed']}: val AUC {row['val_roc_auc']:.4f} | test ACC {row['accuracy']:.4f} "
        f"AUC {row['roc_auc']:.4f} sens {row['recall']:.4f} spec {row['specificity']:.4f} "
        f"({row['wall_s'] or 0:.0f} s)",
        flush=True,
    )


def base_recipe(record_name: str) -> str:
    """`standardised+temperature` → `standardised`; `ssl_init+ensemble` → `ssl_init`."""
    return record_name.split("+", 1)[0]


def restore_study(committed: dict, source: str, settings: dict, local: dict[str, list[dict]]) -> dict:
    """What a committed study measured that is not on this machine (run folders do not survive a new machine).

    `settings` are the arguments that define a run (architecture, size, epochs, seeds, common overrides); a
    committed study made with others is refused. Recipes with finished runs here are measured here; the rest
    keep their committed table entries, records and ensembles. A recipe × seed present in both is compared on
    its val ROC-AUC, which a deterministic re-run reproduces exactly. `committed` is read once, before this
    invocation saves over it. Returns {table, records, ensembles, baseline_records, info}."""
    differ = {k: (committed["args"].get(k), v) for k, v in settings.items() if committed["args"].get(k) != v}
    if differ:
        raise SystemExit(f"--restore {source}: made with other settings (committed, now): {differ}")
    table = {name: entry for name, entry in committed["table"].items() if name not in local}
    records = [r for r in committed["records"] if base_recipe(r["recipe"]) in table]
    ensembles = {n: e for n, e in committed.get("ensembles", {}).items() if base_recipe(n) in table}
    plain = {(r["recipe"], r["seed"]): r for r in committed["records"] if r["recipe"] in committed["table"]}
    reproduced = [
        {
            "recipe": name,
            "seed": r["seed"],
            "val_roc_auc_committed": plain[(name, r["seed"])]["val_roc_auc"],
            "val_roc_auc_now": r["val_roc_auc"],
            "identical": plain[(name, r["seed"])]["val_roc_auc"] == r["val_roc_auc"],
        }
        for name, rows in local.items()
        for r in rows
        if (name, r["seed"]) in plain
    ]
    baseline = [r for r in records if r["recipe"] == "baseline"]
    info = {"file": source, "recipes": sorted(table), "reproduced": reproduced}
    info["machine"] = committed.get("machine")  # where the committed file was saved; its records may say more
    return {"table": table, "records": records, "ensembles": ensembles, "baseline_records": baseline, "info": info}
