"""Copy a finished `pneumogan run` folder's results into the repository, small enough to commit.

    python benchmarks/package_run.py runs/standard benchmarks/results/standard_run \\
        --command "pneumogan run --config standard --out runs/standard" --commit cd9706e --wall-clock "2 h 50 min"

Writes DEST/results.json (as the run wrote it), DEST/report.html (its embedded images downsized),
DEST/report.md (its images copied, downsized, into DEST/assets/ and the links rewritten) and
DEST/README.md (the answer and the headline tables, with how the run was made), and
DEST/measured.json: the command, the commit the run ran on, the CPU, the wall clock as measured outside the
run, and the seconds summed over all its stages as each was computed (a run resumed across sessions has no
single wall clock; the sum does not count the time between sessions).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from pneumogan.pipeline.report import NOTICE, headline_markdown

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

MAX_BYTES = 10 * 1024 * 1024  # the limit for the committed files, in all
MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
HTML_IMAGE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def downsized_png(data: bytes, max_width: int) -> bytes:
    """The PNG scaled to at most `max_width` pixels wide (aspect kept), re-encoded with optimisation; a PNG
    already that small comes back as it was."""
    image = Image.open(io.BytesIO(data))
    image.load()
    if image.width <= max_width:
        return data  # re-encoding a small PNG can make it bigger
    height = max(1, round(image.height * max_width / image.width))
    image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def package_markdown(text: str, run_dir: Path, dest: Path, max_width: int) -> str:
    """report.md with every image copied (downsized) into dest/assets/ and its link pointing there."""
    assets = dest / "assets"

    def copy(match: re.Match[str]) -> str:
        caption, link = match.group(1), match.group(2)
        source = run_dir / link
        if not source.is_file():
            raise FileNotFoundError(f"report.md links {link}, which is not in {run_dir}")
        name = link.replace("/", "__")  # stage folder names are unique, so the flattened path is too
        assets.mkdir(parents=True, exist_ok=True)
        (assets / name).write_bytes(downsized_png(source.read_bytes(), max_width))
        return f"![{caption}](assets/{name})"

    return MD_IMAGE.sub(copy, text)


def package_html(text: str, max_width: int) -> str:
    def shrink(match: re.Match[str]) -> str:
        small = downsized_png(base64.b64decode(match.group(1)), max_width)
        return "data:image/png;base64," + base64.b64encode(small).decode()

    return HTML_IMAGE.sub(shrink, text)


def compute_seconds(results: dict[str, Any]) -> float:
    """Seconds the run's stages took when they ran: a stage cached in the last invocation keeps the seconds of
    the invocation that computed it, so the sum covers a run made in several cached steps."""
    return sum(float(s.get("seconds", 0.0)) for s in results.get("stages", {}).values())


def summary_markdown(results: dict[str, Any], measured: dict[str, Any]) -> str:
    """The folder's README: what ran where, the computed answer, and the headline tables."""
    cpu = measured["machine"].get("cpu_model", "?")
    lines = [
        f"# `{results['name']}` run",
        "",
        f"> **{NOTICE}**",
        "",
        f"- command: `{measured['command']}`",
        f"- commit: {measured['commit']}",
        f"- CPU: {cpu}",
        f"- wall clock: {measured['wall_clock'] or 'not measured'}; stage seconds summed: "
        f"{measured['stage_compute_s'] / 3600:.2f} h",
        *([f"- note: {measured['note']}"] if measured.get("note") else []),
        "",
        "Files: `results.json` (everything the run computed), `report.md` / `report.html` (the run's report, "
        "images downsized), `measured.json`.",
        "",
        results.get("answer", ""),
        "",
        headline_markdown(results),
    ]
    return "\n".join(lines)


def package(
    run_dir: Path, dest: Path, command: str, commit: str, wall_clock: str | None, max_width: int, note: str | None
) -> dict[str, Any]:
    for name in ("results.json", "report.md", "report.html"):
        if not (run_dir / name).is_file():
            raise SystemExit(f"{run_dir / name} is missing: is the run finished?")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(run_dir / "results.json", dest / "results.json")
    (dest / "report.md").write_text(package_markdown((run_dir / "report.md").read_text(), run_dir, dest, max_width))
    (dest / "report.html").write_text(package_html((run_dir / "report.html").read_text(), max_width))
    results = json.loads((run_dir / "results.json").read_text())
    measured = {
        "machine": machine(),
        "command": command,
        "commit": commit,
        "wall_clock": wall_clock,
        "stage_compute_s": round(compute_seconds(results), 1),
        "stages": len(results.get("stages", {})),
        "note": note,
    }
    (dest / "measured.json").write_text(json.dumps(measured, indent=2) + "\n")
    (dest / "README.md").write_text(summary_markdown(results, measured))
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    measured["bytes"] = total
    if total > MAX_BYTES:
        raise SystemExit(f"{dest} holds {total / 1e6:.1f} MB, over the 10 MB limit: lower --max-width")
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--command", required=True, help="the exact command that produced the run")
    parser.add_argument("--commit", required=True, help="the commit the run ran on")
    parser.add_argument("--wall-clock", help="the run's wall clock, measured outside it (e.g. with `time`)")
    parser.add_argument("--max-width", type=int, default=800, help="embedded images' largest width in pixels")
    parser.add_argument("--note", help="anything a reader needs to know about how the run was made")
    args = parser.parse_args()
    measured = package(args.run_dir, args.dest, args.command, args.commit, args.wall_clock, args.max_width, args.note)
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
