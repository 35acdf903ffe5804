"""Which step from the paper's protocol to the fair one flips each claim (the protocol ladder).

Each rung of a study's ladder (study.ladder; its resolved rungs and trial ids are in study.json)
is judged as a setting of its own, with exactly the claims' statistics (reports.claims): paired t
over seeds (Welch where they do not pair), TOST for `similar` claims, Benjamini-Hochberg over the
rung's claims, `seeds_needed` (80% power, Cohen 1988) for an inconclusive one. A rung that scores
as the paper scores is judged like the paper setting (its protocol's `score`), one that scores
held-out data like the fair setting (`test_score`).

A claim's verdict *first changes* at the first rung whose verdict differs from the first rung's
(`first_change`, pure); that rung's factor is what flips the claim. Rungs where a claim was not
run are skipped, so a missing rung never counts as a flip.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.claims import CLAIM_COLUMNS, claim_verdicts

COLUMNS = ["claim_id", "rung", "order", "verdict", "ours", "ours_baseline", "delta", "ci_low", "ci_high", "n", "p_adj",
           "seeds_needed", "protocol", "note"]


def first_change(verdicts: np.ndarray) -> np.ndarray:
    """Per row (a claim's verdicts over the rungs, `not run` skipped), the index of the first rung
    whose verdict differs from the first run rung's; -1 where none differs. Vectorized over rows."""
    v = np.asarray(verdicts, dtype=object)
    ran = v != "not run"
    first = np.argmax(ran, axis=1)
    reference = v[np.arange(len(v)), first]
    differs = ran & (v != reference[:, None])
    return np.where(differs.any(axis=1), np.argmax(differs, axis=1), -1)


def _rung_trials(trials: pd.DataFrame, ids: list[str], scoring: str) -> tuple[pd.DataFrame, str]:
    """The rung's rows, labelled as the claims' setting that scores as this rung does."""
    rows = trials[trials["trial_id"].isin(set(ids))].copy()
    setting = "paper" if scoring == "paper" else "fair"
    rows["phase"] = "paper" if setting == "paper" else "confirm"
    return rows, setting


def ladder_verdicts(trials: pd.DataFrame, ladder: dict, claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim and rung (COLUMNS), for the claims about the ladder's cells, the
    `first_change` rung per claim in `flipped_at` (empty where the verdict never changes) and the
    `first_reversal` rung in `reversed_at`.

    ``claims``: the report's claims table, check_claims' (curated and user claims, aliased; only its
    CLAIM_COLUMNS are read), so that the ladder judges the same claims without building them again."""
    rungs = ladder.get("rungs") or []
    ids = ladder.get("trials") or {}
    if not rungs or trials.empty:
        return pd.DataFrame(columns=COLUMNS + ["flipped_at", "reversed_at"])
    claims = claims[CLAIM_COLUMNS]
    ran = trials[trials["trial_id"].isin({i for r in rungs for i in ids.get(r["name"], [])})]
    cells = set(zip(ran["task"], ran["optimizer"]))
    both = np.array([(t, o) in cells and (t, b) in cells
                     for t, o, b in zip(claims["task"], claims["optimizer"], claims["baseline"])], dtype=bool)
    about = claims[both & (claims["kind"] != "all").to_numpy()]
    if about.empty:
        return pd.DataFrame(columns=COLUMNS + ["flipped_at", "reversed_at"])
    parts = []
    for order, rung in enumerate(rungs):
        rows, setting = _rung_trials(trials, ids.get(rung["name"], []), rung["factors"]["scoring"])
        res = claim_verdicts(rows, setting, about)
        parts.append(res.assign(rung=rung["name"], order=order))
    long = pd.concat(parts, ignore_index=True).reindex(columns=COLUMNS)
    wide = long.pivot(index="claim_id", columns="order", values="verdict").reindex(columns=range(len(rungs)))
    verdicts = wide.fillna("not run").to_numpy()
    at = first_change(verdicts)
    names = [r["name"] for r in rungs]
    for column, index in (("flipped_at", at), ("reversed_at", first_reversal(verdicts))):
        long[column] = long["claim_id"].map(pd.Series([names[i] if i >= 0 else "" for i in index], index=wide.index))
    order = {c: i for i, c in enumerate(about["claim_id"])}
    return long.sort_values(["claim_id", "order"], key=lambda s: s.map(order) if s.name == "claim_id" else s,
                            kind="stable").reset_index(drop=True)


def first_reversal(verdicts: np.ndarray) -> np.ndarray:
    """Per row, the index of the first rung whose verdict is `does not hold` where the first run
    rung's is `holds` (the claim reversed, not only unresolved); -1 where none. Vectorized over rows."""
    v = np.asarray(verdicts, dtype=object)
    first = np.argmax(v != "not run", axis=1)
    held = v[np.arange(len(v)), first] == "holds"
    fails = v == "does not hold"
    return np.where(held & fails.any(axis=1), np.argmax(fails, axis=1), -1)


def flip_counts(long: pd.DataFrame, rungs: list[dict]) -> pd.DataFrame:
    """Per rung after the first: how many claims' verdicts first change there, how many first
    reverse there (holds -> does not hold), of the claims run at the first rung and at this one
    (rung, changed, reversed, of)."""
    rows = []
    if long.empty:
        return pd.DataFrame(columns=["rung", "changed", "reversed", "of"])
    first = long[long["order"] == 0].set_index("claim_id")["verdict"]
    for order, rung in enumerate(rungs[1:], start=1):
        rows_here = long[long["order"] == order]
        here = rows_here.set_index("claim_id")["verdict"]
        both = [c for c in here.index if here[c] != "not run" and first.get(c, "not run") != "not run"]
        changed = rows_here[rows_here["flipped_at"] == rung["name"]]["claim_id"].nunique()
        reversed_ = rows_here[rows_here["reversed_at"] == rung["name"]]["claim_id"].nunique()
        rows.append({"rung": rung["name"], "changed": int(changed), "reversed": int(reversed_), "of": len(both)})
    return pd.DataFrame(rows)


def headline(counts: pd.DataFrame, rungs: list[dict]) -> str:
    """The section's first sentence: which factor flips how many claims, largest first (each rung's
    `change` names it in words, e.g. "scoring on held-out data")."""
    if counts.empty or not counts["of"].any():
        return "No claim was run at two rungs of the ladder, so no factor can be said to change a verdict."
    by_name = {r["name"]: r for r in rungs}
    ranked = counts[counts["of"] > 0].sort_values("changed", ascending=False, kind="stable")
    parts = [f"{by_name[r.rung].get('change', r.rung)} (`{r.rung}`) flips {r.changed} of {r.of} claim{'s' if r.of != 1 else ''}"
             for r in ranked.itertuples() if r.changed]
    if not parts:
        n = int(counts["of"].max())
        return f"No step of the ladder changes a verdict: all {n} claims keep their verdict from the paper's protocol to the last rung."
    sentence = "; ".join(parts)
    sentence = sentence[0].upper() + sentence[1:] + " (the first rung at which each claim's verdict changes)."
    reversals = [f"{by_name[r.rung].get('change', r.rung)} (`{r.rung}`) for {r.reversed} of {r.of}"
                 for r in counts[counts["reversed"] > 0].itertuples()]
    if reversals:
        sentence += " A claim that holds under the paper's protocol first reverses (does not hold) at " + \
            "; ".join(reversals) + "."
    return sentence


def claims_columns(claims: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """claims.csv with each rung's result beside the settings': `ladder_<rung>_<column>` for verdict,
    delta, ci_low, ci_high, n, p_adj, seeds_needed, and `ladder_flipped_at` (the rung of the first change)."""
    if long.empty:
        return claims
    out = claims.copy()
    for rung, grp in long.groupby("rung", sort=False):
        res = grp.set_index("claim_id")
        for col in ("verdict", "delta", "ci_low", "ci_high", "n", "p_adj", "seeds_needed"):
            out[f"ladder_{rung}_{col}"] = out["claim_id"].map(res[col])
    out["ladder_flipped_at"] = out["claim_id"].map(long.drop_duplicates("claim_id").set_index("claim_id")["flipped_at"])
    return out
