"""What makes a GAN's synthetic images unfit as training data, in plain sentences from `gan evaluate`'s results.
Kept free of torch so the report can import it."""

from __future__ import annotations

from typing import Any

# Below this share of samples classified as their own class by the real-trained classifier, a synthetic set used
# as training data carries that much label noise; the per-class DCGANs of the old default scored 0.96-0.98.
LOW_CLASS_FIDELITY = 0.9


def quality_warnings(results: dict[str, Any]) -> list[str]:
    """Plain sentences on what makes a class's synthetic images unfit as training data: label noise (low class
    fidelity) and mode collapse (zero recall), from `evaluate_gan`'s per-class results."""
    warnings = []
    for name in results.get("classes", []):
        r = results[name]
        if r.get("class_fidelity", 1.0) < LOW_CLASS_FIDELITY:
            warnings.append(
                f"only {r['class_fidelity']:.0%} of the synthetic {name} images are classified {name} by the "
                f"real-trained classifier: as training data they carry label noise (the `filtered` condition "
                "keeps only the ones it agrees with)"
            )
        if r.get("recall", 1.0) == 0:
            warnings.append(
                f"the synthetic {name} images have zero recall: the generator has collapsed onto a few modes"
            )
    return warnings
