"""Generator study to a plateau: GANs and the diffusion model at 32 px, at 10 % and 100 % of the real data.

Each cell (contender × fraction × generator seed) trains for up to --cpu-hours of measured CPU time
(`time.process_time`, all threads: on 2 cores one wall-hour is about 2 CPU-hours) or until its FD plateaus,
whichever comes first. A snapshot is taken every --every CPU-seconds (about 10 % of the budget); each is scored per
class against the class's **full** real training split (whatever fraction the generator saw), at n images per
side: FD, KID, precision, recall and near-copies in the self-supervised encoder's space (the headline) and in a
real-trained reference classifier's space, class fidelity (the share that classifier assigns to the conditioning
class), the real-vs-real FD floor at the same n, and the quality gate. Plateau: the last three snapshots' FD within
10 % of each other for every class (headline space), checked from the 4th snapshot on (an untrained generator's FD
is flat too); the cell then stops and says so. At the end, TSTR: three
classifiers trained on synthetic images only, val ROC-AUC for choosing, test for reporting (counted).

THE CHOICE RULE (written before any cell ran; training and val figures only): a contender is out if its final
snapshot fails the quality gate (class fidelity ≥ 0.90 and recall ≥ 0.10 for every class, headline space) at
either fraction. Among the rest, the finalist has the highest mean TSTR val ROC-AUC at 10 % (the fraction of the
primary comparison); within 0.005 of each other, the lower mean FD/floor ratio over classes and fractions wins.
Test figures are reported, never used to choose. If no contender passes the gate, there is no finalist.

Resumable per cell: snapshot metrics, TSTR runs and the cell's CPU clock live in `cell.json`; the generator's own
resume state continues training. The JSON is rewritten after every snapshot (`status: partial` until all done).

    python -u benchmarks/bench_generator_study.py --encoder runs/ssl32 --reference runs/ref32 \
        --contenders diffusion --fractions 0.1 [--cpu-hours 2] [--seeds 0]
    python -u benchmarks/bench_generator_study.py ... --quick      # minutes: checks the machinery
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from _common import SHARED_DATA, Memoised, machine, provenance, result_path, tstr_run

from pneumogan.config import GateConfig, load_config
from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.device import cpu_kind, resolve_device, resolve_precision
from pneumogan.evaluate.gan_metrics import FeatureExtractor, compare
from pneumogan.evaluate.generator_gate import judge
from pneumogan.evaluate.grids import save_grid
from pneumogan.gan.checkpoint import load_generator
from pneumogan.gan.sample import SampleSpec, generate, latent_seed, write_synthetic_set
from pneumogan.layout import GENERATOR_WEIGHTS, META
from pneumogan.runs import atomic_write_json

SIZE = 32
HEADLINE = "ssl_encoder"
PLATEAU_WINDOW, PLATEAU_TOLERANCE = 3, 0.10
# a generator that has not started learning has a flat FD too (noise scores the same every time): the plateau rule
# applies from this snapshot count on (40 % of the budget at the default spacing)
PLATEAU_FROM_SNAPSHOT = 4
# contender → (kind, overrides, one model per class?). The GANs are the previous study's best stabilised
# per-class DCGAN and the quick config's conditional GAN (mode-seeking 0.01, chosen by bench_quick_gan_choice.py).
CONTENDERS: dict[str, tuple[str, list[str], bool]] = {
    "diffusion": ("diffusion", [], False),
    "cgan_ms": ("gan", ["gan.family=cgan", "gan.mode_seeking=0.01", "gan.batch_size=32"], False),
    "dcgan": ("gan", ["gan.family=dcgan", "gan.batch_size=32"], True),
}
CHOICE_RULE = __doc__.split("THE CHOICE RULE")[1].split("\n\n")[0].strip(" (").replace("\n", " ")


class StopTraining(Exception):
    """Raised from the checkpoint callback: the budget is spent or FD has plateaued."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--encoder", required=True, help="an `ssl pretrain` folder at 32 px: the headline space")
    ap.add_argument("--reference", required=True, help="a real-trained 32 px classifier: class fidelity, 2nd space")
    ap.add_argument("--out", default="runs/generator_study")
    ap.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS))
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.1, 1.0])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="generator seeds")
    ap.add_argument("--cpu-hours", type=float, default=2.0, help="CPU-time budget of a cell (all threads)")
    ap.add_argument("--every", type=float, default=None, help="CPU seconds between snapshots (default 10 %%)")
    ap.add_argument("--n", type=int, default=1000, help="images per class and side for the metrics")
    ap.add_argument("--tstr-per-class", type=int, default=1000)
    ap.add_argument("--tstr-seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--tstr-epochs", type=int, default=6)
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every contender")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: checks the machinery in minutes")
    ap.add_argument("--json", default=str(result_path("generator_study/study")))
    args = ap.parse_args()
    if args.quick:
        args.cpu_hours, args.n, args.tstr_per_class, args.tstr_seeds, args.tstr_epochs = 0.02, 64, 64, [0], 1
    args.every = args.every or args.cpu_hours * 3600 / 10
    spaces = Spaces(args.encoder, args.reference, args.data)
    root = Path(args.out)
    cells = [Cell(root, c, f, s, args) for s in args.seeds for f in args.fractions for c in args.contenders]
    everything = study_cells(root, cells, args)  # the JSON reports every cell under --out, not just these

    for cell in cells:
        if not cell.finished():
            cell.run(spaces, lambda: write_results(everything, args, spaces))
            write_results(everything, args, spaces)
    write_results(everything, args, spaces)


