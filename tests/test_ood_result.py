"""The out-of-distribution page's (docs/ood.md) figures are the committed benchmark's, and its claim that the
targets are met holds in that file."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_ood_page_quotes_the_committed_ood_benchmark() -> None:
    result = json.loads((ROOT / "benchmarks" / "results" / "ood" / "ood.json").read_text())
    readme = " ".join((ROOT / "docs" / "ood.md").read_text().split())
    alarms, found = result["test_false_alarms"], result["non_xray_detections"]
    lo, hi = alarms["ci95_exact"]
    assert f"official test X-rays {alarms['rate'] * 100:.2f} %** ({alarms['flagged']}," in readme
    assert f"[{lo * 100:.2f}, {hi * 100:.2f}] %" in readme
    assert f"not chest X-rays {found['rate'] * 100:.0f} %** ({found['flagged']};" in readme
    assert f"{result['inverted_xray_detections']['flagged']}/{result['inverted_xray_detections']['n']}" in readme
    targets = result["targets"]
    if "Both targets (≤ 1 %, ≥ 99 %) are met" in readme:
        assert alarms["rate"] <= targets["test_false_alarm_rate_max"]
        assert found["rate"] >= targets["non_xray_detection_rate_min"]
    assert result["selection_split"] == "val"
