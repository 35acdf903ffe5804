"""Simulated ladders with known truth, judged as the report judges them (reports.stats, the claims'
verdict rule and reports.ladder.first_change), all replicates in one vectorized pass.

A ladder of `rungs` rungs on `claims` claims ("P beats B"), `seeds` paired runs a side. The true
gap P - B is `spurious` SDs (of a paired difference) at the rungs before `flip_rung` and 0 from it
on: the factor changed at `flip_rung` (e.g. scoring on held-out data instead of the training
images) removes a win that only the earlier protocol creates. Each rung's claims are adjusted
together with Benjamini-Hochberg, as each rung of a study's ladder is.
"""
from __future__ import annotations

import numpy as np

from reports import stats
from reports.claims import decide
from reports.ladder import first_change


def attribution(seeds: int, reps: int, spurious: float, flip_rung: int = 1, rungs: int = 5, claims: int = 2,
                seed: int = 0) -> dict[str, float]:
    """Shares of (replicate, claim) pairs whose verdict first changes at `flip_rung` (`attributed`),
    at another rung (`misattributed`), nowhere (`unchanged`); and the power at the first rung."""
    rng = np.random.default_rng(seed)
    truth = np.where(np.arange(rungs) < flip_rung, spurious, 0.0)
    d = rng.normal(0.0, 1.0, (reps, rungs, claims, seeds)) + truth[None, :, None, None]
    est, _, _, p, _, _ = stats.paired_t(d)
    verdicts = np.stack([decide("beats", est[:, r], stats.benjamini_hochberg(p[:, r])) for r in range(rungs)], axis=-1)
    at = first_change(verdicts.reshape(-1, rungs))
    return {"attributed": float(np.mean(at == flip_rung)), "misattributed": float(np.mean((at >= 0) & (at != flip_rung))),
            "unchanged": float(np.mean(at < 0)), "power_first_rung": float(np.mean(verdicts[..., 0] == "holds"))}