def study_cells(root: Path, cells: list[Cell], args) -> list[Cell]:
    """The cells of this invocation and those an earlier invocation left under `root` (one cell at a time)."""
    known = {(c.contender, c.fraction, c.seed) for c in cells}
    found = list(cells)
    for state in sorted(root.glob("*/f*/s*/cell.json")):
        contender, fraction, seed = state.parts[-4], float(state.parts[-3][1:]), int(state.parts[-2][1:])
        if contender in CONTENDERS and (contender, fraction, seed) not in known:
            found.append(Cell(root, contender, fraction, seed, args))
    return found


class Spaces:
    """The headline (SSL encoder) and reference-classifier spaces and the real images of each class."""

    def __init__(self, encoder: str, reference: str, data: str) -> None:
        from pneumogan.classify.checkpoint import load_checkpoint
        from pneumogan.data.loading import load_splits
        from pneumogan.gan.feature_spaces import encoder_extractor

        device = resolve_device("auto")
        ssl, info = encoder_extractor(encoder, device)
        model, meta = load_checkpoint(reference, device)
        pre = meta["preprocessing"]
        self.classifier = FeatureExtractor(model, pre["mean"], pre["std"], pre["size"], device)
        self.threshold = meta["threshold"]
        self.extractors = {HEADLINE: Memoised(ssl), "classifier": Memoised(self.classifier)}  # reals featurised once
        import hashlib

        weights = (Path(reference) / "model.safetensors").read_bytes()
        self.info = {
            HEADLINE: info,
            "classifier": {
                "path": str(Path(reference).resolve()),
                "weights_sha256": hashlib.sha256(weights).hexdigest(),
                "val_roc_auc": meta["val_metrics"]["roc_auc"],
            },
        }
        cfg = load_config("quick", [f"data.source={data}", f"data.size={SIZE}"])
        train = load_splits(cfg).train  # the full real training split
        images = np.asarray(train.images)
        self.real = {name: images[train.labels == c] for c, name in enumerate(BINARY_CLASSES)}


