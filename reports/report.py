"""The report's content, verdict first: the written answer (reports.verdict), contents, then one
section per question (claims, GLUE average, across tasks, per task, winner's curse, robustness,
learning curves, cost, diagnostics), the glossary and the list of files.

Produces the block list that reports.render turns into markdown and HTML; each section is built
by its own function so that sections can be added or changed independently.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.caveats import caveats
from reports.claims import notes_for
from reports.glue import glue_table, selection_note
from reports.ladder_section import ladder_blocks, ladder_table
from reports.render import fmt, fmt_ci
from reports.verdict import NO_CLAIM, study_line, verdict_sentences, verdict_table
from reports.views import SETTINGS, Numbers

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


def relevant_claims(claims: pd.DataFrame, study) -> pd.DataFrame:
    """The claims about this study's tasks whose two optimizers are both in the study, and the
    aggregate claims with at least one member run."""
    opts = set(study.optimizers)
    pair = claims["task"].isin(study.tasks) & claims["optimizer"].isin(opts) & claims["baseline"].isin(opts)
    ran = (claims["paper_verdict"] != "not run") | (claims["fair_verdict"] != "not run")
    return claims[pair | ((claims["kind"] == "all") & ran)]


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


def _ours(r: pd.Series, kind: str) -> str:
    if r["verdict"] == "not run" and not np.isfinite(r["diff"]):
        return "–"
    if kind == "time":
        return f"x{fmt_ci(r['diff'], r['ci_low'], r['ci_high'], 3)} (n={fmt(r['n'], 0)})"
    return f"{fmt(r['ours'])} vs {fmt(r['ours_baseline'])}: {fmt_ci(r['diff'], r['ci_low'], r['ci_high'])} (n={fmt(r['n'], 0)})"


def _published(r: pd.Series) -> str:
    if r["kind"] == "all":
        return "–"
    if r["kind"] == "time":
        return f"{fmt(r['pub_value'])}s vs {fmt(r['pub_baseline'])}s (x{r['pub_delta']:.3f})"
    return f"{fmt(r['pub_value'])} vs {fmt(r['pub_baseline'])} ({r['pub_delta']:+.2f})"


def _verdict_word(r: pd.Series) -> str:
    extra = r["reason"] if isinstance(r["reason"], str) and r["reason"] else ""
    if np.isfinite(pd.to_numeric(r["seeds_needed"], errors="coerce")):
        extra = f"~{int(r['seeds_needed'])} seeds needed"
    return f"{r['verdict']} ({extra})" if extra else r["verdict"]


def claims_table(view: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: published numbers, then ours and the verdict under each setting."""
    first = view.drop_duplicates("claim_id").set_index("claim_id")
    sources = [f"{p} T{t}" if pd.notna(t) else f"{p} ({where})" if isinstance(where, str) else p
               for p, t, where in zip(first["paper"], first["table"], first["source"])]
    out = pd.DataFrame({"claim": first["claim"], "source": sources,
                        "published": [_published(r) for _, r in first.iterrows()]})
    for s, label in SETTINGS.items():
        rows = view[view["setting"] == s].set_index("claim_id").reindex(first.index)
        out[f"ours, {label} (Δ [CI])"] = [_ours(r, k) for (_, r), k in zip(rows.iterrows(), first["kind"])]
        out[f"verdict, {label}"] = [_verdict_word(r) if isinstance(r["verdict"], str) else "not run" for _, r in rows.iterrows()]
    return out.reset_index(drop=True)


