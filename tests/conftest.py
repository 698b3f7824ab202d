from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.shared_cache import SHARED_PREPARED_ENV, with_shared_prepared

SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
KAGGLE_224 = SHARED_DATA / "chest_xray_224"
MNIST_28 = SHARED_DATA / "pneumoniamnist.npz"


@pytest.fixture(scope="session", autouse=True)
def shared_prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of prepared (decoded, resized) datasets for the whole session: a prepared dataset is a pure
    function of the files, the size and the pixel limit (its folder name is their hash), so tests can share them
    and each image size of the real data is decoded once per session instead of once per test."""
    path = tmp_path_factory.mktemp("shared-prepared")
    os.environ[SHARED_PREPARED_ENV] = str(path)  # seen by the subprocesses the CLI tests start
    return path


@pytest.fixture(autouse=True)
def isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, shared_prepared: Path
) -> Path:
    """Never write into the user's real cache from tests; every test starts with an empty one (beside its
    `tmp_path`, which stays empty), except for the session's shared prepared datasets."""
    cache = with_shared_prepared(tmp_path_factory.mktemp("pneumogan-cache"))
    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(cache))
    monkeypatch.delenv("PNEUMOGAN_MEDMNIST_URL", raising=False)
    return cache


@pytest.fixture(scope="session")
def kaggle_224() -> Path:
    if not KAGGLE_224.is_dir():
        pytest.skip(f"real data not found at {KAGGLE_224} (clone the repo next to ../shared)")
    return KAGGLE_224


@pytest.fixture(scope="session")
def mnist_28() -> Path:
    if not MNIST_28.is_file():
        pytest.skip(f"real PneumoniaMNIST npz not found at {MNIST_28}")
    return MNIST_28


@pytest.fixture(scope="session")
def tiny_checkpoint(kaggle_224, tmp_path_factory, shared_prepared) -> Path:
    """A simple_cnn trained for 2 epochs on the tiny real subset, evaluated on test (for serving tests)."""
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.train import train
    from pneumogan.config import load_config

    # fp32 on every CPU, so the model the serving tests see is the same on AMX CPUs (where auto trains in bf16)
    overrides = [f"data.source={kaggle_224}", f"data.cache_dir={shared_prepared}", "data.size=64"]
    cfg = load_config("tiny", [*overrides, "classify.precision=fp32"])
    out = train(cfg, tmp_path_factory.mktemp("tiny-model") / "model", log=lambda *_: None)
    evaluate_checkpoint(out, "test", n_boot=50)
    return out


@pytest.fixture(scope="session")
def test_xrays(kaggle_224) -> list[Path]:
    """Two real test-split X-rays per class."""
    return [p for cls in ("NORMAL", "PNEUMONIA") for p in sorted((kaggle_224 / "test" / cls).iterdir())[:2]]
