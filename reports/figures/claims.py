"""Do the papers' claims hold? One row per claim: the paper's gap vs ours under the paper's
protocol vs ours under the fair protocol, each with its 95% CI, coloured by verdict."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from reports.figures.panels import Drawing
from reports.figures.style import FONT, legend_outside, new_figure, text_width
from reports.user_claims import source_label

VERDICT_COLOURS = {"holds": "#1a9850", "does not hold": "#d73027", "inconclusive": "#878787", "not run": "#cccccc"}
SETTING_MARKERS = {"paper": ("s", -0.17), "fair": ("o", 0.17)}
MAX_ROWS = 36  # claims per figure; more are split by task


def _rows(view: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One row per claim with both settings side by side (`paper_diff`, `fair_verdict`, ...)."""
    sub = view[view["kind"] == kind] if kind == "time" else view[view["kind"].isin(["beats", "similar"])]
    wide = sub.drop_duplicates("claim_id")[["paper", "task", "claim_id", "claim", "kind", "optimizer", "baseline",
                                            "pub_delta"]]
    for setting in SETTING_MARKERS:
        part = sub[sub["setting"] == setting].set_index("claim_id")[["diff", "ci_low", "ci_high", "verdict"]]
        wide = wide.join(part.add_prefix(f"{setting}_"), on="claim_id")
    return wide


def _chunks(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """Rows per paper, split by task when a paper has more than MAX_ROWS claims."""
    out = []
    for _, grp in rows.groupby("paper", sort=False):
        chunk: list[pd.DataFrame] = []
        size = 0
        for _, t in grp.groupby("task", sort=False):
            if chunk and size + len(t) > MAX_ROWS:
                out.append(pd.concat(chunk))
                chunk, size = [], 0
            chunk.append(t)
            size += len(t)
        if chunk:
            out.append(pd.concat(chunk))
    return out


def _label(row) -> str:
    """A short row label from the claim's fields (the curated statements are sentences)."""
    relation = {"beats": ">", "similar": "≈", "time": "time ≈"}.get(row["kind"], row["kind"])
    return f"{row['optimizer']} {relation} {row['baseline']} on {row['task']}"


def _draw(rows: pd.DataFrame, kind: str, title: str):
    rows = rows.reset_index(drop=True)
    labels = [_label(r) for _, r in rows.iterrows()]
    height = 0.2 * len(rows) + 0.2
    fig, (ax,) = new_figure(panel_h=height, left=text_width(labels) + 0.25, bottom=0.95, top=0.4)
    y = np.arange(len(rows))
    ref = 1.05 if kind == "time" else 0.0
    ax.axvline(ref, color="black", linewidth=0.8)
    ax.scatter(rows["pub_delta"], y, marker="|", s=90, color="black", zorder=4, linewidths=1.6)
    for setting, (marker, dy) in SETTING_MARKERS.items():
        if f"{setting}_diff" not in rows:
            continue
        verdict = rows.get(f"{setting}_verdict", pd.Series("not run", index=rows.index)).fillna("not run")
        colours = [VERDICT_COLOURS.get(v, "#878787") for v in verdict]
        lo, hi, d = rows[f"{setting}_ci_low"], rows[f"{setting}_ci_high"], rows[f"{setting}_diff"]
        ok = np.isfinite(lo.to_numpy(float)) & np.isfinite(hi.to_numpy(float))
        ax.hlines(y[ok] + dy, lo[ok], hi[ok], colors=np.array(colours, dtype=object)[ok], linewidth=1.6, zorder=2)
        ax.scatter(d, y + dy, marker=marker, s=22, c=colours, zorder=3, edgecolors="black", linewidths=0.4)
    idle = np.ones(len(rows), dtype=bool)
    for setting in SETTING_MARKERS:
        idle &= rows.get(f"{setting}_verdict", pd.Series("not run", index=rows.index)).fillna("not run").eq("not run").to_numpy()
    for yi in y[idle]:  # at the panel's left edge, clear of the markers
        ax.annotate("not run", (0, yi), xycoords=("axes fraction", "data"), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=FONT - 1, color="#777777")
    ax.set_yticks(y, labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("ours(P) / ours(B), time per step" if kind == "time" else "gap ours(P) − ours(B), points")
    ax.set_title(title, loc="left")
    handles = [Line2D([], [], marker="|", linestyle="", color="black", markersize=9, markeredgewidth=1.6),
               Line2D([], [], marker="s", linestyle="", color="white", markeredgecolor="black"),
               Line2D([], [], marker="o", linestyle="", color="white", markeredgecolor="black")]
    handles += [Line2D([], [], marker="o", linestyle="-", color=c) for c in VERDICT_COLOURS.values()]
    names = ["paper's gap", "ours, paper's protocol", "ours, fair protocol", *VERDICT_COLOURS]
    legend_outside(fig, handles, names, ncol=4, y=0.0)
    return fig


def claim_figures(view: pd.DataFrame) -> list[Drawing]:
    """The claims figures: per paper (split by task when long), then the time claims."""
    if view.empty:
        return []
    out = []
    rows = _rows(view, "beats")
    for i, chunk in enumerate(_chunks(rows) if len(rows) else []):
        paper = chunk["paper"].iloc[0]
        tasks = ", ".join(dict.fromkeys(chunk["task"]))
        fig = _draw(chunk, "beats", f"{source_label(paper)}: claimed gaps ({tasks})")
        caption = (f"{len(chunk)} claims ({source_label(paper)}), one row each. Black bar: the paper's published gap; square: "
                   "ours under the paper's protocol; circle: ours under the fair protocol (tuned, test set); lines are 95% CIs, "
                   "colour is the verdict. Look for rows whose circle sits on or left of the vertical 0 line: the claimed "
                   "advantage is not there once both optimizers are tuned.")
        out.append(Drawing(f"claims_{paper}_{i + 1}", fig, f"{paper} claims", caption))
    times = _rows(view, "time") if (view["kind"] == "time").any() else pd.DataFrame()
    if len(times):
        fig = _draw(times, "time", "time-per-step claims (ratio to the baseline)")
        caption = ("Time per step relative to the baseline; the vertical line is the claimed tolerance (1.05). Look at which "
                   "side of it each CI sits: a claim holds when the whole CI "
                   "is left of it. Times are only comparable on the same device and batch size.")
        out.append(Drawing("claims_time", fig, "time claims", caption))
    return out
