"""GAN convergence study: every family at the same CPU-time budget, at 10 % and 100 % of the real data.

Each cell (variant × fraction) trains at 64 px for --minutes of CPU time (the step count comes from a timed
probe and is fixed in the cell's plan, so a resumed cell trains the same run). Along the way the generator is
copied at --snapshots evenly spaced steps; each snapshot is scored per class against the **full** real
training split of the class (whatever fraction the GAN saw), with equal numbers of real and synthetic images,
in two feature spaces: the self-supervised encoder's (the headline: `bench_gan_metric_sanity.py` showed it
rises monotonically with every degradation) and a real-trained classifier's. At the end of a cell, three
classifiers are trained on synthetic images only (TSTR) and scored on val (for choosing) and test (for
reporting). dcgan is unconditional: it trains one model per class, each with half the budget, and its
snapshots pair the two models at the same share of their budgets.

Resumable: a killed study continues where it stopped (finished cells, snapshots, metrics and TSTR runs are
never redone). Results are written after every step of work, labelled `"status": "partial"` until every cell
is finished.

Usage: python -u benchmarks/bench_gan_study.py --encoder runs/ssl64 --reference runs/recipes/baseline/s0 \
           --out runs/gan_study [--minutes 10] [--variants ...] [--fractions 0.1 1.0]
       python -u benchmarks/bench_gan_study.py ... --quick   (a few minutes; checks the machinery)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PLAIN_GAN, SHARED_DATA, Memoised, machine, result_path, tstr_run

from pneumogan.config import load_config
from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.device import resolve_device
from pneumogan.evaluate.gan_metrics import FeatureExtractor, compare
from pneumogan.evaluate.grids import to_uint8
from pneumogan.gan.checkpoint import load_generator
from pneumogan.gan.data import training_images
from pneumogan.gan.sample import SampleSpec, generate, latent_seed, write_synthetic_set
from pneumogan.gan.train import train_gan
from pneumogan.layout import CLASSIFIER_WEIGHTS, DISCRIMINATOR_WEIGHTS, GENERATOR_WEIGHTS, META, grid_files
from pneumogan.runs import atomic_write_json, git_commit

HEADLINE_SPACE = "ssl_encoder"
# variant name → (gan.family, overrides). "stable": the defaults (spectral norm, hinge, EMA, DiffAugment).
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "fastgan/stable": ("fastgan", []),
    "cgan/stable": ("cgan", []),
    "dcgan/plain": ("dcgan", PLAIN_GAN),
    "acgan/stable": ("acgan", []),
    "dcgan/stable": ("dcgan", []),
    "fastgan/ada": ("fastgan", ["gan.ada_target=0.6"]),
    # the two fixes of the cGAN's collapse found by bench_gan_collapse.py at 32 px
    "cgan/cbn": ("cgan", ["gan.g_conditioning=cbn"]),
    "cgan/mode_seeking_0.01": ("cgan", ["gan.mode_seeking=0.01"]),
}
# variants that train their base variant's step plan at the same fraction instead of probing their own: a
# change to one network compared with it at equal work (the probe's reading varies up to 2× between machines)
PLAN_FROM: dict[str, str] = {
    "cgan/cbn": "cgan/stable",
    "cgan/mode_seeking_0.01": "cgan/stable",
}
SIZE = 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--encoder", required=True, help="an `ssl pretrain` folder: the headline feature space")
    ap.add_argument("--reference", required=True, help="a real-trained classifier checkpoint: the second space")
    ap.add_argument("--out", default="runs/gan_study")
    ap.add_argument("--minutes", type=float, default=10.0, help="CPU-time budget of every cell's training")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.1, 1.0])
    ap.add_argument("--snapshots", type=int, default=5, help="metric snapshots over training")
    ap.add_argument("--n", type=int, default=500, help="synthetic (and real) images per class for the metrics")
    ap.add_argument("--tstr-per-class", type=int, default=1000, help="synthetic images per class for TSTR")
    ap.add_argument("--tstr-seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--tstr-epochs", type=int, default=4)
    ap.add_argument("--set", nargs="*", default=[], help="GAN overrides for every variant")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: checks the machinery in minutes")
    ap.add_argument("--json", default=str(result_path("gan_study/gan_study")))
    ap.add_argument(
        "--restore",
        help="a study JSON written earlier (usually the committed --json): its finished cells whose folders are "
        "missing here are restored from it instead of retrained — when the settings and feature spaces match",
    )
    args = ap.parse_args()
    if args.quick:
        args.minutes, args.snapshots, args.n, args.tstr_per_class = 0.5, 2, 64, 64
        args.tstr_seeds, args.tstr_epochs = args.tstr_seeds[:1], 1
    root = Path(args.out)
    spaces = FeatureSpaces(args.encoder, args.reference, args.data)
    cells = [(v, f) for f in args.fractions for v in args.variants]  # 10 % first: the setting that matters
    if args.restore:
        for name in restore_cells(json.loads(Path(args.restore).read_text()), root, cells, args, spaces.info):
            print(f"--restore {args.restore}: {name}", flush=True)
    for variant, fraction in cells:
        cell = Cell(root, variant, fraction, args)
        if cell.finished():
            continue
        cell.train()
        cell.score(spaces)
        cell.tstr()
        write_results(root, cells, args, spaces)
    write_results(root, cells, args, spaces)


class FeatureSpaces:
    """The two feature spaces and the real images of each class (the full training split), features cached."""

    def __init__(self, encoder: str, reference: str, data: str) -> None:
        from pneumogan.classify.checkpoint import load_checkpoint
        from pneumogan.gan.feature_spaces import encoder_extractor

        device = resolve_device("auto")
        ssl, info = encoder_extractor(encoder, device)
        model, meta = load_checkpoint(reference, device)
        pre = meta["preprocessing"]
        classifier = FeatureExtractor(model, pre["mean"], pre["std"], pre["size"], device)
        self.extractors = {"ssl_encoder": Memoised(ssl), "classifier": Memoised(classifier)}
        weights = Path(reference) / CLASSIFIER_WEIGHTS
        self.info = {
            "ssl_encoder": info,
            "classifier": {"space": "classifier", "path": str(Path(reference)), "weights_sha256": sha256(weights)},
        }
        cfg = load_config("quick", [f"data.source={data}", f"data.size={SIZE}", "gan.family=cgan"])
        images, labels, names = training_images(cfg)  # the full training split, both classes
        real = to_uint8(images)
        self.real = {name: real[labels.numpy() == c] for c, name in enumerate(names)}


class Cell:
    """One variant at one data fraction: its training plan, snapshots, metrics and TSTR runs in one folder."""

    def __init__(self, root: Path, variant: str, fraction: float, args) -> None:
        self.variant, self.fraction, self.args = variant, fraction, args
        self.family, overrides = VARIANTS[variant]
        self.dir = root / variant.replace("/", "_") / f"f{fraction:g}"  # made by the first write into it
        self.base = [
            f"data.source={args.data}",
            f"data.size={SIZE}",
            f"data.train_fraction={fraction}",
            f"gan.family={self.family}",
            *overrides,
            *args.set,
        ]
        # dcgan: one unconditional model per class, each with half the budget
        self.models = list(BINARY_CLASSES) if self.family == "dcgan" else ["all"]
        self.state_file = self.dir / "cell.json"
        self.state: dict[str, Any] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def save(self) -> None:
        atomic_write_json(self.state_file, self.state)

    def overrides(self, model: str, steps: int) -> list[str]:
        target = [f"gan.target_class={model}"] if model != "all" else []
        every = max(1, -(-steps // self.args.snapshots))
        return [*self.base, *target, f"gan.steps={steps}", f"gan.checkpoint_every={every}", f"gan.sample_every={every}"]

    def train(self) -> None:
        if "plan" not in self.state and self.variant in PLAN_FROM:
            self.state["plan"] = base_plan(self)
            self.save()
        plan = self.state.setdefault("plan", {})
        budget_s = self.args.minutes * 60 / len(self.models)
        for model in self.models:
            if model not in plan:  # the step count is fixed once, so a resumed cell trains the same run
                per_step = probe_seconds_per_step(self, model)
                plan[model] = {"steps": max(self.args.snapshots, int(budget_s / per_step)), "probe_s": per_step}
                self.save()
            self.train_model(model, plan[model]["steps"])

    def train_model(self, model: str, steps: int) -> None:
        walls = self.state.setdefault("wall_s", {}).setdefault(model, {})  # step → CPU seconds spent to reach it
        if str(steps) in walls:
            return
        out = self.dir / "gan" / model
        cfg = load_config("quick", self.overrides(model, steps))
        spent = max((w for w in walls.values()), default=0.0)  # resumes from the last snapshot
        clock = {"start": time.perf_counter()}

        def on_checkpoint(step: int) -> None:
            walls[str(step)] = spent + time.perf_counter() - clock["start"]
            paused = time.perf_counter()
            snap = self.dir / "snapshots" / model / f"step_{step:06d}"
            snap.mkdir(parents=True, exist_ok=True)
            for name in (GENERATOR_WEIGHTS, DISCRIMINATOR_WEIGHTS, META):
                shutil.copy2(out / name, snap / name)
            self.save()
            clock["start"] += time.perf_counter() - paused  # copying is not training time

        print(f"[{self.variant} f={self.fraction:g}] training {model}: {steps} steps", flush=True)
        train_gan(cfg, out, resume=True, log=lambda m: print(f"  {m}", flush=True), on_checkpoint=on_checkpoint)

    def snapshot_steps(self, model: str) -> list[int]:
        return sorted(int(s) for s in self.state["wall_s"][model])

    def score(self, spaces: FeatureSpaces) -> None:
        """Metrics of every snapshot, per class and feature space (kept in the cell state: never recomputed)."""
        records = self.state.setdefault("snapshots", [])
        done = {(r["snapshot"], r["space"], r["class"]) for r in records}
        device = resolve_device("auto")
        n_snap = len(self.snapshot_steps(self.models[0]))
        for k in range(n_snap):
            steps = {m: self.snapshot_steps(m)[k] for m in self.models}
            kimg = sum(steps.values()) * self.batch_size() / 1000
            wall = sum(self.state["wall_s"][m][str(s)] for m, s in steps.items())
            for c, name in enumerate(BINARY_CLASSES):
                if all((k, space, name) in done for space in spaces.extractors):
                    continue
                model = name if self.family == "dcgan" else "all"
                g, _ = load_generator(self.dir / "snapshots" / model / f"step_{steps[model]:06d}", device)
                seeds = [latent_seed(10_000, c, i) for i in range(self.args.n)]
                fake = np.concatenate([generate(g, c, seeds[i : i + 128], device) for i in range(0, len(seeds), 128)])
                for space, extractor in spaces.extractors.items():
                    res = compare(spaces.real[name], fake, extractor, seed=0)
                    records.append(
                        {
                            **self.key(),
                            "space": space,
                            "snapshot": k,
                            "step": steps[model],
                            "kimg": kimg,
                            "wall_s": wall,
                            "class": name,
                            **{m: res[m] for m in ("fd", "kid", "precision", "recall", "near_copy_fraction")},
                            "n": res["n"],
                        }
                    )
                    print(f"  snapshot {k} {name} {space}: FD {res['fd']:.2f} KID {res['kid']:.4f}", flush=True)
                self.save()

    def batch_size(self) -> int:
        return load_config("quick", self.base).gan.batch_size

    def key(self) -> dict[str, Any]:
        return {"family": self.family, "variant": self.variant.split("/")[1], "fraction": self.fraction, "size": SIZE}

    def tstr(self) -> None:
        """Classifiers trained on synthetic images only, from the final generator(s); val for choosing."""

        runs = self.state.setdefault("tstr", {})
        synthetic = self.dir / "tstr_images"
        if not (synthetic / "manifest.csv").exists():
            shutil.rmtree(synthetic, ignore_errors=True)
            specs = []
            for c, name in enumerate(BINARY_CLASSES):
                model = name if self.family == "dcgan" else "all"
                final = self.dir / "snapshots" / model / f"step_{self.snapshot_steps(model)[-1]:06d}"
                specs.append(SampleSpec(final, name, self.args.tstr_per_class, seed_index=c))
            write_synthetic_set(specs, synthetic, seed=1)
        for seed in self.args.tstr_seeds:
            if str(seed) in runs:
                continue
            out = self.dir / "tstr" / f"s{seed}"
            args = (self.args.data, SIZE, synthetic, seed, self.args.tstr_epochs, out)
            runs[str(seed)] = tstr_run(*args)
            self.save()

    def finished(self) -> bool:
        return len(self.state.get("tstr", {})) >= len(self.args.tstr_seeds)

    def tstr_record(self) -> dict[str, Any] | None:
        runs = self.state.get("tstr", {})
        if not runs:
            return None
        seeds = sorted(runs, key=int)
        return {
            **self.key(),
            "seeds": [int(s) for s in seeds],
            "tstr_val_auc": [runs[s]["val_auc"] for s in seeds],
            "tstr_accuracy": [runs[s]["accuracy"] for s in seeds],
            "tstr_auc": [runs[s]["auc"] for s in seeds],
            "per_class_images": self.args.tstr_per_class,
            "epochs": self.args.tstr_epochs,
        }


def base_plan(cell: Cell) -> dict[str, Any]:
    """The step plan of the cell's base variant (PLAN_FROM) at the same fraction; that cell must be planned."""
    base = Cell(cell.dir.parents[1], PLAN_FROM[cell.variant], cell.fraction, cell.args)
    if "plan" not in base.state:
        raise SystemExit(
            f"{cell.variant} trains the step plan of {base.variant} at {cell.fraction:g}: "
            f"run (or --restore) that cell first"
        )
    key = f"{base.variant}@{cell.fraction:g}"
    return {model: {**p, "pinned_from": key} for model, p in base.state["plan"].items()}


