"""The committed standard run's comparisons under the combined interval (training variance and the test images'
sampling): which verdicts change, how large the test-sampling part is beside the seeds' part, and how many seeds
one AUC point needs once the part that more seeds cannot shrink is counted. No model is retrained or rescored:
the run stored each comparison's seed interval and its paired bootstrap over test images.

    python benchmarks/bench_combined_interval.py
Saves benchmarks/results/standard_run/combined_interval.json (no new test readouts: it re-reads stored ones).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save

from pneumogan.config import load_config
from pneumogan.pipeline.power import design_table
from pneumogan.pipeline.verdicts import comparison_records


def main() -> None:
    results = json.loads((RESULTS / "standard_run" / "results.json").read_text())
    stored = {(c["condition"], c["fraction"], c["metric"]): c for c in results["comparisons"]}
    records = comparison_records(results, load_config("standard").run)
    rows = []
    for r in records:
        before = stored[(r["condition"], r["fraction"], r["metric"])]
        rows.append(
            {
                "condition": r["condition"],
                "fraction": r["fraction"],
                "metric": r["metric"],
                "primary": r["primary"],
                "difference": r["difference"],
                "ci_seeds": before["ci"],
                "verdict_seeds": before["verdict"],
                "ci_combined": r["ci"],
                "verdict_combined": r["verdict"],
                "se_seed": r["se_seed"],
                "se_test": r["se_test"],
                "ci_holm": r.get("ci_holm"),
            }
        )
    ratio = np.array([row["se_test"] / row["se_seed"] for row in rows if row["se_seed"]])
    need = {
        (d["condition"], d["fraction"], d["metric"]): d["seeds_needed"]
        for d in design_table({"comparisons": records}, effect=0.01)
    }
    primary = rows[0]
    summary = {
        "comparisons": len(rows),
        "verdicts_changed": sum(row["verdict_seeds"] != row["verdict_combined"] for row in rows),
        "se_test_over_se_seed": {
            "median": float(np.median(ratio)),
            "min": float(ratio.min()),
            "max": float(ratio.max()),
        },
        "primary": primary,
        "primary_seeds_for_1_point": need[(primary["condition"], primary["fraction"], primary["metric"])],
    }
    for key, value in summary.items():
        print(f"{key}: {value}")
    save(
        "standard_run/combined_interval",
        {"selection_split": "none", "test_evaluations": 0, **summary, "rows": rows},
    )


if __name__ == "__main__":
    main()
