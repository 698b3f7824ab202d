"""The experiment's answers: one record per comparison (condition vs the real baseline, per metric and data
fraction), one of them primary, the others secondary with a Holm correction, and a sentence for each.

A verdict is computed, never written by hand: `improved` / `worse` when the seed-aware 95 % interval
excludes zero (secondaries: when the Holm-adjusted p-value is below 0.05), `no_detectable_difference`
otherwise (with the smallest effect the run could have detected), and `inconclusive` with fewer than
`MIN_SEEDS` seeds, where training variance cannot be estimated.
"""

from __future__ import annotations

from typing import Any

from pneumogan.config import RunConfig
from pneumogan.evaluate.generator_gate import gate_sentence
from pneumogan.pipeline.compare import (
    MIN_SEEDS,
    classify_verdict,
    combined_difference,
    holm_adjust,
    interval_at,
    smallest_detectable_effect,
    test_sampling_se,
)
from pneumogan.pipeline.conditions import SYNTHETIC_CONDITIONS
from pneumogan.pipeline.power import comparison_power, standard_error
from pneumogan.pipeline.power import levels as power_levels

SCHEMA_VERSION = 2
ALPHA = 0.05
METRIC_WORDS = {"roc_auc": "ROC-AUC", "accuracy": "accuracy"}


def primary_condition(run: RunConfig) -> str | None:
    """The configured primary condition; `auto`: enlarged when it runs, else the first synthetic condition."""
    synthetic = [c for c in run.conditions if c in SYNTHETIC_CONDITIONS]
    if run.primary_condition != "auto":
        return run.primary_condition  # RunConfig checks it is one of the compared conditions
    return "enlarged" if "enlarged" in synthetic else (synthetic[0] if synthetic else None)


BASELINES = (("real", "vs_real"), ("control", "vs_control"))  # what a condition is compared with, in which entry


def comparison_records(results: dict[str, Any], run: RunConfig) -> list[dict[str, Any]]:
    """Every comparison in `results` as a record — each condition against the real baseline and, where the run
    has it, each synthetic condition against its count-matched real control — the primary one first. The verdict
    uses the combined interval (training variance and test sampling); secondaries are Holm-corrected within their
    family (against real; against the control), and each carries its interval at the Holm-matched level."""
    share = run.primary_fraction
    if share == "lowest":
        share = min((f["fraction"] for f in results["fractions"].values()), default=None)
    primary = (primary_condition(run), run.primary_metric, share, "real")
    records = []
    for label, fraction in results["fractions"].items():
        for condition, entry in fraction["conditions"].items():
            for family, field in BASELINES:
                baseline = "real" if family == "real" else entry.get("control")
                sampling = entry.get(f"{field}_test_sampling", {})
                for metric, diff in entry.get(field, {}).items():
                    record = _record(label, fraction["fraction"], condition, baseline, metric, diff, sampling, primary)
                    gate = fraction.get("generator_gate")
                    if condition in SYNTHETIC_CONDITIONS and gate:  # which generator's images, and did it pass
                        record["generator_gate"] = {"status": gate["status"], "failures": gate["failures"]}
                    if condition in SYNTHETIC_CONDITIONS:  # does the interval hold generator variance?
                        record["generator_seeds"] = fraction.get("generator_seeds", "shared")
                    records.append(record)
    records.sort(key=lambda r: (not r["primary"], r["baseline"] != "real"))
    for family in ("real", "control"):
        secondary = [r for r in records if _family(r) == family and not r["primary"] and r["p_value"] is not None]
        for record, adjusted in zip(secondary, holm_adjust([r["p_value"] for r in secondary]), strict=True):
            record["p_holm"] = adjusted
            _holm_interval(record)
            if record["verdict"] != "inconclusive":
                record["verdict"] = _secondary_verdict(record)
    for record, alpha in zip(records, power_levels(records, ALPHA), strict=True):
        record["power"] = comparison_power(record, alpha)  # what this design could detect at its own level
    return records


def _family(record: dict[str, Any]) -> str:
    return "real" if record["baseline"] == "real" else "control"


