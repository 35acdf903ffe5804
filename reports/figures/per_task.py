"""Per task: the tuned test score of every optimizer with its CI (sorted), next to its default and
the paper's hyperparameters, one panel per task."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from reports.figures.panels import Drawing, grid, interval_rows
from reports.figures.style import Look, hide_unused, legend_outside, text_width


def task_scores_figure(summary: pd.DataFrame, look: Look, tasks: list[str]) -> Drawing | None:
    done = summary[(summary["test_n"] > 0) | (summary["default_n"] > 0) | (summary["paper_fair_n"] > 0)]
    tasks = [t for t in tasks if t in set(done["task"])]
    if not tasks:
        return None
    ncols = 1 if len(tasks) == 1 else 2
    n_rows = done.groupby("task").size().max()
    left = text_width(done["optimizer"]) + 0.3
    fig, axes = grid(len(tasks), ncols, panel_h=0.2 * n_rows + 0.25, left=left, wspace=(left + 0.1) / 2.6,
                     hspace=0.8 / (0.2 * n_rows + 0.25), legend_lines=1, bottom=0.55)
    missing = []
    for ax, task in zip(axes, tasks):
        cells = done[done["task"] == task].assign(_key=lambda d: d["test_mean"].fillna(-np.inf))
        cells = cells.sort_values("_key", ascending=False)
        opts = list(cells["optimizer"])
        y = np.arange(len(opts))
        interval_rows(ax, opts, cells["test_mean"], cells["test_ci_low"], cells["test_ci_high"], look, opts)
        ax.scatter(cells["default_mean"], y, marker="D", s=16, facecolors="none", edgecolors="#444444", linewidths=0.9, zorder=4)
        ax.scatter(cells["paper_fair_mean"], y, marker="x", s=18, color="#444444", linewidths=0.9, zorder=4)
        ax.set_yticks(y, opts)
        ax.set_ylim(len(opts) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        ax.set_title(task, loc="left")
        ax.set_xlabel("test score (points)")
        all_cells = summary[summary["task"] == task]
        missing += [f"{o} on {task}" for o in all_cells.loc[~all_cells["optimizer"].isin(opts), "optimizer"]]
    hide_unused(axes, len(tasks))
    handles = [Line2D([], [], marker="o", color="#555555", linestyle="-"),
               Line2D([], [], marker="D", linestyle="", markerfacecolor="none", markeredgecolor="#444444"),
               Line2D([], [], marker="x", linestyle="", color="#444444")]
    legend_outside(fig, handles, ["tuned (confirm runs) ± 95% CI", "default hyperparameters", "paper's hyperparameters (fair)"],
                   ncol=3)
    note = f" Not shown (no runs yet): {', '.join(missing)}." if missing else ""
    caption = ("Per task, optimizers sorted by tuned test score (coloured marker, line = 95% CI over seeds). Hollow diamond: "
               "the optimizer's defaults; cross: the paper's hyperparameters, both under the fair protocol. Look at the gap "
               "between the top rows' intervals (overlap = not separated) and at how far defaults fall below tuned." + note)
    return Drawing("per_task_scores", fig, "Tuned test score per task", caption)


def per_task_figures(summary: pd.DataFrame, look: Look, tasks: list[str]) -> list[Drawing]:
    d = task_scores_figure(summary, look, tasks)
    return [d] if d is not None else []

