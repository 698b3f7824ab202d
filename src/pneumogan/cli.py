"""Command-line interface: a thin map from commands to library functions, nothing more."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pneumogan import __version__
from pneumogan.errors import PneumoganError

app = typer.Typer(
    help="PneumoGAN: GAN augmentation and CNN classifiers for pneumonia detection from chest X-rays. "
    "Research software, not a medical device.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and prepare datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
classify_app = typer.Typer(help="Train and evaluate classifiers.", no_args_is_help=True)
app.add_typer(classify_app, name="classify")
gan_app = typer.Typer(help="Train GANs, sample synthetic sets, measure them.", no_args_is_help=True)
app.add_typer(gan_app, name="gan")
diffusion_app = typer.Typer(
    help="Train a class-conditional diffusion model (sample and evaluate it with the gan commands).",
    no_args_is_help=True,
)
app.add_typer(diffusion_app, name="diffusion")
ssl_app = typer.Typer(help="Self-supervised pretraining of classifier backbones.", no_args_is_help=True)
app.add_typer(ssl_app, name="ssl")

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one error line, never hard-wrapped

SourceArg = Annotated[str, typer.Argument(help="Kaggle-layout folder, MedMNIST .npz, or pneumoniamnist:SIZE")]
MaxPixels = Annotated[int | None, typer.Option(help="refuse images with more pixels than this (w×h)")]
Workers = Annotated[int, typer.Option(help="decoding processes; 0 = one per CPU core")]


@app.command()
def version() -> None:
    """Print the package version."""
    console.print(__version__)


@data_app.command("check")
def data_check(
    source: SourceArg,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the full report as JSON")] = None,
    max_pixels: MaxPixels = None,
    workers: Workers = 0,
) -> None:
    """Integrity report: counts, sizes, modes, bad files, duplicates and patient overlap. Exit 0 when the scan ran."""
    from pneumogan.data.decoded import DEFAULT_MAX_PIXELS
    from pneumogan.data.integrity import check_source, print_report
    from pneumogan.data.sources import open_source
    from pneumogan.runs import atomic_write_json

    report = check_source(open_source(source), max_pixels=max_pixels or DEFAULT_MAX_PIXELS, workers=workers)
    print_report(report, console)
    if json_path:
        atomic_write_json(json_path, report)
        console.print(f"report written to {json_path}")


@data_app.command("prepare")
def data_prepare(
    source: SourceArg,
    size: Annotated[int, typer.Option("--size", help="side of the square output images in px")] = 64,
    cache_dir: Annotated[Path | None, typer.Option(help="cache root (default $PNEUMOGAN_CACHE_DIR/prepared)")] = None,
    max_pixels: MaxPixels = None,
    workers: Workers = 0,
    force: Annotated[bool, typer.Option(help="rebuild even when a cached copy exists")] = False,
    val_fraction: Annotated[float, typer.Option(help="share of the training pool for the grouped val split")] = 0.1,
    seed: Annotated[int, typer.Option(help="seed of the patient-grouped split")] = 0,
    fit: Annotated[
        str, typer.Option(help="how images become square: auto | crop | squeeze | pad (see data.fit)")
    ] = "auto",
) -> None:
    """Decode every image once into a cached uint8 dataset at SIZE px and show the patient-grouped split."""
    from pneumogan.data.decoded import DEFAULT_MAX_PIXELS
    from pneumogan.data.geometry import RECIPES, square_source_advice
    from pneumogan.data.prepare import prepare
    from pneumogan.data.sources import open_source
    from pneumogan.data.splits import SplitSpec, grouped_split, split_summary

    ds = prepare(
        open_source(source),
        size,
        cache_root=cache_dir,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        workers=workers,
        force=force,
        fit=fit,
    )
    meta = ds.meta
    console.print(
        f"[bold]Prepared[/bold] {meta['n']} images at {size}px in {ds.root} "
        f"(built in {meta['seconds']} s; {meta['converted']} converted)"
    )
    for item in meta["skipped"]:
        console.print(f"  skipped {item['path']}: {item['reason']} {item['detail']}".rstrip(), style="yellow")
    if meta["square_source"]:
        console.print(f"Geometry: {square_source_advice(meta['square_source'], meta['fit'])}", style="yellow")
    else:
        console.print(f"Geometry: images made square by fit={meta['fit']} ({RECIPES[meta['fit']]})")
    spec = SplitSpec(val_fraction=val_fraction, seed=seed)
    splits = grouped_split(ds.splits, ds.labels, ds.patient_ids, spec, ds.has_patient_ids)
    summary = split_summary(splits, ds.labels, ds.patient_ids, tuple(meta["class_names"]))
    console.print(f"Split (val_fraction={val_fraction}, seed={seed}): {json.dumps(summary['counts'])}")
    overlap = summary["patient_overlap"]
    console.print(f"Patients in two splits after the split: {len(overlap)}", style="red" if overlap else "green")


PrecisionOpt = Annotated[
    str,
    typer.Option(
        "--precision", help="auto (bf16 where this machine runs it fast: CUDA, AMX/AVX512-BF16 CPUs), fp32 or bf16"
    ),
]
ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML file or bundled name (tiny, quick, full)")]
Overrides = Annotated[list[str] | None, typer.Argument(help="section.key=value overrides")]


def _resolved_config(config: str | None, overrides: list[str] | None, out: Path):
    """Load the config and record the resolved version next to the job's outputs."""
    from pneumogan.config import dump_config, load_config
    from pneumogan.layout import RUN_CONFIG
    from pneumogan.runs import atomic_write_text

    cfg = load_config(config, overrides)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_CONFIG, dump_config(cfg))
    return cfg


