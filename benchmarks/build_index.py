"""Write benchmarks/results/INDEX.md: every result file, by study, with what made it and how far it can be trusted;
and benchmarks/results/TEST_LEDGER.md: every test evaluation the committed evidence made, by study, with the total.

A result is a JSON file directly in a study folder (`benchmarks/results/<study>/<name>.json`); everything deeper
(sample grids, report assets, feature spaces, resume states) is listed under its study as a supporting file. For
each result: the script that made it (or `hand-made`, and how), the command, commit, CPU model and ISA flags, date,
the split its choices were made on and the test evaluations it made. A field the file does not record is taken
from `PROVENANCE.yaml` (written by hand for older files) and otherwise shown as "not recorded".

A test evaluation is one model scored, or run, on the official test split once (a model scored on full images and
again on occluded ones made two); the ledger says what each result read there (`test_read`).

    python benchmarks/build_index.py            # rewrite INDEX.md and TEST_LEDGER.md
    python benchmarks/build_index.py --check    # exit 1 if either is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from pneumogan.layout import EVIDENCE_INDEX, EVIDENCE_LEDGER, EVIDENCE_PROVENANCE, EVIDENCE_STUDIES

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED = Path(__file__).resolve().parents[1] / "src" / "pneumogan" / "bundled"
UNKNOWN = "not recorded"


def result_files(root: Path = RESULTS) -> list[Path]:
    return sorted(p for p in root.glob("*/*.json"))


def supporting_files(root: Path = RESULTS) -> list[Path]:
    top = {EVIDENCE_INDEX, EVIDENCE_PROVENANCE, EVIDENCE_LEDGER}
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.name not in top and not (p.suffix == ".json" and p.parent.parent == root)
    )


def _script_of(command: str) -> str | None:
    found = re.search(r"([\w./-]*\.py)\b", command)
    if found:
        return Path(found.group(1)).name
    return "pneumogan " + command.split()[1] if command.startswith("pneumogan ") else None


def _cpu(data: dict[str, Any]) -> str:
    machine = data.get("machine")
    if isinstance(machine, dict) and machine.get("cpu_model"):
        flags = machine.get("cpu_flags")
        return f"{machine['cpu_model']} [{' '.join(flags)}]" if flags else f"{machine['cpu_model']} [flags {UNKNOWN}]"
    measured = data.get("measured") if isinstance(data.get("measured"), dict) else {}
    if measured.get("cpu_model"):
        return f"{measured['cpu_model']} [flags {UNKNOWN}]"
    keyed = [k for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("machine"), dict)]
    if keyed:  # a file keyed by CPU (throughput, compile)
        return "; ".join(keyed)
    return UNKNOWN


def _run_test_evaluations(data: dict[str, Any]) -> int | None:
    """A `pneumogan run` results.json: one test evaluation per classifier (condition × seed × fraction)."""
    fractions = data.get("fractions")
    if not isinstance(fractions, dict) or ("schema_version" not in data and "seeds" not in data):
        return None
    count = 0
    for fraction in fractions.values():
        for entry in (fraction.get("conditions") or {}).values():
            count += len(entry.get("seeds") or {}) if isinstance(entry, dict) else 0
    return count or None


def _run_test_read(data: dict[str, Any]) -> str | None:
    count = _run_test_evaluations(data)
    return f"{count} classifiers (conditions × seeds × fractions) scored once on test" if count else None


def describe(path: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data = data if isinstance(data, dict) else {}
    extra = provenance.get(str(path.relative_to(path.parents[1])), {})
    measured = data.get("measured") if isinstance(data.get("measured"), dict) else {}
    command = data.get("command") or measured.get("command")
    commit = data.get("commit") or measured.get("commit")
    tests = data.get("test_evaluations", data.get("test_readouts"))
    if tests is None:
        tests = extra.get("test_evaluations", _run_test_evaluations(data))
    selection = data["selection_split"] if "selection_split" in data else extra.get("selection_split", UNKNOWN)
    return {
        "study": path.parent.name,
        "file": path.name,
        "script": extra.get("script") or (_script_of(command) if command else None) or UNKNOWN,
        "how": extra.get("how"),
        "command": command or UNKNOWN,
        "commit": str(commit).split()[0][:10] if commit else UNKNOWN,
        "cpu": _cpu(data),
        "date": str(data["date"])[:10] if data.get("date") else str(measured.get("date") or UNKNOWN),
        "selection_split": "none" if selection is None else selection,
        "test_evaluations": UNKNOWN if tests is None else tests,
        "test_read": extra.get("test_read") or _run_test_read(data),
        "note": extra.get("note"),
    }


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def index_markdown(root: Path = RESULTS) -> str:
    provenance = yaml.safe_load((root / EVIDENCE_PROVENANCE).read_text()) or {}
    rows = [describe(p, provenance) for p in result_files(root)]
    support = supporting_files(root)
    lines = [
        "# Index of the evidence",
        "",
        "<!-- generated by benchmarks/build_index.py; do not edit by hand -->",
        "",
        "Every file under `benchmarks/results/`, by study. For each result: the script that made it, its commit, "
        "the CPU (model and ISA flags: compare figures only within one kind), the date, the split its choices "
        f'were made on (`none`: nothing was chosen from it) and the test evaluations it made. "{UNKNOWN}": the '
        f"file did not record it and nobody wrote it down in `{EVIDENCE_PROVENANCE}`.",
        "",
        f"{len(rows)} results and {len(support)} supporting files in {len({r['study'] for r in rows})} studies; "
        f"{sum(r['test_evaluations'] for r in rows if isinstance(r['test_evaluations'], int))} test evaluations "
        "recorded.",
    ]
    for study in sorted({p.parent.name for p in result_files(root)} | {p.relative_to(root).parts[0] for p in support}):
        about = EVIDENCE_STUDIES.get(study, ("(not a registered study: add it to layout.EVIDENCE_STUDIES)", ()))[0]
        lines += ["", f"## `{study}/`", "", about[0].upper() + about[1:] + ".", ""]
        mine = [r for r in rows if r["study"] == study]
        if mine:
            lines += [
                "| result | script | commit | CPU | date | selection | test evaluations |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in mine:
                cells = (f"`{r['file']}`", r["script"], r["commit"], r["cpu"], r["date"], r["selection_split"])
                lines.append("| " + " | ".join(_cell(c) for c in (*cells, r["test_evaluations"])) + " |")
            notes = [(r["file"], " ".join(filter(None, (r["how"], r["note"])))) for r in mine if r["how"] or r["note"]]
            lines += [""] + [f"- `{name}`: {_cell(text)}" for name, text in notes] if notes else []
        files = [p for p in support if p.relative_to(root).parts[0] == study]
        if files:
            lines += ["", f"Supporting files ({len(files)}):", ""]
            lines += [f"- `{p.relative_to(root / study)}`" for p in files]
    return "\n".join(lines).rstrip() + "\n"


def bundled_test_evaluations(bundled: Path = BUNDLED) -> list[dict[str, Any]]:
    """Test evaluations outside benchmarks/results: a bundled model's `eval_test` folder is one."""
    return [
        {
            "where": str(folder.relative_to(bundled.parents[2])),
            "test_evaluations": 1,
            "test_read": f"the bundled {folder.parent.name} scored once on test (its model card's figures)",
        }
        for folder in sorted(bundled.glob("*/eval_test"))
    ]


