"""How much tuning an optimizer needs and how fragile it is.

- Expected max vs trials (Dodge et al. 2019): small multiples, one row per task and one panel per
  optimizer family (never 14 lines in one panel).
- Score vs each searched hyperparameter, from the i.i.d. tune trials only (TPE-guided trials
  cluster where the sampler already found good scores, which would hide the spread), on the scale
  it was searched (search_spaces: log lr, log c, log weight decay with 0 drawn apart), one panel
  per optimizer; diverged trials (scored at chance) as crosses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, MaxNLocator

import search_spaces
from reports.figures.panels import Drawing, grid, label_task_family_panel, legend_rows, optimizer_legend
from reports.figures.style import FONT, Look, hide_unused, new_figure

MAX_POINTS = 400  # per panel: a fixed-seed sample beyond this keeps large studies fast
SHARED = ("lr", "weight_decay", "batch_size")
NOT_SHOWN = {"beta1", "beta2", "eps", "wd_exempt", "base", "momentum", "nesterov"}  # in importance.csv


def emp_figure(emp: pd.DataFrame, look: Look, tasks: list[str]) -> Drawing | None:
    emp = emp[emp["n_iid"] > 0]
    tasks = [t for t in tasks if t in set(emp["task"])]
    if not tasks:
        return None
    families = look.families(emp["optimizer"].unique())
    ncols = len(families)
    fig, axes = new_figure(len(tasks), ncols, panel_h=1.35, left=0.75, top=0.5,
                           bottom=0.75 + 0.2 * legend_rows(look, emp["optimizer"].unique()), hspace=0.55, wspace=0.12)
    axes = axes.reshape(len(tasks), ncols)
    for r, task in enumerate(tasks):
        sub = emp[emp["task"] == task]
        lo, hi = sub["band_low"].min(), sub["band_high"].max()
        pad = 0.04 * (hi - lo) if hi > lo else 1.0
        for c, (fam, members) in enumerate(families.items()):
            ax = axes[r, c]
            for opt in members:
                g = sub[sub["optimizer"] == opt]
                if g.empty:
                    continue
                st = look.style(opt)
                ax.fill_between(g["k"], g["band_low"], g["band_high"], color=st["color"], alpha=0.15, linewidth=0)
                ax.plot(g["k"], g["expected_max"], markevery=max(1, len(g) // 4), markersize=4, **st)
            ax.set_ylim(lo - pad, hi + pad)
            if sub["k"].max() > 20:
                ax.set_xscale("log")
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
            label_task_family_panel(ax, r, c, len(tasks), fam, task, "i.i.d. trials k")
    optimizer_legend(fig, look, emp["optimizer"].unique())
    fig.suptitle("Expected best validation score after k random trials (band: 95% bootstrap)", x=0.01, ha="left")
    caption = ("Rows are tasks, columns optimizer families; each line is one optimizer's expected best validation score "
               "after k i.i.d. random trials. Look at the left end (k = 1: a single random configuration, i.e. how much "
               "an optimizer needs tuning) and at where each curve flattens. Curves in one row share the y axis.")
    return Drawing("robustness_expected_max", fig, "Expected max vs trials", caption)


def _scale(study, opt: str, hp: str, values: pd.Series) -> tuple[str, tuple[float, float] | None]:
    """How the hp was searched: ('log' | 'log0' (log, exact zeros drawn apart) | 'linear' | 'category',
    the searched (low, high) where search_spaces knows it, else None)."""
    try:
        dim = search_spaces.space(opt, (study.spec.get("search_space") or {}).get(opt)).get(hp)
    except (ValueError, KeyError, TypeError):
        dim = None
    if isinstance(dim, search_spaces.LogOrZero):
        return "log0", (dim.low, dim.high)
    if isinstance(dim, (search_spaces.Float, search_spaces.Int)):
        return ("log" if dim.log else "linear"), (dim.low, dim.high)
    if isinstance(dim, search_spaces.Categorical):
        return "category", None
    num = pd.to_numeric(values, errors="coerce")
    if num.isna().any() or values.nunique() <= 8:
        return "category", None
    pos = num[num > 0]
    if len(pos) and pos.max() / pos.min() > 20:
        return ("log0" if (num == 0).any() else "log"), None
    return "linear", None


def _log_ticks(ax, lo: float, hi: float, zero_at: float | None = None) -> None:
    """At most 4 decade ticks inside [lo, hi] (plus '0' at zero_at), labelled 1e-k."""
    decades = np.arange(np.ceil(np.log10(lo) - 1e-9), np.floor(np.log10(hi) + 1e-9) + 1)
    decades = decades[:: max(1, int(np.ceil(len(decades) / 4)))]
    ticks = ([zero_at] if zero_at else []) + list(10.0 ** decades)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels((["0"] if zero_at else []) + [f"1e{int(d)}" for d in decades])


def _log_range(x: np.ndarray, bounds) -> tuple[float, float]:
    """The searched range, widened to any positive value outside it (never hide a point)."""
    pos = x[np.isfinite(x) & (x > 0)]
    lo, hi = bounds or ((pos.min(), pos.max()) if pos.size else (1e-3, 1e-1))
    if pos.size:
        lo, hi = min(lo, pos.min()), max(hi, pos.max())
    return lo, (hi if hi > lo else lo * 10)


def _zero_apart(ax, x: np.ndarray, bounds) -> np.ndarray:
    """Positions on a log axis, exact zeros at a spot left of the searched range behind a dashed line."""
    lo, hi = _log_range(x, bounds)
    span = max(np.log10(hi / lo), 1.0)
    zero_at = lo / 10 ** (0.3 * span)
    ax.set_xscale("log")
    ax.axvline(lo / 10 ** (0.15 * span), color="#999999", linestyle=(0, (2, 2)), linewidth=0.8)
    _log_ticks(ax, lo, hi, zero_at)
    ax.set_xlim(zero_at / 10 ** (0.08 * span), hi * 10 ** (0.08 * span))
    return np.where(x > 0, x, zero_at)


def _panel(ax, rows: pd.DataFrame, hp: str, scale: str, bounds, colour: str, marker: str, rng) -> None:
    if len(rows) > MAX_POINTS:
        rows = rows.sample(MAX_POINTS, random_state=0)
    div = (rows["status"] == "diverged").to_numpy()
    y = rows["value"].to_numpy(float)
    if scale == "category":
        labels = sorted(rows[hp].astype(str).unique(), key=lambda s: (len(s), s))
        pos = {s: i for i, s in enumerate(labels)}
        x = rows[hp].astype(str).map(pos).to_numpy(float) + rng.uniform(-0.18, 0.18, len(rows))
        for s, i in pos.items():
            v = y[(rows[hp].astype(str) == s).to_numpy() & ~div]
            if v.size:
                ax.plot([i - 0.3, i + 0.3], [np.median(v)] * 2, color="black", linewidth=1.2, zorder=4)
        ax.set_xticks(range(len(labels)), labels, rotation=45 if max(map(len, labels)) > 3 else 0)
        ax.set_xlim(-0.6, len(labels) - 0.4)
    else:
        x = pd.to_numeric(rows[hp], errors="coerce").to_numpy(float)
        if scale == "log0":
            x = _zero_apart(ax, x, bounds)
        elif scale == "log":
            ax.set_xscale("log")
            lo, hi = _log_range(x, bounds)
            _log_ticks(ax, lo, hi)
            span = np.log10(hi / lo)
            ax.set_xlim(lo / 10 ** (0.05 * span), hi * 10 ** (0.05 * span))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            if bounds:
                lo, hi = min(bounds[0], np.nanmin(x)), max(bounds[1], np.nanmax(x))
                pad = 0.04 * (hi - lo)
                ax.set_xlim(lo - pad, hi + pad)
    ax.scatter(x[~div], y[~div], s=9, alpha=0.6, color=colour, marker=marker, linewidths=0)
    ax.scatter(x[div], y[div], s=14, marker="x", color=colour, linewidths=0.9)


def sensitivity_figures(study, look: Look, task: str) -> list[Drawing]:
    """Per task: one figure per shared hyperparameter (lr, weight decay, batch size) with one panel
    per optimizer, and one figure of every optimizer-specific searched hyperparameter."""
    rows = study.trials
    iid = rows[(rows["task"] == task) & (rows["phase"] == "tune") & rows["iid"].astype(bool)]
    iid = iid[np.isfinite(iid["value"].to_numpy(float))]
    if iid.empty:
        return []
    rng = np.random.default_rng(0)
    by_opt = {o: g for o, g in iid.groupby("optimizer", sort=False)}
    opts = look.sort(by_opt)
    panels: dict[str, list[tuple[str, str]]] = {hp: [] for hp in SHARED}
    panels["specific"] = []
    for o in opts:
        for col in (c for c in by_opt[o].columns if c.startswith("hp_")):
            hp = col[3:]
            vals = by_opt[o][col].dropna()
            if hp in NOT_SHOWN or vals.nunique() < 2:
                continue
            panels[hp if hp in SHARED else "specific"].append((o, hp))
    out = []
    ylo, yhi = iid["value"].min(), iid["value"].max()
    pad = 0.05 * (yhi - ylo) if yhi > ylo else 1.0
    for name, items in panels.items():
        if not items:
            continue
        ncols = min(5, len(items))
        fig, axes = grid(len(items), ncols, panel_h=1.25, left=0.6, top=0.55, hspace=0.75, wspace=0.1, bottom=0.5)
        for i, (ax, (o, hp)) in enumerate(zip(axes, items)):
            g = by_opt[o].dropna(subset=[f"hp_{hp}"])
            st = look.style(o)
            scale, bounds = _scale(study, o, hp, g[f"hp_{hp}"])
            _panel(ax, g.rename(columns={f"hp_{hp}": hp}), hp, scale, bounds, st["color"], st["marker"], rng)
            ax.set_title(o if name != "specific" else f"{o}: {hp}", loc="left", color=st["color"], fontsize=FONT)
            ax.set_ylim(ylo - pad, yhi + pad)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=3))  # few ticks: tick objects are most of the drawing time
            if i % ncols:
                ax.tick_params(labelleft=False)
        hide_unused(axes, len(items))
        label = name.replace("_", " ")
        fig.supxlabel(label if name != "specific" else "optimizer-specific hyperparameters", y=0.01, fontsize=FONT)
        fig.supylabel("validation score", x=0.005, fontsize=FONT)
        fig.suptitle(f"{task}: score vs {label} (i.i.d. trials only)", x=0.01, ha="left")
        n_div = int((iid["status"] == "diverged").sum())
        scale = {"lr": "log scale, as searched", "weight_decay": "log scale over the searched range; exact 0 drawn "
                 "apart, left of the dashed line", "batch_size": "each searched value; bar = median"}.get(name, "each on its searched scale")
        caption = (f"{task}: validation score of the i.i.d. random tune trials against {label} ({scale}); one panel per "
                   f"optimizer, crosses = diverged trials at chance ({n_div} in all). Look at the shape: a flat, high "
                   "cloud means the optimizer does not care about this setting; a narrow peak means it must be tuned.")
        out.append(Drawing(f"sensitivity_{task}_{name}", fig, f"{task}: score vs {label}", caption))
    return out