def winners_curse_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per cell with confirm runs: best tune val vs its re-runs, and the search-range edges."""
    s = summary[summary["test_n"] > 0]
    return pd.DataFrame({"task": s["task"], "optimizer": s["optimizer"], "best val": s["best_score"],
                         "confirm val": s["confirm_val_mean"], "selection gap": s["selection_gap"],
                         "confirm test": s["test_mean"], "val - test": s["val_test_gap"],
                         "confirm diverged": s["test_n_diverged"], "at range edge": s["range_edge"].fillna("")})


def _figures(figures: dict, section: str) -> list[tuple]:
    return [("fig", d) for d in figures.get(section, [])]


def report_notes(study, numbers: Numbers) -> list[str]:
    """What qualifies the answer (budget, identical optimizers, capped batches, loader notes,
    failures, no claim about the study), for one collapsed "Notes (N)" element under it."""
    summary = numbers.summary
    failures = (f"{int(summary['n_iid_errors'].sum())} errored and {int(summary['n_iid_diverged'].sum())} diverged i.i.d. "
                f"tune trials are counted at chance in expected max and sensitivity; {int(summary['test_n_diverged'].sum())} "
                f"confirm runs diverged, {int(summary['test_n_errors'].sum())} errored.")
    return [*caveats(study, summary), *([NO_CLAIM] if numbers.claims.empty else []), *numbers.notes, failures]


def verdict_blocks(study, numbers: Numbers) -> list[tuple]:
    """The top of the report, answer first: the claims' verdicts (or the ranking with its
    uncertainty), their counts, the study's state, the notes collapsed (then the contents)."""
    blocks: list[tuple] = [("h", 1, "Verdict"), ("list", verdict_sentences(numbers), "verdict")]
    counts = verdict_table(numbers)
    if len(counts):
        blocks.append(("table", counts))
    notes = report_notes(study, numbers)
    return blocks + [("p", study_line(study, numbers.summary)),
                     ("details", f"Notes ({len(notes)})", [("list", notes)], "notes"), ("toc",)]


def claims_blocks(study, numbers: Numbers, figures: dict) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Do the papers' claims hold?")]
    view = numbers.claims
    if view.empty:
        return blocks + [("p", NO_CLAIM)]
    n = view["claim_id"].nunique()
    blocks.append(("p", f"{n} claims concern this study's tasks and optimizers (claims.csv lists every curated claim), each "
                        "as its paper states it. Δ = ours(P) − ours(B) (time: the ratio), paired over seeds where they pair; "
                        "verdicts are Benjamini-Hochberg adjusted over each setting's claims (false discovery rate 0.05). "
                        "**Paper's protocol**: the paper's hyperparameters, scored as the paper scores; **fair protocol**: "
                        "both optimizers tuned with the same budget, test set, fresh seeds."))
    blocks += _figures(figures, "claims")
    blocks.append(("details", f"Table of all {n} claims", [("table", claims_table(view))]))
    blocks.append(("p", "Known protocol issues (why the two settings can disagree):"))
    blocks.append(("list", notes_for(view.drop_duplicates("claim_id"))))
    return blocks


def across_blocks(numbers: Numbers, figures: dict) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Who wins across tasks?")]
    if not numbers.aggregates:
        return blocks + [("p", "No confirm runs yet: the cross-task comparison appears once the confirm phase has run.")]
    blocks += _figures(figures, "across")
    for agg in numbers.aggregates:
        t = agg.table.sort_values("value", ascending=agg.lower_is_better)
        blocks.append(("details", f"Table: {agg.label}", [("table", pd.DataFrame(
            {"optimizer": t["optimizer"], f"{agg.label} [95% CI]": _ci_strings(t, "value", "ci_low", "ci_high")}))]))
    return blocks


def per_task_blocks(study, numbers: Numbers, figures: dict) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Per task: tuned, default and paper settings")]
    blocks += _figures(figures, "per_task")
    for task in study.tasks:
        cells = numbers.summary[numbers.summary["task"] == task]
        missing = cells[cells["state"] != "complete"]
        inner: list[tuple] = []
        if len(missing):
            inner.append(("p", "Not complete: " + ", ".join(f"{o} ({s})" for o, s in zip(missing["optimizer"], missing["state"])) + "."))
        inner.append(("table", cell_table(cells)))
        done = int((cells["state"] == "complete").sum())
        blocks.append(("details", f"{task}: every cell ({done} of {len(cells)} complete)", inner))
    return blocks


def curse_blocks(summary: pd.DataFrame) -> list[tuple]:
    curse = winners_curse_table(summary)
    if not len(curse):
        return []
    return [("h", 2, "Winner's curse and search ranges"),
            ("p", "How optimistic the best tune trial was, per cell, and where its best config sits at the edge of the "
                  "searched range."),
            ("details", f"Table: {len(curse)} cells", [("table", curse)])]


def glue_blocks(study) -> list[tuple]:
    if not any(t.startswith("glue-") for t in study.tasks):
        return []
    glue = glue_table(study.trials, study.tasks)
    return [("h", 2, "GLUE average"),
            ("p", "Mean score per task over each setting's runs and the GLUE average: the macro mean of the tasks' primary "
                  "metrics, MNLI as the mean of matched and mismatched (– until every task has runs). "
                  + selection_note(study.spec)),
            ("table", glue) if len(glue) else ("p", "No GLUE runs yet.")]


