"""Numbers turned into text for people (console, report): no Python dicts or lists in what users read."""

from __future__ import annotations

from collections.abc import Mapping

from pneumogan.pipeline.conditions import CONDITIONS


def condition_title(condition: str) -> str:
    known = CONDITIONS.get(condition)
    return known.title if known else condition


def class_counts(counts: Mapping[str, int], sign: str = "") -> str:
    """`{'NORMAL': 18, 'PNEUMONIA': 52}` → `18 NORMAL, 52 PNEUMONIA` (`sign="+"` → `+18 NORMAL, …`)."""
    if not counts:
        return "none"
    return ", ".join(f"{sign}{n:,} {name}" for name, n in counts.items())


def synthetic_plan(plan: Mapping[str, Mapping[str, int]]) -> str:
    """Synthetic images each condition adds, e.g. `rebalanced +34 NORMAL; enlarged +9 NORMAL, +26 PNEUMONIA`."""
    parts = []
    for condition, counts in plan.items():
        if condition == "real":
            continue
        known = CONDITIONS.get(condition)
        if known and known.repeats_real:
            continue  # a control adds copies of real images, not synthetic ones (plan_fraction says those)
        sign = "" if known and not known.real_images else "+"
        parts.append(f"{condition} {class_counts(counts, sign)}")
    return "; ".join(parts) or "none"


def seed_list(seeds: list[int]) -> str:
    """`[0, 1, 2]` → `0, 1, 2` (3 seeds)."""
    return f"{', '.join(map(str, seeds))} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})"
