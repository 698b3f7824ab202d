"""`pneumogan run`: data check → prepare/split → GAN(s) → synthetic sets → classifiers per condition, fraction
and seed → test evaluation → GAN metrics → report. Every stage is cached by the hash of its inputs.

The phases, in the order `run_pipeline` calls them: set-up, the data stage, then per data fraction its plan,
GAN stages, a synthetic-set and classifier stages per condition, the statistics, Grad-CAM examples and GAN
metrics; finally the report. Each phase is a function of the `Experiment` state and can be read alone.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pneumogan import distributed
from pneumogan.config import Config, RunConfig, dump_config, fingerprint_sections
from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.data.loading import SplitData, load_splits
from pneumogan.device import resolve_device
from pneumogan.errors import PneumoganError
from pneumogan.generator_families import is_conditional
from pneumogan.layout import EVAL_SCORES, RUN_CONFIG, SYNTHETIC_MANIFEST, RunFolder, StageFolder
from pneumogan.pipeline import conditions, wording
from pneumogan.pipeline.compare import Scores, paired_difference, seed_paired_difference, seed_summary
from pneumogan.pipeline.conditions import SYNTHETIC_CONDITIONS, check_order, repeated_counts, synthetic_counts
from pneumogan.pipeline.stages import StageRunner, stage_key, stage_name
from pneumogan.pipeline.verdicts import SCHEMA_VERSION, answer, comparison_records, sentence
from pneumogan.runs import atomic_write_json, atomic_write_text
from pneumogan.tracking import experiment_run, flat_params

SUMMARY_METRICS = ("accuracy", "roc_auc", "pr_auc", "recall", "specificity", "f1", "precision", "brier", "ece")
DIFF_METRICS = ("roc_auc", "accuracy")
TEST_RESULT_KEYS = (
    *SUMMARY_METRICS,
    "ci",
    "threshold",
    "confusion_matrix",
    "n",
    "at_0.5",
    "calibration",
    "at_val_target_sensitivity",
)


def fraction_label(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


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
    found = sorted(p for p in Path(root).glob(f"*-{cfg.name}") if p.is_dir() and (p / RUN_CONFIG).is_file())
    return found[-1] if found else None


def stage_config(cfg: Config, fraction: float, seed: int | None = None) -> Config:
    """A stage's own config: the run section and name reset so that they never invalidate a stage."""
    stage_cfg = cfg.model_copy(deep=True)
    stage_cfg.run, stage_cfg.name = RunConfig(), "pipeline-stage"
    stage_cfg.data.train_fraction, stage_cfg.data.extra_train, stage_cfg.data.train_real = fraction, [], True
    stage_cfg.data.repeat_train = {}
    if seed is not None:
        stage_cfg.seed = seed
    return stage_cfg


def config_sections(cfg: Config, *sections: str) -> dict[str, Any]:
    """The named config sections as JSON-ready dicts (the inputs a stage key is made of)."""
    return fingerprint_sections(cfg, sections)


def check_supported(cfg: Config) -> None:
    if cfg.classify.num_classes != 2:
        raise PneumoganError("pneumogan run compares binary NORMAL/PNEUMONIA classifiers: set classify.num_classes=2")
    if is_conditional(cfg.gan.family) and cfg.gan.num_classes != 2:
        raise PneumoganError("pneumogan run needs a binary conditional GAN: set gan.num_classes=2")
    if cfg.run.generator == "diffusion" and cfg.diffusion.num_classes != 2:
        raise PneumoganError("pneumogan run needs a binary diffusion model: set diffusion.num_classes=2")
    if cfg.run.ssl_pretrain and (cfg.ssl.arch != cfg.classify.arch or cfg.classify.pretrained):
        raise PneumoganError(
            "run.ssl_pretrain starts the classifiers from the encoder: set ssl.arch = classify.arch "
            f"(now {cfg.ssl.arch} and {cfg.classify.arch}) and classify.pretrained=false"
        )
    check_order(cfg.run.conditions)


