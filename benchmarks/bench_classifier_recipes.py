"""How good can the classifier get from the chest X-rays alone? Recipes × seeds on chest_xray_224 (patient-grouped
val, the official 624-image test), each trained once and evaluated on test once, chosen on val only.

    python benchmarks/bench_classifier_recipes.py --encoder runs/ssl64 --out runs/recipes
    python benchmarks/bench_classifier_recipes.py ... --only baseline ssl_init    # a subset; resumes
    python benchmarks/bench_classifier_recipes.py ... --only warmup \
        --restore benchmarks/results/classifier_recipes/classifier_recipes.json
        # on a new machine: the recipes not trained here keep the committed figures (`restored_from`)

Recipes (the `quick` config's classifier at --size px for --epochs epochs, then one change each):
- `baseline`: trained from random weights;
- `ssl_init`: the backbone starts from the SimSiam encoder in --encoder (`pneumogan ssl pretrain`), one epoch of
  linear probe, then the whole network fine-tunes (`classify.stage1_epochs=1`, `finetune_lr_scale=1`);
- `standardised`: each image standardised by its own mean and std inside the model
  (`classify.standardise_input`), an inductive answer to the exposure shift between the training and test
  time windows that test-time BatchNorm measured;
- `ssl_init_standardised`: both changes;
- `warmup`, `weight_ema`, `focal`: one epoch of linear learning-rate warm-up; an EMA of the weights (decay 0.99)
  that validation, the threshold and the checkpoint use; the focal loss (γ = 2) instead of cross-entropy;
- `size_x2`: twice the resolution (costly: about four times the compute per image);
- combinations: `size_x2_standardised`, `resnet18_x2` (resnet18 at twice the size), `resnet18_x2_standardised`,
  and that one for twice the epochs (`resnet18_x2_standardised_long`).
Every run also reports, without retraining: ECE after the val-fitted temperature (`+temperature` records), test
specificity at the threshold that reached 95 % sensitivity on val, and — apart, `"transductive": true` — the EM
prior-shift adjustment (`+prior_shift` records) and test-time BatchNorm statistics (`+test_time_bn`), both of
which look at the unlabelled test images (never a headline).
Once every requested seed (≥ 2) of a recipe has finished, `<recipe>+ensemble` averages them (`classify ensemble`,
threshold chosen on val) and is evaluated on test once; it is reported beside the recipes, not selected from
(one ensemble carries no seed-to-seed variance, so its differences are inconclusive by the project's rule).
Saves benchmarks/results/classifier_recipes/classifier_recipes.json:
`records` (one per recipe × seed, metrics as fractions),
`table` (means, seed-aware intervals, paired differences from the baseline with Holm-adjusted `p_holm`),
`ensembles`, `"selection_split": "val"`, `selected` and `test_evaluations`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, save
from _seeded_runs import (
    METRICS,
    SELECTION_METRICS,
    add_holm,
    finished_runs,
    print_run,
    print_table,
    read_run,
    restore_study,
    select_on_val,
    summarise,
    train_and_test,
)


def recipes(args: argparse.Namespace) -> dict[str, list[str]]:
    """Each recipe's setting changes on top of the common base."""
    standardised = ["classify.standardise_input=true"]
    out: dict[str, list[str]] = {"baseline": [], "standardised": standardised}
    if args.encoder:
        encoder = str(Path(args.encoder).resolve())
        out["ssl_init"] = [f"classify.init_from={encoder}", "classify.stage1_epochs=1", "classify.finetune_lr_scale=1"]
        out["ssl_init_standardised"] = [*out["ssl_init"], *standardised]
    # training-schedule options of the classifier issue, each alone on the baseline (8 epochs ≈ 600 steps)
    out["warmup"] = ["classify.warmup_epochs=1"]
    out["weight_ema"] = ["classify.ema_decay=0.99"]  # an average over ~100 steps, about 1.4 epochs
    out["focal"] = ["classify.loss=focal"]
    out["size_x2"] = [f"data.size={2 * args.size}"]
    # combinations after the single changes: the two that helped most alone, and the residual network at the
    # doubled size (bf16 on an AMX CPU trains it faster than simple_cnn at 128 px: 380 vs 620 s a model)
    out["size_x2_standardised"] = [*out["size_x2"], *standardised]
    out["resnet18_x2"] = ["classify.arch=resnet18", *out["size_x2"]]
    out["resnet18_x2_standardised"] = [*out["resnet18_x2"], *standardised]
    # the best on test of those, trained twice as long (added after the test figures above were seen: reported,
    # and selected from on val like every other recipe)
    out["resnet18_x2_standardised_long"] = [*out["resnet18_x2_standardised"], f"classify.epochs={2 * args.epochs}"]
    # longer schedules, for the classifier at a generator's 32 px (docs/recipe_study.md, "At 32 px")
    out["epochs_x3"] = [f"classify.epochs={3 * args.epochs}"]
    out["epochs_x6"] = [f"classify.epochs={6 * args.epochs}"]
    if args.encoder:
        out["ssl_init_epochs_x3"] = [*out["ssl_init"], *out["epochs_x3"]]
    return out


