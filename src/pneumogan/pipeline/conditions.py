"""The registry of experiment conditions: what each trains on, how many synthetic images it adds, what must run
before it, and its title. `pneumogan run` asks here instead of comparing condition names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from pneumogan.config import ConditionName, RunConfig
from pneumogan.errors import PneumoganError


@dataclass(frozen=True)
class Condition:
    name: str
    title: str  # letter and words, as the report shows it
    adds: str  # images added: "none", "minority" (up to balance), "per_class" (enlarge_ratio ×), "only"
    real_images: bool = True  # trains on the real training images too
    repeats_real: bool = False  # the added images are copies of real ones (a count-matched control), not synthetic
    synthetic_weight: bool = False  # each synthetic image's loss × run.synthetic_weight
    filtered: bool = False  # candidates judged by the real baseline's first-seed classifier, the most typical kept
    starts_from: str | None = None  # fine-tunes that condition's model of the same seed
    needs: tuple[str, ...] = ()  # conditions that must be listed (and so run) before this one

    @property
    def synthetic(self) -> bool:
        """Uses a generator's images (directly, or through the model it starts from)."""
        return (self.adds != "none" and not self.repeats_real) or self.starts_from is not None

    @property
    def control(self) -> str | None:
        """The control that adds as many real copies as this condition adds synthetic images (same count, same
        class mix, same steps): what its images are compared with beside the real baseline."""
        if not self.synthetic or self.starts_from is not None:
            return None
        return next((c.name for c in CONDITIONS.values() if c.repeats_real and c.adds == self.adds), None)


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("real", "A real (baseline)", adds="none"),
        Condition("rebalanced", "B rebalanced", adds="minority"),
        Condition("enlarged", "C enlarged", adds="per_class"),
        Condition("synthetic_only", "D synthetic only", adds="only", real_images=False),
        Condition("weighted", "E enlarged, synthetic loss down-weighted", adds="per_class", synthetic_weight=True),
        Condition(
            "pretrain_synthetic",
            "F pretrained on synthetic, fine-tuned on real",
            adds="none",
            starts_from="synthetic_only",
            needs=("synthetic_only",),
        ),
        Condition(
            "filtered",
            "G enlarged with classifier-filtered synthetic images",
            adds="per_class",
            filtered=True,
            needs=("real",),
        ),
        Condition(
            "duplicated", "H real images duplicated to enlarged's count (control)", "per_class", repeats_real=True
        ),
        Condition(
            "oversampled", "I minority real images duplicated to balance (control)", "minority", repeats_real=True
        ),
    )
}
SYNTHETIC_CONDITIONS = tuple(name for name, c in CONDITIONS.items() if c.synthetic)
assert set(CONDITIONS) == set(get_args(ConditionName)), "config.ConditionName and the registry disagree"


def condition(name: str) -> Condition:
    try:
        return CONDITIONS[name]
    except KeyError:
        raise PneumoganError(f"unknown condition '{name}'; choose from: {', '.join(CONDITIONS)}") from None


def synthetic_counts(real_counts: dict[str, int], name: str, run: RunConfig) -> dict[str, int]:
    """How many synthetic images of each class a condition adds (empty when it adds none)."""
    return {} if condition(name).repeats_real else added_counts(real_counts, name, run)


def repeated_counts(real_counts: dict[str, int], name: str, run: RunConfig) -> dict[str, int]:
    """How many copies of real images of each class a control condition adds (empty for every other)."""
    return added_counts(real_counts, name, run) if condition(name).repeats_real else {}


def added_counts(real_counts: dict[str, int], name: str, run: RunConfig) -> dict[str, int]:
    """How many images of each class a condition adds to (or, for synthetic_only, trains on instead of) the real
    ones, whatever their source."""
    adds = condition(name).adds
    if adds == "minority":
        minority = min(real_counts, key=lambda c: (real_counts[c], c))
        gap = max(real_counts.values()) - real_counts[minority]
        return {minority: gap} if gap > 0 else {}
    if adds == "per_class":
        return {c: max(1, round(run.enlarge_ratio * n)) for c, n in real_counts.items()}
    if adds == "only":
        return {c: run.synthetic_only_per_class or n for c, n in real_counts.items()}
    return {}


def check_order(names: list[str]) -> None:
    """Every condition's prerequisites are listed before it (they run first and it uses their models)."""
    for name in names:
        for needed in condition(name).needs:
            if needed not in names or names.index(needed) > names.index(name):
                why = "fine-tunes the" if condition(name).starts_from == needed else "uses the"
                raise PneumoganError(f"{name} {why} {needed} models: list {needed} before it in run.conditions")
