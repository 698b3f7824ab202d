"""`pneumogan data check`: an integrity report of a source that never crashes and never drops a file.

It lists counts per split and class, the size and mode distribution, every unusable file with its reason,
images that were converted on the way in, exact duplicates (flagged when they cross splits: leakage), and
patients that occur in more than one split.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pneumogan.data.decoded import DEFAULT_MAX_PIXELS
from pneumogan.data.geometry import square_source, square_source_advice
from pneumogan.data.labels import BINARY_CLASSES, THREE_CLASSES, UNKNOWN
from pneumogan.data.scan import scan_records
from pneumogan.data.sources import SPLITS, Source


def check_source(source: Source, max_pixels: int = DEFAULT_MAX_PIXELS, workers: int = 0) -> dict[str, Any]:
    """Scan every file of `source` and return the report as a JSON-ready dict."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(BINARY_CLASSES, 0))
    counts3: dict[str, Counter] = defaultdict(Counter)
    sizes: Counter = Counter()
    modes: Counter = Counter()
    bad: list[dict[str, str]] = [{"path": s.path, "reason": s.reason, "detail": ""} for s in source.stray_files()]
    converted: list[dict[str, Any]] = []
    by_hash: dict[str, list[tuple[str, str]]] = defaultdict(list)
    patients: dict[str, set[str]] = defaultdict(set)
    provenance: Counter = Counter()
    n_files = len(bad)

    for res in scan_records(source, max_pixels=max_pixels, workers=workers, description="checking"):
        rec = res.record
        n_files += 1
        if res.md5:
            by_hash[res.md5].append((rec.path, rec.split))
        if not res.ok:
            bad.append({"path": rec.path, "reason": res.reason or "", "detail": res.detail})
            continue
        counts[rec.split][BINARY_CLASSES[rec.label]] += 1
        counts3[rec.split]["UNKNOWN" if rec.label3 == UNKNOWN else THREE_CLASSES[rec.label3]] += 1
        sizes[f"{res.width}x{res.height}"] += 1
        modes[res.mode] += 1
        provenance[rec.provenance] += 1
        conversions = [n for n in res.notes if not n.startswith("DICOM ")]
        if conversions:
            converted.append({"path": rec.path, "notes": conversions})
        if source.has_patient_ids:
            patients[rec.patient_id].add(rec.split)

    duplicates = []
    for digest, entries in by_hash.items():
        if len(entries) > 1:
            splits = sorted({s for _, s in entries})
            duplicates.append(
                {
                    "md5": digest,
                    "paths": [p for p, _ in entries],
                    "splits": splits,
                    "cross_split": len(splits) > 1,
                }
            )
    duplicates.sort(key=lambda d: (not d["cross_split"], d["paths"][0]))
    overlap = [
        {"patient_id": pid, "splits": sorted(splits)} for pid, splits in sorted(patients.items()) if len(splits) > 1
    ]
    patients_per_split = {s: sum(s in v for v in patients.values()) for s in SPLITS if s in counts}
    widths_heights = [tuple(map(int, k.split("x"))) for k in sizes]
    return {
        "source": source.name,
        "total": n_files,
        "usable": sum(sum(c.values()) for c in counts.values()),
        "counts": {s: dict(counts[s]) for s in SPLITS if s in counts},
        "counts_3class": {
            s: {c: counts3[s][c] for c in (*THREE_CLASSES, "UNKNOWN") if counts3[s][c]} for s in SPLITS if s in counts3
        },
        "provenance": dict(provenance),
        "sizes": dict(sizes.most_common()),
        "size_range": _size_range(widths_heights),
        "modes": dict(modes.most_common()),
        "bad": bad,
        "converted": converted,
        "duplicates": duplicates,
        "cross_split_duplicates": sum(d["cross_split"] for d in duplicates),
        "has_patient_ids": source.has_patient_ids,
        "patients": patients_per_split,
        "patient_overlap": overlap,
        "max_pixels": max_pixels,
        **geometry_report(widths_heights, source.default_fit),
    }