def robustness_blocks(study, figures: dict) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Robustness: how much tuning does each optimizer need?")]
    blocks += _figures(figures, "expected_max")
    blocks.append(("h", 3, "Sensitivity to each searched hyperparameter"))
    tasks = [t for t in study.tasks if figures.get(f"sensitivity/{t}")]
    if not tasks:
        return blocks + [("p", "No i.i.d. tune trials yet.")]
    for t in tasks:
        items = figures[f"sensitivity/{t}"]
        blocks.append(("details", f"{t}: score vs {', '.join(d.title.split(' vs ')[-1] for d in items)}", _figures(figures, f"sensitivity/{t}")))
    return blocks


def section_blocks(title: str, figures: dict, sections: list[str], empty: str) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, title)]
    drawn = [d for s in sections for d in figures.get(s, [])]
    return blocks + ([("fig", d) for d in drawn] if drawn else [("p", empty)])


def diagnostics_blocks(study, figures: dict) -> list[tuple]:
    """Per task, what the optimizers recorded during training (one closed block per task)."""
    blocks: list[tuple] = [("h", 2, "Optimizer diagnostics")]
    tasks = [t for t in study.tasks if figures.get(f"diagnostics/{t}")]
    if not tasks:
        return blocks + [("p", "No optimizer diagnostics in the history.")]
    blocks.append(("p", "ThermoLion's gate, SepNorm's group weight norms against Theorem 4.2, momentum-tracing counts and "
                        "any other `diag/...` key the runs recorded, per task."))
    return blocks + [("details", f"{t}: diagnostics", _figures(figures, f"diagnostics/{t}")) for t in tasks]


def build_blocks(study, numbers: Numbers, figures: dict, files: dict) -> list[tuple]:
    """The whole report as render blocks, verdict first."""
    blocks = verdict_blocks(study, numbers)
    blocks += claims_blocks(study, numbers, figures)
    blocks += ladder_blocks(numbers, figures)
    blocks += glue_blocks(study)
    blocks += across_blocks(numbers, figures)
    blocks += per_task_blocks(study, numbers, figures)
    blocks += curse_blocks(numbers.summary)
    blocks += robustness_blocks(study, figures)
    blocks += section_blocks("Learning curves", figures, ["curves"], "No per-epoch history of confirm runs yet.")
    blocks += section_blocks("Cost: time per step and time to target", figures, ["cost"], "No timings recorded yet.")
    blocks += diagnostics_blocks(study, figures)
    blocks += [("h", 2, "How to read the numbers"), ("list", GLOSSARY)]
    blocks += [("h", 2, "Files"), ("list", [f"`{name}`" for name in files])]
    return blocks


def latex_exports(study, numbers: Numbers) -> dict[str, tuple[pd.DataFrame, str]]:
    """The report's tables for papers: {file stem: (table, caption)}."""
    out: dict[str, tuple[pd.DataFrame, str]] = {}
    if len(numbers.claims):
        out["claims"] = (claims_table(numbers.claims), "The papers' claims: published numbers, ours under the paper's "
                         "protocol and under the fair one (95% CIs), and the verdicts.")
        out["verdicts"] = (verdict_table(numbers), "Claims by verdict, per paper and setting.")
    if numbers.ladder is not None and len(numbers.ladder):
        out["ladder"] = (ladder_table(numbers.ladder, numbers.rungs, numbers.claims.drop_duplicates("claim_id")),
                         "The protocol ladder: each claim's verdict and gap (95% CI) per rung; ◆ marks the first change.")
    for agg in numbers.aggregates:
        t = agg.table.sort_values("value", ascending=agg.lower_is_better)
        out[f"across_{agg.label.split(' (')[0].replace(' ', '_')}"] = (
            pd.DataFrame({"optimizer": t["optimizer"], agg.label: t["value"], "CI low": t["ci_low"], "CI high": t["ci_high"]}),
            f"{agg.label} with 95% CI.")
    for task in study.tasks:
        cells = numbers.summary[numbers.summary["task"] == task]
        table = cell_table(cells)[["optimizer", "state", "best val", "test [95% CI]", "seeds", "default", "paper (fair)"]]
        out[f"task_{task}"] = (table, f"{task}: tuned (confirm runs, test score with 95% CI), default and paper hyperparameters.")
    return out
