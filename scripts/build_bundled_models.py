"""Build the models that ship inside the package (`src/pneumogan/bundled/`), reproducibly.

    python scripts/build_bundled_models.py                     # train both from the recipes below (~35 min, 2 cores)
    python scripts/build_bundled_models.py --classifier-from DIR --generator-from DIR   # package trained ones
    python scripts/build_bundled_models.py --generator-only    # (re)build the generator, keep the classifier
    python scripts/build_bundled_models.py --ood-only          # refit the shipped classifier's OOD check

The classifier: trained on the real training split (patient-grouped val picks its epoch and threshold and fits
its out-of-distribution check), evaluated once on the official test split; its weights, meta.json, OOD check
and test metrics are copied in. The generator, for the UI's synthetic tab: one small DCGAN per class combined
into one class-conditional generator (`pneumogan gan combine`; single-network conditional GANs collapse to about
one image per class here, `benchmarks/bench_gan_collapse.py`), scored against the real training images (FD in
the bundled classifier's feature space, share of samples the bundled classifier assigns to their conditioning
class, near-copies). `MODEL_CARD.md` records each
model's recipe, metrics, command, commit, CPU and wall time (kept per model in `build.json`, so rebuilding one
keeps the other's facts) and the data licence. Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pneumogan.runs import git_commit

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "chest_xray_224").resolve()
LIMIT_BYTES = 10 * 1024 * 1024

# The recipes (on top of the `quick` config). The classifier is the recipe study's baseline at 64 px; the
# generator two 32 px DCGANs, one per class (about 15 minutes on a 2-core CPU; 64 px would take an hour), narrow
# enough (24 channels, 64 latent dimensions: 1.7 MB each) to fit beside the classifier in the 10 MB package.
CLASSIFIER_RECIPE = ["data.size=64", "classify.epochs=8", "seed=0"]
GENERATOR_CLASSES = ["NORMAL", "PNEUMONIA"]
GENERATOR_RECIPE = [
    "data.size=32",
    "gan.family=dcgan",
    "gan.z_dim=64",
    "gan.g_channels=24",
    "gan.d_channels=32",
    "gan.batch_size=32",
    "gan.steps=2000",
    "gan.sample_every=500",
    "gan.checkpoint_every=250",
    "seed=0",
]
CLASSIFIER_FILES = ["model.safetensors", "meta.json", "ood.safetensors", "ood.json"]
GENERATOR_FILES = ["generator.safetensors", "meta.json"]
GENERATOR_METRICS = "metrics.json"  # evaluate_gan's figures for the card (500 samples per class)


def train_classifier(data: Path, work: Path, overrides: list[str]) -> Path:
    from pneumogan.classify.train import train
    from pneumogan.config import load_config

    cfg = load_config("quick", [f"data.source={data}", *CLASSIFIER_RECIPE, *overrides])
    return train(cfg, work / "classifier")


def train_generator(data: Path, work: Path, overrides: list[str]) -> Path:
    """One DCGAN per class (each resumable), then the class-conditional generator made of them."""
    from pneumogan.config import load_config
    from pneumogan.gan.checkpoint import combine_generators
    from pneumogan.gan.train import train_gan

    members = []
    for name in GENERATOR_CLASSES:
        cfg = load_config("quick", [f"data.source={data}", *GENERATOR_RECIPE, f"gan.target_class={name}", *overrides])
        members.append(train_gan(cfg, work / "generator" / name))
    return combine_generators(members, work / "generator" / "combined")


def package_classifier(checkpoint: Path, target: Path) -> dict[str, Any]:
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.ood_fit import fit_checkpoint_ood
    from pneumogan.layout import EVAL_METRICS

    if checkpoint.resolve() == target.resolve():
        sys.exit("that is the shipped classifier itself: use --generator-only to keep it")
    fit_checkpoint_ood(checkpoint)  # always today's check, whatever the checkpoint carried
    metrics_file = checkpoint / "eval_test" / EVAL_METRICS
    if not metrics_file.is_file():  # the one test evaluation of this model
        evaluate_checkpoint(checkpoint, "test", checkpoint / "eval_test")
    shutil.rmtree(target, ignore_errors=True)
    (target / "eval_test").mkdir(parents=True)
    for name in CLASSIFIER_FILES:
        shutil.copy2(checkpoint / name, target / name)
    shutil.copy2(metrics_file, target / "eval_test" / EVAL_METRICS)
    return json.loads(metrics_file.read_text())


def package_generator(gan_dir: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in GENERATOR_FILES:
        shutil.copy2(gan_dir / name, target / name)


def score_generator(target: Path, reference: Path, work: Path) -> dict[str, Any]:
    """Score the packaged generator against the real training images with `reference` (the bundled classifier)
    as the feature space; writes and returns the metrics the card quotes."""
    from pneumogan.gan.evaluate import evaluate_gan

    metrics = evaluate_gan(target, n_per_class=500, reference=reference, out_dir=work, log=print)
    keep = ("fd", "kid", "precision", "recall", "near_copy_fraction", "class_fidelity", "n")
    summary = {c: {k: metrics[c][k] for k in keep if k in metrics[c]} for c in metrics["classes"]}
    summary = {"feature_space": "the bundled classifier's", "real_reference": metrics["real_reference"], **summary}
    (target / GENERATOR_METRICS).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def built_facts(args: argparse.Namespace, source: Path | None, why: str, started: float) -> dict[str, Any]:
    """How one model was built, for its section of the card."""
    from pneumogan.device import cpu_model

    return {
        "command": shlex.join(["python", "scripts/build_bundled_models.py", *sys.argv[1:]]),
        "commit": git_commit(REPO),
        "cpu_model": cpu_model(),
        "wall_s": time.perf_counter() - started,
        "source": "trained by this script" if source is None else str(source),
        "why": why,
    }


def how_built(facts: dict[str, Any]) -> list[str]:
    why = f"; {facts['why']}" if facts.get("why") else ""
    return [
        f"- source: {facts['source']}{why}",
        f"- built by `{facts['command']}` at commit {facts['commit']}, CPU {facts['cpu_model']}, "
        f"wall time {facts['wall_s'] / 60:.1f} min",
    ]


def model_card(
    metrics: dict[str, Any],
    classifier: dict[str, Any],
    generator: dict[str, Any] | None,
    generator_metrics: dict[str, Any] | None,
    build: dict[str, Any],
    total_bytes: int,
) -> str:
    from pneumogan.bundled import DATA_ATTRIBUTION
    from pneumogan.config import GateConfig
    from pneumogan.evaluate.generator_gate import gate_sentence, judge
    from pneumogan.serve.service import CARD_INTENDED_USE, CARD_LIMITATIONS, NOTICE, initialisation

    ci = metrics.get("ci", {})

    def pct(key: str) -> str:
        lo, hi = ci.get(key, [float("nan")] * 2)
        return f"{metrics[key] * 100:.1f} % [{lo * 100:.1f}, {hi * 100:.1f}]"

    c = classifier["config"]
    lines = [
        "# The bundled models",
        "",
        f"> {NOTICE}",
        "",
        "## Classifier (`pneumogan serve`, `pneumogan predict bundled …`)",
        "",
        f"- architecture `{classifier['arch']}`, {classifier['image_size']} px grayscale, "
        f"{initialisation(classifier)}, {c['classify']['epochs']} epochs, seed {c['seed']}; "
        f"best epoch {classifier.get('epoch')} and "
        f"decision threshold {classifier['threshold']:.3f} chosen on the patient-grouped validation split",
        f"- test split ({metrics['n']} images, evaluated once; 95 % bootstrap CIs over test images): accuracy "
        f"{pct('accuracy')}, ROC-AUC {pct('roc_auc')}, sensitivity {pct('recall')}, specificity {pct('specificity')}",
        f"- input geometry `fit={classifier['preprocessing'].get('fit', 'crop')}`: every upload is made square "
        "the way its training images were before it is resized (the Kermany 224 px copies were squeezed from "
        "landscape originals, so full-resolution X-rays are squeezed too)",
        *operating_point_lines(classifier, metrics),
        "- an out-of-distribution check (an outlier head on the network's features and image statistics, "
        "thresholds on varied validation images) warns on images that do not look like the training X-rays",
        *how_built(build["classifier"]),
    ]
    if "ood" in build:
        lines.append(
            f"- its out-of-distribution check refitted by `{build['ood']['command']}` at commit "
            f"{build['ood']['commit']}, CPU {build['ood']['cpu_model']}"
        )
    if generator is not None:
        g = generator["config"]["gan"]
        lines += [
            "",
            "## Generator (the UI's synthetic tab)",
            "",
            f"- `{g['family']}` at {generator['config']['data']['size']} px, {g['g_channels']} channels, "
            f"latent size {g['z_dim']}, {generator.get('step', g['steps'])} steps of batch {g['batch_size']}; "
            + (
                f"one network per class ({', '.join(generator['class_names'])}), combined by `pneumogan gan combine` "
                "into one class-conditional generator"
                if generator["model"].get("per_class")
                else "both classes in one model"
            )
            + "; trained on the real training split only",
        ]
        if generator_metrics:
            lines.append(
                f"- against the real training images ({generator_metrics['real_reference']}), in "
                f"{generator_metrics['feature_space']} feature space — not comparable to Inception-FID:"
            )
            for name in generator["class_names"]:
                m = generator_metrics[name]
                lines.append(
                    f"  - {name}: FD {m['fd']:.1f}, recall {m['recall']:.2f}, precision {m['precision']:.2f}, "
                    f"{m['class_fidelity'] * 100:.0f} % of samples classified as {name} by the bundled classifier, "
                    f"near-copies {m['near_copy_fraction'] * 100:.1f} % ({m['n']} samples)"
                )
            gate = judge(generator_metrics, GateConfig())
            lines.append(f"- quality gate (`pneumogan run`'s default): {gate_sentence(gate)}")
        lines += how_built(build["generator"])
    lines += [
        "",
        f"Size in the package: {total_bytes / 1e6:.1f} MB.",
        "",
        f"**Intended use**: {CARD_INTENDED_USE}",
        "",
        f"**Limitations**: {CARD_LIMITATIONS}",
        "",
        f"**Data licence**: {DATA_ATTRIBUTION}",
        "",
    ]
    return "\n".join(lines)


def operating_point_lines(classifier: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """The val-chosen operating points, with the test figures there apart."""
    points = classifier.get("operating_points") or {}
    if not points:
        return []
    lines = ["- operating points (`predict --operating-point`, the API's `operating_point`, the UI's selector):"]
    at_test = metrics.get("operating_points", {})
    for name, p in points.items():
        test = at_test.get(name)
        seen = f"; test: sensitivity {test['recall']:.1%}, specificity {test['specificity']:.1%}" if test else ""
        lines.append(
            f"  - `{name}`: threshold {p['threshold']:.4f}, chosen on validation: sensitivity "
            f"{p['val_sensitivity']:.1%}, specificity {p['val_specificity']:.1%}{seen}"
        )
    return lines


def refit_shipped_ood(args: argparse.Namespace, build: dict[str, Any]) -> None:
    """Refit the shipped classifier's OOD check in place (weights, threshold and test metrics untouched) and
    rewrite the card; the generator and its facts stay."""
    from pneumogan.bundled import BUILD, CLASSIFIER, classifier_path
    from pneumogan.classify.ood_fit import fit_checkpoint_ood

    classifier_path()  # a clear error when there is no classifier
    if "classifier" not in build:
        sys.exit(f"--ood-only: {BUILD} does not say how the shipped classifier was built")
    started = time.perf_counter()
    fit_checkpoint_ood(CLASSIFIER, data_source=str(args.data))
    build["ood"] = built_facts(args, CLASSIFIER.relative_to(REPO), "", started)
    BUILD.write_text(json.dumps(build, indent=2) + "\n")
    write_card(build)
    print(f"OOD check refitted in {CLASSIFIER}")


def refresh_shipped_metadata(args: argparse.Namespace, build: dict[str, Any]) -> None:
    """Correct the shipped models' metadata without touching their weights: the geometry of their inputs
    (`--fit`; the Kermany 224 px copies were squeezed from landscape originals, so serving must squeeze) and the
    classifier's val-chosen operating points, read out once more on test beside its unchanged test figures."""
    import tempfile

    from pneumogan.bundled import BUILD, CLASSIFIER, GENERATOR, ROOT, classifier_path
    from pneumogan.classify.evaluate import add_operating_points, evaluate_checkpoint
    from pneumogan.data.geometry import recipe
    from pneumogan.layout import EVAL_METRICS, META

    classifier_path()
    started = time.perf_counter()
    for folder in (CLASSIFIER, GENERATOR):
        if not (folder / META).is_file():
            continue
        meta = json.loads((folder / META).read_text())
        pre = meta.setdefault("preprocessing", {"size": meta.get("model", {}).get("size")})
        pre["fit"] = args.fit
        if "recipe" in pre:
            pre["recipe"] = recipe(args.fit)
        meta["config"]["data"]["fit"] = args.fit
        (folder / META).write_text(json.dumps(meta, indent=2) + "\n")
    add_operating_points(CLASSIFIER, data_source=str(args.data))
    shipped = json.loads((CLASSIFIER / "eval_test" / EVAL_METRICS).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        fresh = evaluate_checkpoint(CLASSIFIER, "test", out_dir=tmp, data_source=str(args.data), precision="fp32")
    for key in ("roc_auc", "accuracy", "recall", "specificity", "n"):
        if fresh[key] != shipped[key]:  # the weights did not change, so neither may these
            sys.exit(f"test {key} changed from {shipped[key]} to {fresh[key]}: not a metadata-only change")
    shipped["operating_points"] = fresh["operating_points"]
    (CLASSIFIER / "eval_test" / EVAL_METRICS).write_text(json.dumps(shipped, indent=2) + "\n")
    build["metadata"] = built_facts(args, CLASSIFIER.relative_to(REPO), f"fit={args.fit}; operating points", started)
    BUILD.write_text(json.dumps(build, indent=2) + "\n")
    write_card(build)
    print(f"metadata refreshed in {ROOT} (fit={args.fit}, operating points)")


def write_card(build: dict[str, Any]) -> None:
    """MODEL_CARD.md from the shipped models' files as they are (nothing trained, evaluated or sampled)."""
    from pneumogan.bundled import CLASSIFIER, GENERATOR, MODEL_CARD, ROOT
    from pneumogan.classify.checkpoint import read_meta
    from pneumogan.layout import EVAL_METRICS, META

    metrics = json.loads((CLASSIFIER / "eval_test" / EVAL_METRICS).read_text())
    generator_meta = generator_metrics = None
    if GENERATOR.is_dir():
        generator_meta = json.loads((GENERATOR / META).read_text())
        generator_metrics = json.loads((GENERATOR / GENERATOR_METRICS).read_text())
    total = size_of(ROOT / "classifier") + (size_of(GENERATOR) if GENERATOR.is_dir() else 0)
    MODEL_CARD.write_text(model_card(metrics, read_meta(CLASSIFIER), generator_meta, generator_metrics, build, total))
    print(f"model card {MODEL_CARD}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Kermany folder (Kaggle layout)")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "bundled", help="where training runs go")
    ap.add_argument("--classifier-from", type=Path, help="package this trained checkpoint instead of training")
    ap.add_argument("--generator-from", type=Path, help="package this GAN folder instead of training")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--no-generator", action="store_true", help="ship only the classifier")
    which.add_argument("--generator-only", action="store_true", help="keep the shipped classifier and its facts")
    which.add_argument("--ood-only", action="store_true", help="refit the shipped classifier's OOD check only")
    which.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from the shipped files")
    which.add_argument(
        "--metadata-only",
        action="store_true",
        help="correct the shipped models' geometry (--fit) and add the classifier's operating points; weights kept",
    )
    ap.add_argument("--fit", default="squeeze", choices=["crop", "squeeze", "pad"], help="with --metadata-only")
    ap.add_argument("--override", action="append", default=[], help="extra config overrides for both trainings")
    ap.add_argument("--why", default="", help="a sentence for the model card: why this classifier was chosen")
    args = ap.parse_args()

    from pneumogan.bundled import BUILD, CLASSIFIER, GENERATOR, MODEL_CARD, ROOT, classifier_path
    from pneumogan.classify.checkpoint import read_meta
    from pneumogan.layout import EVAL_METRICS

    build = json.loads(BUILD.read_text()) if BUILD.is_file() else {}
    if args.ood_only:
        refit_shipped_ood(args, build)
        return
    if args.metadata_only:
        refresh_shipped_metadata(args, build)
        return
    if args.card_only:
        write_card(build)
        return
    if args.generator_only:
        classifier_path()  # a clear error when there is no classifier to keep
        if "classifier" not in build:
            sys.exit(f"--generator-only: {BUILD} does not say how the shipped classifier was built")
        metrics = json.loads((CLASSIFIER / "eval_test" / EVAL_METRICS).read_text())
    else:
        started = time.perf_counter()
        checkpoint = args.classifier_from or train_classifier(args.data, args.work, args.override)
        metrics = package_classifier(checkpoint, CLASSIFIER)
        build["classifier"] = built_facts(args, args.classifier_from, args.why, started)
        build.pop("ood", None)  # packaging fitted today's check
    generator_meta = generator_metrics = None
    if args.no_generator:
        shutil.rmtree(GENERATOR, ignore_errors=True)
        build.pop("generator", None)
    else:
        started = time.perf_counter()
        gan_dir = args.generator_from or train_generator(args.data, args.work, args.override)
        package_generator(gan_dir, GENERATOR)
    total = size_of(ROOT / "classifier") + (size_of(GENERATOR) if GENERATOR.is_dir() else 0)
    if total > LIMIT_BYTES:
        if not args.no_generator:
            shutil.rmtree(GENERATOR)  # nothing unshipped stays in the package
        sys.exit(f"the bundled models take {total / 1e6:.1f} MB, over the 10 MB limit: choose smaller ones")
    if not args.no_generator:
        generator_metrics = score_generator(GENERATOR, CLASSIFIER, gan_dir / "bundled_eval")
        generator_meta = json.loads((GENERATOR / "meta.json").read_text())
        build["generator"] = built_facts(args, args.generator_from, "", started)
    BUILD.write_text(json.dumps(build, indent=2) + "\n")
    card = model_card(metrics, read_meta(CLASSIFIER), generator_meta, generator_metrics, build, total)
    MODEL_CARD.write_text(card)
    print(f"bundled models written to {ROOT} ({total / 1e6:.1f} MB); model card {MODEL_CARD}")


if __name__ == "__main__":
    main()
