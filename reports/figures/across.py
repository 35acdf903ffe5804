"""Who wins across tasks: aggregate statistics with CIs (forest plot), probability of improvement
(heatmap) and the performance profile (small multiples by optimizer family)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.figures.panels import Drawing, interval_rows
from reports.figures.style import FONT, WIDTH, Look, hide_unused, new_figure, text_width
from reports.views import Aggregate, Numbers, tied_for_best


def forest_figure(aggregates: list[Aggregate], look: Look) -> Drawing | None:
    """One panel per aggregate, optimizers sorted by the first; the tied-for-best band shaded."""
    aggs = [a for a in aggregates if len(a.table.dropna(subset=["value"]))]
    if not aggs:
        return None
    first = aggs[0].table.dropna(subset=["value"]).sort_values("value", ascending=aggs[0].lower_is_better)
    order = list(first["optimizer"]) + [o for a in aggs[1:] for o in a.table["optimizer"] if o not in set(first["optimizer"])]
    left = text_width(order) + 0.3
    fig, axes = new_figure(1, len(aggs), panel_h=0.24 * len(order) + 0.2, left=left, bottom=0.6, wspace=0.08,
                           sharey=True)
    for ax, agg in zip(axes, aggs):
        t = agg.table.set_index("optimizer").reindex(order)
        interval_rows(ax, order, t["value"], t["ci_low"], t["ci_high"], look, order)
        tied = tied_for_best(agg)
        if tied:
            best = t.loc[tied[0]]
            edge = best["ci_high"] if agg.lower_is_better else best["ci_low"]
            if np.isfinite(edge):  # from the best end of the axis to the worse end of the best one's CI
                x0, x1 = ax.get_xlim()
                lo, hi = (min(x0, x1), edge) if agg.lower_is_better else (edge, max(x0, x1))
                ax.axvspan(lo, hi, color="#fee08b", alpha=0.35, zorder=0, linewidth=0)
                ax.set_xlim(x0, x1)
        ax.set_xlabel(agg.label + " ± 95% CI")
        ax.grid(axis="y", visible=False)
        if agg.lower_is_better:
            ax.invert_xaxis()  # better to the right in every panel
    axes[0].set_yticks(range(len(order)), order)
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    for lab in axes[0].get_yticklabels():
        lab.set_color(look.color.get(lab.get_text(), "black"))
    fig.suptitle("Across tasks: better to the right; shaded = within the best one's CI", x=0.01, ha="left", fontsize=FONT + 1)
    caption = ("Each row is one optimizer (tuned, confirm runs), sorted from best to worst; lines are 95% CIs. Optimizers "
               "whose interval reaches the shaded band are not separated from the best one: read them as tied.")
    return Drawing("across_forest", fig, "Across tasks: aggregates with CIs", caption)


def poi_figure(numbers: Numbers, look: Look, order: list[str]) -> Drawing | None:
    point = numbers.poi
    if point is None or point.shape[0] < 2:
        return None
    opts = [o for o in order if o in point.index] + [o for o in point.index if o not in order]
    mat = point.reindex(index=opts, columns=opts).to_numpy(float)
    n = len(opts)
    cell = min(0.42, (WIDTH - text_width(opts) - 1.6) / n)
    left = text_width(opts) + 0.25
    fig, (ax,) = new_figure(panel_h=cell * n, width=left + cell * n + 1.2, left=left, right=1.1,
                            bottom=text_width(opts) + 0.25, top=0.45)
    im = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu_r", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(n), opts, rotation=90)
    ax.set_yticks(range(n), opts)
    ax.grid(False)
    for lab in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        lab.set_color(look.color.get(lab.get_text(), "black"))
    size = FONT - 1.5 if n > 10 else FONT - 0.5
    for i in range(n):
        for j in range(n):
            if np.isfinite(mat[i, j]):
                ax.text(j, i, f"{mat[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=size,
                        color="white" if abs(mat[i, j] - 0.5) > 0.3 else "black")
    cax = fig.add_axes([1 - 0.95 / fig.get_figwidth(), ax.get_position().y0, 0.12 / fig.get_figwidth(), ax.get_position().height])
    fig.colorbar(im, cax=cax, label="P(row beats column)")
    ax.set_title("Probability of improvement (confirm runs, mean over shared tasks)", loc="left")
    ci = " Its CI is in poi.csv." if numbers.poi_low is not None else ""
    caption = ("Cell (row, column) = chance that a run of the row's optimizer beats one of the column's; 0.5 = no "
               "difference. Look for rows that are red across: that optimizer beats most others." + ci)
    return Drawing("across_poi", fig, "Probability of improvement", caption)


def profile_figure(profile: pd.DataFrame, look: Look) -> Drawing | None:
    """Performance profile, one panel per optimizer family; the others in light grey for reference."""
    if profile.empty:
        return None
    families = look.families(profile["optimizer"].unique())
    ncols = min(2, len(families))
    nrows = -(-len(families) // ncols)
    fig, axes = new_figure(nrows, ncols, panel_h=1.9, bottom=0.55, sharex=True, sharey=True, hspace=0.45)
    curves = {o: g for o, g in profile.groupby("optimizer", sort=False)}
    for ax, (fam, members) in zip(axes, families.items()):
        for o, g in curves.items():
            if o not in members:
                ax.step(g["tau"], g["share"], where="post", color="#d9d9d9", linewidth=0.9, zorder=1)
        for o in members:
            g = curves[o]
            st = look.style(o)
            ax.step(g["tau"], g["share"], where="post", color=st["color"], zorder=3, label=o)
            mark = g.iloc[:: max(1, len(g) // 6)]
            ax.plot(mark["tau"], mark["share"], linestyle="", zorder=3, **st)
        ax.set_title(fam, loc="left")
        ax.legend(loc="lower right", fontsize=FONT - 1, handlelength=1.2)
        ax.set_ylim(-0.03, 1.03)
    for ax in axes[-ncols:]:
        ax.set_xlabel("tau (normalized: 1 = best, 0 = chance)")
    for ax in axes[::ncols]:
        ax.set_ylabel("share of tasks")
    hide_unused(axes, len(families))
    caption = ("Share of tasks on which an optimizer's tuned test mean, normalized per task ((score - chance) / (best - "
               "chance)), is within tau of the task's best, one panel "
               "per family (grey: all other optimizers). Look for curves that rise early: a curve reaching 1 at small tau is "
               "never far from the best.")
    return Drawing("across_profile", fig, "Performance profile", caption)


def across_figures(numbers: Numbers, look: Look) -> list[Drawing]:
    forest = forest_figure(numbers.aggregates, look)
    order = []
    if numbers.aggregates:
        a = numbers.aggregates[0]
        order = list(a.table.sort_values("value", ascending=a.lower_is_better)["optimizer"])
    drawn = [forest, poi_figure(numbers, look, order), profile_figure(numbers.profile, look)]
    return [d for d in drawn if d is not None]