@classify_app.command("train", context_settings={"allow_extra_args": False})
def classify_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for the checkpoint and history")],
    config: ConfigOpt = None,
    overrides: Overrides = None,
    resume: Annotated[bool, typer.Option(help="continue from out/last_state.pt when present")] = True,
) -> None:
    """Train a classifier; model selection and the decision threshold use the patient-grouped val split."""
    from pneumogan.classify.train import train

    train(_resolved_config(config, overrides, out), out, resume=resume, log=console.print)


@ssl_app.command("pretrain", context_settings={"allow_extra_args": False})
def ssl_pretrain(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for the encoder and its history")],
    config: ConfigOpt = None,
    overrides: Overrides = None,
    resume: Annotated[bool, typer.Option(help="continue from out/ssl_state.pt when present")] = True,
) -> None:
    """SimSiam pretraining of `ssl.arch` on the real training images (never val or test); start a classifier
    from the result with `classify.init_from=OUT`."""
    from pneumogan.ssl.train import pretrain

    pretrain(_resolved_config(config, overrides, out), out, resume=resume, log=console.print)


@classify_app.command("ensemble")
def classify_ensemble(
    members: Annotated[list[Path], typer.Argument(help="two or more classifier checkpoint folders (seeds, sizes)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the ensemble's model folder")],
) -> None:
    """One model folder averaging the members' probabilities (each at its own resolution); its threshold and
    calibration are chosen on val. predict, evaluate, serve, explain, TTA and export accept it."""
    from pneumogan.classify.ensemble import build_ensemble

    build_ensemble(members, out, log=console.print)


@classify_app.command("evaluate")
def classify_evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint folder (model.safetensors + meta.json)")],
    split: Annotated[str, typer.Option(help="train, val or test")] = "test",
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the metrics here")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for plots (default CHECKPOINT/eval_SPLIT)")] = None,
    data: Annotated[str | None, typer.Option(help="data source, when it moved since training")] = None,
    precision: PrecisionOpt = "auto",
    transductive: Annotated[
        bool,
        typer.Option(
            help="add the EM prior-shift adjustment and test-time BatchNorm statistics (both look at the "
            "unlabelled split; reported apart)"
        ),
    ] = False,
) -> None:
    """Metrics with 95 % bootstrap CIs at the stored val-chosen threshold, calibration, and plots."""
    from pneumogan.classify.evaluate import evaluate_checkpoint, summary_lines
    from pneumogan.runs import atomic_write_json

    res = evaluate_checkpoint(checkpoint, split, out, data_source=data, precision=precision, transductive=transductive)
    for line in summary_lines(res):
        console.print(line, style="yellow" if line.startswith("warning") else None)
    if json_path:
        atomic_write_json(json_path, res)