def _holm_interval(record: dict[str, Any]) -> None:
    """The interval at the level the Holm step-down held this comparison to: α · p / p_Holm, which excludes zero
    exactly when the Holm-adjusted p-value is below α (so an interval and its verdict never disagree)."""
    p, adjusted = record["p_value"], record["p_holm"]
    alpha = ALPHA * p / adjusted if adjusted > 0 else ALPHA
    record["holm_level"] = 1 - alpha
    se = standard_error(record)
    record["ci_holm"] = interval_at(record["difference"], se, record["n_seeds"] - 1, 1 - alpha) if se else None


def _record(
    label: str,
    share: float,
    condition: str,
    baseline: str,
    metric: str,
    diff: dict[str, Any],
    test_sampling: dict[str, Any],
    primary: tuple[Any, ...],
) -> dict[str, Any]:
    sampling = test_sampling.get(metric, {})
    combined = combined_difference(diff, test_sampling_se(sampling)) if sampling else None
    verdict_on = combined if combined and combined["ci"] is not None else diff
    return {
        "fraction": share,
        "fraction_label": label,
        "condition": condition,
        "baseline": baseline,
        "metric": metric,
        "primary": (condition, metric, share, baseline) == primary,
        "verdict": classify_verdict({**verdict_on, "n_seeds": diff["n_seeds"]}),
        "n_seeds": diff["n_seeds"],
        "difference": diff["difference"],
        "ci": verdict_on["ci"],  # the verdict's interval: combined where the test sampling is known
        "ci_method": verdict_on.get("ci_method", diff["ci_method"]),
        "ci_seeds": diff["ci"],  # training variance given this test set
        "se": verdict_on.get("se") if combined else None,
        "se_seed": combined["se_seed"] if combined else None,
        "se_test": combined["se_test"] if combined else None,
        "p_value": verdict_on["p_value"],
        "p_holm": None,
        "smallest_detectable_effect": smallest_detectable_effect(verdict_on),
        "test_sampling_ci": sampling.get("ci"),
    }


def _secondary_verdict(record: dict[str, Any]) -> str:
    if record["p_holm"] < ALPHA:
        return "improved" if record["difference"] > 0 else "worse"
    return "no_detectable_difference"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _interval(ci: list[float]) -> str:
    return f"[95 % CI {_points(ci[0])}, {_points(ci[1])}]"


def sentence(record: dict[str, Any]) -> str:
    """The record in words, with the interval and the number of seeds in the sentence."""
    metric = METRIC_WORDS.get(record["metric"], record["metric"])
    against = record.get("baseline", "real")
    where = f"{record['condition']} vs {against} at {record['fraction'] * 100:g} % of the real training data, {metric}"
    role = "Primary" if record["primary"] else "Secondary"
    seeds = f"{record['n_seeds']} seed{'s' if record['n_seeds'] != 1 else ''}"
    difference = f"{_points(record['difference'])} points"
    holm = f"; Holm-adjusted p = {record['p_holm']:.3g}" if record.get("p_holm") is not None else ""
    verdict = record["verdict"]
    if verdict == "inconclusive":
        reason = (
            f"{seeds}: training variance cannot be estimated"
            if record["n_seeds"] < 2
            else f"{seeds}, fewer than {MIN_SEEDS}: training variance is too poorly estimated"
        )
        shown = f"difference {difference}"
        if record.get("test_sampling_ci"):
            shown += f" {_interval(record['test_sampling_ci'])} over test images only, which ignores training variance"
        return f"{role} — {where}: inconclusive ({reason}; {shown})."
    span = f"{difference} {_interval(record['ci'])}{_seeds_alone(record)}, {seeds}{holm}"
    if verdict == "improved":
        return f"{role} — {where}: improved by {span}."
    if verdict == "worse":
        return f"{role} — {where}: worse by {span}."
    lo, hi = record["ci"]
    if lo > 0 or hi < 0:  # a secondary whose own interval excludes zero, but not after the Holm correction
        return f"{role} — {where}: no detectable difference after the Holm correction ({span}{_holm_clause(record)})."
    return f"{role} — {where}: no detectable difference ({span}){_power_clause(record)}."


def _seeds_alone(record: dict[str, Any]) -> str:
    """Beside a combined interval, the narrower one of training variance given this test set."""
    seeds = record.get("ci_seeds")
    if record.get("se_test") is None or not seeds:
        return ""
    return f" with the test images' sampling; training variance alone {_points(seeds[0])}, {_points(seeds[1])}"


