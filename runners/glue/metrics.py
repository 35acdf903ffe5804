"""GLUE metrics with scikit-learn / scipy (no ``evaluate.load``, which downloads at run time).

Metric values are fractions (accuracy, F1) or coefficients in [-1, 1] (MCC, Pearson, Spearman);
``score`` and ``chance`` are on the study's 0-100 points scale.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from .tasks import TaskSpec


def _corr(fn, preds: np.ndarray, labels: np.ndarray) -> float:
    """A correlation that is 0 (not NaN) when either side is constant, e.g. a collapsed model."""
    if np.ptp(preds) == 0 or np.ptp(labels) == 0:
        return 0.0
    return float(fn(preds, labels)[0])


def compute(spec: TaskSpec, preds, labels) -> dict[str, float]:
    """The task's metrics for predictions against labels (class ids, or STS-B scores)."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    if preds.shape != labels.shape or preds.size == 0:
        raise ValueError(f"need equally long, non-empty predictions and labels for {spec.name}, "
                         f"got {preds.shape} and {labels.shape}")
    fns = {
        "acc": lambda: float(accuracy_score(labels, preds)),
        "f1": lambda: float(f1_score(labels, preds, pos_label=1, zero_division=0.0)),
        "mcc": lambda: float(matthews_corrcoef(labels, preds)),
        "pearson": lambda: _corr(stats.pearsonr, preds.astype(float), labels.astype(float)),
        "spearman": lambda: _corr(stats.spearmanr, preds.astype(float), labels.astype(float)),
    }
    return {m: fns[m]() for m in spec.metrics}


def chance(spec: TaskSpec, labels) -> float:
    """Chance-level score in points for the main metric on ``labels``.

    Accuracy: 100 / n_classes. MCC, Pearson, Spearman: 0. F1: the F1 of always predicting the
    positive class, 2p / (1 + p) with p the positive share of ``labels`` (a constant guess is the
    reference a classifier has to beat; a uniform random guess would give 2p / (1 + 2p)).
    """
    if spec.main == "acc":
        return 100.0 / spec.n_classes
    if spec.main == "f1":
        p = float(np.mean(np.asarray(labels) == 1))
        return 100.0 * 2 * p / (1 + p)
    return 0.0
