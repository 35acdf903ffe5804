"""The report's content: headline, metric glossary, cross-task comparison, claims, per-task detail.

Produces the block list that reports.render turns into markdown and HTML.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.caveats import caveats
from reports.claims import VERDICTS, compare, notes_for
from reports.glue import glue_table, selection_note
from reports.render import fmt, fmt_ci

GLOSSARY = [
    "**best val**: the best validation score among the cell's tune trials (optimistic: it is a max over trials).",
    "**test [95% CI]**: the best tune config re-run on fresh seeds (confirm phase), mean test score with a Student (1908) "
    "t interval over those runs, mean +- t(n-1) s/sqrt(n): exact for normal scores at any n (a percentile bootstrap covers "
    "only ~70% at 3 seeds); one run gives no interval.",
    "**default**: the optimizer's default hyperparameters under the fair protocol (the one-shot setting), mean test score.",
    "**paper (paper protocol)**: the paper's hyperparameters under the paper's own protocol, scored as that protocol scores "
    "(ThermoLion's: accuracy on the training images); **paper (fair)**: the same point under the fair protocol, test score.",
    "**expected max after k trials** (Dodge et al. 2019): the expected best validation score of k i.i.d. random trials, "
    "E[max_k] = sum_i v(i)((i/R)^k - ((i-1)/R)^k) over the R sorted i.i.d. scores, errored and diverged trials counted at "
    "chance (an optimizer that crashes in part of its space must not look better for it); band = 95% bootstrap over those trials.",
    "**within 1 / within 5**: share of i.i.d. random trials (errors and divergences at chance) scoring within 1 / 5 points "
    "of the cell's best val (higher = less tuning needed); **IQR**: interquartile range of their scores (higher = more fragile).",
    "**top hparams**: PED-ANOVA importance (Optuna, top 20% vs all) over the cell's tune trials, normalized to sum 1, "
    "shown only with >= 50 scored trials (else 'not enough trials'); lr and weight decay on a log scale.",
    "**at range edge**: a hyperparameter whose best value lies in the outer 5% of the range the tune trials searched "
    "(log scale for log ranges): the range was too narrow and the comparison is not fair to that optimizer.",
    "**winner's curse**: selection gap = best val - mean validation score of its confirm re-runs (how optimistic picking "
    "the best of many trials was); val - test = that mean minus the confirm test mean.",
    "**diverged / errors**: trials stopped for a NaN/inf loss (scored at the task's chance level, never dropped) / trials "
    "that crashed (counted; at chance in expected max and sensitivity, left out of best val and the phase means).",
    "**across tasks**: only the tasks every compared optimizer completed; scores normalized per task as (score - chance) / "
    "(best cell mean - chance). **mean rank** (1 = best) and **IQM** (interquartile mean of all normalized runs, Agarwal et "
    "al. 2021) with 95% CIs from a stratified bootstrap that resamples tasks, then each cell's seeds (rliable).",
    "**probability of improvement** P(A > B): chance that a confirm run of A beats one of B on the same task (ties count "
    "half), averaged over tasks, with the same bootstrap CI (poi_ci.csv).",
    "**performance profile** (Dolan & More 2002): share of tasks on which an optimizer's normalized mean is within tau of "
    "the task's best; **profile area**: its area up to tau = 0.25, scaled to [0, 1] (AlgoPerf, Dahl et al. 2023).",
    "**claims**: each claim as its paper states it (reports/data/claims.csv, with table/section). P vs B is a paired "
    "t test (Student 1908) over the seeds both ran (same init and data order), Welch's (1947) t test where seeds do not "
    "pair; 'similar' claims are TOST equivalence tests (Schuirmann 1987) with the stated margin; time claims compare log time "
    "per step at one common batch size on unshared devices against the stated tolerance.",
    "**verdict**: the p-values of one setting are adjusted together with Benjamini-Hochberg (1995), FDR 0.05 (Holm's "
    "stricter p_holm is in claims.csv): holds / does not hold (the opposite is shown) / inconclusive (not resolved; "
    "'~N seeds' is how many a test would need for 80% power to resolve the published gap at the observed spread, Cohen "
    "1988) / not run. On simulated studies this gives 95% interval coverage and <= 0.1% false verdicts per claim at 3 and 5 "
    "seeds (benchmarks/results/calibration.md).",
]


def _ci_strings(df: pd.DataFrame, mean: str, low: str, high: str) -> list[str]:
    return [fmt_ci(m, lo, hi) for m, lo, hi in zip(df[mean], df[low], df[high])]


def _runs(confirm: pd.DataFrame, task: str, opt: str) -> pd.DataFrame:
    """One cell's confirm runs as (seed, v = test score), for claims.compare."""
    rows = confirm[(confirm["task"] == task) & (confirm["optimizer"] == opt)]
    return pd.DataFrame({"seed": rows["seed"] if "seed" in rows else np.nan, "v": rows["test_value"]})