@dataclass
class Experiment:
    """What every phase of a run shares."""

    cfg: Config
    folder: RunFolder
    runner: StageRunner
    dist: distributed.Dist
    log: Callable[[str], None]
    full_data: SplitData  # all real training images: the equal-steps budget and the data stage's split
    plans: list[FractionPlan] = field(default_factory=list)  # the fractions declared so far

    def __getstate__(self) -> dict[str, Any]:
        """What a stage's closure carries to a worker on another machine (the Ray executor): no runner, no data
        arrays (stages load their own), and a log that appends to the run's log file."""
        return {**self.__dict__, "runner": None, "plans": [], "full_data": None, "log": RunLog(self.folder.log)}


@dataclass
class RunLog:
    """A stage's log on a worker process: its line on the worker's stdout and in the run's `log.txt`."""

    path: Path

    def __call__(self, message: str) -> None:
        print(message, flush=True)
        with Path(self.path).open("a", encoding="utf-8") as f:
            f.write(message + "\n")


@dataclass
class FractionPlan:
    """One data fraction: its real data, the synthetic images each condition adds, and where results go."""

    fraction: float
    label: str
    config: Config
    data: SplitData
    real_counts: dict[str, int]
    synthetic: dict[str, dict[str, int]]  # condition → class → synthetic images
    repeated: dict[str, dict[str, int]]  # control condition → class → extra copies of real images
    generator_seeds: list[int]  # one generator per classifier seed (run.generator_seeds: paired), or one shared
    result: dict[str, Any] = field(default_factory=dict)
    gans: dict[int, dict[str, tuple[Path, str]]] = field(default_factory=dict)  # generator seed → class → (folder, key)
    models: dict[str, dict[int, Path]] = field(default_factory=dict)  # condition → seed → classifier stage
    encoder: Path | None = None  # run.ssl_pretrain: this fraction's self-supervised encoder stage


