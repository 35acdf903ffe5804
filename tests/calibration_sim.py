"""Simulated studies with known truth for calibrating the report's intervals and verdicts.

A study is `tasks` x `optimizers` cells of `seeds` runs each, scores ~ N(mean, sd); optimizer 0
(the "proposed" one) is better by `gap` SDs on every task, the others are identical. The claims
family of one setting is "optimizer 0 beats optimizer j on task t" for every j > 0 and task t,
tested as the report tests them (reports.stats + reports.claims.decide), all in one vectorized
pass over `reps` studies.
"""
from __future__ import annotations

import numpy as np

from reports import stats
from reports.claims import decide


def simulate(seeds: int, reps: int, gap: float = 0.0, tasks: int = 12, optimizers: int = 11, paired: bool = True,
             mean: float = 70.0, sd: float = 2.0, seed: int = 0, null_share: float = 0.0) -> dict[str, float]:
    """Calibration figures of one simulated setting.

    coverage: share of cells whose 95% t interval holds the true mean. For each adjustment (bh:
    Benjamini-Hochberg, used for verdicts; holm; raw: none), `<adj>_decided` is the share of claims
    given a verdict other than inconclusive (gap 0: the false-verdict rate; gap > 0: the power) and
    `<adj>_family` the share of studies with at least one such verdict. With `null_share` > 0,
    that share of the baselines is as good as optimizer 0 (the rest `gap` SDs worse), and
    `<adj>_fdr` is the false discovery rate: the mean over studies of the share of its verdicts
    given on those true-null claims (0 for a study with no verdict), and `<adj>_power` the share of
    the other claims (true gaps) given a verdict.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, sd, (reps, tasks, optimizers, seeds))
    equal = np.arange(optimizers) <= round(null_share * (optimizers - 1))  # optimizer 0 and its equals
    offset = np.where(equal, gap * sd, 0.0)
    x += offset[:, None]
    truth = mean + offset
    _, low, high = stats.t_interval(x)
    coverage = float(np.mean((low <= truth) & (truth <= high)))
    a, b = x[:, :, :1, :], x[:, :, 1:, :]
    if paired:
        est, _, _, p, _, _ = stats.paired_t(a - b)
    else:
        est, _, _, p, _, _ = stats.welch_t(np.broadcast_to(a, b.shape), b)
    est, p = est.reshape(reps, -1), p.reshape(reps, -1)
    out = {"coverage": coverage, "claims": est.shape[1]}
    for name, p_adj in (("bh", stats.benjamini_hochberg(p)), ("holm", stats.holm(p)), ("raw", p)):
        decided = decide("beats", est, p_adj) != "inconclusive"
        out[f"{name}_decided"] = float(decided.mean())  # gap 0: false verdicts; gap > 0: power (all are "holds")
        out[f"{name}_family"] = float(decided.any(axis=1).mean())
        null = np.broadcast_to(equal[None, 1:], (tasks, optimizers - 1)).ravel()
        false, given = decided[:, null].sum(axis=1), decided.sum(axis=1)
        out[f"{name}_fdr"] = float(np.mean(false / np.maximum(given, 1)))  # E[V / R], 0 where R = 0
        out[f"{name}_power"] = float(decided[:, ~null].mean()) if (~null).any() else np.nan
    return out


def bounded_coverage(seeds: int, reps: int, mean: float = 98.0, sd: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Coverage of the 95% t interval cut to 0-100 (reports.stats.t_interval's `bounds`) on skewed
    scores near the ceiling: 100 x Beta with the given mean and SD in points (mean 98, SD 1: two SDs
    below 100), and the share of plain t intervals that reached past 100 (what the cut removes)."""
    m, v = mean / 100, (sd / 100) ** 2
    k = m * (1 - m) / v - 1
    x = 100 * np.random.default_rng(seed).beta(m * k, (1 - m) * k, (reps, seeds))
    _, low, high = stats.t_interval(x, bounds=(0.0, 100.0))
    _, _, plain_high = stats.t_interval(x)
    return {"coverage": float(np.mean((low <= mean) & (mean <= high))), "past_100": float(np.mean(plain_high > 100)),
            "inside": float(np.mean((low >= 0) & (high <= 100)))}


def simulate_sequential(n_min: int, n_max: int, reps: int, gap: float = 0.0, tasks: int = 12, optimizers: int = 11,
                        sd: float = 2.0, seed: int = 0) -> dict[str, float]:
    """Calibration of `--seeds auto` (reports.sequential) beside a fixed design of n_max seeds.

    The same studies as `simulate` (optimizer 0 better by `gap` SDs, claims "0 beats j on task t",
    seeds pair), each claim looked at after every round of reports.sequential.schedule(n_min,
    n_max) and decided as the driver decides. Returns, for the sequential design: `decided` (gap 0:
    false verdicts; else power), `family` (studies with any verdict), `coverage` of the repeated
    confidence interval of the difference at the look its repeated p came from, `mean_seeds` per
    claim and `max_share` (claims that went to n_max); `fixed_*` the same for n_max seeds at once
    (its 95% t interval).
    """
    from reports import sequential

    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, sd, (reps, tasks, optimizers, n_max))
    x[:, :, 0] += gap * sd
    d = (x[:, :, :1] - x[:, :, 1:]).reshape(reps, -1, n_max)  # (reps, claims, seeds)
    looks = sequential.schedule(n_min, n_max)
    fractions = sequential.information(looks, n_max)
    tests = [stats.paired_t(d[..., :n]) for n in looks]
    est, p, se = (np.stack([t[i] for t in tests], axis=-1) for i in (0, 3, 4))
    stop, _, _ = sequential.sequential_decisions(p, fractions)
    at = np.where(stop >= 0, sequential.evidence_look(p, fractions, stop), len(looks) - 1)  # as reports.rounds reports
    pick = lambda v: np.take_along_axis(v, at[..., None], axis=-1)[..., 0]  # noqa: E731
    q = np.array([sequential.rci_quantile(fractions, k, n - 1) for k, n in enumerate(looks)])[at]
    truth = gap * sd
    covered = np.abs(pick(est) - truth) <= q * pick(se)
    decided = stop >= 0
    seeds = np.array(looks)[np.where(stop >= 0, stop, len(looks) - 1)]  # seeds run, up to the deciding look
    f_est, f_low, f_high, f_p, _, _ = stats.paired_t(d)
    f_decided = decide("beats", f_est, stats.benjamini_hochberg(f_p)) != "inconclusive"
    return {"claims": d.shape[1], "decided": float(decided.mean()), "family": float(decided.any(axis=1).mean()),
            "wrong_sign": float((decided & (pick(est) * np.sign(truth or 1) < 0)).mean()),
            "coverage": float(covered.mean()), "mean_seeds": float(seeds.mean()), "max_share": float((seeds == n_max).mean()),
            "fixed_decided": float(f_decided.mean()), "fixed_family": float(f_decided.any(axis=1).mean()),
            "fixed_coverage": float(np.mean((f_low <= truth) & (truth <= f_high))), "fixed_seeds": float(n_max)}