def _verdict_counts(verdicts: pd.Series) -> str:
    counts = verdicts.value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v in counts) or "–"


def relevant_claims(claims: pd.DataFrame, study) -> pd.DataFrame:
    """The claims about this study's tasks whose two optimizers are both in the study, and the
    aggregate claims with at least one member run."""
    opts = set(study.optimizers)
    pair = claims["task"].isin(study.tasks) & claims["optimizer"].isin(opts) & claims["baseline"].isin(opts)
    ran = (claims["paper_verdict"] != "not run") | (claims["fair_verdict"] != "not run")
    return claims[pair | ((claims["kind"] == "all") & ran)]


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
                res = compare(_runs(confirm, task, w["optimizer"]), _runs(confirm, task, r["optimizer"]))
                d, lo, hi = res["delta"], res["ci_low"], res["ci_high"]
                word = "clear" if lo > 0 else "within noise" if np.isfinite(lo) else "too few runs"
                row["winner − runner-up"] = f"{fmt_ci(d, lo, hi)} ({word}, {res['test']})"
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
        if r["kind"] == "all":
            return str(r[f"{s}_note"]) if isinstance(r[f"{s}_note"], str) else "–"
        if r["kind"] == "time":
            return f"x{fmt_ci(r[f'{s}_delta'], r[f'{s}_ci_low'], r[f'{s}_ci_high'], 3)} (n={r[f'{s}_n']})"
        delta = fmt_ci(r[f"{s}_delta"], r[f"{s}_ci_low"], r[f"{s}_ci_high"])
        return f"{fmt(r[f'{s}_ours'])} vs {fmt(r[f'{s}_ours_baseline'])}: {delta} (n={r[f'{s}_n']})"

    def pub(r):
        if r["kind"] == "all":
            return "–"
        if r["kind"] == "time":
            return f"{fmt(r['pub_value'])}s vs {fmt(r['pub_baseline'])}s (x{r['pub_delta']:.3f})"
        return f"{fmt(r['pub_value'])} vs {fmt(r['pub_baseline'])} ({r['pub_delta']:+.2f})"

    def verdict(r, s):
        v = r[f"{s}_verdict"]
        if v == "inconclusive" and np.isfinite(r[f"{s}_seeds_needed"]) and r["kind"] in ("beats", "similar"):
            v = f"inconclusive: ~{r[f'{s}_seeds_needed']:.0f} seeds needed to resolve {r['pub_delta']:+.2f}"
        elif v == "inconclusive" and r[f"{s}_seeds_needed"] == np.inf:
            v = "inconclusive: > 1000 seeds needed"
        note = r[f"{s}_note"] if r["kind"] != "all" and isinstance(r[f"{s}_note"], str) else ""
        low, high = r[f"{s}_ci_low"], r[f"{s}_ci_high"]
        if r["kind"] == "beats" and np.isfinite(low) and np.isfinite(high) and not low <= r["pub_delta"] <= high:
            v += f" (published {r['pub_delta']:+.2f} outside our CI)"
        return f"{v} ({note})" if note else v

    return pd.DataFrame({
        "claim": claims["claim"], "source": [f"{p}: {src}" for p, src in zip(claims["paper"], claims["source"])],
        "published": [pub(r) for _, r in claims.iterrows()],
        "ours, paper setting (Δ [CI])": [ours(r, "paper") for _, r in claims.iterrows()],
        "verdict (paper setting)": [verdict(r, "paper") for _, r in claims.iterrows()],
        "ours, fair (Δ [CI])": [ours(r, "fair") for _, r in claims.iterrows()],
        "verdict (fair)": [verdict(r, "fair") for _, r in claims.iterrows()],
    })


