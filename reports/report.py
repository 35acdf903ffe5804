"""The report's content: headline, metric glossary, cross-task comparison, claims, per-task detail.

Produces the block list that reports.render turns into markdown and HTML.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports import metrics
from reports.caveats import caveats
from reports.claims import TIME_TOLERANCE, VERDICTS, notes_for
from reports.render import fmt, fmt_ci

GLOSSARY = [
    "**best val**: the best validation score among the cell's tune trials (optimistic: it is a max over trials).",
    "**test [95% CI]**: the best tune config re-run on fresh seeds (confirm phase), mean test score with a percentile "
    "bootstrap 95% CI over those runs.",
    "**default**: the optimizer's default hyperparameters under the fair protocol (the one-shot setting), mean test score.",
    "**paper (paper protocol)**: the paper's hyperparameters under the paper's own protocol, scored as that protocol scores "
    "(ThermoLion's: accuracy on the training images); **paper (fair)**: the same point under the fair protocol, test score.",
    "**expected max after k trials** (Dodge et al. 2019): the expected best validation score of k i.i.d. random trials, "
    "E[max_k] = sum_i v(i)((i/R)^k - ((i-1)/R)^k) over the R sorted i.i.d. scores; band = 95% bootstrap over those trials.",
    "**within 1 / within 5**: share of i.i.d. random trials scoring within 1 / 5 points of the cell's best val "
    "(higher = less tuning needed); **IQR**: interquartile range of their scores (higher = more fragile).",
    "**top hparams**: PED-ANOVA importance (Optuna) of each hyperparameter over the cell's tune trials, normalized to sum 1.",
    "**diverged / errors**: trials stopped for a NaN/inf loss (scored at the task's chance level, never dropped) / trials "
    "that crashed (counted, not scored).",
    "**mean rank**: rank of the confirm test means within each task (1 = best), averaged over tasks; CI by resampling "
    "each cell's runs.",
    "**probability of improvement** P(A > B): chance that a confirm run of A beats one of B (ties count half), averaged over tasks.",
    "**performance profile**: share of tasks on which an optimizer's confirm test mean is within tau points of that task's best.",
    "**verdict**: holds (95% CI of ours(P) - ours(B) above 0), does not hold (below 0), within noise (contains 0), "
    f"too few runs (<2 on a side), not run; time claims compare the time-per-step ratio with 1 + {TIME_TOLERANCE:.0%}.",
]


def _ci_strings(df: pd.DataFrame, mean: str, low: str, high: str) -> list[str]:
    return [fmt_ci(m, lo, hi) for m, lo, hi in zip(df[mean], df[low], df[high])]


def _runs(confirm: pd.DataFrame, task: str, opt: str) -> pd.Series:
    return confirm.loc[(confirm["task"] == task) & (confirm["optimizer"] == opt), "test_value"]


def _verdict_counts(verdicts: pd.Series) -> str:
    counts = verdicts.value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v in counts) or "–"


def relevant_claims(claims: pd.DataFrame, study) -> pd.DataFrame:
    """The claims about this study's tasks whose two optimizers are both in the study."""
    opts = set(study.optimizers)
    return claims[claims["task"].isin(study.tasks) & claims["optimizer"].isin(opts) & claims["baseline"].isin(opts)]