def probe_seconds_per_step(cell: Cell, model: str) -> float:
    """Seconds per training step of this variant: a 12-step run minus a 2-step run (setup cancels out)."""
    times = {}
    for steps in (2, 12):
        probe = cell.dir / "probe" / f"{model}-{steps}"
        shutil.rmtree(probe, ignore_errors=True)
        cfg = load_config("quick", [*cell.overrides(model, steps), f"gan.checkpoint_every={steps}"])
        start = time.perf_counter()
        train_gan(cfg, probe, resume=False, log=lambda *_: None)
        times[steps] = time.perf_counter() - start
    shutil.rmtree(cell.dir / "probe", ignore_errors=True)
    return max(1e-3, (times[12] - times[2]) / 10)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# what a restored cell must share with this study: its numbers would not be comparable otherwise
SPACE_HASHES = {"ssl_encoder": "encoder_sha256", "classifier": "weights_sha256"}


def restore_cells(
    previous: dict[str, Any], root: Path, cells: list[tuple[str, float]], args, spaces: dict[str, Any]
) -> list[str]:
    """Give finished cells of an earlier study back their state (plan, snapshot metrics, TSTR runs) when their
    folders are missing here — a study continues on a fresh machine without retraining them. Refuses (an
    error) when the budget, the metric sizes, the TSTR settings or a feature space's weights differ; a space
    whose hash the earlier study did not record is accepted with a printed warning."""
    settings = {
        "budget_minutes_per_cell": args.minutes,
        "metrics_n_per_class": args.n,
        "size": SIZE,
    }
    for key, value in settings.items():
        if previous.get(key) != value:
            raise SystemExit(f"--restore: the earlier study has {key}={previous.get(key)}, this one {value}")
    for space, field_name in SPACE_HASHES.items():
        recorded = previous.get("spaces", {}).get(space, {}).get(field_name)
        if recorded is None:
            print(
                f"warning: the earlier study recorded no hash of its {space} space; restoring on your word that "
                f"it is {spaces[space]['path']}",
                flush=True,
            )
        elif recorded != spaces[space][field_name]:
            raise SystemExit(f"--restore: the {space} space differs from the earlier study's ({recorded[:12]}…)")
    restored = []
    for variant, fraction in cells:
        cell = Cell(root, variant, fraction, args)
        if cell.state_file.exists():
            continue  # this machine's own state wins
        family, name = variant.split("/")
        if stale_plan(previous, variant, fraction):
            restored.append(f"{variant}@{fraction:g} not restored: it trained another plan than its base variant's")
            continue
        # a PLAN_FROM variant takes its base's plan when it trains (Cell.train), not its own other fraction's
        pinned = None if variant in PLAN_FROM else pinned_plan(previous, variant, fraction)

        def mine(r: dict[str, Any], family=family, name=name, fraction=fraction) -> bool:
            return r["family"] == family and r["variant"] == name and r["fraction"] == fraction

        tstr = next((t for t in previous.get("tstr", []) if mine(t)), None)
        if tstr is None or sorted(tstr["seeds"]) != sorted(args.tstr_seeds):
            if pinned:  # unfinished there: it trains here, for the steps its variant got there
                cell.state = {"plan": pinned}
                cell.save()
                restored.append(f"restored {variant}@{fraction:g} (plan only: {pinned_steps(pinned)} steps)")
            continue
        if (tstr["per_class_images"], tstr["epochs"]) != (args.tstr_per_class, args.tstr_epochs):
            raise SystemExit(f"--restore: {variant} at {fraction:g} had other TSTR settings")
        cell.state = {
            "plan": previous["plans"][f"{variant}@{fraction:g}"],
            "snapshots": [r for r in previous.get("snapshots", []) if mine(r)],
            "tstr": {
                str(s): {"val_auc": v, "accuracy": a, "auc": u}
                for s, v, a, u in zip(
                    tstr["seeds"], tstr["tstr_val_auc"], tstr["tstr_accuracy"], tstr["tstr_auc"], strict=True
                )
            },
            "restored_from": previous.get("commit"),
        }
        cell.save()
        restored.append(f"restored {variant}@{fraction:g}")
    return restored


