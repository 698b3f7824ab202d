"""The out-of-distribution check ("this does not look like a chest X-ray"): an outlier head on a classifier's
penultimate features and a Mahalanobis distance over image statistics, learned from synthetic non-X-rays and
X-rays under acquisition variation. Model-agnostic: it takes a feature function, so it sits below `classify`,
whose `classify.ood_fit` fits it for a checkpoint."""