@app.command()
def predict(
    checkpoint: Annotated[str, typer.Argument(help="classifier checkpoint folder, or `bundled`")],
    paths: Annotated[list[Path], typer.Argument(help="image files and folders (PNG/JPEG/DICOM)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write results to FILE.csv or FILE.json")] = None,
    precision: PrecisionOpt = "auto",
    operating_point: Annotated[
        str,
        typer.Option(
            "--operating-point",
            help="the threshold to label with: default (the model's own) or a val-chosen one, sens90 | sens95 | "
            "sens99 (see the model card)",
        ),
    ] = "default",
) -> None:
    """Predict files and folders; unreadable files are listed with their reason. Research use only."""
    from pneumogan.classify.predict import for_csv, predict_files
    from pneumogan.runs import atomic_write_csv, atomic_write_json

    res = predict_files(checkpoint, [str(p) for p in paths], precision=precision, operating_point=operating_point)
    rows, bad = res["predictions"], res["bad"]
    for row in rows:
        console.print(f"{row['file']}: {row['label']} (P(pneumonia) {row['p_pneumonia']:.3f})")
        for warning in row["warnings"]:
            console.print(f"  [yellow]warning[/yellow]: {warning}")
    for item in bad:
        err_console.print(f"{item['file']}: [red]{item['reason']}[/red] {item['detail']}")
    console.print(f"{len(rows)} predicted, {len(bad)} unreadable. Research software, not a medical device.")
    if out and out.suffix.lower() == ".json":
        atomic_write_json(out, res)
    elif out:
        fields = ["file", *[k for k in (rows[0] if rows else {}) if k != "file"], "error"]
        errors = [{"file": b["file"], "error": f"{b['reason']}: {b['detail']}"} for b in bad]
        atomic_write_csv(out, [for_csv(r) for r in rows] + errors, fields)
    if not rows:
        raise typer.Exit(1)


@classify_app.command("fit-ood")
def classify_fit_ood(
    checkpoint: Annotated[Path, typer.Argument(help="classifier checkpoint or ensemble folder")],
    quantile: Annotated[
        float, typer.Option(help="the check flags about 1 − this share of (varied) val images")
    ] = 0.995,
    data: Annotated[str | None, typer.Option(help="data source, when it moved since training")] = None,
    method: Annotated[
        str, typer.Option(help="outlier_exposure (default) or mahalanobis (a Gaussian of the features instead)")
    ] = "outlier_exposure",
) -> None:
    """Fit the out-of-distribution check beside a checkpoint (training does it; this refits or upgrades one)."""
    from pneumogan.classify.ood_fit import fit_checkpoint_ood

    fit_checkpoint_ood(checkpoint, quantile, data, log=console.print, method=method)


@gan_app.command("train")
def gan_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for checkpoints, grids and history")],
    config: ConfigOpt = None,
    overrides: Overrides = None,
    resume: Annotated[bool, typer.Option(help="continue from out/train_state.pt when present")] = True,
) -> None:
    """Train a DCGAN, conditional GAN or AC-GAN on the real training split."""
    from pneumogan.gan.train import train_gan

    train_gan(_resolved_config(config, overrides, out), out, resume=resume, log=console.print)


