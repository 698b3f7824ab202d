"""One typed configuration for every stage, loaded from YAML with `key.sub=value` overrides.

Every default is documented where it is defined. Unknown keys are errors, so a typo in a config file or an
override fails loudly instead of being ignored.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pneumogan.data.decoded import DEFAULT_MAX_PIXELS
from pneumogan.errors import PneumoganError

DATA_ENV = "PNEUMOGAN_DATA"
CONFIG_DIR = Path(__file__).parent / "configs"


def default_data_source() -> str:
    """$PNEUMOGAN_DATA when set, else PneumoniaMNIST at 28 px downloaded by name."""
    return os.environ.get(DATA_ENV) or "pneumoniamnist:28"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _WithPrecision(_Section):
    """A section with a `precision` setting; the old `amp` switch still loads (configs and checkpoints)."""

    @model_validator(mode="before")
    @classmethod
    def _amp_to_precision(cls, data: Any) -> Any:
        if isinstance(data, dict) and "amp" in data:
            data = dict(data)
            amp = data.pop("amp")
            data.setdefault("precision", "auto" if amp else "fp32")
            warnings.warn(
                f"'amp: {amp}' is deprecated; it now reads as 'precision: {data['precision']}'",
                FutureWarning,
                stacklevel=2,
            )
        return data


class DataConfig(_Section):
    source: str = Field(default_factory=default_data_source, description="folder, .npz, or pneumoniamnist:SIZE")
    size: int = Field(64, ge=8, description="side of the square images the models see, in px")
    fit: Literal["auto", "crop", "squeeze", "pad"] = Field(
        "auto",
        description="how an image becomes square: crop (centre, the short side), squeeze (resize, aspect lost), "
        "pad (letterbox with the border value); auto: squeeze for image folders, crop for MedMNIST npz. Every "
        "checkpoint records it and serving applies it",
    )
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0, description="refuse images larger than this (w×h)")
    cache_dir: str | None = Field(None, description="prepared-dataset cache; default $PNEUMOGAN_CACHE_DIR")
    workers: int = Field(0, ge=0, description="decoding processes; 0 = one per CPU core")
    subset: float = Field(1.0, gt=0, le=1, description="fraction of each split kept (stratified), for smoke runs")
    train_fraction: float = Field(
        1.0, gt=0, le=1, description="fraction of the real training split kept (stratified; low-data sweeps)"
    )
    train_real: bool = Field(True, description="use the real training split (false: synthetic-only training)")
    extra_train: list[str] = Field(
        default_factory=list, description="more training sources, e.g. synthetic sets from `gan sample`"
    )
    repeat_train: dict[str, int] = Field(
        default_factory=dict,
        description="extra copies of real training images per class, e.g. {NORMAL: 300}: each class's images "
        "repeated whole as often as fit, the rest drawn without replacement (seeded by `seed`); the duplicated "
        "control of `pneumogan run`",
    )


class SplitConfig(_Section):
    val_fraction: float = Field(0.1, gt=0, lt=1, description="share of the training pool held out for val")
    seed: int = 0
    strategy: Literal["auto", "grouped", "source"] = Field(
        "auto", description="auto: patient-grouped when the source has patient ids, else the source's split"
    )
    exclude_test_patients: bool = Field(
        True, description="drop training images whose patient id also occurs in test (no patient in two splits)"
    )


class AugmentConfig(_Section):
    """Classic augmentation for classifier training (batched, `data/augment.py`); never applied at evaluation."""

    enabled: bool = True
    # Horizontal flips mirror the heart to the right (dextrocardia): off by default, allowed for comparison.
    flip_prob: float = Field(0.0, ge=0, le=1)
    rotate_deg: float = Field(10.0, ge=0, le=180)
    zoom: float = Field(0.1, ge=0, lt=1, description="scale drawn from [1-zoom, 1+zoom]")
    shear: float = Field(0.05, ge=0, lt=1)
    translate: float = Field(0.05, ge=0, lt=1, description="shift as a fraction of the image side")
    brightness: float = Field(0.1, ge=0, lt=1, description="intensity shift drawn from ±brightness")
    contrast: float = Field(0.1, ge=0, lt=1, description="intensity scale drawn from 1±contrast")
    prob: float = Field(0.8, ge=0, le=1, description="probability that the affine part is applied")


class ClassifyConfig(_WithPrecision):
    """Classifier training. Model selection and early stopping use the patient-grouped val split only."""

    arch: str = Field("simple_cnn", description="simple_cnn | vgg16 | vgg16_bn | densenet121 | resnet18")
    pretrained: bool = Field(False, description="start from torchvision ImageNet weights (torch hub cache)")
    init_from: str | None = Field(
        None,
        description="start from a self-supervised encoder folder (`pneumogan ssl pretrain --out DIR`), or from "
        "all weights of a trained classifier checkpoint of the same architecture",
    )
    num_classes: Literal[2, 3] = Field(2, description="2: NORMAL/PNEUMONIA; 3: NORMAL/BACTERIAL/VIRAL")
    epochs: int = Field(15, ge=1, description="total epochs, including stage 1 of fine-tuning")
    stage1_epochs: int = Field(0, ge=0, description="two-stage fine-tuning: epochs with a frozen backbone first")
    finetune_lr_scale: float = Field(
        0.1, gt=0, description="stage 2: last blocks (with init_from: the whole backbone) learn at lr × this"
    )
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "step", "none"] = "cosine"
    step_size: int = Field(5, ge=1, description="step schedule: epochs between decays")
    gamma: float = Field(0.1, gt=0, le=1, description="step schedule: decay factor")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    warmup_epochs: int = Field(0, ge=0, description="linear learning-rate warm-up over the first N epochs")
    loss: Literal["cross_entropy", "focal"] = Field(
        "cross_entropy", description="focal: cross-entropy × (1 − p_true)^focal_gamma (Lin et al. 2017)"
    )
    focal_gamma: float = Field(2.0, ge=0, description="focal loss: how much easy images are down-weighted")
    ema_decay: float = Field(
        0.0, ge=0, lt=1, description="EMA of the weights (e.g. 0.999); val, checkpoints and the threshold use it"
    )
    synthetic_weight: float = Field(
        1.0, ge=0, description="loss weight of synthetic training images (from data.extra_train) relative to real ones"
    )
    blank_border: float = Field(
        0.0, ge=0, lt=0.5, description="the model ignores this fraction of each image side (border-shortcut check)"
    )
    standardise_input: bool = Field(
        False, description="the model standardises each image by its own mean and std first (exposure shift)"
    )
    balance: Literal["class_weights", "sampler", "none"] = Field(
        "class_weights", description="class-weighted loss, a balanced sampler, or neither"
    )
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better val ROC-AUC")
    threshold: Literal["youden", "sensitivity"] = Field("youden", description="how val picks the threshold")
    target_sensitivity: float = Field(0.95, gt=0, lt=1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 where this machine runs it fast (CUDA; AMX/AVX512-BF16 CPUs, measured), else fp32",
    )
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="NHWC memory format; auto: where measured faster (all on AMX CPUs, else not densenet121)"
    )
    workers: int = Field(
        0, ge=0, description="unused: batches are built in the training process (kept for old configs)"
    )
    bootstrap: int = Field(1000, ge=50, description="bootstrap resamples for 95 % CIs")
    ood_check: bool = Field(
        True,
        description="fit the out-of-distribution check beside the weights after training (`pneumogan run` turns "
        "it off for its experiment classifiers, which are evaluated, never served)",
    )

    @model_validator(mode="after")
    def _one_initialisation(self) -> ClassifyConfig:
        if self.init_from and self.pretrained:
            raise ValueError("init_from and pretrained exclude each other: set pretrained=false to use an encoder")
        return self


class GanConfig(_WithPrecision):
    """GAN training. Every stabiliser can be switched on or off for comparison."""

    family: Literal["dcgan", "cgan", "acgan", "fastgan"] = Field(
        "acgan", description="dcgan is unconditional (one class); fastgan: data-efficient (SLE, D decoder)"
    )
    target_class: str = Field("PNEUMONIA", description="dcgan: the class it learns")
    num_classes: Literal[2, 3] = Field(2, description="conditional families: 2 or 3 (NORMAL/BACTERIAL/VIRAL)")
    z_dim: int = Field(128, ge=8)
    # 32/32 keeps a 64 px step near 1 s on a 2-core CPU; 64/64 is the classic DCGAN width for GPUs.
    g_channels: int = Field(32, ge=8, description="width of G's last block (doubles per block inward, ≤ 8×)")
    d_channels: int = Field(32, ge=8, description="width of D's first block (doubles per block, ≤ 8×)")
    steps: int = Field(2000, ge=1, description="training budget in generator steps")
    images: int | None = Field(None, ge=1, description="budget in real images shown; overrides steps")
    batch_size: int = Field(64, ge=2)
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    betas: tuple[float, float] = (0.0, 0.99)
    loss: Literal["nonsaturating", "hinge"] = "hinge"
    spectral_norm: bool = True
    r1_gamma: float = Field(0.0, ge=0, description="R1 penalty weight on real images; 0 = off")
    r1_every: int = Field(4, ge=1, description="lazy R1: apply every N steps (scaled by N)")
    ema: bool = True
    ema_decay: float = Field(0.999, gt=0, lt=1)
    diffaugment: str = Field("translation,cutout,color", description="comma list; empty = off")
    ada_target: float = Field(
        0.0, ge=0, lt=1, description="adaptive augmentation: target E[sign D(real)], e.g. 0.6; 0 = off (p = 1)"
    )
    ada_interval: int = Field(4, ge=1, description="adaptive augmentation: steps between adjustments of p")
    ada_kimg: float = Field(20.0, gt=0, description="adaptive augmentation: thousands of images for p to go 0 → 1")
    fake_labels: Literal["uniform", "data"] = Field(
        "uniform",
        description="conditional families: classes of the fakes drawn uniformly, or with the real images' class shares",
    )
    condition_ramp: tuple[float, float] = Field(
        (0.0, 0.0),
        description="conditional families: the class enters G and D linearly between these fractions of the steps "
        "(transitional training against conditioning collapse); (0, 0) = conditioned from the start",
    )
    g_conditioning: Literal["concat", "cbn"] = Field(
        "concat",
        description="cgan/acgan: how the class enters G — an embedding concatenated to z, or class-conditional "
        "BatchNorm in every block (cbn)",
    )
    mode_seeking: float = Field(
        0.0, ge=0, description="weight of MSGAN's mode-seeking term in G's loss (against collapse); 0 = off"
    )
    aux_weight: float = Field(1.0, ge=0, description="acgan: weight of the classification losses")
    recon_weight: float = Field(1.0, ge=0, description="fastgan: weight of D's self-supervised reconstruction loss")
    sample_every: int = Field(500, ge=1, description="steps between sample grids")
    checkpoint_every: int = Field(500, ge=1, description="steps between resumable checkpoints")
    grid_per_class: int = Field(8, ge=1, description="images per class in sample grids")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 where this machine runs it fast (CUDA; AMX/AVX512-BF16 CPUs, measured), else fp32",
    )
    channels_last: bool = Field(True, description="NHWC memory format (measured faster on CPU for these nets)")

    @model_validator(mode="after")
    def _ramp_in_order(self) -> GanConfig:
        start, end = self.condition_ramp
        if not 0 <= start <= end <= 1:
            raise ValueError(f"gan.condition_ramp needs 0 ≤ start ≤ end ≤ 1, got {self.condition_ramp}")
        return self


class DiffusionConfig(_WithPrecision):
    """A class-conditional denoising diffusion model (`pneumogan diffusion train`), a generator family beside the
    GANs. Defaults measured on a 2-core AMX CPU (bf16): a 2.5 M-parameter pixel-space UNet at 32 px trains at
    ~180 images/s and samples 1,000 images in ~30 s at 20 DPM-Solver steps (twice that with guidance)."""

    num_classes: Literal[2, 3] = Field(2, description="2: NORMAL/PNEUMONIA; 3: NORMAL/BACTERIAL/VIRAL")
    channels: tuple[int, ...] = Field((32, 64, 128), description="UNet widths, one per resolution level")
    layers_per_block: int = Field(1, ge=1, description="residual blocks per level")
    attention: bool = Field(False, description="self-attention at the lowest resolution (×3 the cost at 32 px)")
    prediction: Literal["epsilon", "v_prediction"] = Field(
        "v_prediction", description="what the network predicts: the noise, or v (better at few sampling steps)"
    )
    schedule: Literal["squaredcos_cap_v2", "linear", "scaled_linear"] = Field(
        "squaredcos_cap_v2", description="noise schedule (cosine: Nichol & Dhariwal 2021)"
    )
    train_timesteps: int = Field(1000, ge=10, description="diffusion steps of the forward process")
    steps: int = Field(4000, ge=1, description="training budget in optimizer steps")
    images: int | None = Field(None, ge=1, description="budget in images shown; overrides steps")
    batch_size: int = Field(64, ge=2)
    lr: float = Field(2e-4, gt=0, description="AdamW learning rate after warm-up")
    warmup_steps: int = Field(200, ge=0, description="linear learning-rate warm-up")
    weight_decay: float = Field(0.0, ge=0)
    ema_decay: float = Field(0.999, gt=0, lt=1, description="EMA of the weights; sampling uses the EMA copy")
    class_dropout: float = Field(
        0.1, ge=0, lt=1, description="share of training images shown without their class (classifier-free guidance)"
    )
    sampler: Literal["dpm_solver", "ddim"] = Field("dpm_solver", description="deterministic few-step sampler")
    sample_steps: int = Field(20, ge=1, description="sampling steps")
    guidance: float = Field(
        1.5, ge=0, description="classifier-free guidance scale w (1 = plain conditional, >1 stronger class, ×2 cost)"
    )
    sample_every: int = Field(500, ge=1, description="steps between sample grids")
    checkpoint_every: int = Field(500, ge=1, description="steps between resumable checkpoints")
    grid_per_class: int = Field(8, ge=1, description="images per class in sample grids")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 where this machine runs it fast (CUDA; AMX/AVX512-BF16 CPUs, measured), else fp32",
    )
    channels_last: bool = Field(True, description="NHWC memory format")


CONDITIONS = ("real", "rebalanced", "enlarged", "synthetic_only")  # the default run's
ConditionName = Literal[
    "real",
    "rebalanced",
    "enlarged",
    "synthetic_only",
    "weighted",
    "pretrain_synthetic",
    "filtered",
    "duplicated",
    "oversampled",
]


class SslConfig(_WithPrecision):
    """Self-supervised pretraining (SimSiam) of a classifier's backbone on the real training images only."""

    arch: str = Field("simple_cnn", description="the backbone to pretrain (any classify.arch)")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=4, description="two views of each image per step")
    lr: float = Field(0.05, gt=0, description="SGD learning rate per 256 images (scaled by batch_size / 256)")
    weight_decay: float = Field(5e-4, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    proj_dim: int = Field(512, ge=16, description="projector output (SimSiam: 2048 on ImageNet)")
    pred_dim: int = Field(128, ge=8, description="predictor bottleneck (SimSiam: proj_dim / 4)")
    crop_scale: tuple[float, float] = Field((0.35, 1.0), description="random resized crop: area fraction range")
    rotate_deg: float = Field(10.0, ge=0, le=180)
    intensity: float = Field(0.4, ge=0, lt=1, description="contrast from 1 ± intensity, brightness ± intensity / 2")
    blur_prob: float = Field(0.5, ge=0, le=1, description="Gaussian blur probability")
    noise_std: float = Field(0.02, ge=0, description="Gaussian pixel noise (images in [0, 1])")
    flip_prob: float = Field(0.0, ge=0, le=1, description="left-right flips (off: the heart is on one side)")
    knn_k: int = Field(20, ge=1, description="the k-NN monitor on val (selection split) after each epoch")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 where this machine runs it fast (CUDA; AMX/AVX512-BF16 CPUs, measured), else fp32",
    )
    channels_last: bool | Literal["auto"] = Field("auto", description="NHWC memory format (auto: as classify)")