class Cell:
    """One contender at one data fraction and generator seed: its training, snapshots, metrics and TSTR."""

    def __init__(self, root: Path, contender: str, fraction: float, seed: int, args) -> None:
        self.contender, self.fraction, self.seed, self.args = contender, fraction, seed, args
        self.kind, overrides, self.per_class = CONTENDERS[contender]
        self.dir = root / contender / f"f{fraction:g}" / f"s{seed}"
        self.base = [
            f"data.source={args.data}",
            f"data.size={SIZE}",
            f"data.train_fraction={fraction}",
            f"seed={seed}",
            *overrides,
            *args.set,
        ]
        self.models = list(BINARY_CLASSES) if self.per_class else ["all"]
        self.state_file = self.dir / "cell.json"
        self.state: dict[str, Any] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def save(self) -> None:
        atomic_write_json(self.state_file, self.state)

    def key(self) -> dict[str, Any]:
        return {"contender": self.contender, "kind": self.kind, "fraction": self.fraction, "seed": self.seed}

    def finished(self) -> bool:
        return len(self.state.get("tstr", {})) >= len(self.args.tstr_seeds)

    def run(self, spaces: Spaces, on_snapshot) -> None:
        for model in self.models:
            self.train(model, spaces, on_snapshot)
        self.tstr()

    # --- training with a CPU clock, snapshots and the plateau rule -------------------------------------------
    def train(self, model: str, spaces: Spaces, on_snapshot) -> None:
        done = self.state.setdefault("done", {})
        if model in done:
            return
        budget = self.args.cpu_hours * 3600 / len(self.models)  # per-class models share the cell's budget
        cpu = self.state.setdefault("cpu_s", {}).setdefault(model, {})  # snapshot step → CPU seconds to reach it
        wall = self.state.setdefault("wall_s", {}).setdefault(model, {})
        # the clock at the generator's last resume state, so that a killed cell resumes with the time it had spent
        resumed = self.state.setdefault("clock", {}).get(model, {"cpu": 0.0, "wall": 0.0})
        spent_cpu, spent_wall = resumed["cpu"], resumed["wall"]
        charge = self.charge(model, resumed)
        every = self.args.every / len(self.models)
        clock = {"cpu": time.process_time(), "wall": time.perf_counter(), "next": (len(cpu) + 1) * every}
        out = self.dir / "train" / model
        cfg = self.config(model)

        def on_checkpoint(step: int) -> None:
            used = spent_cpu + charge(step, time.process_time() - clock["cpu"])
            elapsed = spent_wall + time.perf_counter() - clock["wall"]
            self.state["clock"][model] = {"step": step, "cpu": used, "wall": elapsed}
            if used < clock["next"] and used < budget:
                self.save()  # not a snapshot yet: the resume state was written, and the clock with it
                return
            paused = (time.process_time(), time.perf_counter())
            cpu[str(step)], wall[str(step)] = used, elapsed
            snap = self.dir / "snapshots" / model / f"step_{step:07d}"
            snap.mkdir(parents=True, exist_ok=True)
            for name in (GENERATOR_WEIGHTS, META):
                shutil.copy2(out / name, snap / name)
            self.score(model, step, snap, spaces)
            plateau = self.plateau(model)
            self.save()
            on_snapshot()
            clock["next"] = (len(cpu) + 1) * every
            clock["cpu"] += time.process_time() - paused[0]  # scoring is not training time
            clock["wall"] += time.perf_counter() - paused[1]
            if plateau or used >= budget:
                done[model] = {"step": step, "reason": "plateau" if plateau else "budget", "cpu_s": used}
                self.save()
                raise StopTraining

        print(f"[{self.contender} f={self.fraction:g} s{self.seed}] training {model}", flush=True)
        self.check_resumable(cfg, out, resumed)
        with contextlib.suppress(StopTraining):
            self.trainer()(
                cfg, out, resume=True, log=lambda m: print(f"  {m}", flush=True), on_checkpoint=on_checkpoint
            )
        if model not in done:  # the step budget ran out before the CPU budget (should not happen: it is large)
            last = max(cpu, key=int)
            done[model] = {"step": int(last), "reason": "steps", "cpu_s": cpu[last]}
            self.save()

    def check_resumable(self, cfg, out: Path, resumed: dict[str, float]) -> None:
        """A cell that has trained must resume, never restart: a resume state written for another config (a new
        config key, say) stops the study here instead of discarding hours of training."""
        from pneumogan.config import DIFFUSION_SECTIONS, GAN_SECTIONS, config_hash
        from pneumogan.layout import GAN_STATE

        if not resumed.get("step"):
            return
        state = out / GAN_STATE
        sections = DIFFUSION_SECTIONS if self.kind == "diffusion" else GAN_SECTIONS
        saved = (
            torch.load(state, map_location="cpu", weights_only=False).get("fingerprint") if state.is_file() else None
        )
        if saved != config_hash(cfg, sections):
            raise SystemExit(
                f"{self.dir}: the cell trained to step {resumed['step']}, but its resume state "
                f"{'is missing' if saved is None else 'was written for another config'}; restore it (see "
                "docs/generator_study.md, 'Continuing a cell in another session') or make the config hash as it did"
            )

    def charge(self, model: str, resumed: dict[str, float]):
        """How a segment's training is charged to the budget: the cell's first segment by its measured CPU seconds;
        every later one (a resume, on this machine or on another kind of CPU) by its steps at the CPU seconds per
        step the earlier segments were charged, so that the budget buys the same training wherever and in
        whatever precision the cell finishes. Each segment (CPU kind, precision, steps, measured CPU seconds) is
        recorded."""
        kind = cpu_kind()
        self.state.setdefault("cpu_kind", kind)
        segments = self.state.setdefault("segments", {}).setdefault(model, [])
        start = int(resumed.get("step", 0))
        segment = {
            "cpu_kind": kind,
            "precision": self.precision(model),
            "from_step": start,
            "to_step": start,
            "cpu_s": 0.0,
        }
        segments.append(segment)
        rate = resumed["cpu"] / start if start else None  # CPU-s per step charged so far: the first segment's

        def charged(step: int, measured: float) -> float:
            segment.update(to_step=step, cpu_s=measured)
            return measured if rate is None else (step - start) * rate

        return charged

    def precision(self, model: str) -> str:
        """The precision this segment trains in: what `auto` picks here, or the resume state's (device.py)."""
        from pneumogan.device import resumed_precision
        from pneumogan.layout import GAN_STATE

        device = resolve_device("auto")
        here = resolve_precision("auto", device, log=lambda m: None)
        path = self.dir / "train" / model / GAN_STATE
        if not path.is_file():
            return here
        state = torch.load(path, map_location="cpu", weights_only=False)
        earlier = self.state.get("segments", {}).get(model, [])
        if "cpu_kind" not in state and earlier:  # written before states named their CPU: the last segment's
            state["cpu_kind"] = earlier[-1]["cpu_kind"]
            torch.save(state, path)
        kept = state.get("precision", here)
        return resumed_precision(kept, here, "auto", device, log=lambda m: None, trained_on=state.get("cpu_kind"))

    def trainer(self):
        if self.kind == "diffusion":
            from pneumogan.diffusion.train import train_diffusion

            return train_diffusion
        from pneumogan.gan.train import train_gan

        return train_gan

    def config(self, model: str):
        """Many more steps than the budget allows (the CPU clock stops it), a resume state every 50 steps."""
        section = "diffusion" if self.kind == "diffusion" else "gan"
        target = [f"gan.target_class={model}"] if model != "all" else []
        steps = 10_000_000
        every = 50 if not self.args.quick else 5
        return load_config(
            "quick",
            [
                *self.base,
                *target,
                f"{section}.steps={steps}",
                f"{section}.checkpoint_every={every}",
                f"{section}.sample_every={steps}",
            ],
        )

    def score(self, model: str, step: int, snap: Path, spaces: Spaces) -> None:
        """Metrics of one snapshot for the classes that model makes, in both spaces, plus class fidelity."""
        from pneumogan.classify.inference import positive_score

        device = resolve_device("auto")
        precision = resolve_precision("auto", device)  # sampling in bf16 where it is fast (features stay fp32)
        g, meta = load_generator(snap, device)
        k = len(self.state.get("cpu_s", {}).get(model, {})) - 1
        for name in BINARY_CLASSES if model == "all" else [model]:
            c = meta["class_names"].index(name)
            seeds = [latent_seed(10_000, BINARY_CLASSES.index(name), i) for i in range(self.args.n)]
            started = time.perf_counter()
            fake = np.concatenate(
                [generate(g, c, seeds[i : i + 250], device, precision) for i in range(0, len(seeds), 250)]
            )
            sampling_s = time.perf_counter() - started
            save_grid(torch.from_numpy(fake[:16].astype(np.float32) / 127.5 - 1)[:, None], 2, snap / f"grid_{name}.png")
            _, probs = spaces.classifier(fake)
            fidelity = float(np.mean((positive_score(probs) >= spaces.threshold) == (name != "NORMAL")))
            for space, extractor in spaces.extractors.items():
                res = compare(spaces.real[name], fake, extractor, seed=0)
                record = {
                    **self.key(),
                    "model": model,
                    "snapshot": k,
                    "step": step,
                    "cpu_s": self.state["cpu_s"][model][str(step)],
                    "wall_s": self.state["wall_s"][model][str(step)],
                    "space": space,
                    "class": name,
                    "class_fidelity": fidelity,
                    "sampling_s_per_1000": sampling_s * 1000 / len(fake),
                    **{m: res[m] for m in ("fd", "fd_floor", "fd_ratio", "kid", "precision", "recall")},
                    "near_copy_fraction": res["near_copy_fraction"],
                    "n": res["n"],
                }
                self.state.setdefault("snapshots", []).append(record)
                print(
                    f"  step {step} {name} {space}: FD {res['fd']:.2f} (floor {res['fd_floor'] or float('nan'):.2f}) "
                    f"recall {res['recall']:.2f} fidelity {fidelity:.2f}",
                    flush=True,
                )

    def plateau(self, model: str) -> bool:
        """The last PLATEAU_WINDOW snapshots' headline FD within PLATEAU_TOLERANCE of each other, every class."""
        rows = [r for r in self.state.get("snapshots", []) if r["model"] == model and r["space"] == HEADLINE]
        if len({r["step"] for r in rows}) < PLATEAU_FROM_SNAPSHOT:
            return False
        for name in {r["class"] for r in rows}:
            fds = [r["fd"] for r in sorted(rows, key=lambda r: r["step"]) if r["class"] == name][-PLATEAU_WINDOW:]
            if len(fds) < PLATEAU_WINDOW or max(fds) > (1 + PLATEAU_TOLERANCE) * min(fds):
                return False
        return bool(rows)

    # --- train on synthetic, test on real ----------------------------------------------------------------------
    def tstr(self) -> None:
        """Classifiers trained on the final snapshot's images only (3 seeds): val to choose, test to report."""
        runs = self.state.setdefault("tstr", {})
        synthetic = self.dir / "tstr_images"
        if not (synthetic / "manifest.csv").exists():
            shutil.rmtree(synthetic, ignore_errors=True)
            specs = []
            for name in BINARY_CLASSES:
                model = name if self.per_class else "all"
                final = self.dir / "snapshots" / model / f"step_{self.state['done'][model]['step']:07d}"
                specs.append(SampleSpec(final, name, self.args.tstr_per_class, seed_index=BINARY_CLASSES.index(name)))
            write_synthetic_set(specs, synthetic, seed=1)
        for seed in self.args.tstr_seeds:
            if str(seed) in runs:
                continue
            out = self.dir / "tstr" / f"s{seed}"
            args = (self.args.data, SIZE, synthetic, seed, self.args.tstr_epochs, out, "classify.ood_check=false")
            runs[str(seed)] = tstr_run(*args)
            self.save()