@diffusion_app.command("train")
def diffusion_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for checkpoints, grids and history")],
    config: ConfigOpt = None,
    overrides: Overrides = None,
    resume: Annotated[bool, typer.Option(help="continue from out/train_state.pt when present")] = True,
) -> None:
    """Train the class-conditional diffusion model (the diffusion section) on the real training split."""
    from pneumogan.diffusion.train import train_diffusion

    train_diffusion(_resolved_config(config, overrides, out), out, resume=resume, log=console.print)


@gan_app.command("combine")
def gan_combine(
    members: Annotated[list[Path], typer.Argument(help="unconditional GAN folders, one per class (dcgan runs)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the class-conditional generator")],
) -> None:
    """One class-conditional generator from per-class ones (sample, evaluate and serve take it like a cGAN's)."""
    from pneumogan.gan.checkpoint import combine_generators

    path = combine_generators(members, out)
    console.print(f"per-class generator written to {path}")


@gan_app.command("sample")
def gan_sample(
    checkpoint: Annotated[Path, typer.Argument(help="GAN checkpoint folder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="new folder for the synthetic set")],
    per_class: Annotated[int, typer.Option("--per-class", help="images per class")] = 100,
    seed: Annotated[int, typer.Option(help="latent seed of the set")] = 0,
    truncation: Annotated[
        float, typer.Option(help="ψ in (0, 1]: latents scaled towards the mean (cleaner, less varied images)")
    ] = 1.0,
    precision: PrecisionOpt = "auto",
) -> None:
    """Write a Kaggle-layout folder of synthetic PNGs with manifest.csv (a data source for classifiers)."""
    from pneumogan.gan.sample import sample_set

    path = sample_set(checkpoint, per_class, out, seed=seed, precision=precision, truncation=truncation)
    console.print(f"synthetic set written to {path} (manifest.csv lists file, class, latent seed, generator)")


@gan_app.command("evaluate")
def gan_evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="generator folder (a GAN's or a diffusion model's)")],
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the metrics here")] = None,
    n: Annotated[int, typer.Option("--n", help="synthetic images per class")] = 500,
    reference: Annotated[Path | None, typer.Option(help="reference classifier checkpoint (default: train one)")] = None,
    encoder: Annotated[
        Path | None, typer.Option(help="an `ssl pretrain` folder: also measure in its label-free feature space")
    ] = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """FD, KID, precision/recall, near-copies and class fidelity per class and overall, and the quality gate."""
    from pneumogan.config import GateConfig
    from pneumogan.evaluate.gan_metrics import kid_text
    from pneumogan.evaluate.generator_gate import gate_sentence, judge
    from pneumogan.gan.evaluate import evaluate_gan
    from pneumogan.gan.quality import quality_warnings
    from pneumogan.runs import atomic_write_json

    res = evaluate_gan(checkpoint, n, reference, log=console.print, precision=precision, encoder=encoder)
    console.print(res["note"], style="yellow")
    console.print(f"{res['real_reference']}; {res['n_per_class']} synthetic images per class")
    for key in [k for k in (*res["classes"], "overall") if k in res]:
        r = res[key]
        console.print(
            f"{key:10s} n {r['n']}  FD {r['fd']:.3f}  KID {kid_text(r['kid'], r['kid_std'])}  "
            f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  near-copies {r['near_copy_fraction']:.2%}  "
            f"class fidelity {r['class_fidelity']:.2%}  (classifier features)"
        )
    for key, r in res.get("ssl_encoder", {}).items():
        if isinstance(r, dict):
            console.print(
                f"{key:10s} n {r['n']}  FD {r['fd']:.3f}  KID {kid_text(r['kid'], r['kid_std'])}  "
                f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  (self-supervised encoder features)"
            )
    for warning in quality_warnings(res):
        console.print(f"warning: {warning}", style="yellow")
    gate = judge(res, GateConfig())  # the default gate of `pneumogan run` (run.generator_gate)
    res["generator_gate"] = gate
    console.print(gate_sentence(gate), style="red" if gate["status"] == "failed" else "green")
    if json_path:
        atomic_write_json(json_path, res)


