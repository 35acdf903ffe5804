"""Robustness and comparison metrics: pure numpy / pandas / scipy, no I/O.

Scores are points (0-100, higher is better). Every bootstrap is vectorized and uses a modest number
of resamples (N_RESAMPLES) with the percentile method, so that a study of 10,000 trials reports in
seconds; percentile intervals also stay defined for the 2-5 seeds a cell usually has, where BCa's
jackknife is unstable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

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


def bootstrap_ci(x, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0):
    """(mean, low, high): the mean with a percentile bootstrap CI (scipy.stats.bootstrap).

    Fewer than 2 finite values give a NaN interval: one run says nothing about the spread.
    """
    x = _clean(x)
    if x.size == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, np.nan, np.nan
    if np.ptp(x) == 0:
        return mean, mean, mean
    res = stats.bootstrap((x,), np.mean, n_resamples=n_resamples, confidence_level=level,
                          method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _two_sample(a, b, statistic, level, n_resamples, seed):
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return np.nan, np.nan, np.nan
    point = float(statistic(a, b, axis=-1))
    if a.size < 2 or b.size < 2:
        return point, np.nan, np.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return point, point, point
    res = stats.bootstrap((a, b), statistic, n_resamples=n_resamples, confidence_level=level,
                          method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def diff_ci(a, b, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0):
    """(mean(a) - mean(b), low, high) with each sample resampled independently."""
    return _two_sample(a, b, lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), level, n_resamples, seed)


def ratio_ci(a, b, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0):
    """(mean(a) / mean(b), low, high): e.g. the relative time per step of two optimizers."""
    return _two_sample(a, b, lambda x, y, axis=-1: x.mean(axis) / y.mean(axis), level, n_resamples, seed)


def sensitivity(iid_scores, best: float) -> dict[str, float]:
    """Share of i.i.d. trials within 1 and 5 points of `best`, and the IQR of their scores."""
    x = _clean(iid_scores)
    if x.size == 0 or not np.isfinite(best):
        return {"within_1": np.nan, "within_5": np.nan, "iqr": np.nan}
    q1, q3 = np.percentile(x, [25, 75])
    return {"within_1": float(np.mean(x >= best - 1)), "within_5": float(np.mean(x >= best - 5)), "iqr": float(q3 - q1)}


def prob_improvement(a, b) -> float:
    """P(X > Y) + P(X = Y) / 2 for X from a and Y from b (all pairs): 0.5 means no difference."""
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return np.nan
    d = a[:, None] - b[None, :]
    return float(np.mean(d > 0) + 0.5 * np.mean(d == 0))


def _cells_by_task(scores: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """{task: {optimizer: finite scores}} from a long frame with task, optimizer, value."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for (task, opt), grp in scores.groupby(["task", "optimizer"], sort=False):
        x = _clean(grp["value"])
        if x.size:
            out.setdefault(task, {})[opt] = x
    return out


def mean_rank_ci(scores: pd.DataFrame, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Mean rank over tasks (1 = best) with a bootstrap CI over the runs within each cell.

    `scores`: long frame (task, optimizer, value), one row per run. Per task, optimizers are ranked
    by their mean score (ties share the average rank) among those that ran the task; the CI
    resamples every cell's runs, re-ranks, and re-averages, so it reflects seed noise; it is NaN for
    an optimizer with a single run in some task (nothing to resample).
    """
    rng = np.random.default_rng(seed)
    point: dict[str, list[float]] = {}
    boot: dict[str, list[np.ndarray]] = {}
    fewest: dict[str, int] = {}
    for cells in _cells_by_task(scores).values():
        opts = list(cells)
        means = np.array([cells[o].mean() for o in opts])
        resampled = np.stack([cells[o][rng.integers(0, cells[o].size, (n_resamples, cells[o].size))].mean(1) for o in opts], axis=1)
        ranks = stats.rankdata(-means)
        boot_ranks = stats.rankdata(-resampled, axis=1)
        for j, o in enumerate(opts):
            fewest[o] = min(fewest.get(o, cells[o].size), cells[o].size)
            point.setdefault(o, []).append(ranks[j])
            boot.setdefault(o, []).append(boot_ranks[:, j])
    alpha = (1 - level) / 2
    rows = []
    for o in point:
        b = np.mean(boot[o], axis=0)
        low, high = (np.quantile(b, alpha), np.quantile(b, 1 - alpha)) if fewest[o] > 1 else (np.nan, np.nan)
        rows.append({"optimizer": o, "mean_rank": float(np.mean(point[o])), "ci_low": float(low), "ci_high": float(high),
                     "n_tasks": len(point[o])})
    return pd.DataFrame(rows, columns=["optimizer", "mean_rank", "ci_low", "ci_high", "n_tasks"]).sort_values("mean_rank", ignore_index=True)


def poi_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """Pairwise probability of improvement: entry (A, B) = mean over shared tasks of P(A > B)."""
    cells = _cells_by_task(scores)
    opts = list(dict.fromkeys(o for c in cells.values() for o in c))
    mat = pd.DataFrame(np.nan, index=pd.Index(opts, name="optimizer"), columns=opts)
    for a in opts:
        for b in opts:
            if a != b:
                vals = [prob_improvement(c[a], c[b]) for c in cells.values() if a in c and b in c]
                mat.loc[a, b] = np.mean(vals) if vals else np.nan
    return mat


def performance_profile(scores: pd.DataFrame, n_tau: int = 101) -> pd.DataFrame:
    """Share of tasks on which each optimizer's mean is within tau points of that task's best.

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
