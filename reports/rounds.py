"""Claims under `--seeds auto`: which are decided after each round of seeds, and why the others go on.

A study with seeds {min, max} looks at its claims at the seed counts of reports.sequential.schedule
(2, 3, 5, 8, 10 for 2-10). At look k every claim not yet decided is tested (claims.claim_verdicts,
the report's own tests) on the first n_k seeds of each of its cells; the fixed-sample p-values go
through the group-sequential design and Benjamini-Hochberg (reports.sequential.sequential_decisions).
The driver runs this after each round to pick the cells that get more seeds; the report runs it
on the finished records and gets the same decisions, since both see the same seeds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports import claims as claim_checks
from reports import sequential, stats

SEEDED_PHASES = ("confirm", "paper")  # the phases the claims read (settings fair and paper)
COLUMNS = ["setting", "claim_id", "kind", "task", "optimizer", "baseline", "claim", "seeds", "next_seeds", "decided",
           "verdict", "delta", "ci_low", "ci_high", "p_rep", "p_adj", "why"]
# claim_verdicts' columns taken from the look a claim is reported at, so the report's means agree with its delta
LOOK_COLUMNS = ["ours", "ours_baseline", "test", "n_a", "n_b", "unpaired_ci_low", "unpaired_ci_high"]


def truncate(trials: pd.DataFrame, n: int) -> pd.DataFrame:
    """The trials with each confirm / paper cell (phase, task, optimizer, protocol) cut to its first n seeds."""
    seeded = trials["phase"].isin(SEEDED_PHASES)
    rank = trials[seeded].groupby(["phase", "task", "optimizer", "protocol"])["seed"].rank(method="dense")
    keep = ~seeded
    keep[rank.index] = rank <= n
    return trials[keep]


def looks_run(trials: pd.DataFrame, n_min: int, n_max: int) -> int:
    """How many looks of the schedule the records reach: those up to the most seeds any cell ran."""
    seeded = trials[trials["phase"].isin(SEEDED_PHASES)]
    most = int(seeded.groupby(["phase", "task", "optimizer", "protocol"])["seed"].nunique().max()) if len(seeded) else 0
    return max(1, sum(n <= most for n in sequential.schedule(n_min, n_max)))


def _interval(kind: str, delta, se, df, fractions, look: int, span: float) -> tuple[float, float]:
    """The repeated confidence interval at `look` (on the claim's scale: a time ratio, or points cut
    to +-`span`, the widest difference two scores can have)."""
    if not (np.isfinite(se) and np.isfinite(df) and df > 0):
        return np.nan, np.nan
    q = float(sequential.tost_rci_quantile(fractions, look, df) if kind == "similar"
              else sequential.rci_quantile(fractions, look, df))
    est = np.log(delta) if kind == "time" else delta
    low, high = est - q * se, est + q * se
    if kind == "time":
        return float(np.exp(low)), float(np.exp(high))
    low, high = stats.cut(est, low, high, (-span, span)) if np.isfinite(span) else (low, high)
    return float(low), float(high)


def _held_back(kind: str, low: float, high: float, margin: float, p_adj: float, m: int) -> str:
    """For an undecided claim whose repeated interval (unadjusted) already excludes the null: the words
    saying that the family's Benjamini-Hochberg adjustment held it back; "" otherwise. (similar
    claims are left out: their verdict's two tests and 90% interval are not one design.)"""
    null = {"time": 1 + margin, "beats": 0.0}.get(kind)
    if null is None or not (low > null or high < null):
        return ""
    return f"the interval excludes {null:g}{'x' if kind == 'time' else ''}, but the adjusted p {p_adj:.2g} " \
           f"over {m} claims is not below {stats.ALPHA:g}"


def _why_not_yet(kind: str, margin: float) -> str:
    return {"similar": f"interval still crosses +-{margin:g}", "time": f"interval still crosses {1 + margin:g}x"}.get(
        kind, "interval still crosses 0")