@app.command()
def explain(
    checkpoint: Annotated[Path, typer.Argument(help="classifier checkpoint folder, or `bundled`")],
    paths: Annotated[list[Path], typer.Argument(help="image files and folders (PNG/JPEG/DICOM)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the overlays and predictions.csv")],
    method: Annotated[str, typer.Option(help="gradcam or gradcam++")] = "gradcam",
    target: Annotated[str, typer.Option(help="class the map explains: pneumonia or predicted")] = "pneumonia",
    layer: Annotated[
        str | None, typer.Option(help="target layer (default: the architecture's last feature map)")
    ] = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Grad-CAM heat-map overlays (PNG, original | overlay) next to each prediction."""
    from pneumogan.explain.files import explain_files

    res = explain_files(
        checkpoint,
        list(paths),
        out,
        method=method,
        layer=layer,
        target=target,
        precision=precision,  # type: ignore[arg-type]
    )
    for row in res["predictions"]:
        console.print(f"{row['file']}: {row['label']} (P(pneumonia) {row['p_pneumonia']:.3f}) → {row['overlay_png']}")
    for bad in res["bad"]:
        console.print(f"[yellow]skipped[/yellow] {bad['file']}: {bad['reason']}")
    console.print(f"{len(res['predictions'])} overlays in {out}")
    if not res["predictions"]:
        raise typer.Exit(1)


@app.command()
def serve(
    checkpoint: Annotated[
        str | None, typer.Argument(help="classifier checkpoint folder; omitted or `bundled`: the bundled model")
    ] = None,
    host: Annotated[str, typer.Option(help="interface to bind; 0.0.0.0 exposes it to the network")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 7860,
    gan: Annotated[Path | None, typer.Option(help="GAN checkpoint: adds the synthetic X-rays tab")] = None,
    max_upload_mb: Annotated[float, typer.Option(help="largest accepted upload in MB (413 above)")] = 20.0,
    precision: PrecisionOpt = "auto",
    token: Annotated[
        str | None, typer.Option(help="access token (default $PNEUMOGAN_API_TOKEN); required off loopback")
    ] = None,
    insecure: Annotated[bool, typer.Option(help="serve off loopback without a token (anyone can use it)")] = False,
) -> None:
    """Web UI (Gradio) and JSON API (POST /api/v1/predict, GET /api/v1/model, GET /healthz), fully offline."""
    from pneumogan.serve.app import serve as run_server

    run_server(
        checkpoint,
        host,
        port,
        gan,
        int(max_upload_mb * 1024 * 1024),
        precision=precision,
        token=token,
        insecure=insecure,
    )


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="classifier checkpoint folder")],
    onnx: Annotated[Path, typer.Option("--onnx", help="output .onnx file")],
) -> None:
    """Export a classifier to ONNX (softmax outputs; preprocessing, classes and threshold in the metadata)."""
    from pneumogan.export.onnx import export_onnx

    res = export_onnx(checkpoint, onnx)
    console.print(f"ONNX model written to {res['path']}")


@app.command()
def power(
    results: Annotated[Path, typer.Argument(help="a run's results.json")],
    effect: Annotated[
        float | None, typer.Option("--effect", help="a difference in points (1.0 = one AUC point): seeds it needs")
    ] = None,
    target: Annotated[float, typer.Option("--power", min=0.5, max=0.99, help="the power asked for")] = 0.8,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the table here")] = None,
) -> None:
    """What a run's design could detect: per comparison, the effect found with the asked power at its own level
    (Holm's first step for secondaries) and, with --effect, the seeds that effect would need."""
    from pneumogan.pipeline.power import design_lines, design_table

    if not results.is_file():
        raise PneumoganError(f"{results} is not a file; pass a run's results.json")
    rows = design_table(json.loads(results.read_text()), None if effect is None else effect / 100, target)
    for line in design_lines(rows, effect):
        console.print(line)
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2) + "\n")


