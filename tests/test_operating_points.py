"""Operating points: thresholds per target sensitivity, chosen on val only, used by predict when asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pneumogan.errors import PneumoganError
from pneumogan.evaluate.metrics import OPERATING_POINTS, binary_metrics, operating_points


def test_each_point_is_the_highest_threshold_reaching_its_sensitivity():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(500, int)]
    p = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    points = operating_points(y, p)
    assert list(points) == list(OPERATING_POINTS)
    for point in points.values():
        sens = binary_metrics(y, p, point["threshold"])["recall"]
        assert sens >= point["target_sensitivity"] and sens == point["val_sensitivity"]
        higher = np.min(p[p > point["threshold"]])  # the next threshold up misses the target
        assert binary_metrics(y, p, higher)["recall"] < point["target_sensitivity"]
    assert points["sens99"]["threshold"] <= points["sens95"]["threshold"] <= points["sens90"]["threshold"]
    assert points["sens99"]["val_specificity"] <= points["sens90"]["val_specificity"]


@pytest.mark.realdata
def test_a_trained_checkpoint_records_points_from_its_val_split(tiny_checkpoint):
    from pneumogan.classify.checkpoint import load_checkpoint
    from pneumogan.classify.inference import positive_score, predict_proba
    from pneumogan.config import Config
    from pneumogan.data.loading import load_splits

    model, meta = load_checkpoint(tiny_checkpoint)
    val = load_splits(Config.model_validate(meta["config"])).val
    pre = meta["preprocessing"]
    p = positive_score(predict_proba(model, val.images, pre["mean"], pre["std"], torch.device("cpu"), precision="fp32"))
    y = (np.asarray(val.labels) > 0).astype(int)
    assert operating_points(y, p) == meta["operating_points"]  # val's scores, nothing else, give these
    assert binary_metrics(y, p, meta["operating_points"]["sens95"]["threshold"])["recall"] >= 0.95


@pytest.mark.realdata
def test_predict_labels_at_the_chosen_point(tiny_checkpoint, test_xrays):
    from pneumogan.classify.predict import predict_files

    res = predict_files(tiny_checkpoint, test_xrays, precision="fp32", operating_point="sens99")
    threshold = res["model"]["threshold"]
    assert res["model"]["operating_point"] == "sens99"
    for row in res["predictions"]:
        assert row["threshold"] == threshold and row["operating_point"] == "sens99"
        assert row["label"] == ("PNEUMONIA" if row["p_pneumonia"] >= threshold else "NORMAL")
    with pytest.raises(PneumoganError, match="unknown operating point"):
        predict_files(tiny_checkpoint, test_xrays, operating_point="sens42")