def geometry_report(sizes: list[tuple[int, int]], default_fit: str) -> dict[str, Any]:
    """Whether the source was resized to one square size before it reached us, and what that means for `fit`."""
    side = square_source(sizes)
    return {
        "square_source": side,
        "default_fit": default_fit,
        "geometry_advice": square_source_advice(side, default_fit) if side else None,
    }


def _size_range(wh: list[tuple[int, int]]) -> dict[str, list[int]] | None:
    if not wh:
        return None
    ws, hs = zip(*wh, strict=True)
    return {"width": [min(ws), max(ws)], "height": [min(hs), max(hs)]}


def print_report(report: dict[str, Any], console: Any | None = None, max_rows: int = 20) -> None:
    """Render the report as rich tables on the terminal."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    root = report["source"].rstrip("/") + "/"

    def rel(path: str) -> str:  # paths relative to the source keep the tables readable
        return path[len(root) :] if path.startswith(root) else path

    console.print(
        f"[bold]Data check[/bold] {report['source']}: {report['total']} files, "
        f"{report['usable']} usable, {len(report['bad'])} bad"
    )
    table = Table(title="Images per split and class")
    classes = sorted({c for split in report["counts"].values() for c in split})
    for col in ["split", *classes, "total", "patients"]:
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, row in report["counts"].items():
        n_pat = str(report["patients"].get(split, "")) if report["has_patient_ids"] else "n/a"
        table.add_row(split, *(str(row.get(c, 0)) for c in classes), str(sum(row.values())), n_pat)
    console.print(table)
    if any(report["counts_3class"].values()):
        console.print(
            "3-class: "
            + "; ".join(
                f"{s}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for s, c in report["counts_3class"].items()
            )
        )
    sizes = list(report["sizes"].items())
    console.print(
        f"Sizes ({len(sizes)} distinct): "
        + ", ".join(f"{k}×{v}" for k, v in sizes[:8])
        + (" …" if len(sizes) > 8 else "")
    )
    console.print("Modes: " + ", ".join(f"{k} ×{v}" for k, v in report["modes"].items()))
    if report.get("geometry_advice"):
        console.print(f"Geometry: {report['geometry_advice']}", style="yellow")
    _rows(
        console,
        "Bad files",
        ["path", "reason", "detail"],
        [[rel(b["path"]), b["reason"], b["detail"]] for b in report["bad"]],
        max_rows,
        style="red",
    )
    _rows(
        console,
        "Converted on load",
        ["path", "conversion"],
        [[rel(c["path"]), "; ".join(c["notes"])] for c in report["converted"]],
        max_rows,
        style="yellow",
    )
    dups = report["duplicates"]
    _rows(
        console,
        f"Exact duplicates ({len(dups)} groups, {report['cross_split_duplicates']} across splits)",
        ["files", "splits", "leak"],
        [
            [", ".join(rel(p) for p in d["paths"]), ",".join(d["splits"]), "LEAK" if d["cross_split"] else ""]
            for d in dups
        ],
        max_rows,
        style="yellow",
    )
    if not report["has_patient_ids"]:
        console.print("Patient ids: not available for this source; patient overlap cannot be checked.")
    else:
        ov = report["patient_overlap"]
        pairs = Counter("/".join(o["splits"]) for o in ov)
        msg = ", ".join(f"{n} in {k}" for k, n in pairs.items()) or "none"
        console.print(f"Patients in more than one split: {len(ov)} ({msg})", style="red" if ov else "green")


def _rows(console: Any, title: str, columns: list[str], rows: list[list[str]], max_rows: int, style: str = "") -> None:
    from rich.table import Table

    if not rows:
        console.print(f"{title}: none", style="green")
        return
    table = Table(title=title, title_style=style, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows[:max_rows]:
        table.add_row(*row)
    console.print(table)
    if len(rows) > max_rows:
        console.print(f"… and {len(rows) - max_rows} more (see --json for all)")