def pinned_plan(previous: dict[str, Any], variant: str, fraction: float) -> dict[str, Any] | None:
    """The step plan of the same variant at another fraction of the earlier study. A cell's budget is CPU time
    on the machine that trains it, and a fresh machine's speed differs (here by up to 1.5× between sessions
    with the same CPU model), so a cell continued elsewhere trains its variant's step count from there instead
    of its own probe: the same network and batch, so the same work, and its 10 % and 100 % cells stay equal."""
    plans = previous.get("plans", {})
    for key, plan in sorted(plans.items()):
        other_variant, other_fraction = key.rsplit("@", 1)
        if plan and other_variant == variant and float(other_fraction) != fraction:
            return {model: {**p, "pinned_from": key} for model, p in plan.items()}
    return None


def stale_plan(previous: dict[str, Any], variant: str, fraction: float) -> bool:
    """Whether the earlier study trained this cell for other steps than its PLAN_FROM base (before pinning)."""
    if variant not in PLAN_FROM:
        return False
    plans = previous.get("plans", {})
    mine, base = plans.get(f"{variant}@{fraction:g}"), plans.get(f"{PLAN_FROM[variant]}@{fraction:g}")
    if not mine or not base:
        return False
    return {m: p["steps"] for m, p in mine.items()} != {m: p["steps"] for m, p in base.items()}


