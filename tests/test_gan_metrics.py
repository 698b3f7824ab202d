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