def base(args: argparse.Namespace) -> list[str]:
    return [
        f"data.source={args.data}",
        f"data.size={args.size}",
        f"classify.arch={args.arch}",
        f"classify.epochs={args.epochs}",
        *args.set,
    ]


def records(runs: dict[str, list[dict]]) -> list[dict]:
    """The flat records of the study: each run as trained, its temperature-scaled calibration, and apart its
    transductive prior-shift figures."""
    out = []
    for recipe, rows in runs.items():
        for r in rows:
            common = {"seed": r["seed"], "val_roc_auc": r["val_roc_auc"], "wall_s": r["wall_s"]}
            common |= {"cpu_model": r.get("cpu_model"), "precision": r.get("precision")}
            if "members" in r:  # a seed ensemble: `seed` is None, these are its members' seeds
                common["members"] = r["members"]
            plain = {k: r[k] for k in ("accuracy", "roc_auc", "specificity", "ece")}
            out.append({"recipe": recipe, **common, **plain, "sensitivity": r["recall"], "transductive": False})
            if "specificity_at_val_target" in r:
                out[-1]["sensitivity_at_val_95"] = r["sensitivity_at_val_target"]
                out[-1]["specificity_at_val_95"] = r["specificity_at_val_target"]
                out.append(
                    {**out[-1], "recipe": f"{recipe}+temperature", "ece": r["ece_after_temperature"]}
                    | {"temperature": r["temperature"]}
                )
            shift = r.get("transductive_prior_shift")
            if shift:
                adj = shift["adjusted_at_0.5"]
                out.append(
                    {
                        "recipe": f"{recipe}+prior_shift",
                        **common,
                        "accuracy": adj["accuracy"],
                        "roc_auc": adj["roc_auc"],
                        "sensitivity": adj["recall"],
                        "specificity": adj["specificity"],
                        "ece": adj["ece"],
                        "estimated_positive_share": shift["estimated_positive_share"],
                        "transductive": True,
                    }
                )
            bn = r.get("transductive_batchnorm")
            if bn and bn["applicable"]:
                picked = {k: bn[k] for k in ("accuracy", "roc_auc", "specificity")}
                out.append(
                    {"recipe": f"{recipe}+test_time_bn", **common, **picked, "sensitivity": bn["recall"]}
                    | {"transductive": True}
                )
    return out


def ensemble_dir(root: Path, recipe: str, seeds: list[int]) -> Path:
    """Where the ensemble of `recipe`'s `seeds` lives: <root>/<recipe>+ensemble/s0-1-2."""
    return root / f"{recipe}+ensemble" / ("s" + "-".join(map(str, sorted(seeds))))


def seed_ensembles(root: Path, runs: dict[str, list[dict]], seeds: list[int]) -> dict[str, list[dict]]:
    """Per recipe whose every requested seed (≥ 2) has finished: one `classify ensemble` of them, its threshold
    chosen on val, evaluated on test once. Built only for the full seed list, so no partial ensemble reaches test."""
    from pneumogan.classify.ensemble import build_ensemble
    from pneumogan.classify.evaluate import evaluate_checkpoint

    out = {}
    for name, rows in runs.items():
        if len(seeds) < 2 or not set(seeds) <= {r["seed"] for r in rows}:
            continue
        folder = ensemble_dir(root, name, seeds)
        if not (folder / "eval_test" / "metrics.json").exists():
            if not (folder / "meta.json").exists():
                build_ensemble([root / name / f"s{s}" for s in sorted(seeds)], folder)
            evaluate_checkpoint(folder, "test", transductive=True)
        out[f"{name}+ensemble"] = [read_run(folder)]
    return out