def _holm_clause(record: dict[str, Any]) -> str:
    """Why an interval that excludes 0 is no detected difference: the wider one the Holm correction holds it to."""
    wide = record.get("ci_holm")
    if not wide:
        return ""
    return (
        f"; at the Holm-matched level {record['holm_level'] * 100:.2f} % the interval is "
        f"{_points(wide[0])}, {_points(wide[1])}, which includes 0"
    )


def _power_clause(record: dict[str, Any]) -> str:
    """What the design could have detected: the effect found 80 % of the time at the comparison's own level."""
    found = record.get("power") or {}
    if found.get("detectable_effect") is None:
        smallest = record["smallest_detectable_effect"] * 100
        return f"; differences smaller than about {smallest:.1f} points could not be detected with this many seeds"
    level = "" if record["primary"] else f" at the Holm level {found['alpha']:.2g}"
    return (
        f"; with this many seeds a true difference of {found['detectable_effect'] * 100:.1f} points would be "
        f"detected {found['power']:.0%} of the time{level} (one the size of the interval's half-width, "
        f"{record['smallest_detectable_effect'] * 100:.1f} points, only {found['power_at_half_width']:.0%})"
    )


def answer(records: list[dict[str, Any]], gates: dict[str, dict[str, Any]] | None = None) -> str:
    """One paragraph answering "did synthetic images help here?" from the computed records: first, when the
    primary comparison's generator failed the quality gate, that (`gates`: fraction label → gate verdict); then
    the primary comparison's verdict with its interval and seed count, then a count of the secondary verdicts."""
    primary = next((r for r in records if r["primary"]), None)
    if primary is None:
        return "Did synthetic images help here? This run compared no synthetic-data condition with the baseline."
    opening = {
        "improved": "Yes, by the primary measure.",
        "worse": "No: by the primary measure it made the classifier worse.",
        "no_detectable_difference": "Not detectably, by the primary measure.",
        "inconclusive": "This run cannot tell.",
    }[primary["verdict"]]
    text = f"Did synthetic images help here? {opening} {sentence(primary)}"
    gate = (gates or {}).get(primary["fraction_label"])
    if gate and gate["status"] == "failed":  # said first: the verdict is about this generator, not synthetic data
        text = f"{gate_sentence(gate)} {text}"
    failed_elsewhere = [
        label for label, g in (gates or {}).items() if g["status"] == "failed" and label != primary["fraction_label"]
    ]
    if failed_elsewhere:
        text += f" The generator failed the quality gate at {', '.join(failed_elsewhere)} as well."
    if primary.get("generator_seeds") == "shared" and primary["n_seeds"] > 1:
        text += (
            " One generator made the images of every classifier seed (run.generator_seeds: shared), so the interval "
            "leaves out generator variance."
        )
    same = (primary["condition"], primary["metric"], primary["fraction"])
    control = next(
        (r for r in records if _family(r) == "control" and (r["condition"], r["metric"], r["fraction"]) == same), None
    )
    if control is not None:  # more images, or better ones? the count-matched control tells them apart
        text += f" Against the same number of duplicated real images: {sentence(control)}"
    for family, words in (
        ("real", "secondary comparisons"),
        ("control", "comparisons with the count-matched real control"),
    ):
        secondary = [r for r in records if not r["primary"] and _family(r) == family]
        if secondary:
            text += " " + _tally(secondary, words)
    return text


def _tally(records: list[dict[str, Any]], words: str) -> str:
    """ "Of the 12 secondary comparisons (Holm-corrected), 1 improved (…), 3 were worse and 8 …"."""
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("improved", "worse")}
    where = [
        f"{r['condition']} at {r['fraction'] * 100:g} % ({METRIC_WORDS.get(r['metric'], r['metric'])})"
        for r in records
        if r["verdict"] == "improved"
    ]
    others = len(records) - counts["improved"] - counts["worse"]
    return (
        f"Of the {len(records)} {words} (Holm-corrected), {counts['improved']} improved"
        + (f" ({'; '.join(where)})" if where else "")
        + f", {counts['worse']} were worse and {others} showed no detectable difference or were inconclusive."
    )
