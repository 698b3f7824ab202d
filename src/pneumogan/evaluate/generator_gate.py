"""The quality gate a generator passes before its images count as evidence about synthetic data.

A generator is judged per class, on equal numbers of real and synthetic images, by what makes its images fit
as training data: class fidelity (the share the run's real-trained reference classifier assigns to the
conditioning class — below it, the images are label noise), recall (coverage of the real class: zero means
collapse) in the self-supervised encoder's space where the run has one (else the classifier's), and, when
asked, FD relative to the real-vs-real floor at the same n. A failed gate never hides: every comparison that
uses the generator carries the failing figures and the report says so first. Torch-free (the report imports it).
"""

from __future__ import annotations

from typing import Any

#: the statuses a gate can have; `off` when run.generator_gate.mode is off (figures still recorded)
STATUSES = ("passed", "failed", "off")
WORDS = {"class_fidelity": "class fidelity", "recall": "recall", "fd_ratio": "FD / real-vs-real floor"}


def classes(results: dict[str, Any]) -> list[str]:
    """The classes of `evaluate_gan`'s results (files written before it listed them: the per-class entries)."""
    return results.get("classes") or [k for k, v in results.items() if isinstance(v, dict) and "class_fidelity" in v]


def metric_space(results: dict[str, Any]) -> str:
    """Where recall and FD are read: the SSL encoder's space when `evaluate_gan` measured one."""
    encoder = results.get("ssl_encoder")
    return "ssl_encoder" if isinstance(encoder, dict) and classes(results)[0] in encoder else "classifier"


def judge(results: dict[str, Any], gate: Any) -> dict[str, Any]:
    """The gate's verdict on `evaluate_gan`'s results under `gate` (a `GateConfig`: mode and thresholds)."""
    space = metric_space(results)
    per_class: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    for name in classes(results):
        in_space = results["ssl_encoder"][name] if space == "ssl_encoder" else results[name]
        figures = {
            "class_fidelity": results[name]["class_fidelity"],
            "recall": in_space["recall"],
            "precision": in_space["precision"],
            "fd": in_space["fd"],
            "fd_floor": in_space.get("fd_floor"),
            "fd_ratio": in_space.get("fd_ratio"),
            "n": in_space["n"],
        }
        per_class[name] = figures
        checks = [("class_fidelity", gate.min_class_fidelity, "min"), ("recall", gate.min_recall, "min")]
        if gate.max_fd_ratio is not None:
            checks.append(("fd_ratio", gate.max_fd_ratio, "max"))
        for metric, threshold, kind in checks:
            value = figures[metric]
            bad = value is None or (value < threshold if kind == "min" else value > threshold)
            if bad:
                failures.append({"class": name, "metric": metric, "value": value, "threshold": threshold})
    status = "off" if gate.mode == "off" else ("failed" if failures else "passed")
    return {
        "status": status,
        "mode": gate.mode,
        "space": space,
        "thresholds": {
            "min_class_fidelity": gate.min_class_fidelity,
            "min_recall": gate.min_recall,
            "max_fd_ratio": gate.max_fd_ratio,
        },
        "per_class": per_class,
        "failures": failures,
    }


def failing_figures(verdict: dict[str, Any]) -> str:
    """ "NORMAL class fidelity 52 %, PNEUMONIA recall 0.00": the failures in a few words; with a generator per
    seed, grouped by seed ("generator seed 0: …; generator seed 1: …")."""
    groups: dict[Any, list[str]] = {}
    for f in verdict["failures"]:
        value = f["value"]
        if value is None:
            shown = "not measurable"
        elif f["metric"] == "class_fidelity":
            shown = f"{value * 100:.0f} %"
        else:
            shown = f"{value:.2f}"
        groups.setdefault(f.get("generator_seed"), []).append(f"{f['class']} {WORDS[f['metric']]} {shown}")
    return "; ".join(
        ", ".join(parts) if seed is None else f"generator seed {seed}: {', '.join(parts)}"
        for seed, parts in groups.items()
    )


def gate_sentence(verdict: dict[str, Any]) -> str:
    """The gate's verdict in plain words, for reports, `gan evaluate` and model cards."""
    t = verdict["thresholds"]
    rule = f"class fidelity ≥ {t['min_class_fidelity'] * 100:.0f} % and recall ≥ {t['min_recall']:.2f} for every class"
    if t["max_fd_ratio"] is not None:
        rule += f", FD ≤ {t['max_fd_ratio']:g}× the real-vs-real floor"
    if verdict["status"] == "failed":
        return (
            f"The generator failed the quality gate — {failing_figures(verdict)} (the gate asks {rule}) — so "
            "comparisons that use its images say nothing about synthetic data in general."
        )
    if verdict["status"] == "passed":
        return f"The generator passed the quality gate ({rule})."
    return f"The quality gate is off; measured against it ({rule}) the generator would have " + (
        f"failed: {failing_figures(verdict)}." if verdict["failures"] else "passed."
    )
