"""The OOD margin study scores no image that `bench_ood.py` scores, and its per-class Gaussian measures the
distance to the nearest class."""

from __future__ import annotations

import numpy as np
import pytest
from tests.benchmark_modules import load_benchmark


@pytest.fixture(scope="module")
def margins():
    return load_benchmark("bench_ood_margins.py")


def test_development_set_is_disjoint_from_the_benchmark(margins) -> None:
    benchmark = margins.skimage_images(np.random.default_rng(0)) + margins.generated_images(np.random.default_rng(0))
    dev = margins.development_images(np.random.default_rng(margins.DEV_SEED))
    seen = {content for _, _, content in benchmark}
    assert not [name for _, name, content in dev if content in seen]
    faces = [name for kind, name, _ in dev if kind == "face_gray"]
    assert len(faces) == 150  # the 200 LFW images less the benchmark's 50
    assert not set(faces) & {name for kind, name, _ in benchmark if kind == "face_gray"}


def test_per_class_gaussian_is_distance_to_nearest_class(margins) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (400, 3))
    b = rng.normal(0, 1, (400, 3)) + np.array([10.0, 0, 0])
    x, y = np.concatenate([a, b]), np.r_[np.zeros(400), np.ones(400)]
    distance = margins.class_gaussians(x, y)
    near = distance(np.array([[0.0, 0, 0], [10.0, 0, 0], [5.0, 0, 0]]))
    assert near[0] < 0.2 and near[1] < 0.2  # at either class mean
    assert near[2] > 5 * max(near[0], near[1])  # half-way is far from both
    single = margins.single_gaussian(x, y)(np.array([[5.0, 0, 0]]))
    assert single[0] < near[2]  # one Gaussian over both classes puts the gap near its mean
