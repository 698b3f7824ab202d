"""The models that ship inside the package, so that `pneumogan serve` works right after install: a small
classifier (with its out-of-distribution check and its test metrics) and a small conditional generator for
the UI's synthetic tab. `scripts/build_bundled_models.py` builds them; `MODEL_CARD.md` beside them says how
they were trained and what they scored.
"""

from __future__ import annotations

from pathlib import Path

from pneumogan.errors import PneumoganError
from pneumogan.layout import GENERATOR_WEIGHTS, META

#: The word that stands for the bundled classifier wherever a checkpoint folder is expected.
BUNDLED = "bundled"
ROOT = Path(__file__).parent
CLASSIFIER = ROOT / "classifier"
GENERATOR = ROOT / "generator"
MODEL_CARD = ROOT / "MODEL_CARD.md"
BUILD = ROOT / "build.json"  # how each bundled model was built (command, commit, CPU, wall time), for the card
DATA_ATTRIBUTION = (
    "Trained on the chest X-ray images of Kermany, Zhang and Goldbaum (2018), 'Labeled Optical Coherence "
    "Tomography (OCT) and Chest X-Ray Images for Classification', Mendeley Data v2, doi:10.17632/rscbjbr9sj.2, "
    "licensed CC BY 4.0."
)


def classifier_path() -> Path:
    if not (CLASSIFIER / META).is_file():
        raise PneumoganError(
            f"this install has no bundled classifier ({CLASSIFIER} is empty): give a checkpoint folder, or build "
            "it with `python scripts/build_bundled_models.py`"
        )
    return CLASSIFIER


def generator_path() -> Path | None:
    """The bundled conditional generator, or None when this install has none."""
    return GENERATOR if (GENERATOR / GENERATOR_WEIGHTS).is_file() and (GENERATOR / META).is_file() else None


def resolve_checkpoint(checkpoint: str | Path | None) -> Path:
    """A checkpoint folder; the word `bundled` (or nothing) means the classifier that ships with the package."""
    if checkpoint is None or str(checkpoint) == BUNDLED:
        return classifier_path()
    return Path(checkpoint)


def is_bundled(checkpoint: str | Path) -> bool:
    try:
        return Path(checkpoint).resolve() == CLASSIFIER.resolve()
    except OSError:
        return False