def final_rows(cell: Cell) -> list[dict[str, Any]]:
    """The last snapshot of each model of a cell, every class and space."""
    rows = cell.state.get("snapshots", [])
    out = []
    for model in cell.models:
        mine = [r for r in rows if r["model"] == model]
        if mine:
            last = max(r["step"] for r in mine)
            out += [r for r in mine if r["step"] == last]
    return out


def gate_of(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The quality gate on a cell's final snapshot (headline space for recall; fidelity is space-free)."""
    head = {r["class"]: r for r in rows if r["space"] == HEADLINE}
    if set(head) != set(BINARY_CLASSES):
        return None
    results = {"classes": list(BINARY_CLASSES)}
    for name, r in head.items():
        results[name] = {**r, "class_fidelity": r["class_fidelity"]}
    return judge(results, GateConfig())


def write_results(cells: list[Cell], args, spaces: Spaces) -> None:
    from pneumogan.pipeline.compare import seed_summary

    summary = []
    for cell in cells:
        rows = final_rows(cell)
        tstr = cell.state.get("tstr", {})
        seeds = sorted(tstr, key=int)
        entry = {
            **cell.key(),
            "finished": cell.finished(),
            "stopped": cell.state.get("done", {}),
            "cpu_kind": cell.state.get("cpu_kind"),  # the budget's CPU: a segment elsewhere is charged at its rate
            "segments": cell.state.get("segments", {}),
            "gate": gate_of(rows),
            "final": {
                f"{r['class']}/{r['space']}": {
                    k: r[k]
                    for k in (
                        "fd",
                        "fd_ratio",
                        "recall",
                        "precision",
                        "class_fidelity",
                        "near_copy_fraction",
                        "kid",
                        "step",
                        "cpu_s",
                    )
                }
                for r in rows
            },
        }
        if seeds:
            entry["tstr_val_auc"] = seed_summary([tstr[s]["val_auc"] for s in seeds])
            entry["tstr_test_accuracy"] = seed_summary([tstr[s]["accuracy"] for s in seeds])
            entry["tstr_test_auc"] = seed_summary([tstr[s]["auc"] for s in seeds])
        summary.append(entry)
    payload = {
        "machine": machine(),  # this invocation's; each cell names the CPU it was charged on (cpu_kind, segments)
        **provenance(),
        "status": "complete" if all(c.finished() for c in cells) else "partial",
        "cells_finished": [f"{c.contender}@{c.fraction:g}/s{c.seed}" for c in cells if c.finished()],
        "choice_rule": CHOICE_RULE,
        "selection_split": "val",
        "test_readouts": sum(len(c.state.get("tstr", {})) for c in cells),
        "size": SIZE,
        "n_per_side": args.n,
        "cpu_hours_per_cell": args.cpu_hours,
        "snapshot_every_cpu_s": args.every,
        "plateau": f"last {PLATEAU_WINDOW} snapshots' headline FD within {PLATEAU_TOLERANCE:.0%} of each other, "
        f"every class, from snapshot {PLATEAU_FROM_SNAPSHOT} on",
        "headline_space": HEADLINE,
        "spaces": spaces.info,
        "contenders": {
            c: {"kind": k, "overrides": o + args.set, "per_class": p}
            for c, (k, o, p) in CONTENDERS.items()
            if c in args.contenders
        },
        "summary": summary,
        "snapshots": [r for c in cells for r in c.state.get("snapshots", [])],
        "tstr": {f"{c.contender}@{c.fraction:g}/s{c.seed}": c.state.get("tstr", {}) for c in cells},
    }
    path = Path(args.json)
    atomic_write_json(path, payload)
    plot(payload["snapshots"], path.with_suffix(""))
    print(f"saved {path} ({payload['status']})", flush=True)


def plot(snapshots: list[dict], stem: Path) -> None:
    """Headline FD against CPU time and against images shown, one panel per fraction × class."""
    if not snapshots:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in snapshots if r["space"] == HEADLINE]
    fractions = sorted({r["fraction"] for r in rows})
    fig, axes = plt.subplots(len(fractions), 2, figsize=(10, 3.6 * len(fractions)), squeeze=False)
    for i, fraction in enumerate(fractions):
        for j, name in enumerate(BINARY_CLASSES):
            ax = axes[i][j]
            mine = [r for r in rows if r["fraction"] == fraction and r["class"] == name]
            for label in sorted({f"{r['contender']} s{r['seed']}" for r in mine}):
                pts = sorted((r["cpu_s"] / 3600, r["fd"]) for r in mine if f"{r['contender']} s{r['seed']}" == label)
                ax.plot(*zip(*pts, strict=True), marker="o", label=label)
            floors = [r["fd_floor"] for r in mine if r.get("fd_floor")]
            if floors:
                ax.axhline(float(np.median(floors)), color="grey", ls="--", lw=1, label="real vs real")
            ax.set_title(f"{name}, {fraction:.0%} of the real data")
            ax.set_xlabel("CPU hours of training")
            ax.set_ylabel(f"FD ({HEADLINE} space)")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{stem}_fd_vs_cpu_hours.png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