class GateConfig(_Section):
    """The quality gate a generator passes before a run trusts its images (evaluate/generator_gate.py)."""

    mode: Literal["mark", "strict", "off"] = Field(
        "mark",
        description="mark: a failing generator's comparisons are marked and the answer says so first; strict: the "
        "run stops before training classifiers on it; off: measured and recorded, not applied",
    )
    min_class_fidelity: float = Field(
        0.90, ge=0, le=1, description="share of each class's images the real-trained classifier gives that class"
    )
    min_recall: float = Field(0.10, ge=0, le=1, description="recall of every class (0 = collapsed onto a few modes)")
    max_fd_ratio: float | None = Field(
        None, gt=0, description="FD at most this many times the real-vs-real floor at the same n (None: not gated)"
    )

    @model_validator(mode="before")
    @classmethod
    def _mode_alone(cls, data: Any) -> Any:
        return {"mode": data} if isinstance(data, str) else data  # `run.generator_gate: strict`


class RunConfig(_Section):
    """`pneumogan run`: which training conditions, seeds and real-data fractions the experiment covers."""

    conditions: list[ConditionName] = Field(
        default_factory=lambda: list(CONDITIONS),
        description="real: baseline; rebalanced: + synthetic minority to balance; enlarged: + synthetic of "
        "both classes at enlarge_ratio; synthetic_only: train on synthetic, test on real; weighted: as "
        "enlarged, with the synthetic images' loss weighted by synthetic_weight; pretrain_synthetic: the "
        "synthetic_only models fine-tuned on the real data (needs synthetic_only before it); filtered: as "
        "enlarged, keeping of filter_oversample × as many candidates those the real baseline's classifier finds "
        "most typical of their class (needs real before it); duplicated: real images repeated to enlarged's "
        "count and class mix (the count-matched control of enlarged, weighted and filtered); oversampled: the "
        "minority class's real images repeated to balance (the control of rebalanced). The last five are not run "
        "by default",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="classifier seeds per condition")
    fractions: list[float] = Field(
        default_factory=lambda: [1.0], min_length=1, description="low-data sweep: fractions of the real train split"
    )
    enlarge_ratio: float = Field(0.5, gt=0, description="enlarged: synthetic images per real image, per class")
    synthetic_only_per_class: int | None = Field(
        None, ge=1, description="synthetic_only: images per class (default: as many as the real class has)"
    )
    equal_steps: bool = Field(
        True,
        description="train every condition and fraction for the optimizer steps of the full-data baseline "
        "(classify.epochs epochs of all real images), so that more images do not also mean more training",
    )
    primary_condition: Literal["auto"] | ConditionName = Field(
        "auto",
        description="the condition of the one primary comparison (vs real, at run.primary_fraction); auto: "
        "enlarged when it runs (GAN images added to the real data, the use people ask about), else the first "
        "synthetic condition; every other comparison is secondary and Holm-corrected",
    )
    primary_metric: Literal["roc_auc", "accuracy"] = Field("roc_auc", description="metric of the primary comparison")
    primary_fraction: Literal["lowest"] | float = Field(
        "lowest",
        description="data fraction of the primary comparison: lowest, or one of run.fractions (declare it before "
        "the run, like the condition)",
    )
    sample_seed: int = Field(0, ge=0, description="latent seed of the synthetic sets")
    truncation: float = Field(
        1.0, gt=0, le=1, description="synthetic sets: latents scaled towards the mean latent (1 = no truncation)"
    )
    synthetic_weight: float = Field(
        0.5, gt=0, description="weighted: loss weight of each synthetic image relative to a real one"
    )
    ssl_pretrain: bool = Field(
        False,
        description="pretrain a self-supervised encoder (the ssl section) on each fraction's real training images, "
        "as a cached stage, and start every classifier from it (classify.init_from)",
    )
    filter_oversample: float = Field(
        2.0, ge=1, description="filtered: candidates drawn per kept synthetic image (the best-scored are kept)"
    )
    gan_eval_per_class: int = Field(200, ge=10, description="synthetic images per class for the GAN metrics")
    generator_gate: GateConfig = Field(
        default_factory=GateConfig, description="the quality gate (or just its mode: mark | strict | off)"
    )
    generator_seeds: Literal["paired", "shared"] = Field(
        "paired",
        description="paired: one generator per classifier seed, trained with that seed, so classifier seed k "
        "learns from generator k's images and every interval includes generator variance (costs one generator "
        "per seed); shared: one generator (seed `seed`) for all classifier seeds",
    )
    generator: Literal["gan", "diffusion"] = Field(
        "gan", description="which generator family makes the synthetic images: the gan section's, or diffusion's"
    )

    @model_validator(mode="after")
    def _primary_is_a_compared_condition(self) -> RunConfig:
        chosen = self.primary_condition
        if chosen == "real":
            raise ValueError("primary_condition cannot be real: the comparisons are each condition against real")
        if chosen != "auto" and chosen not in self.conditions:
            raise ValueError(f"primary_condition {chosen} is not one of run.conditions {self.conditions}")
        if self.primary_fraction != "lowest" and self.primary_fraction not in self.fractions:
            raise ValueError(f"primary_fraction {self.primary_fraction} is not one of run.fractions {self.fractions}")
        return self


