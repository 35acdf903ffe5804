"""Robustness metrics of the tune trials and the performance profile: pure numpy / pandas, no I/O.

Scores are points (0-100, higher is better). The expected-max band is a vectorized percentile
bootstrap over the R i.i.d. trials (R is tens to hundreds, where it is well behaved); cell means
and comparisons of 2-5 seeds use reports.stats instead.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

N_RESAMPLES = 1000
LEVEL = 0.95


def _clean(x) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def expected_max(scores) -> np.ndarray:
    """Expected maximum after k = 1..R i.i.d. trials (Dodge et al. 2019).

    With sorted scores v(1) <= ... <= v(R): E[max_k] = sum_i v(i) * ((i/R)^k - ((i-1)/R)^k),
    i.e. the expectation of the best of k draws with replacement from the R observed scores.
    A 2-D input (B x R) gives one curve per row (B x R), which is how the bootstrap band is made.
    """
    v = np.sort(np.asarray(scores, dtype=float), axis=-1)
    if v.shape[-1] == 0:
        return np.empty(v.shape)
    if not np.isfinite(v).all():
        raise ValueError("expected_max: scores contain NaN or inf (count diverged trials at chance first)")
    r = v.shape[-1]
    k = np.arange(1, r + 1)[:, None]
    i = np.arange(1, r + 1)[None, :]
    weights = (i / r) ** k - ((i - 1) / r) ** k  # k x i, each row sums to 1
    return v @ weights.T


def expected_max_band(scores, n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = 0):
    """(curve, low, high): expected max for k = 1..R and a percentile bootstrap band.

    The band resamples the R i.i.d. scores with replacement and recomputes the whole curve, so it
    shows how much the curve could move with another draw of R trials.
    """
    v = _clean(scores)
    if v.size == 0:
        empty = np.empty(0)
        return empty, empty, empty
    curve = expected_max(v)
    rng = np.random.default_rng(seed)
    boot = expected_max(v[rng.integers(0, v.size, (n_resamples, v.size))])
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return curve, low, high


def sensitivity(iid_scores, best: float) -> dict[str, float]:
    """Share of i.i.d. trials within 1 and 5 points of `best`, and the IQR of their scores."""
    x = _clean(iid_scores)
    if x.size == 0 or not np.isfinite(best):
        return {"within_1": np.nan, "within_5": np.nan, "iqr": np.nan}
    q1, q3 = np.percentile(x, [25, 75])
    return {"within_1": float(np.mean(x >= best - 1)), "within_5": float(np.mean(x >= best - 5)), "iqr": float(q3 - q1)}


def performance_profile(scores: pd.DataFrame, n_tau: int = 101) -> pd.DataFrame:
    """Share of tasks on which each optimizer's mean is within tau of that task's best (Dolan & More 2002).

    The report passes normalized scores (reports.aggregates: 1 = the task's best, 0 = chance), so
    tau is a share of the chance-to-best range.

    Returns a long frame (tau, optimizer, share) with tau from 0 to past the largest gap (a grid
    plus every gap, so each step is exact); an optimizer
    that did not run a task never counts as within tau on it.
    """
    means = scores.groupby(["task", "optimizer"])["value"].mean().unstack("optimizer")
    if means.empty:
        return pd.DataFrame(columns=["tau", "optimizer", "share"])
    gaps = means.max(axis=1).to_numpy()[:, None] - means.to_numpy()
    top = np.nanmax(gaps) if np.isfinite(gaps).any() else 0.0
    finite = gaps[np.isfinite(gaps)]
    taus = np.unique(np.concatenate([np.linspace(0.0, max(top, 1e-9) * 1.05, n_tau), finite]))  # exact step points
    gaps = np.where(np.isnan(gaps), np.inf, gaps)
    share = (gaps[None, :, :] <= taus[:, None, None]).mean(axis=1)  # tau x optimizer
    return pd.DataFrame({"tau": np.repeat(taus, means.shape[1]), "optimizer": np.tile(means.columns.to_numpy(), len(taus)),
                         "share": share.ravel()})
