"""The written answer at the top of the report, generated from the numbers (reports.views).

Answer first: per paper, how many claims hold, do not hold, are inconclusive or were not run under
the paper's protocol and under the fair one (each claim by name when a paper has few), and where
the two settings disagree and by how much; then which optimizers are tied for best across tasks
and who leads each task; then the study's state. `answer_lines` is the same answer in a few plain
lines for the terminal. Nothing here computes a statistic: the intervals and verdicts come from
the statistics layer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.render import fmt_ci
from reports.user_claims import source_label
from reports.views import SETTINGS, VERDICTS, Numbers, tied_for_best, task_leaders, verdict_counts

MAX_NAMED = 3  # examples named in a sentence; also: a paper with at most this many claims has each named
NO_CLAIM = "No published claim concerns both this study's tasks and its optimizers (claims.csv lists them all)."


def _join(names: list[str]) -> str:
    names = [f"`{n}`" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def study_line(study, summary: pd.DataFrame) -> str:
    """One sentence on what was run and how far it got."""
    states = summary["state"].value_counts()
    n_cells = len(summary)
    spec = study.spec
    phases = ", ".join(f"{k}: {v}" for k, v in study.phases.items()) or "none finished"
    budget = (f"{spec.get('trials', '?')} tune trials per cell ({spec.get('iid_trials', '?')} i.i.d.), "
              f"{spec.get('seeds', '?')} seeds")
    return (f"Study `{study.name}`: {len(study.tasks)} tasks × {len(study.optimizers)} optimizers, {budget}; "
            f"{states.get('complete', 0)} of {n_cells} cells complete, {states.get('incomplete', 0)} incomplete, "
            f"{states.get('not run', 0)} not run. Phases: {phases}.")


def winner_sentences(numbers: Numbers) -> list[str]:
    out = []
    if numbers.aggregates:
        agg = numbers.aggregates[0]
        tied = tied_for_best(agg)
        t = agg.table.set_index("optimizer")
        if tied:
            shown = "; ".join(f"{o} {fmt_ci(t.loc[o, 'value'], t.loc[o, 'ci_low'], t.loc[o, 'ci_high'], 1)}"
                              for o in tied[:6])
            more = f" and {len(tied) - 6} more" if len(tied) > 6 else ""
            verb = "leads" if len(tied) == 1 else "are tied for best"
            out.append(f"**Who wins across tasks:** {_join(tied[:6])}{more} {verb} ({agg.label}: {shown}; "
                       "95% CIs reach the best one's).")
    leaders = task_leaders(numbers.summary)
    parts = []
    for r in leaders.itertuples():
        if not r.winner:
            parts.append(f"{r.task}: no confirm runs yet")
            continue
        tied = f", tied with {', '.join(r.tied[:MAX_NAMED])}{' …' if len(r.tied) > MAX_NAMED else ''}" if r.tied else ""
        parts.append(f"{r.task}: **{r.winner}** {fmt_ci(r.mean, r.ci_low, r.ci_high, 1)}{tied}")
    if parts:
        out.append("**Per task (tuned test score, 95% CI):** " + "; ".join(parts) + ".")
    if not out:
        out.append("**Who wins:** no confirm runs yet, so no winner can be named.")
    return out


def _counts_text(row: pd.Series) -> str:
    words = [f"{int(row[v])} {v}" for v in VERDICTS if row.get(v, 0)]
    return ", ".join(words) if words else "none"


def _gap(x: float) -> str:
    return f"{x:+.1f}" if np.isfinite(x) else "–"


def _claim_verdicts(grp: pd.DataFrame) -> list[str]:
    """Each claim of a small group by name: its verdict and gap [95% CI] under each setting it ran."""
    parts = []
    for _, rows in grp.groupby("claim_id", sort=False):
        claim = rows["claim"].iloc[0].split(" (")[0]  # the claim without its source quote
        by = rows.set_index("setting")
        settings = [f"**{by.loc[s, 'verdict']}** under the {SETTINGS[s]}"
                    + (f" ({fmt_ci(by.loc[s, 'diff'], by.loc[s, 'ci_low'], by.loc[s, 'ci_high'], 1)})"
                       if np.isfinite(pd.to_numeric(by.loc[s, "diff"], errors="coerce")) and rows["kind"].iloc[0] != "time" else "")
                    for s in SETTINGS if s in by.index]
        parts.append(f"{claim}: {', '.join(settings)}")
    return parts


def claim_sentences(numbers: Numbers) -> list[str]:
    """One sentence per paper with claims about this study (none without: that goes to the notes)."""
    view = numbers.claims
    if view.empty:
        return []
    counts = verdict_counts(view)
    out = []
    for paper, grp in view.groupby("paper", sort=False):
        c = counts[counts["paper"] == paper].set_index("setting")
        n = grp["claim_id"].nunique()
        if n <= MAX_NAMED:
            out.append(f"**{source_label(paper)}** ({n} claim{'s' if n != 1 else ''} about this study): "
                       f"{'; '.join(_claim_verdicts(grp))}.")
            continue
        settings = "; ".join(f"under the {SETTINGS[s]}: {_counts_text(c.loc[s])}" for s in SETTINGS if s in c.index)
        text = f"**{source_label(paper)}** ({n} claims about this study): {settings}."
        wide = grp.pivot_table(index=["claim_id", "claim", "kind"], columns="setting", values=["verdict", "diff"],
                               aggfunc="first")
        if {("verdict", "paper"), ("verdict", "fair")} <= set(wide.columns):
            ran = wide[(wide[("verdict", "paper")] != "not run") & (wide[("verdict", "fair")] != "not run")]
            changed = ran[ran[("verdict", "paper")] != ran[("verdict", "fair")]]
            beats = ran[ran.index.get_level_values("kind") != "time"]
            if len(ran):
                text += f" The two settings disagree on {len(changed)} of the {len(ran)} claims run under both."
            if len(beats):
                p_med = pd.to_numeric(beats[("diff", "paper")], errors="coerce").median()
                f_med = pd.to_numeric(beats[("diff", "fair")], errors="coerce").median()
                text += (f" Median gap ours(P) − ours(B): {_gap(p_med)} points under the paper's protocol, "
                         f"{_gap(f_med)} under the fair one")
                if len(changed):
                    d = pd.to_numeric(changed[("diff", "paper")], errors="coerce") - pd.to_numeric(changed[("diff", "fair")], errors="coerce")
                    top = d.abs().sort_values(ascending=False).index[:MAX_NAMED]
                    examples = "; ".join(
                        f"{claim.split(' (')[0]} ({changed.loc[(cid, claim, kind), ('verdict', 'paper')]} {_gap(changed.loc[(cid, claim, kind), ('diff', 'paper')])} "
                        f"→ {changed.loc[(cid, claim, kind), ('verdict', 'fair')]} {_gap(changed.loc[(cid, claim, kind), ('diff', 'fair')])})"
                        for cid, claim, kind in top)
                    text += (f"; largest changes: {examples}. Why: the settings differ in hyperparameters (the paper's "
                             "fixed ones vs tuned with the same budget) and in what is scored (see the protocol notes under Claims)")
                text += "."
        out.append(text)
    return out


def verdict_table(numbers: Numbers) -> pd.DataFrame:
    """Claims per paper and setting by verdict, for the top of the report."""
    counts = verdict_counts(numbers.claims)
    if counts.empty:
        return counts
    counts["setting"] = counts["setting"].map(SETTINGS)
    return counts


def verdict_sentences(numbers: Numbers) -> list[str]:
    """The bullet list under the Verdict heading: the claims' verdicts, then who wins."""
    return claim_sentences(numbers) + winner_sentences(numbers)