def ensemble_table(root: Path, ensembles: dict[str, list[dict]]) -> dict[str, dict]:
    """One ensemble per recipe: its test metrics with their bootstrap CI over test images, and its difference
    from the baseline's ensemble on the same resampled images. One ensemble is one training outcome, so no
    seed-aware interval exists: by the project's rule any ensemble-vs-ensemble difference is inconclusive."""
    import numpy as np

    from pneumogan.pipeline.compare import Scores, paired_difference, seed_summary

    def scores(name: str, r: dict) -> Scores:
        z = np.load(ensemble_dir(root, name.removesuffix("+ensemble"), r["members"]) / "eval_test" / "scores.npz")
        return Scores(y=z["y"], p=z["p"], threshold=r["threshold"])

    base_row = ensembles.get("baseline+ensemble", [None])[0]
    base = scores("baseline+ensemble", base_row) if base_row else None
    table = {}
    for name, [r] in ensembles.items():
        entry: dict = {m: seed_summary([r[m]]) | {"test_bootstrap_ci": r["test_bootstrap_ci"][m]} for m in METRICS}
        entry["val_roc_auc"] = seed_summary([r["val_roc_auc"]])
        recipe = name.removesuffix("+ensemble")
        entry |= {"members": r["members"], "wall_s_median": None}
        entry["overrides"] = [f"classify ensemble of {recipe}'s seeds"]
        if base is not None and name != "baseline+ensemble":
            mine = scores(name, r)
            for m in ("roc_auc", "accuracy"):
                entry[f"delta_{m}_test_sampling"] = paired_difference([base], [mine], m)
            entry["verdict"] = "inconclusive: one ensemble per recipe carries no seed-to-seed variance"
        table[name] = entry
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--arch", default="simple_cnn")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--encoder", help="an `ssl pretrain` output folder (the ssl_init recipe needs it)")
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every recipe")
    ap.add_argument("--only", nargs="+", help="run these recipes (default: all)")
    ap.add_argument("--out", required=True, help="checkpoints go here, one folder per recipe and seed")
    ap.add_argument("--select-by", choices=sorted(SELECTION_METRICS), default="val_roc_auc", help="the val criterion")
    ap.add_argument("--no-ensembles", action="store_true", help="no seed ensembles (and their test evaluations)")
    ap.add_argument("--no-transductive", action="store_true", help="no prior-shift or test-time BatchNorm figures")
    ap.add_argument("--name", default="classifier_recipes", help="the result file's name")
    ap.add_argument(
        "--reference",
        help="RESULT.json:RECIPE, a committed study's recipe the selected one is compared with, paired by seed "
        "(e.g. the 64-px baseline; its stored test figures, no new evaluation)",
    )
    ap.add_argument(
        "--restore",
        type=Path,
        help="a committed classifier_recipes.json: recipes not trained under --out keep its figures",
    )
    args = ap.parse_args()

    table_of = recipes(args)
    unknown = set(args.only or []) - set(table_of)
    if unknown:
        sys.exit(f"unknown recipe(s) {sorted(unknown)}; known: {sorted(table_of)} (ssl_init needs --encoder)")
    root = Path(args.out)
    committed = json.loads(args.restore.read_text()) if args.restore else None  # before we save over it
    for name in [n for n in table_of if not args.only or n in args.only]:
        for seed in args.seeds:
            folder = root / name / f"s{seed}"
            overrides = [*base(args), *table_of[name], f"seed={seed}"]
            train_and_test(folder, overrides, transductive=not args.no_transductive)
            print_run(name, read_run(folder))
        # after every recipe, so an interrupted study keeps what it measured
        runs = finished_runs(root, list(table_of))
        restored = restore_study(committed, str(args.restore), settings(args), runs) if committed else None
        extra = ("ece", "ece_after_temperature", "specificity_at_val_target", "sensitivity_at_val_target")
        extra += ("val_log_loss",)
        baseline_records = restored["baseline_records"] if restored else None
        table = summarise(runs, root, lambda n: table_of[n], extra=extra, restored_baseline=baseline_records)
        ensembles = {} if args.no_ensembles else seed_ensembles(root, runs, args.seeds)
        ensemble_entries = ensemble_table(root, ensembles)
        flat = records(runs | ensembles)
        if restored:
            table = restored["table"] | table
            add_holm(table)  # one family: the restored recipes' differences and the new ones
            ensemble_entries = restored["ensembles"] | ensemble_entries
            flat = restored["records"] + flat
        selection = select_on_val(table, args.select_by)  # among trained recipes; ensembles are reported beside
        selection["test_evaluations"] += len(ensemble_entries)
        result = {"args": vars(args) | {"restore": str(args.restore) if args.restore else None}}
        result |= {"records": flat, "table": table, **selection, "ensembles": ensemble_entries}
        if restored:
            result["restored_from"] = restored["info"]
        if args.reference:
            result["vs_reference"] = against_reference(args.reference, runs.get(selection["selected"], []))
        save(args.name, result)
    print_table(table | result["ensembles"])


def against_reference(reference: str, rows: list[dict]) -> dict:
    """The selected recipe's test ROC-AUC and accuracy minus a committed study's recipe, paired by seed (seeds both
    have), with the seed-aware interval: what the selected recipe costs or gains against it."""
    from pneumogan.pipeline.compare import interval_over_seeds

    path, recipe = reference.rsplit(":", 1)
    theirs = {
        r["seed"]: r
        for r in json.loads(Path(path).read_text())["records"]
        if r["recipe"] == recipe and not r.get("transductive") and r.get("seed") is not None
    }
    paired = [r for r in rows if r["seed"] in theirs]
    out: dict = {"reference": reference, "seeds": [r["seed"] for r in paired]}
    for m in ("roc_auc", "accuracy"):
        out[m] = interval_over_seeds([r[m] - theirs[r["seed"]][m] for r in paired], m)
    return out


def settings(args: argparse.Namespace) -> dict:
    """The arguments that define a run; a restored study must share them."""
    return {k: getattr(args, k) for k in ("data", "arch", "size", "epochs", "seeds", "set")}


if __name__ == "__main__":
    main()
