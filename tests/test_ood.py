"""The out-of-distribution check: its pieces on generated data, then end to end on a checkpoint trained on real
X-rays (a colour photograph and a noise image are flagged; test X-rays are not)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pneumogan.data.decoded import DecodedImage, channel_spread
from pneumogan.data.images import read_image
from pneumogan.ood.check import (
    COLOUR_LIMIT,
    FeatureTap,
    Gaussian,
    OodDetector,
    OutlierHead,
    decoding_warnings,
    fit_ood,
    image_statistics,
    load_ood,
)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_channel_spread_tells_gray_stored_as_rgb_from_colour():
    gray = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    assert read_image(_png(np.stack([gray] * 3, axis=-1))).colour == 0.0
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[..., 0] = 200  # a red image
    assert read_image(_png(colour)).colour > COLOUR_LIMIT
    assert read_image(_png(gray)).colour == 0.0  # an L-mode PNG
    assert channel_spread(gray) == 0.0


def test_decoding_warnings_name_colour_and_lateral_views():
    plain = DecodedImage(np.zeros((4, 4), np.uint8), "L", 4, 4, "PNG")
    assert decoding_warnings(plain) == []
    assert "colour" in decoding_warnings(DecodedImage(plain.array, "RGB", 4, 4, "PNG", colour=0.3))[0]
    lateral = DecodedImage(plain.array, "MONOCHROME2", 4, 4, "DICOM", view_position="LL")
    assert "lateral" in decoding_warnings(lateral)[0]
    assert decoding_warnings(DecodedImage(plain.array, "MONOCHROME2", 4, 4, "DICOM", view_position="PA")) == []


def test_gaussian_distance_grows_away_from_the_fitted_cloud():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    g = Gaussian.fit(x)
    near, far = g.distance(np.zeros((1, 8)))[0], g.distance(np.full((1, 8), 6.0))[0]
    assert near < 0.5 < 3 < far
    assert abs(np.median(g.distance(x)) - 1.0) < 0.2  # distance / √D is about 1 inside the cloud


def test_image_statistics_separate_noise_from_smooth_images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    smooth = np.stack([(128 + 60 * np.sin((xx + k) / 6) * np.cos(yy / 7)).astype(np.uint8) for k in range(50)])
    noise = rng.integers(0, 256, (5, 32, 32), dtype=np.uint8)
    stats = image_statistics(np.concatenate([smooth, noise]))
    assert stats.shape == (55, 13) and np.isfinite(stats).all()
    edges = stats[:, 7]
    assert edges[50:].min() > 5 * edges[:50].max()


def test_feature_tap_collects_the_last_linear_input_per_member():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = nn.Linear(4, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.head(torch.relu(self.body(x)))

    net = Net()
    x = torch.randn(5, 4)
    with FeatureTap(net) as tap:
        net(x[:2])
        net(x[2:])
    assert torch.allclose(torch.from_numpy(tap.features()).float(), torch.relu(net.body(x)), atol=1e-6)
    net(x)  # hooks are gone after the block
    assert tap.batches == [[]]

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList([Net(), Net()])

    two = Two()
    with FeatureTap(two) as tap:
        for m in two.members:
            m(x)
    assert tap.features().shape == (5, 6)


def test_fit_thresholds_come_from_validation_and_the_detector_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:16, :16]

    def xrays(n: int) -> np.ndarray:
        base = 100 + 80 * np.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 40)
        return np.clip(base[None] + rng.normal(0, 4, (n, 16, 16)), 0, 255).astype(np.uint8)

    def extract(images: np.ndarray) -> np.ndarray:  # a stand-in for a network: a few pooled pixels
        return images.reshape(len(images), 4, 4, 4, 4).mean(axis=(2, 4)).reshape(len(images), -1)

    noise = rng.integers(0, 256, (10, 16, 16), dtype=np.uint8)
    fresh = xrays(2000)
    for method, kind in (("outlier_exposure", OutlierHead), ("mahalanobis", Gaussian)):
        detector = fit_ood(extract, xrays(1000), xrays(600), quantile=0.99, method=method)
        assert isinstance(detector.features, kind) and detector.info["feature_method"] == method
        assert detector.info["threshold_split"] == "val" and detector.info["varied_val_false_alarm_rate"] <= 0.03
        assert all(detector.warnings(extract(noise), noise))
        assert np.mean([bool(w) for w in detector.warnings(extract(fresh), fresh)]) < 0.05
        detector.save(tmp_path / method)
        again = load_ood(tmp_path / method)  # a checkpoint fitted with either method loads as it was saved
        assert isinstance(again, OodDetector) and isinstance(again.features, kind)
        assert again.feature_threshold == detector.feature_threshold
        assert np.allclose(again.features.distance(extract(noise)), detector.features.distance(extract(noise)))
    assert load_ood(tmp_path / "none") is None
    with pytest.raises(Exception, match="quantile"):
        fit_ood(extract, xrays(40), xrays(40), quantile=1.2)
    with pytest.raises(Exception, match="unknown OOD method"):
        fit_ood(extract, xrays(40), xrays(40), method="knn")


def test_outlier_head_scores_the_outlier_side_higher():
    rng = np.random.default_rng(0)
    inliers, outliers = rng.normal(0, 1, (300, 4)), rng.normal(0, 1, (300, 4)) + np.array([4.0, 0, 0, 0])
    head = OutlierHead.fit(inliers, outliers)
    scores = head.distance(np.array([[0.0, 0, 0, 0], [4.0, 0, 0, 0], [8.0, 0, 0, 0]]))
    assert scores[0] < 0 < scores[1] < scores[2]


@pytest.mark.realdata
def test_trained_checkpoint_flags_photographs_and_noise_not_test_xrays(tiny_checkpoint, kaggle_224):
    from pneumogan.classify.predict import Predictor, predict_files

    predictor = Predictor(tiny_checkpoint)
    assert predictor.ood is not None, "training should fit the OOD check beside the weights"
    rng = np.random.default_rng(0)
    photo = np.zeros((96, 128, 3), np.uint8)
    photo[..., 0] = np.linspace(0, 255, 128, dtype=np.uint8)[None]
    photo[..., 1] = rng.integers(0, 256, (96, 128), dtype=np.uint8)
    photo[30:60, 40:90] = (20, 160, 40)
    noise = rng.integers(0, 256, (128, 128), dtype=np.uint8)
    for image in (photo, noise):
        array, notes = predictor.read(_png(image))
        assert predictor.predict_arrays(array[None], [notes])[0]["warnings"]
    files = [p for cls in ("NORMAL", "PNEUMONIA") for p in sorted((kaggle_224 / "test" / cls).iterdir())[:10]]
    rows = predict_files(tiny_checkpoint, files)["predictions"]
    flagged = [r["file"] for r in rows if r["warnings"]]
    assert len(flagged) <= 1, flagged  # the thresholds allow about 1 % false alarms


@pytest.mark.realdata
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_test_xrays_pass_the_check_whatever_precision_predicts(tiny_checkpoint, kaggle_224, precision):
    """The check is fitted on fp32 features; bf16 features sat far from it (every test X-ray flagged on an AMX
    CPU, where `auto` is bf16), so the check's features are computed in fp32 whatever precision predicts."""
    from pneumogan.classify.predict import predict_files

    files = [p for cls in ("NORMAL", "PNEUMONIA") for p in sorted((kaggle_224 / "test" / cls).iterdir())[:10]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # explicit bf16 on a CPU where it is slow warns
        rows = predict_files(tiny_checkpoint, files, precision=precision)["predictions"]
    flagged = [r["file"] for r in rows if r["warnings"]]
    assert len(flagged) <= 1, flagged
