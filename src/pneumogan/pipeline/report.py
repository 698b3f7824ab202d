"""The experiment report: `report.md` (images beside it in `report_assets/`) and a self-contained `report.html`
(images embedded as data URIs, no external scripts, fonts or styles), both built from one list of blocks."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pneumogan.evaluate.gan_metrics import kid_text
from pneumogan.evaluate.generator_gate import gate_sentence
from pneumogan.evaluate.plots import _plt, _save
from pneumogan.gan.quality import quality_warnings
from pneumogan.layout import EVAL_SCORES, HISTORY_JSON, REPORT_ASSETS, RunFolder, StageFolder, grid_files
from pneumogan.pipeline.wording import class_counts, condition_title, seed_list, synthetic_plan
from pneumogan.runs import atomic_write_text

NOTICE = "Research software, not a medical device: nothing here is a diagnosis or validated for clinical use."

Block = tuple[str, Any]  # ("h2", text) | ("p", text) | ("table", (header, rows)) | ("img", (path, caption))


def _fmt_ci(entry: dict[str, Any], scale: float = 100.0, digits: int = 1) -> str:
    mean = entry["mean"] * scale
    ci = entry.get("ci")
    if not ci:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{ci[0] * scale:.{digits}f}, {ci[1] * scale:.{digits}f}]"


def _fmt_diff(d: dict[str, Any]) -> str:
    """A difference in points with its seed-aware interval; without one (under 2 seeds) the seed count."""
    if not d.get("ci"):
        return f"{d['difference'] * 100:+.1f} ({d.get('n_seeds', 1)} seed, no interval)"
    return f"{d['difference'] * 100:+.1f} [{d['ci'][0] * 100:+.1f}, {d['ci'][1] * 100:+.1f}]"


def _history(stage: Path) -> list[dict[str, Any]]:
    path = StageFolder(stage).model / HISTORY_JSON
    return json.loads(path.read_text()) if path.is_file() else []


def _overlay_curves(fraction: dict[str, Any], out: Path, seed: str, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for cond, entry in fraction["conditions"].items():
        hist = _history(out / entry["seeds"][seed]["stage"])
        epochs = [h["epoch"] + 1 for h in hist]
        for ax, key in zip(axes, ("val_acc", "val_auc"), strict=True):
            ax.plot(epochs, [h[key] for h in hist], marker="o", ms=3, label=condition_title(cond))
    for ax, title in zip(axes, ("val accuracy (at 0.5)", "val ROC-AUC"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _overlay_roc(fraction: dict[str, Any], out: Path, seed: str, path: Path) -> Path:
    from sklearn.metrics import roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for cond, entry in fraction["conditions"].items():
        with np.load(StageFolder(out / entry["seeds"][seed]["stage"]).evaluation / EVAL_SCORES) as z:
            fpr, tpr, _ = roc_curve(z["y"], z["p"])
        auc = entry["seeds"][seed]["metrics"]["roc_auc"]
        ax.plot(fpr, tpr, label=f"{condition_title(cond)} AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _confusions(fraction: dict[str, Any], seed: str, path: Path) -> Path:
    plt = _plt()
    conds = list(fraction["conditions"])
    fig, axes = plt.subplots(1, len(conds), figsize=(3.2 * len(conds), 3.2), squeeze=False)
    for ax, cond in zip(axes[0], conds, strict=True):
        m = np.asarray(fraction["conditions"][cond]["seeds"][seed]["metrics"]["confusion_matrix"])
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > m.max() / 2 else "black")
        ax.set_xticks([0, 1], ["NORMAL", "PNEUM."])
        ax.set_yticks([0, 1], ["NORMAL", "PNEUM."])
        ax.set_title(condition_title(cond), fontsize=9)
        ax.set_xlabel("predicted")
    axes[0][0].set_ylabel("true")
    return _save(fig, path)


def _sweep(results: dict[str, Any], metric: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    fr = sorted(results["fractions"].values(), key=lambda f: f["fraction"])
    for cond in results["conditions"]:
        xs, ys, lo, hi = [], [], [], []
        for f in fr:
            s = f["conditions"].get(cond, {}).get("summary", {}).get(metric)
            if s is None:
                continue
            xs.append(f["fraction"] * 100)
            ys.append(s["mean"])
            ci = s.get("ci") or [s["mean"], s["mean"]]
            lo.append(ci[0])
            hi.append(ci[1])
        line = ax.plot(xs, ys, marker="o", label=condition_title(cond))[0]
        ax.fill_between(xs, lo, hi, alpha=0.15, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("% of the real training set")
    ax.set_ylabel(f"test {metric}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def paragraph(text: str) -> Block:
    return ("p", text)


def image(path: Path, caption: str) -> Block:
    return ("img", (path, caption))


def table(header: list[str], rows: list[list[str]]) -> Block:
    return ("table", (header, rows))


VERDICT_WORDS = {
    "improved": "better",
    "worse": "worse",
    "no_detectable_difference": "no detectable difference",
    "inconclusive": "inconclusive",
}


def headline_blocks(results: dict[str, Any]) -> list[Block]:
    """Every condition at every fraction in two tables: test ROC-AUC (mean over seeds with its 95 % CI), and the
    difference from the baseline with its seed-aware interval and the computed verdict."""
    fractions = sorted(results["fractions"].values(), key=lambda f: f["fraction"])
    if not fractions:
        return []
    header = ["condition", *(f"{f['fraction'] * 100:g} % real" for f in fractions)]
    conditions = list(dict.fromkeys(c for f in fractions for c in f["conditions"]))
    comparisons = [r for r in results.get("comparisons", []) if r["metric"] == "roc_auc"]
    auc_rows = [
        [
            condition_title(c),
            *(_fmt_ci(f["conditions"][c]["summary"]["roc_auc"]) if c in f["conditions"] else "—" for f in fractions),
        ]
        for c in conditions
    ]
    diff_rows = _verdict_rows(conditions, fractions, [r for r in comparisons if r.get("baseline", "real") == "real"])
    control_rows = _verdict_rows(conditions, fractions, [r for r in comparisons if r.get("baseline", "real") != "real"])
    seeds = seed_list(results["seeds"])
    kind = next(iter(fractions[0]["conditions"].values()))["summary"]["roc_auc"].get("ci_kind", "")
    blocks: list[Block] = [
        ("h2", "Headline"),
        paragraph(f"Test ROC-AUC %, mean over seeds {seeds} with its 95 % CI ({kind}):"),
        table(header, auc_rows),
    ]
    if diff_rows:
        combined = any(r.get("se_test") is not None for r in comparisons)
        kind = (
            "its 95 % interval of training variance and the test images' sampling combined"
            if combined
            else "the 95 % t-interval over per-seed paired differences (training variance given this test set)"
        )
        text = f"Difference from the baseline in ROC-AUC points, with {kind}, and the verdict "
        text += "(secondaries Holm-corrected):"
        blocks += [paragraph(text), table(header, diff_rows)]
    if control_rows:
        text = (
            "Difference from the count-matched control (the same number of real images, duplicated, in the same class "
            "mix and steps: more images, or better ones?), with its interval and verdict:"
        )
        blocks += [paragraph(text), table(header, control_rows)]
    return blocks


def _verdict_rows(
    conditions: list[str], fractions: list[dict[str, Any]], records: list[dict[str, Any]]
) -> list[list[str]]:
    """One row per compared condition: its difference, interval and verdict at each fraction."""
    found = {(r["condition"], r["fraction"]): r for r in records}
    rows = []
    for condition in conditions:
        cells = []
        for f in fractions:
            record = found.get((condition, f["fraction"]))
            if record is None:
                cells.append("—")
                continue
            primary = " (primary)" if record["primary"] else ""
            verdict = VERDICT_WORDS[record["verdict"]]
            lo, hi = record["ci"] or (0.0, 0.0)
            if record["verdict"] == "no_detectable_difference" and (lo > 0 or hi < 0):
                verdict += " after Holm"  # its own interval excludes zero; the corrected test does not
            cells.append(f"{_fmt_diff(record)}: {verdict}{primary}")
        if any(c != "—" for c in cells):
            rows.append([condition_title(condition), *cells])
    return rows


def headline_markdown(results: dict[str, Any]) -> str:
    """The headline tables as Markdown (what docs/results.md quotes from a committed run)."""
    return render_markdown(headline_blocks(results)[1:], Path("."))


def build_blocks(results: dict[str, Any], out: Path) -> list[Block]:
    blocks: list[Block] = [("h1", f"PneumoGAN experiment: {results['name']}"), ("note", NOTICE)]
    if results.get("answer"):
        blocks.append(paragraph(results["answer"]))
    if len(results["fractions"]) > 1 or results.get("comparisons"):
        blocks += headline_blocks(results)
    blocks += _data_blocks(results)
    blocks.append(("h2", "Verdicts (computed from seed-aware intervals, not written by hand)"))
    blocks.append(
        paragraph(
            "The primary comparison comes first; the others are secondary, Holm-corrected within their family "
            "(against the real baseline; against the count-matched control). Each seed pair is scored on the same "
            "test images, so the spread over seeds holds training variance given this test set; where the run "
            "stored the test images' bootstrap, the verdict's interval adds their sampling variance too. With "
            "fewer than 3 seeds every verdict is inconclusive."
        )
    )
    blocks += [("li", v) for v in results["verdicts"]] or [paragraph("No condition to compare with the baseline.")]
    for label, fraction in sorted(results["fractions"].items(), key=lambda kv: -kv[1]["fraction"]):
        blocks += _fraction_blocks(results, label, fraction, out)
    if len(results["fractions"]) > 1:
        sweep = _sweep(results, "roc_auc", out / REPORT_ASSETS / "sweep_auc.png")
        blocks.append(("h2", "Low-data sweep"))
        blocks.append(image(sweep, "Test ROC-AUC against the fraction of real training data (95 % CI bands)"))
    blocks.append(("h2", "Stages"))
    stages = [[k, f"{v['seconds']:.1f}", "cached" if v["cached"] else "ran"] for k, v in results["stages"].items()]
    blocks.append(table(["stage", "seconds (when it ran)", "this invocation"], stages))
    return blocks


def _data_blocks(results: dict[str, Any]) -> list[Block]:
    d = results["data"]
    counts = d["split"].get("counts", {})
    classes = list(next(iter(counts.values()), {}).keys())
    rows = [[split, *(str(n) for n in per_class.values())] for split, per_class in counts.items()]
    text = (
        f"Source `{results['config']['data']['source']}`: {d['total']} files, {d['bad']} unusable, "
        f"{d['duplicate_groups']} exact-duplicate groups, {d['patients_in_two_splits']} file-name patient ids in "
        "more than one source split. Patient-grouped split used for training (images per split and class):"
    )
    blocks: list[Block] = [("h2", "Data"), paragraph(text)]
    return blocks + ([table(["split", *classes], rows)] if rows else [])


def _fraction_blocks(results: dict[str, Any], label: str, fraction: dict[str, Any], out: Path) -> list[Block]:
    """Training budget, test metrics, differences, curves, ROC, confusions, GAN and Grad-CAM of one fraction."""
    assets = out / REPORT_ASSETS
    seed = str(results["seeds"][0])
    conditions = fraction["conditions"]
    n_test = next(iter(conditions.values()))["seeds"][seed]["metrics"]["n"]
    blocks: list[Block] = [
        ("h2", f"Real training data: {fraction['fraction'] * 100:g} %"),
        paragraph(
            f"Real training images: {class_counts(fraction['real_train_counts'])}. Synthetic images per condition: "
            f"{synthetic_plan(fraction['synthetic_counts'])}. Test: the official test split, {n_test} images, "
            "decision thresholds chosen on val."
        ),
    ]
    if "training" in fraction:
        budget = "; ".join(
            f"{c}: {t['images']} images × {t['epochs']} epochs = {t['steps']} steps"
            for c, t in fraction["training"].items()
        )
        blocks.append(paragraph(f"Training per condition ({budget})."))
    shown = ("accuracy", "roc_auc", "recall", "specificity", "f1", "ece")
    header = ["condition", "accuracy %", "ROC-AUC %", "sensitivity %", "specificity %", "F1 %", "ECE %"]
    rows = [[condition_title(c), *(_fmt_ci(e["summary"][m]) for m in shown)] for c, e in conditions.items()]
    kind = next(iter(conditions.values()))["summary"]["accuracy"].get("ci_kind", "")
    blocks.append(paragraph(f"Test metrics, mean over seeds {seed_list(results['seeds'])} with 95 % CI ({kind}):"))
    blocks.append(table(header, rows))
    diffs = [
        [condition_title(c), *(_fmt_diff(e["vs_real"][m]) for m in ("roc_auc", "accuracy"))]
        for c, e in conditions.items()
        if "vs_real" in e
    ]
    if diffs:
        blocks.append(
            paragraph(
                "Difference from the baseline (points, mean over paired seeds) with its 95 % t-interval over the "
                "per-seed paired differences:"
            )
        )
        blocks.append(table(["condition", "Δ ROC-AUC", "Δ accuracy"], diffs))
    curves = _overlay_curves(fraction, out, seed, assets / f"curves_{label}.png")
    blocks.append(image(curves, f"Validation curves per condition (seed {seed})"))
    blocks.append(
        image(_overlay_roc(fraction, out, seed, assets / f"roc_{label}.png"), f"Test ROC curves (seed {seed})")
    )
    confusions = _confusions(fraction, seed, assets / f"confusion_{label}.png")
    blocks.append(image(confusions, f"Test confusion matrices at the val-chosen thresholds (seed {seed})"))
    if fraction["gan"]:
        blocks += _gan_blocks(fraction, out)
    if "gradcam" in fraction:
        blocks += _gradcam_blocks(fraction["gradcam"], out)
    return blocks


def _gradcam_blocks(x: dict[str, Any], out: Path) -> list[Block]:
    text = (
        f"Evidence for PNEUMONIA ({x['method']}, layer `{x['layer']}`) on the first {x['per_class']} NORMAL (left) "
        f"and PNEUMONIA (right) test images. Over all {x['n_pneumonia']} PNEUMONIA test images the median share "
        f"of the map inside the central thoracic box is {x['median_thorax_share']:.2f} (a uniform map: "
        f"{x['uniform_share']:.2f}); {x['share_above_uniform'] * 100:.0f} % exceed uniform. Grad-CAM shows "
        "where the network looked, not a localisation of disease."
    )
    return [
        ("h3", "Grad-CAM (baseline model)"),
        paragraph(text),
        image(out / x["png"], "Grad-CAM overlays (top: input, bottom: map)"),
    ]


def _gan_blocks(fraction: dict[str, Any], out: Path) -> list[Block]:
    header = ["class", "n per side", "FD", "FD / floor", "KID ± sd", "precision", "recall", "near-copies"]
    header.append("class fidelity")
    rows = []
    for cls, g in fraction["gan"].items():
        m = g["metrics"]
        ratio = m.get("fd_ratio")
        rows.append(
            [
                cls,
                str(m.get("n", m.get("n_fake", ""))),
                f"{m['fd']:.2f}",
                "n/a" if ratio is None else f"{ratio:.1f}×",
                kid_text(m["kid"], m.get("kid_std")),
                f"{m['precision']:.2f}",
                f"{m['recall']:.2f}",
                f"{m['near_copy_fraction']:.3f}",
                f"{m['class_fidelity']:.2f}",
            ]
        )
    note = (
        "Generator metrics per class against the class's full real training split, on equal numbers of real and "
        "synthetic images, in the feature space of this run's baseline classifier (not comparable to "
        "Inception-FID; FD / floor: against two disjoint real samples of the same n):"
    )
    blocks: list[Block] = [("h3", "Generator"), paragraph(note), table(header, rows)]
    if fraction.get("generator_gate"):
        blocks.append(("note", gate_sentence(fraction["generator_gate"])))
    per_class = {cls: g["metrics"] for cls, g in fraction["gan"].items()}
    for warning in quality_warnings({**per_class, "classes": list(per_class)}):
        blocks.append(("note", f"Warning: {warning}."))
    seen: set[str] = set()
    for cls, g in fraction["gan"].items():
        grids = grid_files(out / g["gan_stage"])
        if grids and g["gan_stage"] not in seen:
            seen.add(g["gan_stage"])
            blocks.append(image(grids[-1], f"Sample grid, fixed latents, last step ({g['gan_stage']})"))
        montage = out / g["eval_stage"] / f"real_vs_synthetic_{cls}.png"
        if montage.is_file():
            blocks.append(image(montage, f"{cls}: real (top) vs synthetic (bottom)"))
    return blocks


def _table_md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def render_markdown(blocks: list[Block], out: Path) -> str:
    parts = []
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append("#" * int(kind[1]) + " " + value)
        elif kind == "note":
            parts.append(f"> **{value}**")
        elif kind == "li":
            parts.append(f"- {value}")
        elif kind == "table":
            parts.append(_table_md(*value))
        elif kind == "img":
            path, caption = value
            parts.append(f"![{caption}]({Path(path).resolve().relative_to(out.resolve())})\n\n*{caption}*")
        else:
            parts.append(value)
    return "\n\n".join(parts).replace("\n\n- ", "\n- ") + "\n"


def _inline(text: str) -> str:
    """Escape text, then render `code` spans (the only inline markup the blocks use)."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


