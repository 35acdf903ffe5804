"""What an optimizer costs: time per step, and wall time until a run first reaches a target score.

Times are comparable only on the same device and batch size, so per task only the rows of the
most common device (trials.csv column `device_name` or `device`, where recorded) and the most
common batch size are used; the caption names both. Time to target: the task's target is 90% of
the way from chance to the best confirm-run mean validation score at the last epoch; a confirm
run reaches it at the first epoch whose validation score is at least the target, at time
epoch x (wall_time / epochs_done).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reports.figures.panels import Drawing, grid, interval_rows
from reports.figures.style import FONT, Look, hide_unused, text_width

TARGET_SHARE = 0.9
DEVICE_COLUMNS = ("device_name", "device")


def comparable_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the most common device and batch size, and words saying which."""
    words = []
    for col in (*[c for c in DEVICE_COLUMNS if c in rows][:1], "hp_batch_size"):
        if col in rows and rows[col].notna().any():
            common = rows[col].mode().iloc[0]
            rows = rows[rows[col] == common]
            words.append(f"{'batch size' if col == 'hp_batch_size' else 'device'} {common}")
    return rows, ", ".join(words) or "all rows (no device or batch size recorded)"


def time_per_step(trials: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Per (task, optimizer): median and quartiles of time per step in ms on comparable rows."""
    out = []
    for task in tasks:
        rows = trials[(trials["task"] == task) & (trials["status"] == "ok")]
        if "time_per_step" not in rows or rows["time_per_step"].notna().sum() == 0:
            continue
        rows, where = comparable_rows(rows.dropna(subset=["time_per_step"]))
        for opt, g in rows.groupby("optimizer", sort=False):
            q1, med, q3 = np.percentile(g["time_per_step"] * 1000, [25, 50, 75])
            out.append({"task": task, "optimizer": opt, "value": med, "ci_low": q1, "ci_high": q3, "n": len(g), "where": where})
    return pd.DataFrame(out, columns=["task", "optimizer", "value", "ci_low", "ci_high", "n", "where"])


def time_to_target(trials: pd.DataFrame, history: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Per (task, optimizer): median and quartiles of seconds to the task's target over confirm runs
    that reached it, with the number of runs that did (`reached`) out of `n`."""
    out = []
    confirm = trials[(trials["phase"] == "confirm") & (trials["status"] == "ok")]
    h = history[(history["phase"] == "confirm") & (history["key"] == "score")]
    for task in tasks:
        ht = h[h["task"] == task]
        if ht.empty:
            continue
        last = ht[ht["epoch"] == ht.groupby("trial_id")["epoch"].transform("max")]
        best = last.groupby("optimizer")["value"].mean().max()
        chance = float(trials.loc[trials["task"] == task, "chance"].median())
        chance = chance if np.isfinite(chance) else 0.0
        target = chance + TARGET_SHARE * (best - chance)
        runs = confirm[confirm["task"] == task].set_index("trial_id")
        per_epoch = (runs["wall_time"] / runs["epochs_done"]).rename("sec_per_epoch")
        hit = ht[ht["value"] >= target].groupby("trial_id")["epoch"].min()
        for opt, g in runs.groupby("optimizer", sort=False):
            secs = (hit.reindex(g.index) * per_epoch.reindex(g.index)).dropna().to_numpy()
            row = {"task": task, "optimizer": opt, "target": target, "n": len(g), "reached": secs.size}
            q = np.percentile(secs, [25, 50, 75]) if secs.size else [np.nan] * 3
            out.append({**row, "value": q[1], "ci_low": q[0], "ci_high": q[2]})
    return pd.DataFrame(out, columns=["task", "optimizer", "target", "n", "reached", "value", "ci_low", "ci_high"])


def _dot_grid(table: pd.DataFrame, look: Look, tasks: list[str], xlabel: str, log: bool):
    tasks = [t for t in tasks if t in set(table["task"])]
    n_rows = table.groupby("task").size().max()
    left = text_width(table["optimizer"]) + 0.3
    ncols = 1 if len(tasks) == 1 else 2
    fig, axes = grid(len(tasks), ncols, panel_h=0.2 * n_rows + 0.25, left=left, wspace=(left + 0.1) / 2.6,
                     hspace=0.8 / (0.2 * n_rows + 0.25), bottom=0.55)
    for ax, task in zip(axes, tasks):
        t = table[table["task"] == task]
        opts = look.sort(t["optimizer"])
        t = t.set_index("optimizer").reindex(opts)
        interval_rows(ax, opts, t["value"], t["ci_low"], t["ci_high"], look, opts)
        if "reached" in t:
            for y, (o, r) in enumerate(t.iterrows()):
                if r["reached"] < r["n"]:  # at the panel's right edge, inside it
                    ax.annotate(f"{int(r['reached'])}/{int(r['n'])} reached", (1, y), xycoords=("axes fraction", "data"),
                                xytext=(-3, 0), textcoords="offset points", ha="right", va="center", fontsize=FONT - 1.5,
                                color="#555555")
        ax.set_yticks(range(len(opts)), opts)
        ax.set_ylim(len(opts) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        if log:
            ax.set_xscale("log")
        ax.set_title(task, loc="left")
        ax.set_xlabel(xlabel)
    hide_unused(axes, len(tasks))
    return fig


def cost_figures(study, look: Look) -> list[Drawing]:
    out = []
    tps = time_per_step(study.trials, study.tasks)
    if len(tps):
        fig = _dot_grid(tps, look, study.tasks, "time per step (ms), median and quartiles", log=False)
        where = "; ".join(f"{t}: {w}" for t, w in tps.groupby("task", sort=False)["where"].first().items())
        caption = ("Median time per optimizer step over every finished run of the task (line: quartiles), optimizers by family. "
                   f"Only runs on one device and one batch size are compared ({where}). Look for optimizers far right of "
                   "their family: they cost more per step.")
        out.append(Drawing("cost_time_per_step", fig, "Time per step", caption))
    ttt = time_to_target(study.trials, study.history, study.tasks)
    if len(ttt) and ttt["reached"].sum():
        fig = _dot_grid(ttt, look, study.tasks, "seconds to reach the target (median, quartiles)", log=False)
        targets = "; ".join(f"{t} {v:.1f}" for t, v in ttt.groupby("task", sort=False)["target"].first().items())
        caption = (f"Wall time until a confirm run first reaches the task's target validation score ({targets} points: "
                   f"{TARGET_SHARE:.0%} of the way from chance to the best optimizer's final mean), at epoch resolution. "
                   "'k/n reached': only k of n runs got there. Further left is faster; compare with the time per step to "
                   "see whether an optimizer is fast per step or fast to learn.")
        out.append(Drawing("cost_time_to_target", fig, "Time to target", caption))
    return out