def pinned_steps(plan: dict[str, Any]) -> str:
    return " + ".join(str(p["steps"]) for p in plan.values())


def write_results(root: Path, cells: list[tuple[str, float]], args, spaces: FeatureSpaces) -> None:
    loaded = [Cell(root, v, f, args) for v, f in cells]
    snapshots = [r for c in loaded for r in c.state.get("snapshots", [])]
    tstr = [t for c in loaded if (t := c.tstr_record())]
    complete = all(c.finished() for c in loaded)
    payload = {
        "machine": machine(),
        "status": "complete" if complete else "partial",
        "command": " ".join(sys.argv),
        "commit": git_commit(Path(__file__).parent),
        "headline_space": HEADLINE_SPACE,
        "spaces": spaces.info,
        "selection_split": "val",
        "budget_minutes_per_cell": args.minutes,
        "size": SIZE,
        "metrics_n_per_class": args.n,
        "real_reference": "the full real training split of each class, whatever fraction the GAN saw",
        "variants": {v: {"family": VARIANTS[v][0], "overrides": VARIANTS[v][1] + args.set} for v in args.variants},
        "plans": {f"{c.variant}@{c.fraction:g}": c.state.get("plan") for c in loaded},
        # cells carried over from an earlier machine (--restore): the commit their numbers were measured on
        "restored_from": {
            f"{c.variant}@{c.fraction:g}": c.state["restored_from"] for c in loaded if "restored_from" in c.state
        },
        "snapshots": snapshots,
        "tstr": tstr,
        "summary": summarise(snapshots, tstr),
    }
    path = Path(args.json)
    atomic_write_json(path, payload)  # a study killed while writing leaves the previous file
    plot(snapshots, path.with_suffix(""))
    copy_final_grids(loaded, path.parent / "grids")
    print(f"saved {path} ({payload['status']})", flush=True)


