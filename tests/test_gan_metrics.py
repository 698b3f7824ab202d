from __future__ import annotations

import numpy as np
import pytest

from pneumogan.evaluate.gan_metrics import frechet_distance, kernel_distance, near_copies, precision_recall


@pytest.fixture
def gauss():
    rng = np.random.default_rng(0)
    return rng.normal(size=(600, 8)), rng.normal(size=(600, 8))


def test_fd_of_same_distribution_is_small_and_shift_is_exact(gauss):
    a, b = gauss
    assert frechet_distance(a, b) < 0.2
    assert frechet_distance(a, a + 3.0) == pytest.approx(9 * 8, rel=1e-6)  # ‖Δμ‖² with equal covariances


def test_kid_near_zero_for_same_distribution(gauss):
    a, b = gauss
    same, shifted = kernel_distance(a, b, subsets=20, subset_size=300), kernel_distance(a, b + 1, 20, 300)
    assert abs(same) < 0.05 and shifted > 10 * max(abs(same), 1e-3)


def test_precision_recall_extremes(gauss):
    a, b = gauss
    p, r = precision_recall(a, b)
    assert p > 0.8 and r > 0.8
    p, r = precision_recall(a, b + 100)
    assert p == 0.0 and r == 0.0
    p, r = precision_recall(a, a[:50] * 0.1)  # collapsed fakes: precise, but cover little of the real set
    assert p > 0.9 and r < 0.3


def test_near_copy_check_flags_an_injected_copy():
    rng = np.random.default_rng(1)
    real = rng.random((200, 64))
    fake = rng.random((50, 64))
    fake[7] = real[42]
    res = near_copies(fake, real)
    assert res["fraction"] == pytest.approx(1 / 50)
    assert res["fake_nn"][7] == 0 and res["real_index"][7] == 42


def test_collapse_monitor_flags_nan_stuck_d_and_collapse():
    import torch

    from pneumogan.gan.monitor import CollapseMonitor, sample_diversity

    mon = CollapseMonitor(stuck_steps=3, real_diversity=0.4)
    assert mon.losses(0, float("nan"), 1.0)["kind"] == "nan"
    assert [mon.losses(s, 0.01, 1.0) for s in range(1, 3)] == [None, None]
    assert mon.losses(3, 0.01, 1.0)["kind"] == "d_stuck"
    assert mon.diversity(10, 0.35) is None
    assert mon.diversity(20, 0.15)["kind"] == "diversity"  # halved since the best
    assert "mode collapse" in mon.diversity(30, 0.05)["message"]  # far below the real images
    assert len(mon.events) == 4
    same = torch.zeros(4, 1, 8, 8)
    varied = torch.rand(4, 1, 8, 8)
    labels = torch.tensor([0, 0, 1, 1])
    assert sample_diversity(same, labels) == 0.0 < sample_diversity(varied, labels)


def test_fd_with_unequal_covariances_matches_scipy_reference_and_closed_form():
    from scipy import linalg

    from pneumogan.evaluate.gan_metrics import frechet_details

    rng = np.random.default_rng(3)
    a = rng.normal(size=(4000, 3)) * np.array([1.0, 2.0, 0.5])
    b = rng.normal(size=(4000, 3)) * np.array([3.0, 0.5, 0.5]) + np.array([1.0, 0.0, 0.0])
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real))
    got = frechet_details(a, b)
    assert got["fd"] == pytest.approx(reference, rel=1e-9) and got["imaginary_relative"] < 1e-6
    # closed form for independent axes: ‖Δμ‖² + Σ (σa − σb)² = 1 + 4 + 2.25 + 0 = 7.25
    assert got["fd"] == pytest.approx(7.25, rel=0.05)


def test_fd_warns_when_the_square_root_is_far_from_real(monkeypatch):
    from pneumogan.evaluate import gan_metrics

    monkeypatch.setattr(gan_metrics.linalg, "sqrtm", lambda m: np.eye(len(m)) * (1 + 0.5j))
    with pytest.warns(RuntimeWarning, match="imaginary part"):
        details = gan_metrics.frechet_details(np.random.default_rng(0).normal(size=(50, 4)), np.zeros((50, 4)))
    assert details["imaginary_relative"] == pytest.approx(0.5 / 4)  # largest |imaginary part| ÷ trace of the real part


def test_kid_reports_spread_over_subsets(gauss):
    from pneumogan.evaluate.gan_metrics import kernel_distance_stats, kid_text

    a, b = gauss
    mean, std = kernel_distance_stats(a, b + 0.5, subsets=10, subset_size=200)
    assert mean > 0 and 0 < std < mean
    # no more images than one subset holds: every subset would be the whole set, so there is no spread to report
    whole, none = kernel_distance_stats(a[:150], b[:150] + 0.5, subsets=10, subset_size=200)
    assert none is None and whole > 0
    assert kid_text(whole, none) == f"{whole:.4f}" and kid_text(mean, std) == f"{mean:.4f} ± {std:.4f}"


def test_compare_uses_equal_numbers_of_real_and_synthetic_images():
    from pneumogan.evaluate.gan_metrics import compare

    def extractor(images):  # features: 8 pixel statistics; probabilities unused here
        flat = images.reshape(len(images), -1).astype(float) / 255
        return np.stack([flat[:, k::8].mean(1) for k in range(8)], 1), np.zeros((len(images), 2))

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (300, 8, 8), dtype=np.uint8)
    fake = rng.integers(0, 256, (100, 8, 8), dtype=np.uint8)
    res = compare(real, fake, extractor, kid_subsets=5)
    assert (res["n"], res["n_real"], res["n_fake"]) == (100, 300, 100)
    assert res["kid_std"] is None and "fd_imaginary_relative" in res  # 100 per side: one subset, no spread


def test_the_real_floor_is_the_fd_of_two_disjoint_real_samples_of_the_same_n():
    from pneumogan.evaluate.gan_metrics import frechet_distance, real_floor

    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    floor = real_floor(real, 200, seed=3)
    pick = np.random.default_rng(4).permutation(400)
    assert floor == pytest.approx(frechet_distance(real[pick[:200]], real[pick[200:]]))
    assert 0 < floor < frechet_distance(real[:200], rng.normal(0.5, 1.0, size=(200, 8)))  # a shifted set is further
    assert real_floor(real, 201) is None  # fewer than 2n real images: no floor at this n
