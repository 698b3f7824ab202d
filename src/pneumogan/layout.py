"""Where every artefact lives: the one definition of the file and folder names of checkpoints, GAN folders,
synthetic sets and experiment runs. Code that reads or writes them asks here instead of spelling names.

```
<classifier checkpoint>/          model.safetensors  meta.json  history.{json,csv}  curves.png  last_state.pt
                                   ood.safetensors  ood.json (the out-of-distribution check)
    eval_<split>/                  metrics.json  scores.npz  roc.png  pr.png  confusion.png  reliability.png
<GAN folder>/                     generator.safetensors  discriminator.safetensors  meta.json
                                   history.{json,csv}  events.json  train_state.pt  grids/step_NNNNNN.png
    eval/                          gan_metrics.json  real_vs_synthetic_<CLASS>.png  closest_pairs_<CLASS>.png
    reference_classifier/          a classifier checkpoint (the GAN metrics' feature space)
<synthetic set>/                  manifest.csv  train/<CLASS>/*.png
<run>/                            config.yaml  log.txt  results.json  report.md  report.html  report_assets/
                                  mlflow_run.json (with MLflow tracking: the experiment's run)
    stages/<name>-<key>/           stage.json (written last) and the stage's own files:
        classify-…                 model/ (a classifier checkpoint, its evaluation in model/eval_test/,
                                   tensorboard/, and mlflow_run.json with MLflow tracking)
        gan-…                      a GAN folder
        synthetic-…                set/ (a synthetic set)
        gradcam-…                  gradcam.png
        data-…                     data_check.json
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The prepared-dataset cache (data/prepare.py): one folder per source, size and geometry.
PREPARED_IMAGES = "images.npy"
PREPARED_COLUMNS = "columns.npz"

# Classifier checkpoints.
CLASSIFIER_WEIGHTS = "model.safetensors"
META = "meta.json"
CLASSIFIER_STATE = "last_state.pt"
CURVES = "curves.png"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
EVAL_METRICS = "metrics.json"
EVAL_SCORES = "scores.npz"
OOD_WEIGHTS = "ood.safetensors"  # the out-of-distribution check fitted on the training images
OOD_META = "ood.json"

# GAN folders.
GENERATOR_WEIGHTS = "generator.safetensors"
DISCRIMINATOR_WEIGHTS = "discriminator.safetensors"
GAN_STATE = "train_state.pt"
GAN_EVENTS = "events.json"
GRIDS = "grids"
GAN_EVAL = "eval"
GAN_METRICS = "gan_metrics.json"
REFERENCE_CLASSIFIER = "reference_classifier"

# Synthetic sets.
SYNTHETIC_MANIFEST = "manifest.csv"

# Experiment runs.
# A self-supervised encoder folder (`ssl pretrain`).
ENCODER_WEIGHTS = "encoder.safetensors"
SSL_STATE = "ssl_state.pt"

RUN_CONFIG = "config.yaml"
RUN_LOG = "log.txt"
RESULTS = "results.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REPORT_ASSETS = "report_assets"
STAGES = "stages"
STAGE_MARKER = "stage.json"


def eval_dir(checkpoint: str | Path, split: str = "test") -> Path:
    """Where `classify evaluate` writes a checkpoint's evaluation on `split`."""
    return Path(checkpoint) / f"eval_{split}"


def find_eval_dir(checkpoint: str | Path, split: str = "test") -> Path | None:
    """The folder holding the checkpoint's evaluation on `split`, or None when it was never evaluated.

    Pipeline runs written before this layout module kept a stage's evaluation beside its `model/` folder
    instead of inside it; those are still found.
    """
    checkpoint = Path(checkpoint)
    own = eval_dir(checkpoint, split)
    if (own / EVAL_METRICS).is_file():
        return own
    legacy = checkpoint.parent / f"eval_{split}"
    in_stage = checkpoint.name == StageFolder.MODEL and (checkpoint.parent / STAGE_MARKER).is_file()
    return legacy if in_stage and (legacy / EVAL_METRICS).is_file() else None


def grid_path(gan_dir: str | Path, step: int) -> Path:
    return Path(gan_dir) / GRIDS / f"step_{step:06d}.png"


def grid_files(gan_dir: str | Path) -> list[Path]:
    """A GAN folder's sample grids, oldest first."""
    return sorted((Path(gan_dir) / GRIDS).glob("step_*.png"))


