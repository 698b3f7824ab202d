"""The quick config's GAN choice follows the rule fixed in bench_quick_gan_choice.py: a candidate replaces the
per-class DCGANs only with lower SSL FD for both classes, recall above zero everywhere, and no slower training."""

from __future__ import annotations

import pytest
from tests.benchmark_modules import BENCHMARKS, load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_quick_gan_choice.py")


def record(candidate: str, seed: int, fd: tuple[float, float], recall: float = 0.2, train_s: float = 100.0):
    per_class = {
        cls: {"fd": value, "kid": 0.01, "precision": 0.5, "recall": recall}
        for cls, value in zip(("NORMAL", "PNEUMONIA"), fd, strict=True)
    }
    return {"candidate": candidate, "seed": seed, "train_s": train_s, "metrics": {"ssl_encoder": per_class}}


def test_a_candidate_wins_only_when_it_is_better_on_both_classes(bench):
    seeds = [0, 1]
    dcgan = [record("dcgan", s, (20.0, 6.0), train_s=200.0) for s in seeds]
    better = [record("cgan/cbn", s, (15.0, 5.0)) for s in seeds]
    assert bench.decide(dcgan + better, seeds)["chosen"] == "cgan/cbn"
    one_class_worse = [record("cgan/cbn", 0, (15.0, 5.0)), record("cgan/cbn", 1, (15.0, 8.0))]  # PNEUMONIA 6.5
    assert bench.decide(dcgan + one_class_worse, seeds)["chosen"] == "dcgan"
    collapsed_once = [record("cgan/cbn", 0, (15.0, 5.0)), record("cgan/cbn", 1, (15.0, 5.0), recall=0.0)]
    assert bench.decide(dcgan + collapsed_once, seeds)["chosen"] == "dcgan"
    slower = [record("cgan/cbn", s, (15.0, 5.0), train_s=300.0) for s in seeds]
    assert bench.decide(dcgan + slower, seeds)["chosen"] == "dcgan"


def test_unfinished_candidates_are_not_judged(bench):
    rows = [record("dcgan", 0, (20.0, 6.0)), record("dcgan", 1, (20.0, 6.0)), record("cgan/cbn", 0, (1.0, 1.0))]
    decision = bench.decide(rows, [0, 1])
    assert decision["chosen"] == "dcgan" and "cgan/cbn" not in decision["candidates"]
    assert decision["candidates"]["dcgan"]["mean_ssl_fd"] == {"NORMAL": 20.0, "PNEUMONIA": 6.0}
    assert bench.decide(rows[2:], [0, 1])["chosen"] is None  # no finished baseline: no decision


def test_the_quick_config_trains_the_committed_choice(bench):
    """configs/quick.yaml's GAN is the one benchmarks/results/gan/quick_gan_choice.json chose, override by override."""
    import json

    from pneumogan.config import load_config

    result = json.loads((BENCHMARKS / "results" / "gan" / "quick_gan_choice.json").read_text())
    chosen = result["decision"]["chosen"]
    gan = load_config("quick").gan
    for override in bench.CANDIDATES[chosen]:
        key, value = override.removeprefix("gan.").split("=")
        assert str(getattr(gan, key)) == value, f"quick.yaml's gan.{key} is not the chosen {chosen}'s {value}"
    if chosen != "dcgan":  # one conditional model: its stabilisers are the candidate's, nothing added
        assert gan.g_conditioning == ("cbn" if "gan.g_conditioning=cbn" in bench.CANDIDATES[chosen] else "concat")