@app.command("run")
def run_experiment(
    config: Annotated[
        str, typer.Option("--config", "-c", help="YAML file or bundled name (tiny, quick, full)")
    ] = "quick",
    data: Annotated[str | None, typer.Option(help="data source (default: data.source, i.e. $PNEUMOGAN_DATA)")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="run folder (default runs/<timestamp>-<name>)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="without --out: continue the newest runs/*-<name> folder")] = False,
    executor: Annotated[
        str,
        typer.Option(
            help="serial: one stage at a time in this process; local: --workers worker processes; ray: a Ray cluster"
        ),
    ] = "serial",
    workers: Annotated[int, typer.Option(min=1, help="--executor local: worker processes (the cores split)")] = 2,
    threads: Annotated[
        int | None, typer.Option(min=1, help="threads (local) or CPUs (ray) per stage; default: cores / workers, 1")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="--executor ray: the cluster (e.g. head:6379); default: start a local one")
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="print the stage graph (cached or not) and run nothing")] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow: a server (http://host:5000), a database (sqlite:///mlflow.db) or a folder; the experiment "
            "is a run with each training stage nested under it (default: $MLFLOW_TRACKING_URI; TensorBoard files "
            "are written either way)"
        ),
    ] = None,
    overrides: Overrides = None,
) -> None:
    """The whole experiment: data check, GAN(s), synthetic sets, classifiers per condition, evaluation, report.

    Rerunning with the same --out (or --resume) skips finished stages and resumes the interrupted one.
    """
    from pneumogan.config import load_config
    from pneumogan.layout import RunFolder
    from pneumogan.pipeline.experiment import default_run_dir, latest_run_dir, plan_pipeline, run_pipeline

    cfg = load_config(config, overrides)
    if data:
        cfg.data.source = data
    if out is None:
        out = (latest_run_dir(cfg) if resume or plan else None) or default_run_dir(cfg)
    if plan:
        for line in plan_lines(plan_pipeline(cfg, out), out):
            console.print(line, highlight=False, markup=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    log_file = RunFolder(out).log.open("a", encoding="utf-8")

    def log(message: str) -> None:
        console.print(message, highlight=False, markup=False)
        log_file.write(message + "\n")
        log_file.flush()

    log(f"run folder {out} (rerun with --out {out} to resume)")
    try:
        run_pipeline(
            cfg,
            out,
            log=log,
            executor=executor,
            workers=workers,
            threads=threads,
            address=address,
            tracking_uri=tracking_uri,
        )
    finally:
        log_file.close()


def plan_lines(graph: dict, out: Path) -> list[str]:
    """`pneumogan run --plan` in words: stage counts by kind, cached or to run, and the time still to run where
    this run folder has measured a kind."""
    from collections import Counter

    stages, per_kind = graph["stages"], graph["seconds_per_kind"]
    kinds = Counter(s["kind"] for s in stages)
    cached = Counter(s["kind"] for s in stages if s["cached"])
    lines = [f"{out}: {len(stages)} stages, {sum(cached.values())} cached, {len(stages) - sum(cached.values())} to run"]
    lines.append(f"  {'kind':<10} {'stages':>6} {'cached':>6} {'to run':>6}  seconds each (measured here)")
    left, unknown = 0.0, []
    for kind, n in kinds.items():
        todo = n - cached[kind]
        each = per_kind.get(kind)
        lines.append(f"  {kind:<10} {n:>6} {cached[kind]:>6} {todo:>6}  {f'{each:.1f}' if each else '—'}")
        if todo and each:
            left += todo * each
        elif todo:
            unknown.append(kind)
    estimate = f"about {left / 60:.0f} min of stage time to run serially" if left else "no measured stage time yet"
    lines.append(estimate + (f" (not counting {', '.join(unknown)}: no finished stage here)" if unknown else ""))
    return lines


def main() -> None:
    """Entry point: user errors print one line and exit 1; no tracebacks for problems the user can fix."""
    try:
        app()
    except PneumoganError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