def winners_curse_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per cell with confirm runs: best tune val vs its re-runs, and the search-range edges."""
    s = summary[summary["test_n"] > 0]
    return pd.DataFrame({"task": s["task"], "optimizer": s["optimizer"], "best val": s["best_score"],
                         "confirm val": s["confirm_val_mean"], "selection gap": s["selection_gap"],
                         "confirm test": s["test_mean"], "val - test": s["val_test_gap"],
                         "confirm diverged": s["test_n_diverged"], "at range edge": s["range_edge"].fillna("")})


def build_blocks(study, summary, claims, ranks, poi, figures: dict, files: dict, overall_note: str = "") -> list[tuple]:
    """The whole report as render blocks."""
    n_trials = len(study.trials)
    states = summary["state"].value_counts()
    phases = ", ".join(f"{k}: {v}" for k, v in study.phases.items()) or "unknown"
    blocks: list[tuple] = [
        ("h", 1, f"Optimizer study report: {study.name}"),
        ("p", f"{n_trials} trial rows; cells: {states.get('complete', 0)} complete, {states.get('incomplete', 0)} incomplete, "
              f"{states.get('not run', 0)} not run (budget: {study.spec.get('trials', '?')} trials per cell, of which "
              f"{study.spec.get('iid_trials', '?')} i.i.d.; {study.spec.get('seeds', '?')} seeds). Phases: {phases}. "
              f"{int(summary['n_iid_errors'].sum())} errored and {int(summary['n_iid_diverged'].sum())} diverged i.i.d. tune "
              f"trials are counted at chance in expected max and sensitivity; {int(summary['test_n_diverged'].sum())} confirm "
              f"runs diverged, {int(summary['test_n_errors'].sum())} errored."),
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
        blocks.append(("p", f"Over {overall_note}."))
        blocks.append(("table", pd.DataFrame({"optimizer": ranks["optimizer"],
                                              "mean rank [95% CI]": _ci_strings(ranks, "mean_rank", "ci_low", "ci_high"),
                                              "IQM normalized [95% CI]": _ci_strings(ranks, "iqm", "iqm_ci_low", "iqm_ci_high"),
                                              "profile area [95% CI]": _ci_strings(ranks, "profile_area", "area_ci_low", "area_ci_high"),
                                              "tasks": ranks["n_tasks"]})))
        if poi.shape[0] > 1:
            blocks.append(("table", poi.reset_index()))
    for name, caption in (("rank", "Mean rank with 95% CI"), ("poi", "Probability of improvement (row beats column)"),
                          ("profile", "Performance profile")):
        if name in figures.get("overall", {}):
            blocks.append(("fig", figures["overall"][name], caption))
    curse = winners_curse_table(summary)
    if len(curse):
        blocks.append(("h", 2, "Winner's curse and search ranges"))
        blocks.append(("p", "How optimistic the best tune trial was, per cell, and where its best config sits at the edge "
                            "of the searched range."))
        blocks.append(("table", curse))
    if any(t.startswith("glue-") for t in study.tasks):
        glue = glue_table(study.trials, study.tasks)
        blocks.append(("h", 2, "GLUE average"))
        blocks.append(("p", "Mean score per task over each setting's runs and the GLUE average: the macro mean of the "
                            "tasks' primary metrics, MNLI as the mean of matched and mismatched (– until every task "
                            "has runs). " + selection_note(study.spec)))
        blocks.append(("table", glue) if len(glue) else ("p", "No GLUE runs yet."))
    blocks.append(("h", 2, "Do the papers' claims hold?"))
    shown = relevant_claims(claims, study)
    if shown.empty:
        blocks.append(("p", "No published claim concerns both this study's tasks and its optimizers (claims.csv lists them all)."))
    else:
        blocks.append(("p", f"{len(shown)} claims concern this study's tasks and optimizers ({len(claims) - len(shown)} more "
                            "are listed in claims.csv), each as its paper states it. Δ = ours(P) − ours(B) (time: the ratio), "
                            "paired over seeds where they pair; verdicts are Benjamini-Hochberg adjusted over each setting's "
                            "claims (false discovery rate 0.05)."))
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