def run_pipeline(
    cfg: Config,
    out: str | Path,
    log: Callable[[str], None] = print,
    on_stage: Callable[[str], None] | None = None,
    executor: str = "serial",
    workers: int = 2,
    threads: int | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the whole experiment into `out`; returns the results that `results.json` holds.

    `executor`: `serial` runs each stage in this process as it is declared; `local` runs them in `workers` worker
    processes (`threads` each; default: the cores split between them), each as soon as its inputs are done
    (stages.py); `ray` sends each stage as a task to the Ray cluster at `address` (a local one when None), with
    `threads` CPUs each (ray_executor.py). A stage's numbers depend on its thread count, not on the executor.
    `tracking_uri` (or `MLFLOW_TRACKING_URI`): the experiment is an MLflow run, each training stage a run nested
    under it, the report and results its artefacts (tracking.py); TensorBoard files are written either way."""
    check_supported(cfg)
    out = Path(out).resolve()  # a worker elsewhere (Ray) gets absolute stage folders; results keep relative ones
    params = flat_params(cfg.model_dump(mode="json"))
    tracking = tracking_uri if int(os.environ.get("RANK", "0")) == 0 else None  # torchrun: rank 0 tracks
    with experiment_run(out, out.name, params, tracking) as tracked:
        exp = set_up(cfg, out, log, on_stage, make_runner(executor, workers, threads, address))
        try:
            results = declare_and_run(exp)
            exp.runner.finish()
            for plan in exp.plans:  # statistics are rank 0's; the stages below run there while the others wait
                if exp.dist.main:
                    summarise(exp, plan)
                gradcam_stage(exp, plan)
            exp.runner.finish()
        finally:
            exp.runner.close()
        if not exp.dist.main:
            return {}
        results = finish(exp, results)
        if tracked is not None:
            folder = exp.folder
            for artefact in (folder.report_html, folder.report_md, folder.assets, folder.results):
                tracked.artifact(artefact)
            exp.log(f"MLflow: run {tracked.run_id} at {os.environ['MLFLOW_TRACKING_URI']}")
    return results


def plan_pipeline(cfg: Config, out: str | Path) -> dict[str, Any]:
    """The experiment's stage graph without running anything: every stage with its kind, inputs and whether a
    finished copy is cached in `out`, and the seconds each kind took where this run folder has measured it."""
    from pneumogan.pipeline.stages import PlanRunner

    check_supported(cfg)
    exp = set_up(cfg, Path(out), print, None, lambda root, *_: PlanRunner(root))
    declare_and_run(exp)
    runner = exp.runner
    nodes = list(runner.graph.values())
    measured: dict[str, list[float]] = {}
    for node in nodes:
        if node.name in runner.cached:
            measured.setdefault(node.kind, []).append(runner.timings[node.name]["seconds"])
    return {
        "stages": [
            {"name": n.name, "key": n.key, "kind": n.kind, "inputs": list(n.inputs), "cached": n.name in runner.cached}
            for n in nodes
        ],
        "seconds_per_kind": {kind: sum(v) / len(v) for kind, v in measured.items()},
    }


def make_runner(
    executor: str, workers: int, threads: int | None = None, address: str | None = None
) -> Callable[..., StageRunner]:
    from pneumogan.pipeline.stages import EXECUTORS, LocalRunner

    if executor not in EXECUTORS:
        raise PneumoganError(f"unknown executor '{executor}'; choose from: {', '.join(EXECUTORS)}")
    if executor == "ray":
        from pneumogan.pipeline.ray_executor import RayRunner

        return lambda root, log, on_stage, dist: RayRunner(root, log, on_stage, dist, address, cpus=threads or 1)
    if executor == "local":
        return lambda root, log, on_stage, dist: LocalRunner(
            root, log, on_stage, dist, workers=workers, threads=threads
        )
    return StageRunner


def declare_and_run(exp: Experiment) -> dict[str, Any]:
    """Declare every stage, fraction by fraction (the serial executor runs each as it is declared); returns the
    results skeleton that `summarise` and `finish` fill in."""
    cfg = exp.cfg
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": cfg.name,
        "config": cfg.model_dump(mode="json"),
        "data": data_stage(exp),
        "fractions": {},
        "conditions": list(cfg.run.conditions),
        "seeds": list(cfg.run.seeds),
    }
    for fraction in cfg.run.fractions:
        plan = plan_fraction(exp, fraction)
        results["fractions"][plan.label] = plan.result
        run_fraction(exp, plan)
        exp.plans.append(plan)
    return results


def set_up(
    cfg: Config,
    out: Path,
    log: Callable[[str], None],
    on_stage: Callable[[str], None] | None,
    runner_class: Callable[..., StageRunner] = StageRunner,
) -> Experiment:
    dist = distributed.setup(resolve_device(cfg.classify.device))  # under torchrun: training stages on all ranks
    folder = RunFolder(out)
    runner = runner_class(out, log, on_stage, dist)
    if dist.main and not runner.planning:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder.config, dump_config(cfg))
    elif not dist.main:
        log = distributed.silent
    full_data = load_splits(stage_config(cfg, 1.0))  # prepares (or reuses) the cache
    return Experiment(cfg, folder, runner, dist, log, full_data)


def data_stage(exp: Experiment) -> dict[str, Any]:
    """Integrity check of the source and the patient-grouped split used by every stage."""
    from pneumogan.data.integrity import check_source
    from pneumogan.data.sources import open_source

    cfg, split = exp.cfg, exp.full_data.summary

    def check(folder: Path) -> dict[str, Any]:
        report = check_source(open_source(cfg.data.source), max_pixels=cfg.data.max_pixels, workers=cfg.data.workers)
        atomic_write_json(StageFolder(folder).data_check, report)
        return {
            "total": report["total"],
            "counts": report["counts"],
            "bad": len(report["bad"]),
            "duplicate_groups": len(report["duplicates"]),
            "patients_in_two_splits": len(report["patient_overlap"]),
            "split": split,
        }

    split_section = config_sections(stage_config(cfg, 1.0), "split")
    key = stage_key("data", cfg.data.source, cfg.data.max_pixels, exp.full_data.fingerprint, split_section)
    exp.runner.run("data", key, check)
    return exp.runner.result("data")


def plan_fraction(exp: Experiment, fraction: float) -> FractionPlan:
    fraction_cfg = stage_config(exp.cfg, fraction)
    data = load_splits(fraction_cfg)
    counts = np.bincount(data.train.labels, minlength=2)
    real_counts = {name: int(counts[i]) for i, name in enumerate(BINARY_CLASSES)}
    run = exp.cfg.run
    synthetic = {cond: synthetic_counts(real_counts, cond, run) for cond in run.conditions}
    repeated = {cond: n for cond in run.conditions if (n := repeated_counts(real_counts, cond, run))}
    generator_seeds = list(run.seeds) if run.generator_seeds == "paired" else [exp.cfg.seed]
    plan = FractionPlan(
        fraction, fraction_label(fraction), fraction_cfg, data, real_counts, synthetic, repeated, generator_seeds
    )
    plan.result = {
        "fraction": fraction,
        "real_train_counts": real_counts,
        "synthetic_counts": synthetic,
        "gan": {},
        "conditions": {},
    }
    if repeated:
        plan.result["repeated_counts"] = repeated
    if run.generator_seeds == "paired":
        plan.result["generator_seeds"] = "paired"
    exp.log(
        f"== fraction {fraction:g}: real training images {wording.class_counts(real_counts)}; "
        f"synthetic images per condition: {wording.synthetic_plan(synthetic)}"
        + "".join(f"; {c} repeats real images {wording.class_counts(n, '+')}" for c, n in repeated.items())
    )
    return plan


def run_fraction(exp: Experiment, plan: FractionPlan) -> None:
    if exp.cfg.run.ssl_pretrain:
        plan.encoder = ssl_stage(exp, plan)
    gan_stages(exp, plan)
    for condition in exp.cfg.run.conditions:
        if condition in SYNTHETIC_CONDITIONS and "generator_gate" not in plan.result and plan.gans:
            gate_stage(exp, plan)  # before any classifier learns from the generator's images
        condition_stages(exp, plan, condition)


def ssl_stage(exp: Experiment, plan: FractionPlan) -> Path:
    """SimSiam on this fraction's real training images (never val or test); every classifier starts from it."""
    from pneumogan.ssl.train import pretrain

    cfg = plan.config
    key = stage_key("ssl", config_sections(cfg, "data", "split", "ssl", "seed"), plan.data.fingerprint)

    def fit(folder: Path) -> dict[str, Any]:
        pretrain(cfg, folder, log=exp.log)
        return {"encoder": folder.name}

    folder, _ = exp.runner.run(f"ssl-{plan.label}", key, fit, kind="ssl")
    return folder


def generator_seed(plan: FractionPlan, seed: int) -> int:
    """The seed of the generator whose images classifier seed `seed` learns from."""
    return seed if plan.result.get("generator_seeds") == "paired" else plan.generator_seeds[0]


def seed_suffix(plan: FractionPlan, seed: int) -> str:
    """Paired generators' stage names end in their seed; a shared one keeps the name it always had."""
    return f"-seed{seed}" if plan.result.get("generator_seeds") == "paired" else ""


def gan_stages(exp: Experiment, plan: FractionPlan) -> None:
    """The generators of this fraction, per generator seed: one DCGAN per class that some condition needs, one
    conditional GAN for all of them, or (run.generator: diffusion) one class-conditional diffusion model."""
    from pneumogan.gan.train import train_gan

    family = exp.cfg.gan.family
    wanted = [c for c in exp.cfg.run.conditions if c in SYNTHETIC_CONDITIONS]
    needed = sorted({cls for cond in wanted for cls in plan.synthetic[cond]})
    for seed in plan.generator_seeds if needed else []:
        seed_cfg = stage_config(exp.cfg, plan.fraction, seed)
        gans = plan.gans.setdefault(seed, {})
        if exp.cfg.run.generator == "diffusion":
            diffusion_stage(exp, plan, seed_cfg, needed, gans)
            continue
        per_class = not is_conditional(family)  # one unconditional model per class
        for unit in [[cls] for cls in needed] if per_class else [needed]:
            gan_cfg = seed_cfg.model_copy(deep=True)
            if per_class:
                gan_cfg.gan.target_class = unit[0]
            tag = unit[0].lower() if per_class else "all"
            key = stage_key("gan", config_sections(gan_cfg, "data", "split", "gan", "seed"), plan.data.fingerprint)

            def fit(folder: Path, gan_cfg: Config = gan_cfg) -> dict[str, Any]:
                from pneumogan.gan.checkpoint import read_gan_meta

                train_gan(gan_cfg, folder, log=exp.log)
                return {"classes": read_gan_meta(folder)["class_names"]}

            name = f"gan-{family}-{tag}-{plan.label}{seed_suffix(plan, seed)}"
            gan_dir, _ = exp.runner.run(name, key, fit, collective=True, kind="gan")
            for cls in unit:
                gans[cls] = (gan_dir, key)


def diffusion_stage(
    exp: Experiment, plan: FractionPlan, cfg: Config, needed: list[str], gans: dict[str, tuple[Path, str]]
) -> None:
    """One class-conditional diffusion model for every class some condition needs (sampled like a GAN)."""
    from pneumogan.diffusion.train import train_diffusion

    key = stage_key("diffusion", config_sections(cfg, "data", "split", "diffusion", "seed"), plan.data.fingerprint)

    def fit(folder: Path) -> dict[str, Any]:
        from pneumogan.gan.checkpoint import read_gan_meta

        train_diffusion(cfg, folder, log=exp.log)
        return {"classes": read_gan_meta(folder)["class_names"]}

    folder, _ = exp.runner.run(f"diffusion-all-{plan.label}{seed_suffix(plan, cfg.seed)}", key, fit, kind="diffusion")
    for cls in needed:
        gans[cls] = (folder, key)


def synthetic_stage(exp: Experiment, plan: FractionPlan, condition: str, seed: int) -> tuple[Path | None, str | None]:
    """The synthetic set classifier seed `seed` of a condition trains with (folder and stage key), drawn from its
    generator seed's models; (None, None) when the condition adds none."""
    from pneumogan.gan.sample import SampleSpec, write_synthetic_set

    counts = plan.synthetic[condition]
    if condition not in SYNTHETIC_CONDITIONS or not counts:
        return None, None
    run = exp.cfg.run
    gans = plan.gans[generator_seed(plan, seed)]
    sample_seed, psi = run.sample_seed, run.truncation
    extra: list[Any] = [psi] * (psi < 1)
    score, oversample = None, 1.0
    inputs = sorted({stage_name(gans[cls][0]) for cls in counts})
    if conditions.condition(condition).filtered:  # the real baseline's first-seed classifier judges them
        judge = StageFolder(plan.models["real"][run.seeds[0]]).model
        score, oversample = class_confidence(judge), run.filter_oversample
        extra += [judge.parent.name, oversample]
        inputs.append(stage_name(judge.parent))
    key = stage_key("synthetic", {cls: (gans[cls][1], n) for cls, n in counts.items()}, sample_seed, *extra)
    specs = [
        SampleSpec(gans[cls][0], cls, n, seed_index=BINARY_CLASSES.index(cls), truncation=psi)
        for cls, n in counts.items()
    ]

    def sample(folder: Path) -> dict[str, Any]:
        target = StageFolder(folder).synthetic_set
        if not (target / SYNTHETIC_MANIFEST).is_file():  # a kill after the rename but before the marker
            write_synthetic_set(specs, target, seed=sample_seed, score=score, oversample=oversample)
        return {"counts": {spec.class_name: spec.count for spec in specs}}

    name = f"synthetic-{condition}-{plan.label}{seed_suffix(plan, generator_seed(plan, seed))}"
    folder, _ = exp.runner.run(name, key, sample, kind="synthetic", inputs=inputs)
    return StageFolder(folder).synthetic_set, key


def class_confidence(checkpoint: Path) -> Callable[[str, np.ndarray], np.ndarray]:
    """A synthetic-image filter: the classifier's probability that each image shows the class it was drawn for."""

    def score(class_name: str, images: np.ndarray) -> np.ndarray:
        from pneumogan.classify.predict import Predictor

        predictor = Predictor(checkpoint, device="cpu", precision="fp32")
        proba = predictor.proba(images)
        p_pneumonia = 1.0 - proba[:, 0]
        return p_pneumonia if class_name != "NORMAL" else 1.0 - p_pneumonia

    return score


def condition_stages(exp: Experiment, plan: FractionPlan, condition: str) -> None:
    """A classifier per seed for one condition, each trained then evaluated on the test split."""
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.train import train

    cfg = exp.cfg
    spec = conditions.condition(condition)
    repeated = plan.repeated.get(condition, {})
    if spec.adds == "minority" and not plan.synthetic[condition] and not repeated:
        exp.log(f"{condition}: the classes are already balanced; it equals the baseline")
    n_real = sum(plan.real_counts.values()) if spec.real_images else 0
    n_train = n_real + sum(plan.synthetic[condition].values()) + sum(repeated.values())
    equal_steps = cfg.run.equal_steps
    epochs = condition_epochs(cfg, n_train, len(exp.full_data.train)) if equal_steps else cfg.classify.epochs
    steps = epochs * math.ceil(n_train / cfg.classify.batch_size)
    plan.result.setdefault("training", {})[condition] = {"images": n_train, "epochs": epochs, "steps": steps}
    plan.models[condition] = {}
    entry = plan.result["conditions"].setdefault(condition, {"seeds": {}})
    for seed in cfg.run.seeds:
        synthetic_dir, synthetic_key = synthetic_stage(exp, plan, condition, seed)
        seed_cfg = stage_config(cfg, plan.fraction, seed)
        seed_cfg.data.train_real = spec.real_images
        seed_cfg.data.repeat_train = dict(repeated)
        seed_cfg.classify.epochs = epochs
        seed_cfg.classify.ood_check = False  # experiment models are evaluated, never served
        if spec.synthetic_weight:
            seed_cfg.classify.synthetic_weight = cfg.run.synthetic_weight
        start = None
        if spec.starts_from:  # fine-tune that condition's model of the same seed
            start = plan.models[spec.starts_from][seed]
            seed_cfg.classify.init_from = str(StageFolder(start).model.resolve())
        elif plan.encoder is not None:  # run.ssl_pretrain: start from this fraction's encoder
            start = plan.encoder
            seed_cfg.classify.init_from = str(start.resolve())
        sections = config_sections(seed_cfg, "data", "split", "augment", "classify", "seed")
        sections["classify"].pop("ood_check")  # changes no weights or metrics: keys stay those of earlier runs
        origin, inputs = [], []
        if start is not None:  # the start model's stage (name and key), not its absolute path, makes the key
            sections["classify"].pop("init_from")
            origin, inputs = [start.name], [stage_name(start)]
        key = stage_key("classify", sections, synthetic_key, plan.data.fingerprint, *origin)
        if synthetic_dir is not None:
            seed_cfg.data.extra_train = [str(synthetic_dir.resolve())]
            inputs.append(stage_name(synthetic_dir.parent))

        def fit_and_evaluate(folder: Path, seed_cfg: Config = seed_cfg) -> dict[str, Any]:
            model = train(seed_cfg, StageFolder(folder).model, log=exp.log)
            if not exp.dist.main:
                return {}
            metrics = evaluate_checkpoint(model, "test", n_boot=seed_cfg.classify.bootstrap)
            return {k: metrics[k] for k in TEST_RESULT_KEYS if k in metrics}

        name = f"classify-{condition}-{plan.label}-seed{seed}"
        folder, metrics = exp.runner.run(name, key, fit_and_evaluate, collective=True, kind="classify", inputs=inputs)
        plan.models[condition][seed] = folder
        entry["seeds"][str(seed)] = {"metrics": metrics, "stage": str(folder.relative_to(exp.folder.root))}
        if synthetic_dir is not None:  # which generator's images it learnt from
            entry["seeds"][str(seed)]["generator_seed"] = generator_seed(plan, seed)


def gradcam_stage(exp: Experiment, plan: FractionPlan) -> None:
    """Grad-CAM examples of the first seed's baseline model."""
    reference = plan.models.get("real", {}).get(exp.cfg.run.seeds[0])
    if reference is None:
        return

    def explain(folder: Path) -> dict[str, Any]:
        from pneumogan.explain.gradcam import cam_examples

        return cam_examples(StageFolder(reference).model, StageFolder(folder).gradcam_png)

    name = f"gradcam-{plan.label}"
    folder, _ = exp.runner.run(name, stage_key("gradcam", reference.name), explain, inputs=[stage_name(reference)])
    if exp.runner.planning:
        return
    result = exp.runner.result(name)
    png = StageFolder(folder).gradcam_png.relative_to(exp.folder.root)
    plan.result["gradcam"] = {**result, "png": str(png)}


def gate_stage(exp: Experiment, plan: FractionPlan) -> None:
    """The generators' metrics against the real data (in this fraction's baseline classifier's space, and its
    encoder's when the run has one) and the quality gate on them, before any classifier learns from their
    images: `mark` records the verdict for every comparison that uses them, `strict` stops a failed run here."""
    from pneumogan.evaluate.generator_gate import gate_sentence, judge
    from pneumogan.gan.evaluate import evaluate_gan
    from pneumogan.gan.quality import quality_warnings

    reference = plan.models.get("real", {}).get(exp.cfg.run.seeds[0])
    reference_model = StageFolder(reference).model if reference else None
    encoder = plan.encoder
    per_class = exp.cfg.run.gan_eval_per_class
    verdicts = []
    generators = {folder: (key, seed) for seed, gans in plan.gans.items() for folder, key in gans.values()}
    for gan_dir, (gan_key, seed) in generators.items():
        # the reference classifier's stage name (which holds its key), not its path: a moved run stays cached
        origin = [encoder.name] if encoder is not None else []
        key = stage_key("gan-eval", gan_key, reference.name if reference else None, per_class, *origin)

        def measure(folder: Path, gan_dir: Path = gan_dir) -> dict[str, Any]:
            return evaluate_gan(
                gan_dir, per_class, reference_model, out_dir=folder, seed=10_000, log=exp.log, encoder=encoder
            )

        inputs = [stage_name(gan_dir), *(stage_name(f) for f in (reference, encoder) if f is not None)]
        name = f"gan-eval-{stage_name(gan_dir)}"
        eval_dir, _ = exp.runner.run(name, key, measure, kind="gan-eval", inputs=inputs)
        if exp.runner.planning:
            continue
        metrics = exp.runner.result(name)
        for warning in quality_warnings(metrics):
            exp.log(f"warning: {warning}")
        for cls in metrics["classes"]:
            shown = {
                "metrics": metrics[cls],
                "gan_stage": str(gan_dir.relative_to(exp.folder.root)),
                "eval_stage": str(eval_dir.relative_to(exp.folder.root)),
            }
            if seed == plan.generator_seeds[0]:  # the report shows the first generator seed's
                plan.result["gan"][cls] = shown
            if len(plan.generator_seeds) > 1:
                plan.result.setdefault("generators", {}).setdefault(str(seed), {})[cls] = shown
        verdict = judge(metrics, exp.cfg.run.generator_gate)
        if len(plan.generator_seeds) > 1:
            for failure in verdict["failures"]:
                failure["generator_seed"] = seed
        verdicts.append(verdict)
    if not verdicts:  # planning: nothing was measured
        return
    gate = merge_gates(verdicts)
    plan.result["generator_gate"] = gate
    exp.log(f"{plan.label}: {gate_sentence(gate)}")
    if gate["status"] == "failed" and gate["mode"] == "strict":
        raise PneumoganError(
            f"{gate_sentence(gate)} run.generator_gate is strict: stopping before training classifiers on its "
            "images (set run.generator_gate=mark to run them anyway, marked)"
        )


def merge_gates(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """One verdict for a fraction whose classes come from several generators (a DCGAN per class)."""
    merged = {**verdicts[0], "per_class": {}, "failures": []}
    for v in verdicts:
        merged["per_class"].update(v["per_class"])
        merged["failures"] += v["failures"]
    if merged["mode"] != "off":
        merged["status"] = "failed" if merged["failures"] else "passed"
    return merged


def finish(exp: Experiment, results: dict[str, Any]) -> dict[str, Any]:
    """Stage timings, the verdict list, the report and `results.json`."""
    from pneumogan.pipeline.report import write_report

    results["stages"] = exp.runner.timings
    results["comparisons"] = comparison_records(results, exp.cfg.run)
    results["verdicts"] = [sentence(record) for record in results["comparisons"]]
    gates = {label: f["generator_gate"] for label, f in results["fractions"].items() if f.get("generator_gate")}
    results["answer"] = answer(results["comparisons"], gates)
    write_report(results, exp.folder.root, exp.log)
    atomic_write_json(exp.folder.results, results)
    exp.log(f"report: {exp.folder.report_html}")
    return results


def load_scores(stage: Path, threshold: float) -> Scores:
    with np.load(StageFolder(stage).evaluation / EVAL_SCORES) as z:
        return Scores(z["y"].astype(int), z["p"].astype(float), threshold)


def summarise(exp: Experiment, plan: FractionPlan) -> None:
    """Mean ± CI over seeds per condition, and each condition's difference from the baseline and from its
    count-matched control: a seed-aware interval (`vs_real`, `vs_control`) and, labelled as test sampling only,
    the paired bootstrap over test images (`…_test_sampling`; the verdicts combine the two)."""
    run, n_boot, seed = exp.cfg.run, exp.cfg.classify.bootstrap, exp.cfg.seed
    entries = plan.result["conditions"]
    for cond, entry in entries.items():  # each classifier's test metrics, from its stage (wherever it ran)
        for s in run.seeds:
            entry["seeds"][str(s)]["metrics"] = exp.runner.result(stage_name(plan.models[cond][s]))

    def threshold(cond: str, s: int) -> float:
        return entries[cond]["seeds"][str(s)]["metrics"]["threshold"]

    scores = {cond: [load_scores(plan.models[cond][s], threshold(cond, s)) for s in run.seeds] for cond in entries}
    for cond, entry in entries.items():
        per_seed = [entry["seeds"][str(s)]["metrics"] for s in run.seeds]
        entry["summary"] = {m: seed_summary([r[m] for r in per_seed]) for m in SUMMARY_METRICS}
        for m in SUMMARY_METRICS:
            if len(run.seeds) == 1:  # one seed: the bootstrap CI over test images is the interval we have
                entry["summary"][m]["ci"] = per_seed[0]["ci"].get(m)
                entry["summary"][m]["ci_kind"] = "bootstrap over test images (1 seed: test sampling only)"
            else:
                entry["summary"][m]["ci_kind"] = f"t-interval over {len(run.seeds)} seeds"
        if cond != "real" and "real" in entries:
            baseline = scores["real"]
            entry["vs_real"] = {m: seed_paired_difference(baseline, scores[cond], m) for m in DIFF_METRICS}
            entry["vs_real_test_sampling"] = {
                m: paired_difference(baseline, scores[cond], m, n_boot, seed) for m in DIFF_METRICS
            }
        control = conditions.condition(cond).control
        if control in entries:  # against the count-matched real control as well
            baseline = scores[control]
            entry["control"] = control
            entry["vs_control"] = {m: seed_paired_difference(baseline, scores[cond], m) for m in DIFF_METRICS}
            entry["vs_control_test_sampling"] = {
                m: paired_difference(baseline, scores[cond], m, n_boot, seed) for m in DIFF_METRICS
            }