STYLE = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f2f2f2}.note{background:#fff4e5;border-left:4px solid #f0a030;padding:.6em 1em}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{color:#555;font-size:.9em}"""


def render_html(blocks: list[Block]) -> str:
    body = []
    items: list[str] = []
    for kind, value in blocks:
        if kind != "li" and items:
            body.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline(value)}</{kind}>")
        elif kind == "note":
            body.append(f'<p class="note"><strong>{_inline(value)}</strong></p>')
        elif kind == "li":
            items.append(f"<li>{_inline(value)}</li>")
        elif kind == "table":
            header, rows = value
            head = "".join(f"<th>{_inline(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif kind == "img":
            path, caption = value
            data = base64.b64encode(Path(path).read_bytes()).decode()
            body.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(caption)}</figcaption></figure>"
            )
        else:
            body.append(f"<p>{_inline(value)}</p>")
    if items:
        body.append("<ul>" + "".join(items) + "</ul>")
    title = html.escape(next((v for k, v in blocks if k == "h1"), "PneumoGAN report"))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(results: dict[str, Any], out: Path, log: Callable[[str], None] = print) -> None:
    blocks = build_blocks(results, out)
    folder = RunFolder(out)
    atomic_write_text(folder.report_md, render_markdown(blocks, out))
    atomic_write_text(folder.report_html, render_html(blocks))