class Config(_Section):
    name: str = "default"
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    classify: ClassifyConfig = Field(default_factory=ClassifyConfig)
    gan: GanConfig = Field(default_factory=GanConfig)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    ssl: SslConfig = Field(default_factory=SslConfig)
    run: RunConfig = Field(default_factory=RunConfig)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` → (['a', 'b'], value parsed as YAML, so numbers, booleans and lists work)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PneumoganError(f"override '{text}' must look like section.key=value")
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a bundled config (`tiny`, `quick`, `full`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = CONFIG_DIR / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise PneumoganError(f"config '{name_or_path}' not found: give a YAML path or one of: {names}")


def load_config(name_or_path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if name_or_path is not None:
        path = resolve_config_path(name_or_path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise PneumoganError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise PneumoganError(f"{path} must hold a mapping of sections")
    for item in overrides or []:
        keys, value = parse_override(item)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise PneumoganError(f"override '{item}': '{k}' is not a section")
        node[keys[-1]] = value
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PneumoganError(f"invalid config: {problems}") from None


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def config_hash(cfg: Config, sections: tuple[str, ...] | None = None) -> str:
    """A short fingerprint of the settings a job reads: resume state is only used for the config it was written for.

    `sections` names the top-level keys the job depends on (all when None), so adding or changing a key in
    another section (a new classifier option, say) does not throw away a half-finished GAN or SSL run.
    """
    dumped = fingerprint_sections(cfg, sections)
    return hashlib.sha256(yaml.safe_dump(dumped, sort_keys=False).encode()).hexdigest()[:16]


# keys added after resume states and cached stages were written: at their default they are left out of every
# fingerprint, so that adding them did not throw away earlier training (a half-finished study cell, a run's cache)
LATE_KEYS: dict[tuple[str, str], Any] = {("data", "repeat_train"): {}, ("run", "primary_fraction"): "lowest"}


def fingerprint_sections(cfg: Config, sections: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The named top-level sections (all when None) as JSON-ready dicts, late keys at their default left out."""
    dumped = cfg.model_dump(mode="json")
    if sections is not None:
        dumped = {key: dumped[key] for key in sections}
    for (section, key), default in LATE_KEYS.items():
        if isinstance(dumped.get(section), dict) and dumped[section].get(key, default) == default:
            dumped[section].pop(key, None)
    return dumped


# the top-level config keys each training job reads (its resume fingerprint)
SSL_SECTIONS = ("seed", "data", "split", "ssl")
GAN_SECTIONS = ("seed", "data", "split", "gan")
DIFFUSION_SECTIONS = ("seed", "data", "split", "diffusion")
CLASSIFY_SECTIONS = ("seed", "data", "split", "augment", "classify")
