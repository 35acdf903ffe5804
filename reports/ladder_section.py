"""The report's ladder section (issue 24's question: which step from the paper's protocol to a fair
one flips each claim): the headline in words, the figure, the table and each rung's method."""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.ladder import flip_counts, headline
from reports.render import fmt, fmt_ci
from reports.views import Numbers


def ladder_table(long: pd.DataFrame, rungs: list[dict], claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim, one column per rung: verdict and Δ [95% CI] (n), the first change marked ◆,
    and for an inconclusive verdict the seeds a test would need (80% power, as the claims table)."""
    text = claims.set_index("claim_id")["claim"] if claims is not None else pd.Series(dtype=object)
    out = []
    for claim_id, grp in long.groupby("claim_id", sort=False):
        row = {"claim": text.get(claim_id, claim_id)}
        for r in grp.itertuples():
            mark = " ◆" if r.rung == r.flipped_at else ""
            value = f": {fmt_ci(r.delta, r.ci_low, r.ci_high)} (n={fmt(r.n, 0)})" if np.isfinite(r.delta) else ""
            power = f", ~{int(r.seeds_needed)} seeds needed" if np.isfinite(pd.to_numeric(r.seeds_needed)) else ""
            row[r.rung] = f"{r.verdict}{mark}{value}{power}"
        out.append(row)
    return pd.DataFrame(out).reindex(columns=["claim", *[r["name"] for r in rungs]])


def ladder_blocks(numbers: Numbers, figures: dict) -> list[tuple]:
    """The protocol ladder: the headline in words, the figure, the table and the method (each rung's
    factor, its source and what the paper leaves open)."""
    long, rungs = numbers.ladder, numbers.rungs
    if long is None or not rungs:
        return []
    blocks: list[tuple] = [("h", 2, "Which step of the protocol flips each claim?")]
    if long.empty:
        return blocks + [("p", "The study has a ladder but no claim concerns two of its optimizers on its tasks.")]
    blocks.append(("p", headline(flip_counts(long, rungs), rungs)))
    blocks += [("fig", d) for d in figures.get("ladder", [])]
    claims = numbers.claims.drop_duplicates("claim_id") if len(numbers.claims) else None
    blocks.append(("details", "Table: verdict per claim and rung (◆ = the verdict first changes here)",
                   [("table", ladder_table(long, rungs, claims))]))
    method = []
    for i, r in enumerate(rungs):
        what = "the starting point" if i == 0 else f"changes {', '.join(r['changed'])}{' together' if r.get('together') else ''}"
        notes = f" Notes: {'; '.join(r['notes'])}." if r.get("notes") else ""
        method.append(f"**{r['name']}** ({what}: {r.get('change', '')}). Source: {r.get('source') or 'user-defined'}.{notes}")
    blocks.append(("p", "Each rung is judged as its own family: the same tests as the claims above (paired t over seeds, "
                        "Benjamini-Hochberg at FDR 0.05 over the rung's claims, ~N seeds for 80% power where inconclusive); "
                        "a rung that scores as the paper scores is judged on the paper protocol's score, the others on the "
                        "test split. With no true change, a claim shows a spurious change at some rung in up to ~5% per "
                        "rung (tests/ladder_sim.py). The rungs:"))
    blocks.append(("list", method))
    return blocks
