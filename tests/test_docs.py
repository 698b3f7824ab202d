"""The README is a short manual whose figures are the committed JSON's; the docs build; the generated reference
pages match the code that generates them."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "benchmarks" / "results"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_is_a_short_manual_with_the_sections_a_newcomer_needs():
    assert len(README.splitlines()) <= 300
    headings = re.findall(r"^## (.+)$", README, flags=re.M)
    for needed in (
        "Install",
        "Try it in a minute",
        "The experiment in one command",
        "Reading the answer",
        "Use your own data",
        "Current results",
        "Tests",
    ):
        assert needed in headings, needed
    assert "Research software, not a medical device" in README
    # the one-minute way in comes before the experiment, and no timing history is narrated
    assert README.index("pneumogan serve") < README.index("pneumogan run")
    for history in ("an earlier version", "for no code reason", "shared the CPU", "session", "was tried"):
        assert history not in README


def test_every_local_link_in_the_readme_and_changelog_exists():
    for text in (README, (ROOT / "CHANGELOG.md").read_text()):
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith(("http://", "https://")):
                assert (ROOT / target).exists(), target


def _points(x: float) -> str:
    return f"{x * 100:+.1f}".replace("-", "−").replace("+", "")


def test_the_readme_quotes_the_recipe_study_as_computed():
    study = json.loads((RESULTS / "classifier_recipes" / "classifier_recipes.json").read_text())
    chosen = study["table"][study["selected"]]
    text = _flat(README)
    auc, acc = chosen["roc_auc"], chosen["accuracy"]
    assert f"test ROC-AUC {auc['mean'] * 100:.1f} % [{auc['ci'][0] * 100:.1f}, {auc['ci'][1] * 100:.1f}]" in text
    assert f"accuracy {acc['mean'] * 100:.1f} %" in text
    assert (
        f"sensitivity {chosen['recall']['mean'] * 100:.1f} %, specificity {chosen['specificity']['mean'] * 100:.1f} %"
        in text
    )
    at_val = f"{chosen['sensitivity_at_val_target']['mean'] * 100:.1f} % sensitivity and "
    assert at_val + f"{chosen['specificity_at_val_target']['mean'] * 100:.1f} % specificity on test" in text
    assert f"{study['test_evaluations']} test evaluations" in text
    assert study["selection_split"] == "val"
    best_val = min(r["val_roc_auc"]["mean"] for r in study["table"].values())
    assert best_val >= 0.998  # "every recipe ≥ 99.8 % val ROC-AUC"
    best_test = max(r["roc_auc"]["mean"] for r in study["table"].values())
    assert f"reached {best_test * 100:.1f} %" in text


def test_the_readme_quotes_the_standard_run_and_the_ood_check_as_computed():
    results = json.loads((RESULTS / "standard_run" / "results.json").read_text())
    primary = next(c for c in results["comparisons"] if c["primary"])
    lo, hi = primary["ci"]
    expected = f"{_points(primary['difference'])} ROC-AUC points [{_points(lo)}, {_points(hi)}]"
    assert expected in _flat(README)
    assert f"at {primary['fraction'] * 100:.0f} % of the real data" in _flat(README)
    ood = json.loads((RESULTS / "ood" / "ood.json").read_text())
    alarms, found = ood["test_false_alarms"], ood["non_xray_detections"]
    assert f"{alarms['rate'] * 100:.2f} % false alarms" in README
    assert f"{found['rate'] * 100:.0f} % of {found['n']} images" in README


def test_the_docs_navigation_lists_every_page_and_only_pages_that_exist():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(entries) -> list[str]:
        out = []
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            out += pages(value) if isinstance(value, list) else [value]
        return out

    listed = set(pages(config["nav"]))
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert listed == on_disk


@pytest.mark.skipif(
    shutil.which("mkdocs") is None and not Path(sys.executable).with_name("mkdocs").exists(),
    reason="mkdocs is not installed (pip install -r requirements.txt installs it)",
)
def test_the_docs_build_without_a_warning(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    command = [
        str(mkdocs) if mkdocs.exists() else "mkdocs",
        "build",
        "--strict",
        "--quiet",
        "--site-dir",
        str(tmp_path),
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(mkdocs.parent) + ":/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "reference" / "configuration" / "index.html").is_file()


def test_the_generated_reference_pages_match_the_code(tmp_path):
    from pneumogan.reference_docs import PAGES, write_pages

    written = write_pages(tmp_path)
    assert sorted(p.name for p in written) == sorted(PAGES)
    for page in written:
        committed = ROOT / "docs" / "reference" / page.name
        assert committed.read_text() == page.read_text(), (
            f"docs/reference/{page.name} is stale: run python scripts/build_reference_docs.py"
        )


def test_the_reference_pages_cover_every_config_key_command_and_route():
    from pneumogan.config import Config

    config_page = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    for section, field in Config.model_fields.items():
        model = field.annotation
        for key in getattr(model, "model_fields", {}):
            assert f"| `{key}` |" in config_page.split(f"## `{section}`")[1].split("\n## ")[0], f"{section}.{key}"
    cli_page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for command in ("pneumogan run", "pneumogan serve", "pneumogan data check", "pneumogan diffusion train"):
        assert f"## `{command}`" in cli_page
    api_page = (ROOT / "docs" / "reference" / "http_api.md").read_text()
    for route in ("POST /api/v1/predict", "GET /api/v1/model", "GET /healthz"):
        assert f"## `{route}`" in api_page


def test_the_gan_page_quotes_the_gan_study_as_computed():
    study = json.loads((RESULTS / "gan_study" / "gan_study.json").read_text())
    page = _flat((ROOT / "docs" / "gans.md").read_text())
    cells = [(f, v, e) for f, frac in study["summary"].items() for v, e in frac["variants"].items()]
    best = max(cells, key=lambda c: c[2]["tstr_accuracy"]["mean"])
    at_10 = max(e["tstr_accuracy"]["mean"] for f, _, e in cells if f == "0.1")
    assert f"best {best[2]['tstr_accuracy']['mean'] * 100:.1f} %, the cGAN at 100 %" in page and best[:2] == (
        "1",
        "cgan/stable",
    )
    assert f"{at_10 * 100:.1f} % at 10 %" in page
    series: dict[tuple, list] = {}
    for s in sorted(study["snapshots"], key=lambda s: s["snapshot"]):
        if s["space"] == study["headline_space"]:
            series.setdefault((s["family"], s["variant"], s["fraction"], s["class"]), []).append(s["fd"])
    fell = sum(v[-1] < v[0] for v in series.values())
    steady = sum(all(b < a for a, b in itertools.pairwise(v)) for v in series.values())
    assert f"FD fell from the first snapshot to the last in only {fell} of the {len(series)} cell-classes" in page
    assert steady == 0  # "and never steadily"


def test_the_statistics_page_quotes_the_combined_interval_as_computed():
    found = json.loads((RESULTS / "standard_run" / "combined_interval.json").read_text())
    page = _flat((ROOT / "docs" / "statistics.md").read_text())
    ratio, primary = found["se_test_over_se_seed"], found["primary"]
    assert f"none of its {found['comparisons']} verdicts changes" in page and found["verdicts_changed"] == 0
    assert f"{ratio['min']:.2f}–{ratio['max']:.2f} times the seeds' part (median {ratio['median']:.2f})" in page
    seeds, combined = primary["ci_seeds"], primary["ci_combined"]
    assert (
        f"[{seeds[0] * 100:.1f}, {seeds[1] * 100:.1f}] to [{combined[0] * 100:.1f}, {combined[1] * 100:.1f}]".replace(
            "-", "−"
        )
        in page
    )
    assert f"({primary['se_test'] * 100:.2f} points)" in page and found["primary_seeds_for_1_point"] is None


def test_the_clusters_page_quotes_the_executor_measurement_as_computed():
    found = json.loads((RESULTS / "speed" / "executors_quick.json").read_text())
    page = _flat((ROOT / "docs" / "clusters.md").read_text())
    serial, local = found["runs"]["serial"], found["runs"]["local"]
    assert (
        f"took {serial['wall_s']:.0f} s serially" in page and f"{local['wall_s']:.0f} s with `--executor local" in page
    )
    assert f"**{found['speedup_over_first']['local']:.2f}× faster" in page
    assert f"add up to {serial['stage_s']:.0f} s serially but {local['stage_s']:.0f} s under `local`" in page
    assert f"{local['stage_s'] / serial['stage_s']:.2f}× as long" in page and serial["stages"] == 37


def test_the_clusters_page_quotes_rays_overhead_and_the_scale_out_estimate_as_computed():
    page = _flat((ROOT / "docs" / "clusters.md").read_text())
    runs = {
        name: json.loads((RESULTS / "speed" / f"{name}.json").read_text())["runs"]
        for name in ("executors_tiny", "executors_tiny_5seeds")
    }
    small, large = runs["executors_tiny"], runs["executors_tiny_5seeds"]
    outside = {name: run["outside_stages_s"] for name, run in small.items()}
    assert f"is {outside['serial']:.1f} s serially and {outside['ray']:.1f} s" in page
    assert f"{large['serial']['outside_stages_s']:.1f} s and {large['ray']['outside_stages_s']:.1f} s" in page
    extra = [r["ray"]["outside_stages_s"] - r["serial"]["outside_stages_s"] for r in (small, large)]
    assert f"(({extra[1]:.1f} − {extra[0]:.1f}) s / {large['ray']['stages'] - small['ray']['stages']} stages)" in page
    scale = json.loads((RESULTS / "speed" / "scale_out.json").read_text())
    assert f"gives {scale['check']['simulated_s']:.0f} s of stages" in page
    assert f"that run took {scale['check']['measured_wall_s']:.1f} s" in page
    rows = {g["slots"]: g for g in scale["grid"]}
    for slots, text in ((1, "116 min"), (2, "58 min"), (4, "29 min"), (8, "15 min"), (16, "9.0 min"), (32, "6.6 min")):
        minutes = rows[slots]["wall_h"] * 60
        assert text == (f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min") and text in page
    critical = scale["critical_path_h"] * 60
    assert f"critical path (a 5 % DCGAN, its synthetic set, a classifier on it) is {critical:.1f} min" in page
    assert scale["stages"] == 177


def test_the_recipe_page_quotes_the_32px_study_as_computed():
    found = json.loads((RESULTS / "classifier_recipes" / "classifier_recipes_32px.json").read_text())
    page = _flat((ROOT / "docs" / "recipe_study.md").read_text())
    assert found["selected"] == "epochs_x6" and found["selection_metric"] == "mean val log-loss over seeds"
    for name, e in found["table"].items():
        row = f"| {e['val_log_loss']['mean']:.4f}"
        assert row in page or f"| **{e['val_log_loss']['mean']:.4f}**" in page, name
        lo, hi = (100 * x for x in e["roc_auc"]["ci"])
        assert f"{100 * e['roc_auc']['mean']:.1f} [{lo:.1f}, {hi:.1f}]" in page, name
        assert e["wall_s_median"] <= 90
    vs = found["vs_reference"]["roc_auc"]
    lo, hi = (100 * x for x in vs["ci"])
    assert f"+{100 * vs['difference']:.2f} ROC-AUC points [{lo:.2f}, +{hi:.2f}]".replace("[-", "[−") in page
    assert found["test_evaluations"] == 12 and "12 test evaluations" in page


def test_the_clusters_page_quotes_the_core_scaling_profile_as_computed():
    found = json.loads((RESULTS / "speed" / "core_scaling.json").read_text())["workloads"]
    page = _flat((ROOT / "docs" / "clusters.md").read_text())
    step = found["train_step"]
    assert f"two processes do **{step['two_over_one']:.2f}×** the work of one" in page
    assert f"one process with two threads already does **{step['two_threads_over_one']:.2f}×**" in page
    ceiling = step["two_processes_over_two_threads"]
    assert f"by at most **{ceiling:.2f}×** ({step['two_over_one']:.2f} / {step['two_threads_over_one']:.2f})" in page
    assert f"matrix product scales {found['compute']['two_over_one']:.2f}×" in page
    assert f"a 256 MB sum {found['memory']['two_over_one']:.2f}×" in page


def test_the_clusters_page_quotes_the_v2_estimates_as_computed():
    page = _flat((ROOT / "docs" / "clusters.md").read_text())
    for name, label in (("paired", "(`paired`)"), ("paired_3fractions", "5 / 10 / 100 %"), ("shared", "(`shared`)")):
        found = json.loads((RESULTS / "speed" / f"scale_out_v2_{name}.json").read_text())
        wall = {(g["nodes"], g["cores"]): g["wall_h"] for g in found["grid"]}
        share = found["work_h_by_kind"]["diffusion"] / found["work_h"]
        cells = [f"{found['stages']}"] + [f"{wall[k]:.1f} h" for k in ((1, 2), (1, 8), (2, 8), (1, 32))]
        assert f"{label} | " + " | ".join(cells) + f" | {share:.0%} |".replace("%", " %") in page, name
        assert f"{found['critical_path_h']:.2f} h" in page and found["assumed"]["classify"] == 62


def test_the_generator_study_page_quotes_every_snapshot_and_tstr_figure_as_computed():
    found = json.loads((RESULTS / "generator_study" / "study.json").read_text())
    page = (ROOT / "docs" / "generator_study.md").read_text()
    by: dict = {}
    finished = set(found["cells_finished"])  # the page tables a cell once it has finished
    for s in found["snapshots"]:
        if f"{s['contender']}@{s['fraction']:g}/s{s['seed']}" in finished:
            by.setdefault((s["contender"], s["fraction"], s["step"], s["class"]), {})[s["space"]] = s
    assert {contender for contender, *_ in by} == {cell.split("@")[0] for cell in finished}
    for (contender, _, step, cls), spaces in by.items():
        ssl, ref = spaces["ssl_encoder"], spaces["classifier"]
        floor = f"{ssl['fd_floor']:.2f}" if ssl.get("fd_floor") == ssl.get("fd_floor") and ssl.get("fd_floor") else "—"
        row = (
            f" | {ssl['cpu_s'] / 3600:.2f} | {cls} | {ssl['fd']:.1f} | {floor} | {ssl['precision']:.2f} | "
            f"{ssl['recall']:.2f} | {ssl['class_fidelity']:.3f} | {ssl['near_copy_fraction']:.3f} | {ref['fd']:.2f} |"
        )
        assert f"| {step:,}{row}" in page or f"| {step}{row}" in page, (contender, step, cls)
    flat = _flat(page)
    for cell in (c for c in found["summary"] if c["finished"]):
        accuracy = cell["tstr_test_accuracy"]
        lo, hi = accuracy["ci"]
        assert f"test accuracy {100 * accuracy['mean']:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]" in flat
