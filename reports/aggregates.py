"""Across tasks: mean rank, IQM, probability of improvement and performance-profile area with CIs.

Only the tasks every compared optimizer completed count (an average over different task sets
compares nothing); the optimizer with the fewest tasks is left out (and named) as long as that
raises the number of compared cells (common tasks x optimizers), down to two optimizers. Scores are normalized per task,
(score - chance) / (best - chance), best = the highest cell mean on that task, so 1 = the task's
best and 0 = chance. Every interval is a 95% percentile interval over a two-level stratified
bootstrap (reports.stats.stratified_resample: tasks, then each cell's seeds), following rliable
(Agarwal et al. 2021); the profile area is AlgoPerf's (Dahl et al. 2023) up to TAU_MAX.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports import stats

N_RESAMPLES = 1000
TAU_MAX = 0.25  # profile area over gaps up to a quarter of the chance-to-best range
TABLE_COLUMNS = ["optimizer", "mean_rank", "ci_low", "ci_high", "n_tasks", "iqm", "iqm_ci_low", "iqm_ci_high",
                 "profile_area", "area_ci_low", "area_ci_high"]


def common_cells(scores: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """(tasks, optimizers, left-out optimizers): the tasks on which every kept optimizer has runs."""
    ok = scores[np.isfinite(scores["value"].to_numpy(float))]
    done = {o: set(g["task"]) for o, g in ok.groupby("optimizer", sort=False)}
    common = lambda names: set.intersection(*(done[o] for o in names)) if names else set()  # noqa: E731
    # Greedy: leave out the optimizer with the fewest tasks, one at a time, and keep the step with
    # the most (tasks x optimizers); a single removal may not help yet (two optimizers each missing
    # a different task), so the whole path is scanned, not just until the first non-improvement.
    opts, dropped = list(done), []
    best = (len(common(opts)) * len(opts), list(opts), [])
    while len(opts) > 2:
        worst = min(opts, key=lambda o: (len(done[o]), o))
        opts.remove(worst)
        dropped.append(worst)
        if len(common(opts)) * len(opts) > best[0]:
            best = (len(common(opts)) * len(opts), list(opts), list(dropped))
    _, opts, dropped = best
    tasks = [t for t in dict.fromkeys(scores["task"]) if t in common(opts)]
    return tasks, opts, dropped


def _padded(scores: pd.DataFrame, tasks: list[str], opts: list[str]):
    """(normalized runs T x O x N with NaN padding, run counts T x O)."""
    s = scores[np.isfinite(scores["value"].to_numpy(float)) & scores["task"].isin(tasks) & scores["optimizer"].isin(opts)]
    means = s.groupby(["task", "optimizer"])["value"].mean()
    chance = s.groupby("task")["chance"].median().reindex(tasks).fillna(0.0)
    best = means.groupby(level="task").max().reindex(tasks)
    span = (best - chance).where(lambda d: d > 0, 1.0)
    groups = {k: g["value"].to_numpy(float) for k, g in s.groupby(["task", "optimizer"])}
    n = np.array([[groups[(t, o)].size for o in opts] for t in tasks])
    runs = np.full((len(tasks), len(opts), int(n.max())), np.nan)
    for i, t in enumerate(tasks):
        for j, o in enumerate(opts):
            runs[i, j, : n[i, j]] = (groups[(t, o)] - chance[t]) / span[t]
    return runs, n


def aggregate(scores: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0):
    """(table, poi matrix, poi long, normalized runs frame, note) from long (task, optimizer, value, chance).

    table: TABLE_COLUMNS, sorted by mean rank; poi matrix: entry (A, B) = P(A > B) averaged over
    the common tasks; poi long: a, b, poi, ci_low, ci_high, n_tasks; normalized: task, optimizer,
    value (normalized runs, for the performance profile); note: which tasks and optimizers counted.
    """
    tasks, opts, dropped = common_cells(scores)
    if not tasks:
        empty = pd.DataFrame(columns=TABLE_COLUMNS)
        return empty, pd.DataFrame(), pd.DataFrame(columns=["a", "b", "poi", "ci_low", "ci_high", "n_tasks"]), \
            pd.DataFrame(columns=["task", "optimizer", "value"]), "no task with runs of every optimizer"
    runs, n = _padded(scores, tasks, opts)
    boot = stats.stratified_resample(runs, n, n_resamples, np.random.default_rng(seed))
    means, bmeans = np.nanmean(runs, axis=-1), np.nanmean(boot, axis=-1)
    rank, brank = stats.mean_ranks(means), stats.mean_ranks(bmeans)
    flat = lambda x: x.swapaxes(-2, -3).reshape(x.shape[:-3] + (x.shape[-2], -1))  # noqa: E731  (..., O, T*N)
    iqm, biqm = stats.iqm(flat(runs)), stats.iqm(flat(boot))
    area, barea = stats.profile_area(means, TAU_MAX), stats.profile_area(bmeans, TAU_MAX)
    table = pd.DataFrame({"optimizer": opts, "mean_rank": rank, "n_tasks": len(tasks), "iqm": iqm, "profile_area": area})
    for col, b in (("ci", brank), ("iqm_ci", biqm), ("area_ci", barea)):
        table[f"{col}_low"], table[f"{col}_high"] = stats.percentile_ci(b)
    table = table[TABLE_COLUMNS].sort_values("mean_rank", ignore_index=True)
    poi, bpoi = stats.prob_improvement(runs), stats.prob_improvement(boot)
    low, high = stats.percentile_ci(bpoi)
    np.fill_diagonal(poi, np.nan)
    matrix = pd.DataFrame(poi, index=pd.Index(opts, name="optimizer"), columns=opts)
    ia, ib = np.nonzero(~np.eye(len(opts), dtype=bool))
    long = pd.DataFrame({"a": np.array(opts)[ia], "b": np.array(opts)[ib], "poi": poi[ia, ib], "ci_low": low[ia, ib],
                         "ci_high": high[ia, ib], "n_tasks": len(tasks)})
    t_idx, o_idx, r_idx = np.nonzero(np.isfinite(runs))
    normalized = pd.DataFrame({"task": np.array(tasks)[t_idx], "optimizer": np.array(opts)[o_idx], "value": runs[t_idx, o_idx, r_idx]})
    note = f"{len(tasks)} task(s) every compared optimizer completed: {', '.join(tasks)}"
    if dropped:
        note += f"; left out (too few tasks in common): {', '.join(dropped)}"
    return table, matrix, long, normalized, note