def best_by_val(table: dict[str, Any], names: list[str]) -> str | None:
    """The variant among `names` with the highest mean TSTR val ROC-AUC."""
    return max(names, key=lambda n: table[n]["tstr_val_auc"]["mean"]) if names else None


def summarise(snapshots: list[dict], tstr: list[dict]) -> dict[str, Any]:
    """Per fraction and variant: final FD and recall per class in the headline space, FD's ratio to plain
    DCGAN's, and TSTR means. The choice is made on val (TSTR val AUC), never on test: `best_by_tstr_val_auc`
    among all variants, and `best_covering` among those whose final recall is above zero for every class —
    TSTR alone rewards a generator that collapses onto a few easy images per class."""
    from pneumogan.pipeline.compare import seed_summary

    out: dict[str, Any] = {}
    for fraction in sorted({r["fraction"] for r in snapshots}):
        rows = [r for r in snapshots if r["fraction"] == fraction and r["space"] == HEADLINE_SPACE]
        table: dict[str, Any] = {}
        for name in sorted({f"{r['family']}/{r['variant']}" for r in rows}):
            mine = [r for r in rows if f"{r['family']}/{r['variant']}" == name]
            last = max(r["snapshot"] for r in mine)
            final = [r for r in mine if r["snapshot"] == last]
            table[name] = {
                "final_fd": {r["class"]: r["fd"] for r in final},
                "final_kimg": max(r["kimg"] for r in mine),
                "final_near_copy": {r["class"]: r["near_copy_fraction"] for r in final},
                "final_recall": {r["class"]: r["recall"] for r in final},
            }
            t = next((t for t in tstr if t["fraction"] == fraction and f"{t['family']}/{t['variant']}" == name), None)
            if t:
                table[name]["tstr_val_auc"] = seed_summary(t["tstr_val_auc"])
                table[name]["tstr_accuracy"] = seed_summary(t["tstr_accuracy"])
                table[name]["tstr_auc"] = seed_summary(t["tstr_auc"])
        plain = table.get("dcgan/plain", {}).get("final_fd")
        if plain:
            for row in table.values():
                fd = row["final_fd"]
                row["fd_ratio_to_plain_dcgan"] = {c: fd[c] / plain[c] for c in plain if c in fd}
        chosen = [n for n in table if "tstr_val_auc" in table[n]]
        covering = [n for n in chosen if all(v > 0 for v in table[n]["final_recall"].values())]
        out[f"{fraction:g}"] = {
            "variants": table,
            "best_by_tstr_val_auc": best_by_val(table, chosen),
            "best_covering": best_by_val(table, covering),
        }
    return out


