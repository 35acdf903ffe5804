"""Small-sample statistics for the verdicts: pure numpy / scipy, no I/O, vectorized.

Cells have 2-5 seeds, so every interval and test here is exact (t-based) or a resampling scheme
whose calibration benchmarks/calibration.py measures; the percentile bootstrap of a mean is not
used for cells (it covers ~70% at 3 seeds). Array functions work along the last axis and
broadcast over leading ones, so a simulated study of thousands of cells is one call.

Sources: Student (1908) t interval, cut to the metric's range (Mandelkern 2002); Welch (1947) unequal-variance t; Holm (1979) step-down
adjustment; Benjamini & Hochberg (1995) false discovery rate; Schuirmann (1987) two one-sided tests (TOST); Cohen (1988) power of the t test via the
noncentral t; Agarwal et al. (2021, "Deep RL at the edge of the statistical precipice", rliable)
for the IQM, stratified bootstrap and probability of improvement; Dolan & More (2002) performance
profiles and Dahl et al. (2023, AlgoPerf) for the area under a profile.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

LEVEL = 0.95
ALPHA = 1 - LEVEL
POWER = 0.8
N_MAX = 1000  # seeds_needed gives inf beyond this
ROUNDOFF = 1e-9  # relative: spreads below this times the values' magnitude are float roundoff, not spread


def no_spread(se, *values):
    """Where an SE is zero up to float roundoff: se <= ROUNDOFF * max(1, |values|...).

    Scores are computed (100 * correct / total), so two seeds with the same true difference, e.g.
    0.2 points, give 0.20000000000000284 and 0.19999999999998863: an SE of ~7e-15, which taken
    at face value gives t ~ 3e13 and p ~ 1e-14 from two seeds (Goldberg 1991, "What every computer
    scientist should know about floating-point arithmetic": relative error ~1e-16 per operation).
    """
    scale = 1.0
    for v in values:
        scale = np.maximum(scale, np.abs(np.asarray(v, dtype=float)))
    with np.errstate(invalid="ignore"):
        return np.asarray(se, dtype=float) <= ROUNDOFF * scale


def _t_result(est, se, df, level, null=0.0):
    """(estimate, low, high, p two-sided against `null`) from an estimate, its SE and df.

    A zero SE up to roundoff (the same value, or the same difference, on every run; `no_spread`)
    gives p = 1 if est equals null (up to the same roundoff), else NaN: no spread means no test,
    and scores on a coarse grid (accuracy in steps of 0.02 points near 100%) would otherwise give
    p = 0 from two runs.
    """
    est, se, df = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (est, se, df)))
    q = stats.t.ppf(0.5 + level / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = (est - null) / se
        p = 2 * stats.t.sf(np.abs(tstat), df)
    degenerate = no_spread(se, est, null)
    p = np.where(degenerate, np.where(no_spread(np.abs(est - null), est, null), 1.0, np.nan), p)
    p = np.where(np.isfinite(se) & np.isfinite(df), p, np.nan)
    return est, est - q * se, est + q * se, p


def t_interval(x, level: float = LEVEL, bounds: tuple[float, float] | None = None):
    """(mean, low, high) along the last axis: Student's (1908) t interval, mean +- t(n-1) s/sqrt(n).

    NaNs are left out; fewer than 2 values give a NaN interval (one run says nothing of the spread).
    `bounds` (low, high): the metric's range (accuracy 0-100 points); the interval is cut to it,
    the intersection of the confidence set with the parameter space (Mandelkern 2002, "Setting
    confidence intervals for bounded parameters", Statistical Science 17(2)): a mean outside the
    range is impossible, so the cut keeps the t interval's coverage exactly, and "86 [54, 118]"
    from two seeds reads "86 [54, 100]". tests/calibration_sim.bounded_coverage checks the
    coverage on skewed scores near the ceiling (benchmarks/results/calibration.md). Data outside
    the range (a task's range inferred wrongly) leave the interval uncut, so it contains its mean.
    """
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN is the answer
        mean = np.nanmean(x, axis=-1)
        sd = np.nanstd(x, axis=-1, ddof=1)
    df = np.where(n > 1, n - 1, np.nan)
    mean, low, high, _ = _t_result(mean, np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan), df, level)
    mean = np.where(n > 0, mean, np.nan)
    if bounds is not None:
        low, high = cut(mean, low, high, bounds)
    return mean, low, high


def score_range(chance: float) -> tuple[float, float]:
    """The range of a task's score in points: 0-100 (accuracy, F1), or -100-100 for a correlation
    (MCC, Pearson: the tasks whose chance score is 0)."""
    return (-100.0, 100.0) if chance == 0 else (0.0, 100.0)


def difference_range(chance: float) -> tuple[float, float]:
    """The range of a difference of two scores of one task (points): +-(the score range's width)."""
    low, high = score_range(chance)
    return (low - high, high - low)


def cut(est, low, high, bounds: tuple[float, float]):
    """(low, high) intersected with the parameter's range `bounds` (Mandelkern 2002): the true value
    lies in the range, so the cut keeps the interval's coverage. NaN stays NaN; an estimate outside
    the range (the range inferred wrongly) leaves the interval uncut, so it contains its estimate."""
    inside = (np.asarray(est) >= bounds[0]) & (np.asarray(est) <= bounds[1])
    return np.where(inside, np.clip(low, *bounds), low), np.where(inside, np.clip(high, *bounds), high)


def paired_t(d, level: float = LEVEL, null: float = 0.0):
    """Paired t (Student 1908) on differences d (..., n): (mean d, low, high, p, se, df)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    if n < 2:
        nan = np.full(d.shape[:-1], np.nan)
        return d.mean(axis=-1) if n else nan, nan, nan, nan, nan, nan
    se = d.std(axis=-1, ddof=1) / np.sqrt(n)
    est, low, high, p = _t_result(d.mean(axis=-1), se, n - 1, level, null)
    return est, low, high, p, se, np.full(np.shape(est), n - 1.0)


def welch_t(a, b, level: float = LEVEL, null: float = 0.0):
    """Welch (1947) t for mean(a) - mean(b), unequal variances, Welch-Satterthwaite df.

    a (..., n_a), b (..., n_b): (difference, low, high, p, se, df). Both sides need 2 values.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.shape[-1], b.shape[-1]
    if na < 2 or nb < 2:
        shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        est = a.mean(axis=-1) - b.mean(axis=-1) if na and nb else np.full(shape, np.nan)
        nan = np.full(shape, np.nan)
        return est, nan, nan, nan, nan, nan
    va, vb = a.var(axis=-1, ddof=1) / na, b.var(axis=-1, ddof=1) / nb
    se = np.sqrt(va + vb)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    df = np.where(no_spread(se, a.mean(axis=-1), b.mean(axis=-1)), na + nb - 2.0, df)
    est, low, high, p = _t_result(a.mean(axis=-1) - b.mean(axis=-1), se, df, level, null)
    return est, low, high, p, se, df


def holm(p):
    """Holm (1979) step-down adjusted p-values along the last axis; NaNs are not tests.

    With the m finite p-values sorted p(1) <= ... <= p(m): adj(i) = max_{j<=i} min(1, (m-j+1) p(j)).
    Rejecting where adj < alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(p, dtype=float)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1, kind="stable")
    ps = np.take_along_axis(p, order, axis=-1)
    rank = np.arange(p.shape[-1])
    adj = np.minimum(1.0, np.maximum.accumulate(np.where(np.isfinite(ps), (m - rank) * ps, -np.inf), axis=-1))
    out = np.empty_like(p)
    np.put_along_axis(out, order, adj, axis=-1)
    return np.where(finite, out, np.nan)


def benjamini_hochberg(p):
    """Benjamini-Hochberg (1995) adjusted p-values along the last axis; NaNs are not tests.

    With the m finite p-values sorted p(1) <= ... <= p(m): adj(i) = min_{j>=i} min(1, m p(j) / j).
    Rejecting where adj < alpha controls the false discovery rate (the expected share of wrong
    verdicts among the verdicts given) at alpha, and the family-wise rate when every null is true.
    """
    p = np.asarray(p, dtype=float)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1, kind="stable")
    ps = np.take_along_axis(p, order, axis=-1)
    rank = np.arange(1, p.shape[-1] + 1)
    scaled = np.where(np.isfinite(ps), m * ps / rank, np.inf)
    adj = np.minimum(1.0, np.flip(np.minimum.accumulate(np.flip(scaled, -1), axis=-1), -1))
    out = np.empty_like(p)
    np.put_along_axis(out, order, adj, axis=-1)
    return np.where(finite, out, np.nan)


def tost(est, se, df, margin):
    """Schuirmann's (1987) two one-sided tests: p that |true difference| < margin (equivalence).

    p = max(P(T > (est + margin)/se), P(T < (est - margin)/se)) with T ~ t(df); a small p says the
    difference lies inside (-margin, margin). A zero SE up to roundoff (`no_spread`) gives p = 0 for
    a zero difference (the same result on every run: equal, e.g. by construction) and NaN otherwise
    (no spread, no test).
    """
    est, se, df, margin = (np.asarray(v, dtype=float) for v in (est, se, df, margin))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_low = stats.t.sf((est + margin) / se, df)
        p_high = stats.t.cdf((est - margin) / se, df)
    p = np.maximum(p_low, p_high)
    zero = no_spread(se, est, margin)
    p = np.where(zero, np.where(no_spread(np.abs(est), est, margin) & (margin > 0), 0.0, np.nan), p)
    return np.where(np.isfinite(se) & np.isfinite(df), p, np.nan)


def power_t(delta, sd, n, alpha: float = ALPHA, paired: bool = True):
    """Power of the two-sided t test to find a true difference `delta` (Cohen 1988, noncentral t).

    paired: n pairs, sd = SD of the differences, df = n - 1; else n runs per side with a common
    per-run sd, df = 2n - 2.
    """
    n = np.asarray(n, dtype=float)
    df = n - 1 if paired else 2 * n - 2
    se = sd / np.sqrt(n) if paired else sd * np.sqrt(2 / n)
    ncp = np.abs(delta) / se
    q = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(q, df, ncp) + stats.nct.cdf(-q, df, ncp)


def seeds_needed(delta: float, sd: float, alpha: float = ALPHA, power: float = POWER, paired: bool = True) -> float:
    """Fewest seeds (pairs, or runs per side) for `power` to resolve `delta` at spread `sd`.

    NaN when undefined (no gap to resolve, no spread estimate); inf when more than N_MAX.
    """
    if not (np.isfinite(delta) and np.isfinite(sd)) or delta == 0 or sd < 0:
        return np.nan
    if sd == 0:
        return 2.0
    n = np.arange(2, N_MAX + 1)
    ok = np.nonzero(power_t(delta, sd, n, alpha, paired) >= power)[0]
    return float(n[ok[0]]) if ok.size else np.inf


def iqm(x):
    """Interquartile mean along the last axis (Agarwal et al. 2021), NaNs left out.

    The mean of the values left after trimming floor(n/4) from each end (scipy.stats.trim_mean's
    rule): robust to a few outlier runs, less noisy than the median.
    """
    x = np.sort(np.asarray(x, dtype=float), axis=-1)  # NaNs sort last
    n = np.sum(np.isfinite(x), axis=-1, keepdims=True)
    g = n // 4
    cs = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(np.nan_to_num(x), axis=-1)], axis=-1)
    hi, lo = np.take_along_axis(cs, n - g, axis=-1), np.take_along_axis(cs, g, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (hi - lo) / (n - 2 * g)
    return np.where(n > 0, out, np.nan)[..., 0]


def stratified_resample(cells, n, n_resamples: int, rng: np.random.Generator, tasks: bool = True):
    """Resampled runs (B, T, O, N) from padded runs `cells` (T, O, N; NaN padding) with counts n (T, O).

    Two levels, as rliable's stratified bootstrap does for runs within tasks: the T tasks are drawn
    with replacement (when `tasks`), then each drawn task's runs are redrawn with replacement per
    optimizer, so an interval reflects both which tasks were chosen and seed noise.
    """
    cells, n = np.asarray(cells, dtype=float), np.asarray(n)
    t_count, _, width = cells.shape
    pick = rng.integers(0, t_count, (n_resamples, t_count)) if tasks else np.broadcast_to(np.arange(t_count), (n_resamples, t_count))
    counts = n[pick]  # B, T, O
    idx = (rng.random(counts.shape + (width,)) * counts[..., None]).astype(int)
    out = np.take_along_axis(cells[pick], np.minimum(idx, width - 1), axis=-1)
    return np.where(np.arange(width) < counts[..., None], out, np.nan)


def mean_ranks(means):
    """Mean rank over tasks (1 = best, ties averaged): means (..., T, O) -> (..., O)."""
    return stats.rankdata(-np.asarray(means, dtype=float), axis=-1).mean(axis=-2)


def prob_improvement(runs):
    """P(X_i > X_j) + P(X_i = X_j)/2 over all pairs of runs, averaged over tasks (Agarwal et al. 2021).

    runs (..., T, O, N) with NaN padding -> (..., O, O); 0.5 = no difference, diagonal 0.5.
    """
    runs = np.asarray(runs, dtype=float)
    total = 0.0
    for t in range(runs.shape[-3]):
        r = runs[..., t, :, :]
        a, b = r[..., :, None, :, None], r[..., None, :, None, :]
        valid = np.isfinite(a) & np.isfinite(b)
        wins = ((a > b) + 0.5 * (a == b)) * valid
        total = total + wins.sum(axis=(-1, -2)) / valid.sum(axis=(-1, -2))
    return total / runs.shape[-3]


def profile_area(norm_means, tau_max: float):
    """Area under a performance profile (Dolan & More 2002) up to tau_max, scaled to [0, 1].

    norm_means (..., T, O): normalized scores (1 = the task's best). With gap g = best - score,
    the profile rho(tau) is the share of tasks with g <= tau, and the area
    (1/tau_max) * integral_0^tau_max rho(tau) dtau = mean over tasks of max(0, 1 - g/tau_max),
    as AlgoPerf (Dahl et al. 2023) scores its profiles.
    """
    x = np.asarray(norm_means, dtype=float)
    gap = np.nanmax(x, axis=-1, keepdims=True) - x
    return np.clip(1 - gap / tau_max, 0, 1).mean(axis=-2)


def percentile_ci(boot, level: float = LEVEL, axis: int = 0):
    """(low, high) percentile interval of bootstrap replicates along `axis`."""
    alpha = (1 - level) / 2
    low, high = np.nanquantile(boot, [alpha, 1 - alpha], axis=axis)
    return low, high