def _counts(per_look: list[pd.DataFrame], ids, col: str) -> np.ndarray:
    """(claims, looks) of an integer column (n, n_a, n_b) at each look; 0 where missing."""
    return np.stack([pd.to_numeric(v.loc[ids, col], errors="coerce").to_numpy(float, na_value=np.nan)
                     for v in per_look], axis=-1)


def _setting_rounds(trials: pd.DataFrame, setting: str, table: pd.DataFrame, looks: list[int], n_max: int,
                    done: int) -> list[dict]:
    """claim_rounds' rows of one setting: its claims tested at each of the first `done` looks.

    A look tests a claim only when it has the look's full count of seeds (pairs, or runs on the
    smaller side): with fewer (a later round's trials errored, a round still running) it would
    re-test the same seeds at that look's looser level, so the look is skipped (no alpha spent).
    A decided claim reports the look whose level its repeated p is (the running minimum's look,
    Jennison & Turnbull 1989: each look's RCI holds at all looks at once), so its verdict, estimate,
    interval, means and seed count all come from the same seeds.
    """
    fractions = sequential.information(looks, n_max)
    per_look = [claim_checks.claim_verdicts(truncate(trials, n), setting, table).set_index("claim_id")
                for n in looks[:done]]
    first = per_look[0]
    tested = first.index[first["kind"] != "all"]
    n_used = _counts(per_look, tested, "n")
    full = n_used >= np.asarray(looks[:done], dtype=float)
    both = np.nan_to_num(np.minimum(_counts(per_look, tested, "n_a"), _counts(per_look, tested, "n_b")))[:, -1] > 0
    p = np.stack([v.loc[tested, "p"].to_numpy(float) for v in per_look], axis=-1)
    p = np.where(full, p, np.nan)
    stop, p_rep, p_adj = sequential.sequential_decisions(p, fractions[:done])
    evidence = sequential.evidence_look(p, fractions[:done], stop)
    last = done - 1
    family = int(np.isfinite(p_rep).sum())
    out = []
    for i, cid in enumerate(tested):
        decided = bool(stop[i] >= 0)
        if decided:
            at = int(evidence[i])  # the look whose level the repeated p is
        else:
            ran = np.nonzero(full[i])[0]
            at = int(ran[-1]) if ran.size else last
        row = per_look[at].loc[cid]
        seeds = int(n_used[i, at]) if np.isfinite(n_used[i, at]) else looks[at]
        kind, margin = row["kind"], float(row["margin"]) if np.isfinite(row["margin"]) else 0.0
        low, high = _interval(kind, row["delta"], row["se"], row["df"], fractions, at, row["span"])
        bound = {"time": np.log1p(margin), "similar": margin}.get(kind, 0.0)
        est = np.log(row["delta"]) if kind == "time" else row["delta"]
        verdict = str(claim_checks.decide(kind, est, p_adj[i] if decided else np.nan, bound))
        nxt = np.nan
        note = row["note"] if isinstance(row["note"], str) and row["note"] else "no test"
        held = _held_back(kind, low, high, margin, p_adj[i], family)
        if decided:
            why = f"decided at {seeds} seeds"
        elif not np.isfinite(p_rep[i]) and (last == len(looks) - 1 or not both[i]):
            verdict, why = "not run", note
        elif not np.isfinite(p_rep[i]):  # runs on both sides but no test yet (no spread, one run): more seeds may give one
            verdict, nxt = "inconclusive", looks[last + 1]
            why = f"{seeds} → {nxt} seeds, no test yet: {note}"
        elif last == len(looks) - 1:
            verdict = "inconclusive"
            reach = max(abs(low), abs(high)) if kind != "time" else max(high, 1 / low)
            unit = "x" if kind == "time" else " points"
            why = "max reached, inconclusive: " + (held or f"an effect under {reach:.2g}{unit} cannot be excluded")
        else:
            verdict, nxt = "inconclusive", looks[last + 1]
            why = f"{seeds} → {nxt} seeds, {held or _why_not_yet(kind, margin)}"
        out.append({"setting": setting, "claim_id": cid, "kind": kind, "seeds": seeds, "next_seeds": nxt,
                    "decided": decided, "verdict": verdict, "delta": row["delta"], "ci_low": low, "ci_high": high,
                    "p_rep": p_rep[i], "p_adj": p_adj[i], "why": why,
                    **{col: row[col] for col in LOOK_COLUMNS}})
    return out