def plot(snapshots: list[dict], stem: Path) -> None:
    """FD (headline space) against kimg and against CPU time, one panel per fraction × class."""
    if not snapshots:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in snapshots if r["space"] == HEADLINE_SPACE]
    fractions = sorted({r["fraction"] for r in rows})
    for axis, label in (("kimg", "thousands of real images shown"), ("wall_s", "CPU seconds of training")):
        fig, axes = plt.subplots(len(fractions), 2, figsize=(10, 3.6 * len(fractions)), squeeze=False)
        for i, fraction in enumerate(fractions):
            for j, name in enumerate(BINARY_CLASSES):
                ax = axes[i][j]
                mine = [r for r in rows if r["fraction"] == fraction and r["class"] == name]
                for variant in sorted({f"{r['family']}/{r['variant']}" for r in mine}):
                    pts = sorted((r[axis], r["fd"]) for r in mine if f"{r['family']}/{r['variant']}" == variant)
                    ax.plot(*zip(*pts, strict=True), marker="o", label=variant)
                ax.set_title(f"{name}, {fraction:.0%} of the real data")
                ax.set_xlabel(label)
                ax.set_ylabel(f"FD ({HEADLINE_SPACE} space)")
                ax.set_yscale("log")
                ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(f"{stem}_fd_vs_{axis}.png", dpi=80)
        plt.close(fig)


def copy_final_grids(cells: list[Cell], folder: Path) -> None:
    """The last sample grid of every model, for the README and the eye."""
    folder.mkdir(parents=True, exist_ok=True)
    for cell in cells:
        for model in cell.models:
            grids = grid_files(cell.dir / "gan" / model)
            if grids and cell.state.get("snapshots"):
                name = f"{cell.variant.replace('/', '_')}_f{cell.fraction:g}" + (f"_{model}" if model != "all" else "")
                shutil.copy2(grids[-1], folder / f"{name}.png")


if __name__ == "__main__":
    main()
