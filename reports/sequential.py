"""Group-sequential tests for `--seeds auto`: seeds are added in rounds until a claim is decided.

Looking at a claim after every round and stopping when it is significant inflates a fixed-sample
test's error rate (five looks at 0.05 give ~0.14). Here each claim is tested with a group-sequential
design: Lan & DeMets (1983) alpha spending with the O'Brien-Fleming-type function
alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) on the information fraction t = (n - 1) / (n_max - 1)
(degrees of freedom so far over the final ones; it sets both the spending time and the assumed
Brownian correlation, and its validity rests on simulation of Gaussian scores: the level is kept,
tests/test_reports_sequential.py, benchmarks/results/calibration.md), boundaries by the recursive numerical integration of Armitage, McPherson
& Rowe (1969) (Jennison & Turnbull 2000, ch. 19). The t statistics of small seed counts enter
through their fixed-sample p-values, converted to the normal scale (the "significance level"
approach, Jennison & Turnbull 2000, sec. 3.8); simulation checks the result
(benchmarks/calibration.py). Across claims, each claim's repeated p-value (Jennison & Turnbull
1989: the smallest level at which the design would have stopped by this look, valid whenever one
stops) enters Benjamini-Hochberg (1995) as the fixed design's p does; a claim is decided at the
first round where its adjusted p is below alpha, and its interval is the repeated confidence
interval of that look (Jennison & Turnbull 1989), which covers at any stopping time.

Pure numpy / scipy, no I/O.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special, stats

from reports.stats import ALPHA, benjamini_hochberg

# The t statistics' transform to the normal scale is not quite Brownian at 1-9 degrees of freedom:
# simulated, the design's level is up to 6% above nominal (e.g. 0.0526 for 0.05), so repeated
# p-values are scaled by this factor and intervals use the design at alpha / SMALL_DF_FACTOR.
SMALL_DF_FACTOR = 1.06
GROWTH = 1.5  # each round takes a claim's seeds to ceil(1.5 x) (2, 3, 5, 8, 10 for min 2, max 10)
GRID = 801  # points of the numerical integration over the score B(t) in [-8, 8] (1601: c_k within 1e-4)
GRID_HALF_WIDTH = 8.0
NEWTON_STEPS = 12
ALPHA_TABLE = np.geomspace(1e-9, 0.5, 100)  # levels tabled for repeated p-values (above 0.5: reported as 1)


def schedule(n_min: int, n_max: int) -> list[int]:
    """Seed counts at which a claim is looked at: n_min, then x1.5 (rounded up) each round, ending at n_max."""
    looks = [n_min]
    while looks[-1] < n_max:
        looks.append(min(n_max, max(looks[-1] + 1, math.ceil(GROWTH * looks[-1]))))
    return looks


def information(looks, n_max: int) -> np.ndarray:
    """Information fractions of the looks: degrees of freedom so far over the final ones,
    (n - 1) / (n_max - 1), which keeps the level closer to nominal than n / n_max (simulated)."""
    return (np.asarray(looks, dtype=float) - 1) / (n_max - 1)


def obf_spending(t, alpha: float = ALPHA):
    """Lan-DeMets O'Brien-Fleming-type spending: the share of alpha spent by information fraction t."""
    t = np.asarray(t, dtype=float)
    return 2 * stats.norm.sf(stats.norm.isf(alpha / 2) / np.sqrt(t))


def _inside(x, b, h):
    """Weight of each grid point inside (-b, b): 1 inside, 0 outside, linear across the edge cell."""
    return np.clip((b[:, None] - np.abs(x)[None, :]) / h + 0.5, 0.0, 1.0)


@lru_cache(maxsize=64)
def _boundaries_table(fractions: tuple[float, ...], alphas: tuple[float, ...]) -> np.ndarray:
    """c_k for each level in `alphas` (levels, looks), all levels at once.

    The score B(t) = Z sqrt(t) is Brownian motion on the information scale; its sub-density on the
    continuation region is carried from look to look on a fixed grid (Armitage, McPherson & Rowe
    1969) and each look's b_k solves P(exit at k, not before) = alpha(t_k) - alpha(t_{k-1}) by
    Newton's method on the log exit probability.
    """
    t = np.asarray(fractions, dtype=float)
    alphas = np.asarray(alphas, dtype=float)
    spent = obf_spending(t[None, :], alphas[:, None])  # (A, K)
    x = np.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID)
    h = x[1] - x[0]
    out = np.empty((len(alphas), len(t)))
    out[:, 0] = stats.norm.isf(spent[:, 0] / 2)
    sd = math.sqrt(t[0])
    mass = stats.norm.pdf(x, scale=sd)[None, :] * h * _inside(x, out[:, 0] * sd, h)
    for k in range(1, len(t)):
        step = math.sqrt(t[k] - t[k - 1])
        log_target = np.log(spent[:, k] - spent[:, k - 1])
        b = math.sqrt(t[k]) * out[:, k - 1]  # the previous boundary: the exit probability beyond it is larger
        for _ in range(NEWTON_STEPS):
            lo, hi = (-b[:, None] - x) / step, (x - b[:, None]) / step
            tail = mass * (special.ndtr(lo) + special.ndtr(hi))
            slope = -(mass * (stats.norm.pdf(lo) + stats.norm.pdf(hi))).sum(axis=1) / step
            total = tail.sum(axis=1)
            b = np.clip(b - (np.log(total) - log_target) * total / slope, 0.0, GRID_HALF_WIDTH)
        out[:, k] = b / math.sqrt(t[k])
        kernel = stats.norm.pdf((x[:, None] - x[None, :]) / step) / step * h
        mass = (mass @ kernel.T) * _inside(x, b, h)
    return out