def claim_rounds(trials: pd.DataFrame, n_min: int, n_max: int, done: int | None = None,
                 claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per tested claim and setting after `done` looks (default: as many as the records
    reach): COLUMNS, with `seeds` the seeds it was decided at (or has so far), `next_seeds` the
    seeds of its cells in the next round (NaN when decided or at max) and `why` in words:
    "decided at 3 seeds", "2 → 3 seeds, interval still crosses 0", "max reached, inconclusive:
    an effect under 0.8 points cannot be excluded"."""
    looks = sequential.schedule(n_min, n_max)
    done = min(done or looks_run(trials, n_min, n_max), len(looks))
    table = claim_checks.alias_claims(claim_checks.curated_claims(), trials["task"]) if claims is None else claims
    rows = [r for setting in claim_checks.SETTINGS for r in _setting_rounds(trials, setting, table, looks, n_max, done)]
    info = table.set_index("claim_id")[["task", "optimizer", "baseline", "claim"]]
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS + LOOK_COLUMNS if c not in info.columns])
    return out.join(info, on="claim_id")[COLUMNS + LOOK_COLUMNS]


def apply_rounds(checked: pd.DataFrame, trials: pd.DataFrame, n_min: int, n_max: int) -> pd.DataFrame:
    """claims.check_claims' table with each setting's verdicts as `--seeds auto` decided them:
    `<s>_verdict`, `<s>_delta`, `<s>_ci_low/high` (the repeated confidence interval), `<s>_n` and the
    means, run counts, test and unpaired interval (LOOK_COLUMNS) at the look where the claim stopped,
    `<s>_p` its repeated p, `<s>_p_adj` the adjusted one (`<s>_p_holm` blank), `<s>_seeds` and `<s>_why`
    ("decided at 4 seeds"; "max reached, inconclusive: ..."), which the report shows as the note;
    aggregate (`all`) claims follow their members again."""
    out = checked.copy()
    decided = claim_rounds(trials, n_min, n_max, claims=checked[claim_checks.CLAIM_COLUMNS])
    for setting in claim_checks.SETTINGS:
        mine = decided[(decided["setting"] == setting) & (decided["verdict"] != "not run")].set_index("claim_id")
        rows = out["claim_id"].isin(mine.index)
        ids = out.loc[rows, "claim_id"]
        out[f"{setting}_seeds"], out[f"{setting}_why"] = np.nan, ""
        if not rows.any():
            continue
        for col in ("verdict", "delta", "ci_low", "ci_high", "p_adj", "seeds", "why", *LOOK_COLUMNS):
            out.loc[rows, f"{setting}_{col}"] = ids.map(mine[col]).to_numpy()
        # the fixed-sample p's of all seeds ignore the design: the repeated p stands in, Holm's has no sequential twin
        out.loc[rows, f"{setting}_p"] = ids.map(mine["p_rep"]).to_numpy()
        out.loc[rows, f"{setting}_p_holm"] = np.nan
        out.loc[rows, f"{setting}_n"] = ids.map(mine["seeds"]).to_numpy()
        out.loc[rows, f"{setting}_seeds_needed"] = np.nan
        out.loc[rows, f"{setting}_note"] = ids.map(mine["why"].str.replace("max reached, inconclusive:", "max reached:",
                                                                           regex=False)).to_numpy()
        frame = out[["claim_id", "kind", f"{setting}_verdict", f"{setting}_test", f"{setting}_n", f"{setting}_note"]]
        frame = frame.set_axis(["claim_id", "kind", "verdict", "test", "n", "note"], axis=1).reset_index(drop=True)
        claim_checks._aggregate(frame, checked[claim_checks.CLAIM_COLUMNS])
        agg = (out["kind"] == "all").to_numpy()
        out.loc[agg, f"{setting}_verdict"] = frame.loc[agg, "verdict"].to_numpy()
        out.loc[agg, f"{setting}_note"] = frame.loc[agg, "note"].to_numpy()
    return out
