"""The protocol ladder: one row per claim, one column per rung (the paper's protocol on the left,
the fairest on the right), each cell coloured by the claim's verdict at that rung with its gap and
95% CI written in; the rung where the verdict first changes is framed in black."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from reports.figures.claims import VERDICT_COLOURS
from reports.figures.panels import Drawing
from reports.figures.style import FONT, legend_outside, new_figure, text_width

CELL_H = 0.42  # inches per claim row (two lines of text)
MAX_ROWS = 30  # claims per figure


def _label(claim_id: str, claims: pd.DataFrame | None) -> str:
    if claims is not None and claim_id in claims.index:
        r = claims.loc[claim_id]
        relation = {"beats": ">", "similar": "≈", "time": "time ≈"}.get(r["kind"], r["kind"])
        return f"{r['optimizer']} {relation} {r['baseline']} on {r['task']}"
    return claim_id


def _cell_text(r) -> str:
    if not np.isfinite(r.delta):
        return r.verdict
    ci = f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}]" if np.isfinite(r.ci_low) else "(no CI)"
    return f"{r.delta:+.1f} {ci}"


def _draw(long: pd.DataFrame, rungs: list[dict], claims: pd.DataFrame | None, title: str):
    ids = list(dict.fromkeys(long["claim_id"]))
    labels = [_label(c, claims) for c in ids]
    names = [r["name"] for r in rungs]
    fig, (ax,) = new_figure(panel_h=CELL_H * len(ids), left=text_width(labels) + 0.25, bottom=0.75, top=0.75)
    row = {c: i for i, c in enumerate(ids)}
    for r in long.itertuples():
        x, y = int(r.order), row[r.claim_id]
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=VERDICT_COLOURS.get(r.verdict, "#878787"),
                               edgecolor="white", linewidth=1.5))
        ax.text(x, y, _cell_text(r), ha="center", va="center", fontsize=FONT - 1.5,
                color="white" if r.verdict in ("holds", "does not hold") else "black")
        if r.rung == r.flipped_at:
            ax.add_patch(Rectangle((x - 0.46, y - 0.46), 0.92, 0.92, fill=False, edgecolor="black", linewidth=2.2))
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylim(len(ids) - 0.5, -0.5)
    ax.set_xticks(range(len(names)), names)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(ids)), labels)
    ax.grid(False)
    ax.set_title(title, loc="left", pad=22)
    handles = [Patch(facecolor=c, edgecolor="white") for c in VERDICT_COLOURS.values()]
    handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2.2))
    legend_outside(fig, handles, [*VERDICT_COLOURS, "verdict first changes"], ncol=5, y=0.0)
    return fig


def ladder_figures(long: pd.DataFrame, rungs: list[dict], claims: pd.DataFrame | None = None) -> list[Drawing]:
    """The ladder figure(s): MAX_ROWS claims each. `claims` (indexed by claim_id) names the rows."""
    if long is None or long.empty or not rungs:
        return []
    ids = list(dict.fromkeys(long["claim_id"]))
    out = []
    for i in range(0, len(ids), MAX_ROWS):
        part = long[long["claim_id"].isin(ids[i:i + MAX_ROWS])]
        fig = _draw(part, rungs, claims, "protocol ladder: each claim's verdict, one factor changed per column")
        caption = ("One row per claim, one column per rung, from the paper's protocol (left) to the fairest (right); each "
                   "rung changes one factor of the one before it (see the method list below). Colour: the verdict at "
                   "that rung; text: ours(P) − ours(B) with its 95% CI. A black frame marks the first rung whose verdict "
                   "differs from the paper protocol's: that rung's factor is what changes the claim.")
        out.append(Drawing(f"ladder_{i // MAX_ROWS + 1}", fig, "protocol ladder", caption))
    return out
