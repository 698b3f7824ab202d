"""Recompute an experiment's verdicts with seed-aware intervals from the per-seed paired differences it stored.

`results.json` files written before the seed-aware statistics (schema 1) hold, per condition and metric,
`vs_real.per_seed` (each seed's difference from the baseline on the same test images) and an interval from
the image-only bootstrap. This script keeps that interval as `vs_real_test_sampling`, replaces `vs_real` by
the t-interval over the per-seed differences, and rewrites `comparisons`, `verdicts`, the answering
paragraph and `schema_version` exactly as `pneumogan run` now does. No model is retrained or rescored.

    python benchmarks/recompute_verdicts.py benchmarks/results/pipeline_quick/pipeline_quick_seeds012_frac10_100.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pneumogan.config import RunConfig
from pneumogan.pipeline.compare import interval_over_seeds
from pneumogan.pipeline.verdicts import SCHEMA_VERSION, answer, comparison_records, sentence
from pneumogan.runs import atomic_write_json


def upgrade(results: dict) -> dict:
    for fraction in results["fractions"].values():
        for entry in fraction["conditions"].values():
            if "vs_real" not in entry or "vs_real_test_sampling" in entry:
                continue
            entry["vs_real_test_sampling"] = entry["vs_real"]
            entry["vs_real"] = {m: interval_over_seeds(d["per_seed"], m) for m, d in entry["vs_real"].items()}
            entry.pop("verdicts", None)
    run = RunConfig.model_validate(results["config"]["run"]) if "config" in results else RunConfig()
    results["comparisons"] = comparison_records(results, run)
    results["verdicts"] = [sentence(record) for record in results["comparisons"]]
    results["answer"] = answer(results["comparisons"])
    results["schema_version"] = SCHEMA_VERSION
    results["verdicts_recomputed_by"] = "benchmarks/recompute_verdicts.py (from the stored per-seed differences)"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="results.json files to upgrade in place")
    args = parser.parse_args()
    for path in args.results:
        results = upgrade(json.loads(path.read_text()))
        atomic_write_json(path, results)
        print(f"{path}:")
        print(f"  {results['answer']}")
        for line in results["verdicts"]:
            print(f"  - {line}")


if __name__ == "__main__":
    main()
