"""Learning curves of the confirm runs (history.csv): per epoch, the mean over seeds and a band of
± one standard deviation, one row per task and one panel per optimizer family."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from reports.figures.panels import Drawing, label_task_family_panel, legend_rows, optimizer_legend
from reports.figures.style import Look, new_figure

CURVES = {"score": ("validation score", "higher is better"), "train_loss": ("train loss", "lower is better")}


def curve_stats(history: pd.DataFrame, key: str) -> pd.DataFrame:
    """Mean, standard deviation and run count per (task, optimizer, epoch) of the confirm runs' `key`."""
    h = history[(history["phase"] == "confirm") & (history["key"] == key)]
    h = h[np.isfinite(h["value"].to_numpy(float))]
    return h.groupby(["task", "optimizer", "epoch"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()


def curve_figure(history: pd.DataFrame, key: str, look: Look, tasks: list[str]) -> Drawing | None:
    stats = curve_stats(history, key)
    tasks = [t for t in tasks if t in set(stats["task"])]
    if not tasks:
        return None
    label, better = CURVES[key]
    families = look.families(stats["optimizer"].unique())
    ncols = len(families)
    fig, axes = new_figure(len(tasks), ncols, panel_h=1.3, left=0.75, top=0.5, hspace=0.55, wspace=0.12,
                           bottom=0.75 + 0.2 * legend_rows(look, stats["optimizer"].unique()))
    axes = axes.reshape(len(tasks), ncols)
    for r, task in enumerate(tasks):
        sub = stats[stats["task"] == task]
        band_lo, band_hi = sub["mean"] - sub["std"].fillna(0), sub["mean"] + sub["std"].fillna(0)
        lo, hi = band_lo.min(), band_hi.max()
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        for c, (fam, members) in enumerate(families.items()):
            ax = axes[r, c]
            for opt in members:
                g = sub[sub["optimizer"] == opt].sort_values("epoch")
                if g.empty:
                    continue
                st = look.style(opt)
                sd = g["std"].fillna(0)
                ax.fill_between(g["epoch"], g["mean"] - sd, g["mean"] + sd, color=st["color"], alpha=0.15, linewidth=0)
                ax.plot(g["epoch"], g["mean"], markevery=max(1, len(g) // 5), markersize=4, **st)
            ax.set_ylim(lo - pad, hi + pad)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
            label_task_family_panel(ax, r, c, len(tasks), fam, task, "epoch")
    optimizer_legend(fig, look, stats["optimizer"].unique())
    fig.suptitle(f"Learning curves: {label} of the confirm runs (mean ± 1 SD over seeds; {better})", x=0.01, ha="left")
    caption = (f"{label.capitalize()} per epoch of the confirm runs (the tuned configuration on fresh seeds): line = mean "
               "over seeds, band = ± one standard deviation. Rows are tasks, columns optimizer families. Look for curves "
               "still rising at the last epoch (the budget was short for that optimizer) and for wide bands (seed-sensitive).")
    return Drawing(f"curves_{key}", fig, f"Learning curves: {label}", caption)


def curve_figures(history: pd.DataFrame, look: Look, tasks: list[str]) -> list[Drawing]:
    drawn = [curve_figure(history, key, look, tasks) for key in CURVES]
    return [d for d in drawn if d is not None]