@dataclass(frozen=True)
class StageFolder:
    """One cached stage of a run: `stages/<name>-<key>/`."""

    path: Path
    MODEL = "model"

    @property
    def marker(self) -> Path:
        return self.path / STAGE_MARKER

    @property
    def model(self) -> Path:
        """The classifier checkpoint a `classify-…` stage trains."""
        return self.path / self.MODEL

    @property
    def evaluation(self) -> Path:
        """A classifier stage's test evaluation (found in its legacy place too)."""
        return find_eval_dir(self.model, "test") or eval_dir(self.model, "test")

    @property
    def synthetic_set(self) -> Path:
        return self.path / "set"

    @property
    def gradcam_png(self) -> Path:
        return self.path / "gradcam.png"

    @property
    def data_check(self) -> Path:
        return self.path / "data_check.json"


@dataclass(frozen=True)
class RunFolder:
    """An experiment's output folder (`pneumogan run --out DIR`)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / RUN_CONFIG

    @property
    def log(self) -> Path:
        return self.root / RUN_LOG

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def report_md(self) -> Path:
        return self.root / REPORT_MD

    @property
    def report_html(self) -> Path:
        return self.root / REPORT_HTML

    @property
    def assets(self) -> Path:
        return self.root / REPORT_ASSETS

    @property
    def stages(self) -> Path:
        return self.root / STAGES

    def stage(self, name: str, key: str) -> StageFolder:
        return StageFolder(self.stages / f"{name}-{key}")


# Benchmark evidence: benchmarks/results/<study>/<name>.json, one folder per study. The scripts that write each
# study are listed so that a result file's folder follows from the script that made it (benchmarks/_common.py)
# and the index (benchmarks/build_index.py → benchmarks/results/INDEX.md) can say which script made a file.
EVIDENCE_INDEX = "INDEX.md"
EVIDENCE_PROVENANCE = "PROVENANCE.yaml"  # what older files did not record about themselves, written down by hand
EVIDENCE_LEDGER = "TEST_LEDGER.md"  # every test evaluation the committed evidence made, by study
EVIDENCE_STUDIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "classifier": (
        "single classifier trainings, their ablations and test-time augmentation",
        ("bench_classify.py", "bench_ablation.py", "bench_tta.py"),
    ),
    "classifier_recipes": ("the classifier recipe study, chosen on val", ("bench_classifier_recipes.py",)),
    "explain": ("Grad-CAM and occlusion (shortcut) checks", ("bench_gradcam.py", "bench_occlusion.py")),
    "ood": ("the out-of-distribution check", ("bench_ood.py", "bench_ood_margins.py")),
    "geometry": ("train/serve geometry on non-square X-rays", ("bench_geometry.py",)),
    "gan": (
        "GAN metrics' sensitivity, speed, quality at equal time, collapse, and the quick config's GAN choice",
        (
            "bench_gan_metric_sanity.py",
            "bench_gan_speed.py",
            "bench_gan_quality.py",
            "bench_gan_collapse.py",
            "bench_quick_gan_choice.py",
        ),
    ),
    "gan_study": ("the 64 px GAN convergence study (10 CPU-minutes a cell)", ("bench_gan_study.py",)),
    "generator_study": (
        "the generator study to a plateau: GANs and the diffusion model at 32 px",
        ("bench_generator_study.py",),
    ),
    "diffusion": ("the diffusion family's training and sampling speed", ("bench_diffusion_speed.py",)),
    "pipeline_quick": ("`pneumogan run` results of the quick config, copied from their run folders", ()),
    "standard_run": ("the committed standard experiment", ("package_run.py", "bench_combined_interval.py")),
    "speed": (
        "throughput, precision parity, torch.compile, DDP, data preparation, augmentation and executor speed",
        (
            "bench_throughput.py",
            "bench_flops.py",
            "bench_precision_parity.py",
            "bench_compile.py",
            "bench_ddp.py",
            "bench_prepare.py",
            "bench_augment.py",
            "bench_executors.py",
            "bench_scale_out.py",
            "bench_core_scaling.py",
        ),
    ),
    "serving": ("serving latency and ONNX export agreement", ("bench_serve.py", "bench_onnx.py")),
}


def evidence_study(script: str) -> str:
    """The study folder a benchmark script writes to."""
    name = Path(script).name
    for study, (_, scripts) in EVIDENCE_STUDIES.items():
        if name in scripts:
            return study
    raise ValueError(f"{name} writes to no study: add it to layout.EVIDENCE_STUDIES")
