"""The one place that knows what each generator family is: whether it is conditioned on the class, and whether
the experiment trains one model per class. Torch-free and import-free, so every layer can ask."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # "gan" or "diffusion": the package that trains it
    conditional: bool  # one model takes the class as input (else: one unconditional model per class)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("dcgan", "gan", conditional=False),
        Family("cgan", "gan", conditional=True),
        Family("acgan", "gan", conditional=True),
        Family("fastgan", "gan", conditional=True),
        Family("diffusion", "diffusion", conditional=True),
    )
}
GAN_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.kind == "gan")


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown generator family '{name}'; choose one of: {', '.join(FAMILIES)}") from None


def is_conditional(name: str) -> bool:
    """One model for every class (conditioned on it), rather than one unconditional model per class."""
    return family(name).conditional
