"""Sentences for the top of a report that keep a reader from over-reading it: a budget too small
for a conclusion, and optimizers whose results are identical because their settings make the
same (or nearly the same) updates.

Thresholds: the expected-max curves need at least 8 i.i.d. trials per cell to say anything beyond
the first few k (Dodge et al. 2019 use far more), a 95% CI over fewer than 3 seeds is mostly
width, and a tuned score below the untuned default means the search has not found the good region.
"""
from __future__ import annotations

import pandas as pd

MIN_IID_TRIALS = 8
MIN_SEEDS = 3
# Why two optimizers may share every score: what makes their updates the same.
SAME_UPDATES = {
    "swats": "SWATS runs Adam until it switches to SGD",
    "adamw": "AdamW is Adam plus a decoupled decay of lr x weight decay per step, none at weight decay 0",
}


def budget_warning(spec: dict, summary: pd.DataFrame) -> str | None:
    """One sentence when the budget is below what a conclusion needs, else None."""
    reasons = []
    iid, seeds = spec.get("iid_trials"), spec.get("seeds")
    if isinstance(iid, int) and iid < MIN_IID_TRIALS:
        reasons.append(f"{iid} i.i.d. tune trials per cell (a conclusion needs at least {MIN_IID_TRIALS})")
    if isinstance(seeds, int) and seeds < MIN_SEEDS:
        reasons.append(f"{seeds} seeds per setting (at least {MIN_SEEDS})")
    compared = summary.dropna(subset=["test_mean", "default_mean"])
    below = compared[compared["test_mean"] < compared["default_mean"]]
    if len(below):
        reasons.append(f"tuned below the default in {len(below)} of {len(compared)} cells (the search has not converged)")
    if not reasons:
        return None
    budget = f"{spec.get('trials', '?')} trials per cell, {spec.get('epochs', '?')} epochs, {seeds or '?'} seeds"
    return (f"**Smoke-test budget** ({budget}): {'; '.join(reasons)}, so read the rankings below as a check "
            "that the pipeline runs, not as a comparison.")


def identical_results(trials: pd.DataFrame) -> list[str]:
    """One sentence per set of optimizers that scored exactly the same on every run of some task and
    phase (same seeds; only cells whose runs all finished ok, so shared chance scores do not count)."""
    where: dict[tuple[str, ...], list[str]] = {}
    runs = trials[trials["phase"] != "tune"]
    for (task, phase, protocol), rows in runs.groupby(["task", "phase", "protocol"], sort=False):
        groups: dict[tuple, list[str]] = {}
        for optimizer, cell in rows.groupby("optimizer", sort=True):
            if (cell["status"] == "ok").all():
                groups.setdefault(tuple(sorted(zip(cell["seed"], cell["test_value"]))), []).append(optimizer)
        for same in (tuple(g) for g in groups.values() if len(g) > 1):
            where.setdefault(same, []).append(f"{task} {phase}" + (f" ({protocol} protocol)" if phase == "paper" else ""))
    sentences = []
    for same, places in where.items():
        reasons = [SAME_UPDATES[o] for o in same if o in SAME_UPDATES]
        label = "Identical by construction" if reasons else "Identical results"
        why = "; ".join(reasons) if reasons else "a tie, or settings that make the same updates"
        shown = ", ".join(places[:4]) + (f" and {len(places) - 4} more" if len(places) > 4 else "")
        sentences.append(f"{label}: {', '.join(same)} score exactly the same on every run of {shown} ({why}).")
    return sentences


def search_batch(spec: dict) -> str | None:
    """How sequential the tune phase's search was, when its TPE proposed several at a time."""
    batch = spec.get("tune_batch")
    if not isinstance(batch, int) or batch <= 1:
        return None
    return (f"Search method: each cell's TPE proposed up to {batch} configurations at a time (a Ray trial runs "
            "them back to back; TPE's constant liar counts the unfinished ones as pending), so the search is "
            f"sequential in batches of up to {batch} rather than one by one.")


def batch_caps(caps: dict) -> list[str]:
    """One sentence per task whose batch sizes the launch capped at its training split's size."""
    return [f"Batch sizes on {task} capped at {cap}, the examples its training split has: larger search choices "
            f"were dropped and a default or paper point above it ran at batch {cap}, not its own."
            for task, cap in caps.items()]


def retried_trials(retries: pd.DataFrame, max_named: int = 8) -> list[str]:
    """One sentence naming the trials that Tune ran again after a failure (retries.csv), if any."""
    if retries.empty or "trial_id" not in retries:
        return []
    counts = retries["trial_id"].astype(str).value_counts(sort=False)
    named = ", ".join(f"`{t}`" + (f" ({n}x)" if n > 1 else "") for t, n in list(counts.items())[:max_named])
    more = f" and {len(counts) - max_named} more" if len(counts) > max_named else ""
    causes = retries.get("cause", pd.Series(dtype=str)).dropna().astype(str)
    cause = f"; last cause: {causes.iloc[-1]}" if len(causes) and causes.iloc[-1] else ""
    return [f"Retried after a failure (a lost node or a crash, retries.csv): {named}{more}. Each ran again with the same "
            f"config and seed on a node with a free slot and is recorded once{cause}."]


def caveats(study, summary: pd.DataFrame) -> list[str]:
    """The report's opening caveats, in reading order."""
    warning = budget_warning(study.spec, summary)
    batch = search_batch(study.spec)
    return (([warning] if warning else []) + ([batch] if batch else []) + batch_caps(study.batch_caps)
            + retried_trials(study.retries) + identical_results(study.trials))