def headline(summary: pd.DataFrame, trials: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """Per task: tuned winner with CI, runner-up, whether they are separable, best default, claims."""
    rows = []
    confirm = trials[trials["phase"] == "confirm"]
    for task, cells in summary.groupby("task", sort=False):
        done = cells[cells["test_n"] > 0].sort_values("test_mean", ascending=False)
        row = {"task": task, "cells complete": f"{(cells['state'] == 'complete').sum()}/{len(cells)}"}
        if len(done):
            w = done.iloc[0]
            row["tuned winner (test [95% CI])"] = f"{w['optimizer']} {fmt_ci(w['test_mean'], w['test_ci_low'], w['test_ci_high'])}"
            if len(done) > 1:
                r = done.iloc[1]
                row["runner-up"] = f"{r['optimizer']} {fmt_ci(r['test_mean'], r['test_ci_low'], r['test_ci_high'])}"
                d, lo, hi = metrics.diff_ci(_runs(confirm, task, w["optimizer"]), _runs(confirm, task, r["optimizer"]))
                word = "clear" if lo > 0 else "within noise" if np.isfinite(lo) else "too few runs"
                row["winner − runner-up"] = f"{fmt_ci(d, lo, hi)} ({word})"
        dflt = cells[cells["default_n"] > 0].sort_values("default_mean", ascending=False)
        if len(dflt):
            row["best default"] = f"{dflt.iloc[0]['optimizer']} {fmt(dflt.iloc[0]['default_mean'])}"
        tc = claims[claims["task"] == task]
        row["claims, paper setting"] = _verdict_counts(tc["paper_verdict"]) if len(tc) else "no published claim"
        row["claims, fair"] = _verdict_counts(tc["fair_verdict"]) if len(tc) else "no published claim"
        rows.append(row)
    cols = ["task", "cells complete", "tuned winner (test [95% CI])", "runner-up", "winner − runner-up", "best default",
            "claims, paper setting", "claims, fair"]
    return pd.DataFrame(rows).reindex(columns=cols)


def cell_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The per-task table shown in the report (summary.csv holds every column)."""
    return pd.DataFrame({
        "optimizer": cells["optimizer"], "state": cells["state"],
        "trials": [f"{n}/{fmt(p, 0)}" for n, p in zip(cells["n_trials"], cells["n_planned"])],
        "diverged": cells["n_diverged"], "errors": cells["n_errors"], "best val": cells["best_score"],
        "test [95% CI]": _ci_strings(cells, "test_mean", "test_ci_low", "test_ci_high"),
        "seeds": cells["test_n"], "default": cells["default_mean"],
        "paper (paper protocol)": _ci_strings(cells, "paper_mean", "paper_ci_low", "paper_ci_high"),
        "paper (fair)": _ci_strings(cells, "paper_fair_mean", "paper_fair_ci_low", "paper_fair_ci_high"),
        "within 1": cells["iid_within_1"], "within 5": cells["iid_within_5"], "IQR": cells["iid_iqr"],
        "top hparams": cells["top_hparams"],
    })


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    def ours(r, s):
        if r["kind"] == "time":
            return f"x{fmt_ci(r[f'{s}_delta'], r[f'{s}_ci_low'], r[f'{s}_ci_high'], 3)} (n={r[f'{s}_n']})"
        delta = fmt_ci(r[f"{s}_delta"], r[f"{s}_ci_low"], r[f"{s}_ci_high"])
        return f"{fmt(r[f'{s}_ours'])} vs {fmt(r[f'{s}_ours_baseline'])}: {delta} (n={r[f'{s}_n']})"

    def pub(r):
        if r["kind"] == "time":
            return f"{fmt(r['pub_value'])}s vs {fmt(r['pub_baseline'])}s (x{r['pub_delta']:.3f})"
        return f"{fmt(r['pub_value'])} vs {fmt(r['pub_baseline'])} ({r['pub_delta']:+.2f})"

    return pd.DataFrame({
        "claim": claims["claim"], "source": [f"{p} T{t}" for p, t in zip(claims["paper"], claims["table"])],
        "published": [pub(r) for _, r in claims.iterrows()],
        "ours, paper setting (Δ [CI])": [ours(r, "paper") for _, r in claims.iterrows()],
        "verdict (paper setting)": claims["paper_verdict"],
        "ours, fair (Δ [CI])": [ours(r, "fair") for _, r in claims.iterrows()],
        "verdict (fair)": claims["fair_verdict"],
    })


def build_blocks(study, summary, claims, ranks, poi, figures: dict, files: dict) -> list[tuple]:
    """The whole report as render blocks."""
    n_trials = len(study.trials)
    states = summary["state"].value_counts()
    phases = ", ".join(f"{k}: {v}" for k, v in study.phases.items()) or "unknown"
    blocks: list[tuple] = [
        ("h", 1, f"Optimizer study report: {study.name}"),
        ("p", f"{n_trials} trial rows; cells: {states.get('complete', 0)} complete, {states.get('incomplete', 0)} incomplete, "
              f"{states.get('not run', 0)} not run (budget: {study.spec.get('trials', '?')} trials per cell, of which "
              f"{study.spec.get('iid_trials', '?')} i.i.d.; {study.spec.get('seeds', '?')} seeds). Phases: {phases}."),
        *(("p", sentence) for sentence in caveats(study, summary)),
        ("h", 2, "Headline"),
        ("table", headline(summary, study.trials, relevant_claims(claims, study))),
        ("h", 2, "How to read the numbers"),
        ("list", GLOSSARY),
        ("h", 2, "Across tasks (tuned, confirm runs)"),
    ]
    if ranks.empty:
        blocks.append(("p", "No confirm runs yet: the cross-task comparison appears once the confirm phase has run."))
    else:
        blocks.append(("table", pd.DataFrame({"optimizer": ranks["optimizer"],
                                              "mean rank [95% CI]": _ci_strings(ranks, "mean_rank", "ci_low", "ci_high"),
                                              "tasks": ranks["n_tasks"]})))
        if poi.shape[0] > 1:
            blocks.append(("table", poi.reset_index()))
    for name, caption in (("rank", "Mean rank with 95% CI"), ("poi", "Probability of improvement (row beats column)"),
                          ("profile", "Performance profile")):
        if name in figures.get("overall", {}):
            blocks.append(("fig", figures["overall"][name], caption))
    blocks.append(("h", 2, "Do the papers' claims hold?"))
    shown = relevant_claims(claims, study)
    if shown.empty:
        blocks.append(("p", "No published claim concerns both this study's tasks and its optimizers (claims.csv lists them all)."))
    else:
        blocks.append(("p", f"{len(shown)} claims concern this study's tasks and optimizers ({len(claims) - len(shown)} more "
                            "are listed in claims.csv). A claim is 'P beats B on T' wherever the paper's own table "
                            "puts P above B; Δ = ours(P) − ours(B)."))
        blocks.append(("table", claims_table(shown)))
        blocks.append(("p", "Known protocol issues:"))
        blocks.append(("list", notes_for(shown)))
    for task in study.tasks:
        cells = summary[summary["task"] == task]
        blocks.append(("h", 2, f"Task {task}"))
        missing = cells[cells["state"] != "complete"]
        if len(missing):
            blocks.append(("p", "Not complete: " + ", ".join(f"{o} ({s})" for o, s in zip(missing["optimizer"], missing["state"])) + "."))
        blocks.append(("table", cell_table(cells)))
        for name, path in figures.get(task, {}).items():
            blocks.append(("fig", path, f"{task}: {name.replace('_', ' ')}"))
    blocks.append(("h", 2, "Files"))
    blocks.append(("list", [f"`{p.name}`" for p in files.values()]))
    return blocks