def ledger_markdown(root: Path = RESULTS, bundled: Path = BUNDLED) -> str:
    provenance = yaml.safe_load((root / EVIDENCE_PROVENANCE).read_text()) or {}
    rows = [describe(p, provenance) for p in result_files(root)]
    unknown = [f"{r['study']}/{r['file']}" for r in rows if not isinstance(r["test_evaluations"], int)]
    reading = [r for r in rows if isinstance(r["test_evaluations"], int) and r["test_evaluations"] > 0]
    outside = bundled_test_evaluations(bundled)
    inside = sum(r["test_evaluations"] for r in reading)
    total = inside + sum(o["test_evaluations"] for o in outside)
    lines = [
        "# Test-evaluation ledger",
        "",
        "<!-- generated by benchmarks/build_index.py; do not edit by hand -->",
        "",
        "Every evaluation on the official test split (624 images) that the committed evidence made. One evaluation is "
        "one model scored, or run, on the test images once: a classifier scored on full images and again on occluded "
        "ones made two. Counts come from each result's own `test_evaluations` (or `test_readouts`), else from "
        f"`{EVIDENCE_PROVENANCE}`, else from the classifiers a `pneumogan run` results file holds.",
        "",
        f"**{total} test evaluations in all**: {inside} in {len(reading)} of the {len(rows)} results under "
        f"`benchmarks/results/`, {total - inside} by the bundled models."
        + (f" Not counted, because nobody recorded them: {', '.join(unknown)}." if unknown else ""),
        "",
        "## By study",
        "",
        "| study | results reading test | test evaluations |",
        "|---|---|---|",
    ]
    for study in sorted({r["study"] for r in rows}):
        mine = [r for r in reading if r["study"] == study]
        lines.append(f"| `{study}/` | {len(mine)} | {sum(r['test_evaluations'] for r in mine)} |")
    lines += [
        "",
        "## Every result that read the test split",
        "",
        "| result | test evaluations | what it read | choices made on |",
        "|---|---|---|---|",
    ]
    for r in reading:
        read = r["test_read"] or UNKNOWN
        lines.append(
            f"| `{r['study']}/{r['file']}` | {r['test_evaluations']} | {_cell(read)} | {r['selection_split']} |"
        )
    lines += ["", "## Outside `benchmarks/results/`", ""]
    lines += ["| where | test evaluations | what it read |", "|---|---|---|"]
    lines += [f"| `{o['where']}` | {o['test_evaluations']} | {_cell(o['test_read'])} |" for o in outside]
    silent = [f"`{r['study']}/{r['file']}`" for r in rows if r["test_evaluations"] == 0]
    lines += ["", f"Results that read no test image ({len(silent)}): " + ", ".join(silent) + "."]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if INDEX.md or TEST_LEDGER.md is stale")
    args = ap.parse_args()
    outputs = {RESULTS / EVIDENCE_INDEX: index_markdown(), RESULTS / EVIDENCE_LEDGER: ledger_markdown()}
    if args.check:
        sys.exit(0 if all(p.exists() and p.read_text() == text for p, text in outputs.items()) else 1)
    for target, text in outputs.items():
        target.write_text(text)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
