"""The statistics as the presentation reads them: the one adapter between numbers and report.

Figures (reports.figures), the written verdict (reports.verdict) and the tables (reports.report,
reports.latex) read claims, cross-task aggregates and probabilities of improvement only through
this module, so a richer statistics layer is connected here and nowhere else. It computes nothing
new: it renames and reshapes what reports.claims and reports.metrics return, and passes through
the richer columns when they are present:

- claims: per setting s in (paper, fair), `{s}_diff` (else `{s}_delta`), `{s}_ci_low`,
  `{s}_ci_high`, `{s}_n`, `{s}_verdict`, and when present `{s}_p_adj`, `{s}_seeds_needed`,
  `{s}_reason` (else `{s}_note`). Verdicts are read as holds / does not hold / inconclusive / not run; today's
  "within noise" and "too few runs" are inconclusive, their wording kept as the reason.
- aggregates: the ranks table's `mean_rank, ci_low, ci_high`, and when present `iqm, iqm_ci_*`,
  `profile_area, area_ci_*` (issue 10's reports.aggregates), each as an Aggregate.
- probability of improvement: a matrix, or the long table (a, b, poi, ci_low, ci_high).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

VERDICTS = ("holds", "does not hold", "inconclusive", "not run")
SETTINGS = {"paper": "paper's protocol", "fair": "fair protocol (tuned)"}
_AS_INCONCLUSIVE = {"within noise", "too few runs", "inconclusive"}
CLAIM_FIELDS = ["claim_id", "paper", "table", "kind", "task", "optimizer", "baseline", "claim", "pub_value",
                "pub_baseline", "pub_delta", "source"]  # the claim itself, the same under every setting
CLAIM_VIEW_COLUMNS = [*CLAIM_FIELDS, "setting", "ours", "ours_baseline", "diff", "ci_low", "ci_high", "n",
                      "verdict", "reason", "p_adj", "seeds_needed"]


def _col(df: pd.DataFrame, *names: str) -> pd.Series:
    """The first of the named columns that exists, else NaN."""
    for n in names:
        if n in df:
            return df[n]
    return pd.Series(np.nan, index=df.index)


def plain_verdict(raw) -> str:
    """One of VERDICTS for any verdict word the statistics layer writes."""
    text = str(raw).strip().lower() if isinstance(raw, str) else "not run"
    if text.startswith("inconclusive") or text in _AS_INCONCLUSIVE:
        return "inconclusive"
    return text if text in VERDICTS else "inconclusive"


def claim_view(claims: pd.DataFrame) -> pd.DataFrame:
    """Claims in long form: one row per claim and setting (columns CLAIM_VIEW_COLUMNS)."""
    parts = []
    for s in SETTINGS:
        if f"{s}_verdict" not in claims:
            continue
        raw = claims[f"{s}_verdict"].astype(object)
        verdict = raw.map(plain_verdict)
        given_reason = _col(claims, f"{s}_reason", f"{s}_note")
        reason = [r if isinstance(r, str) and r else (v0 if isinstance(v0, str) and v0 != v else "")
                  for r, v0, v in zip(given_reason, raw, verdict)]
        parts.append(pd.DataFrame({
            **{c: _col(claims, c) for c in CLAIM_FIELDS}, "setting": s,
            "ours": _col(claims, f"{s}_ours"), "ours_baseline": _col(claims, f"{s}_ours_baseline"),
            "diff": _col(claims, f"{s}_diff", f"{s}_delta"), "ci_low": _col(claims, f"{s}_ci_low"),
            "ci_high": _col(claims, f"{s}_ci_high"), "n": _col(claims, f"{s}_n"), "verdict": verdict, "reason": reason,
            "p_adj": _col(claims, f"{s}_p_adj"), "seeds_needed": _col(claims, f"{s}_seeds_needed")}))
    if not parts:
        return pd.DataFrame(columns=CLAIM_VIEW_COLUMNS)
    return pd.concat(parts, ignore_index=True)[CLAIM_VIEW_COLUMNS]


def verdict_counts(view: pd.DataFrame) -> pd.DataFrame:
    """Claims per (paper, setting) and verdict: columns paper, setting, one per verdict, total."""
    if view.empty:
        return pd.DataFrame(columns=["paper", "setting", *VERDICTS, "total"])
    counts = view.groupby(["paper", "setting", "verdict"], sort=False).size().unstack("verdict", fill_value=0)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index()


@dataclass
class Aggregate:
    """One cross-task statistic per optimizer with its CI, and which direction is better."""

    label: str
    table: pd.DataFrame  # optimizer, value, ci_low, ci_high
    lower_is_better: bool


AGGREGATE_COLUMNS = [  # (value column, CI prefix, label, lower is better): today's mean rank and issue 10's table
    ("mean_rank", "ci", "mean rank over tasks (1 = best)", True),
    ("iqm", "iqm_ci", "IQM of normalized score (1 = task's best)", False),
    ("profile_area", "area_ci", "performance-profile area", False),
]


def aggregates_from(ranks: pd.DataFrame) -> list[Aggregate]:
    """Every cross-task statistic the ranks table holds (mean rank; IQM and profile area when present)."""
    out = []
    for value, ci, label, lower in AGGREGATE_COLUMNS:
        if value in ranks and ranks[value].notna().any():
            table = pd.DataFrame({"optimizer": ranks["optimizer"], "value": ranks[value],
                                  "ci_low": _col(ranks, f"{ci}_low"), "ci_high": _col(ranks, f"{ci}_high")})
            out.append(Aggregate(label, table.reset_index(drop=True), lower_is_better=lower))
    return out


def tied_for_best(agg: Aggregate) -> list[str]:
    """Optimizers whose CI reaches the best point estimate's CI (the best first).

    A presentation rule on the given intervals, not a test: overlapping 95% CIs are read as "not
    separated". An optimizer without a CI is tied only when its point equals the best's.
    """
    t = agg.table.dropna(subset=["value"])
    if t.empty:
        return []
    t = t.sort_values("value", ascending=agg.lower_is_better)
    best = t.iloc[0]
    best_lo = best["ci_low"] if np.isfinite(best["ci_low"]) else best["value"]
    best_hi = best["ci_high"] if np.isfinite(best["ci_high"]) else best["value"]
    lo = t["ci_low"].where(np.isfinite(t["ci_low"]), t["value"])
    hi = t["ci_high"].where(np.isfinite(t["ci_high"]), t["value"])
    tied = (lo <= best_hi) if agg.lower_is_better else (hi >= best_lo)
    return t.loc[tied, "optimizer"].tolist()


def task_leaders(summary: pd.DataFrame) -> pd.DataFrame:
    """Per task: the tuned winner and the optimizers whose test CI overlaps the winner's.

    Columns task, winner, mean, ci_low, ci_high, tied (list), n_done.
    """
    rows = []
    for task, cells in summary.groupby("task", sort=False):
        done = cells[cells["test_n"] > 0].sort_values("test_mean", ascending=False)
        if done.empty:
            rows.append({"task": task, "winner": None, "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "tied": [],
                         "n_done": 0})
            continue
        w = done.iloc[0]
        w_lo = w["test_ci_low"] if np.isfinite(w["test_ci_low"]) else w["test_mean"]
        hi = done["test_ci_high"].where(np.isfinite(done["test_ci_high"]), done["test_mean"])
        tied = done.loc[(hi >= w_lo) & (done["optimizer"] != w["optimizer"]), "optimizer"].tolist()
        rows.append({"task": task, "winner": w["optimizer"], "mean": w["test_mean"], "ci_low": w["test_ci_low"],
                     "ci_high": w["test_ci_high"], "tied": tied, "n_done": len(done)})
    return pd.DataFrame(rows, columns=["task", "winner", "mean", "ci_low", "ci_high", "tied", "n_done"])


def poi_matrices(poi: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """(point, low, high) matrices of P(row beats column); low/high are None without a CI.

    Accepts a square matrix (today's) or a long table (a, b, poi, ci_low, ci_high), as issue 10's
    aggregates write it.
    """
    if {"a", "b", "poi"} <= set(poi.columns):
        def pivot(col):
            return poi.pivot(index="a", columns="b", values=col).rename_axis(index="optimizer", columns=None) if col in poi else None
        return pivot("poi"), pivot("ci_low"), pivot("ci_high")
    return poi.astype(float), None, None


@dataclass
class Numbers:
    """Everything the presentation shows, computed by the statistics layer."""

    summary: pd.DataFrame
    emp: pd.DataFrame
    claims: pd.DataFrame  # claim_view: long, one row per claim and setting
    aggregates: list[Aggregate]
    poi: pd.DataFrame
    profile: pd.DataFrame
    poi_low: pd.DataFrame | None = None
    poi_high: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    ladder: pd.DataFrame | None = None  # reports.ladder.ladder_verdicts: one row per claim and rung
    rungs: list[dict] = field(default_factory=list)  # the study's resolved ladder rungs (study.json)


def numbers_from_today(summary, emp, claims, ranks, poi, profile, notes=(), poi_long: pd.DataFrame | None = None) -> Numbers:
    """Numbers from the statistics layer's outputs: reports.cells' summary and emp, the claims table,
    the ranks table (today's mean rank; issue 10's adds IQM and profile area), the PoI matrix (and
    its long form with CIs when given), the profile and any notes (e.g. which tasks counted)."""
    point, low, high = poi_matrices(poi_long if poi_long is not None and len(poi_long) else poi)
    return Numbers(summary, emp, claim_view(claims), aggregates_from(ranks), point, profile, low, high, list(notes))