def boundaries(fractions, alpha: float = ALPHA) -> np.ndarray:
    """Two-sided critical values c_k on the normal scale at information fractions t_1 < ... < t_K:
    reject at look k when |Z_k| >= c_k; P(reject by look k | null) = alpha(t_k) exactly."""
    return _boundaries_table(tuple(float(f) for f in fractions), (float(alpha),))[0].copy()


def _table(fractions: tuple[float, ...]) -> np.ndarray:
    """c_k(alpha) for the levels of ALPHA_TABLE: (levels, looks), decreasing in alpha."""
    return _boundaries_table(fractions, tuple(ALPHA_TABLE.tolist()))


def nominal_levels(fractions, alpha: float = ALPHA) -> np.ndarray:
    """The fixed-sample two-sided level each look tests at: 2 (1 - Phi(c_k))."""
    return 2 * stats.norm.sf(boundaries(fractions, alpha))


def look_levels(p, fractions):
    """Per look, the smallest level alpha at which a design with these looks rejects at that look.

    p (..., K): the fixed-sample two-sided p-value at each look (NaN: look not reached, or no test).
    Returns (..., K), NaN where p is; 1 where no tabled level rejects.
    """
    p = np.asarray(p, dtype=float)
    z = stats.norm.isf(np.clip(p, 1e-300, 1.0) / 2)
    table = _table(tuple(float(f) for f in fractions))
    log_a = np.log(ALPHA_TABLE)
    out = np.empty_like(z)
    for k in range(table.shape[1]):
        c = table[::-1, k]  # increasing in c as alpha decreases
        out[..., k] = np.exp(np.interp(z[..., k], c, log_a[::-1], left=0.0, right=log_a[0]))
    out = np.where(z <= table[-1], 1.0, np.minimum(out, 1.0))
    return np.where(np.isfinite(p), out, np.nan)


def repeated_p(p, fractions):
    """Repeated p-values (Jennison & Turnbull 1989) at each look: the running minimum of
    `look_levels` over the looks so far (NaN before the first test). P(repeated p <= a at the
    look where one stops) <= a for any stopping rule."""
    levels = look_levels(p, fractions)
    levels = np.where(np.isnan(levels), np.inf, levels)
    out = np.minimum.accumulate(levels, axis=-1)
    return np.where(np.isfinite(out), np.minimum(1.0, SMALL_DF_FACTOR * out), np.nan)


def rci_quantile(fractions, look: int, df, level: float = 1 - ALPHA):
    """The t quantile for the repeated confidence interval at `look` (0-based): est +- q se covers
    at every look at once with probability >= `level` (Jennison & Turnbull 1989)."""
    c = boundaries(fractions, (1 - level) / SMALL_DF_FACTOR)[look]
    return stats.t.isf(stats.norm.sf(c), df)


def tost_rci_quantile(fractions, look: int, df, alpha: float = ALPHA):
    """The t quantile of an equivalence claim's interval at `look`: est +- q se lies inside +-margin
    exactly when the sequential TOST (Schuirmann 1987; each one-sided p through the alpha design,
    as look_levels tests it) rejects at this look, so the verdict and the printed interval agree.
    Its one-sided tail is the look's two-sided nominal level 2 (1 - Phi(c_k(alpha / 1.06)))."""
    c = boundaries(fractions, alpha / SMALL_DF_FACTOR)[look]
    return stats.t.isf(2 * stats.norm.sf(c), df)


def sequential_decisions(p, fractions, alpha: float = ALPHA):
    """Round-by-round decisions of a family of claims under Benjamini-Hochberg.

    p (..., m, K): each claim's fixed-sample p at each look (NaN where it has no test). At look k
    every claim not yet decided takes its repeated p-value at k; the family's BH adjustment is
    taken over the current repeated p's (those of decided claims frozen where they stopped), and
    the claims whose adjusted p < alpha are decided at k.
    Returns (stop, p_rep, p_adj): stop (..., m) the 0-based look where each claim was decided, -1
    where it never was; p_rep and p_adj at that look, or at the last look for the undecided ones.
    """
    rep = repeated_p(p, fractions)
    looks = rep.shape[-1]
    stop = np.full(rep.shape[:-1], -1)
    current = np.full(rep.shape[:-1], np.nan)
    adj = np.full(rep.shape[:-1], np.nan)
    for k in range(looks):
        active = stop < 0
        current = np.where(active, rep[..., k], current)
        adj = benjamini_hochberg(current)
        stop = np.where(active & (adj < alpha), k, stop)
    return stop, current, adj


def evidence_look(p, fractions, stop):
    """The look whose level a decided claim's repeated p is: the first look up to `stop` where
    `look_levels` reaches its running minimum (-1 where stop is -1).

    Under Benjamini-Hochberg a claim can be decided at look k on the repeated p it reached at an
    earlier look j (another claim's result lowered the family's threshold), so its estimate, sign
    and repeated confidence interval are look j's: RCIs hold at all looks at once (Jennison &
    Turnbull 1989), and look j's excludes the null, while look k's may not, or even flip sign.
    """
    levels = np.nan_to_num(look_levels(p, fractions), nan=np.inf)
    stop = np.asarray(stop)
    later = np.arange(levels.shape[-1]) > stop[..., None]
    return np.where(stop >= 0, np.argmin(np.where(later, np.inf, levels), axis=-1), -1)