def _plain(text: str) -> str:
    return text.replace("**", "").replace("`", "")


def answer_lines(numbers: Numbers, n_notes: int) -> list[str]:
    """The answer in a few plain lines for the end of a launch (like pytest's summary): per paper and
    setting the verdict counts (each claim where a paper has few), the leader(s) across tasks or per
    task with 95% CIs, and how many notes the report adds."""
    lines = []
    view = numbers.claims
    counts = verdict_counts(view)
    for paper, grp in view.groupby("paper", sort=False):
        if grp["claim_id"].nunique() <= MAX_NAMED:
            lines += [f"{source_label(paper)}: {_plain(part)}" for part in _claim_verdicts(grp)]
            continue
        c = counts[counts["paper"] == paper].set_index("setting")
        lines += [f"{source_label(paper)}, {SETTINGS[s]}: {_counts_text(c.loc[s])}" for s in SETTINGS if s in c.index]
    for sentence in winner_sentences(numbers):
        lines.append(_plain(sentence).replace("Who wins across tasks: ", "across tasks: ")
                     .replace("Per task (tuned test score, 95% CI): ", "per task (test score, 95% CI): "))
    if n_notes:
        lines.append(f"{n_notes} note{'s' if n_notes != 1 else ''} under the report's verdict")
    return lines
