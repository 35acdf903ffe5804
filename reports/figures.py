"""Report figures (seaborn / matplotlib, Agg canvas, no pyplot state), one PNG each.

Per task: expected max vs trials, score distributions, score vs lr, lr x wd, batch size,
ThermoLion's c, SepNorm's group definition, seed spread of the confirmed runs, and optimizer
diagnostics over training (history keys `diag/...`). Across tasks: mean rank, probability of
improvement, performance profile. A figure whose data the study lacks is simply not drawn.
Scatter plots show at most MAX_POINTS points (a fixed-seed sample) so large studies stay fast.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

MAX_POINTS = 1500
DPI = 80
# a fixed title height and no minor ticks skip matplotlib's costliest layout work (tick bounding boxes)
STYLE = {**sns.axes_style("whitegrid"), "font.size": 9, "axes.titlesize": 10, "legend.fontsize": 7, "axes.titley": 1.01,
         "xtick.minor.visible": False, "ytick.minor.visible": False}
PNG = {"compress_level": 3}


def _fig(ncols: int = 1, nrows: int = 1, w: float = 5.5, h: float = 3.6, share: bool = False,
         legend: bool = False, suptitle: bool = False) -> tuple[Figure, np.ndarray]:
    """A figure with fixed margins (a layout engine would draw every figure twice, the main cost of
    a big report); `legend` reserves room on the right for an outside legend, `suptitle` on top."""
    extra = 1.5 if legend else 0.0
    width, height = w * ncols + extra, h * nrows + (0.3 if suptitle else 0.0)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.6 / width + 0.05, right=1 - (extra + 0.15) / width, bottom=0.8 / height + 0.04,
                        top=1 - (0.45 + (0.3 if suptitle else 0.0)) / height, wspace=0.35, hspace=0.55)
    return fig, np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharex=share, sharey=share)).ravel()


def _legend(ax, **kw) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def _cap(df: pd.DataFrame) -> pd.DataFrame:
    return df.sample(MAX_POINTS, random_state=0) if len(df) > MAX_POINTS else df


def palette(optimizers) -> dict[str, tuple]:
    """One fixed colour per optimizer, shared by every figure."""
    opts = list(dict.fromkeys(optimizers))
    return dict(zip(opts, sns.color_palette("tab10" if len(opts) <= 10 else "husl", len(opts))))


def _numeric(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col, errors="coerce")


def emp_figure(task: str, emp: pd.DataFrame, colors) -> Figure | None:
    emp = emp[emp["task"] == task]
    if emp.empty:
        return None
    fig, (ax,) = _fig(legend=True)
    for opt, grp in emp.groupby("optimizer", sort=False):
        ax.plot(grp["k"], grp["expected_max"], color=colors[opt], label=f"{opt} (R={len(grp)})")
        ax.fill_between(grp["k"], grp["band_low"], grp["band_high"], color=colors[opt], alpha=0.15, linewidth=0)
    ax.set(xscale="log" if emp["k"].max() > 20 else "linear", xlabel="trials k (i.i.d.)", ylabel="expected best validation score",
           title=f"{task}: expected max after k trials (95% bootstrap band)")
    if emp["k"].max() <= 20:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k counts trials
    _legend(ax)
    return fig


def dist_figure(task: str, tune: pd.DataFrame, colors) -> Figure | None:
    tune = tune[np.isfinite(tune["value"].to_numpy(float))]
    if tune.empty:
        return None
    fig, (ax,) = _fig()
    opts = list(dict.fromkeys(tune["optimizer"]))
    data = [tune.loc[tune["optimizer"] == o, "value"].to_numpy(float) for o in opts]
    ax.boxplot(data, tick_labels=opts, showfliers=False, widths=0.6)
    rng = np.random.default_rng(0)
    for i, (o, d) in enumerate(zip(opts, data), start=1):
        d = d if d.size <= MAX_POINTS // max(len(opts), 1) else rng.choice(d, MAX_POINTS // len(opts), replace=False)
        ax.scatter(i + rng.uniform(-0.2, 0.2, d.size), d, s=6, alpha=0.5, color=colors[o])
    ax.set(ylabel="validation score (diverged = chance)", title=f"{task}: tune scores per optimizer")
    ax.tick_params(axis="x", rotation=30)
    return fig


def lr_figure(task: str, tune: pd.DataFrame, colors) -> Figure | None:
    if "hp_lr" not in tune or tune["hp_lr"].notna().sum() == 0:
        return None
    fig, (ax,) = _fig(legend=True)
    pts = _cap(tune.assign(lr=_numeric(tune["hp_lr"])).dropna(subset=["lr", "value"]))
    for opt, grp in pts.groupby("optimizer", sort=False):
        div = grp["status"] == "diverged"
        ax.scatter(grp.loc[~div, "lr"], grp.loc[~div, "value"], s=8, alpha=0.6, color=colors[opt], label=opt)
        ax.scatter(grp.loc[div, "lr"], grp.loc[div, "value"], s=14, marker="x", color=colors[opt])
    ax.set(xscale="log", xlabel="learning rate", ylabel="validation score", title=f"{task}: score vs lr (x = diverged)")
    _legend(ax)
    return fig


def lr_wd_figure(task: str, tune: pd.DataFrame, colors) -> Figure | None:
    if "hp_lr" not in tune or "hp_weight_decay" not in tune:
        return None
    pts = tune.assign(lr=_numeric(tune["hp_lr"]), wd=_numeric(tune["hp_weight_decay"])).dropna(subset=["lr", "wd", "value"])
    opts = [o for o, g in pts.groupby("optimizer", sort=False) if g["wd"].nunique() > 1]
    if not opts:
        return None
    ncols = min(4, len(opts))
    fig, axes = _fig(ncols, -(-len(opts) // ncols), w=3.4, h=3.0, share=True, suptitle=True)
    vmin, vmax = pts["value"].min(), pts["value"].max()
    for ax, opt in zip(axes, opts):
        grp = _cap(pts[pts["optimizer"] == opt])
        sc = ax.scatter(grp["lr"], grp["wd"], c=grp["value"], cmap="viridis", vmin=vmin, vmax=vmax, s=10)
        ax.set(xscale="log", title=opt, xlabel="lr", ylabel="weight decay")
        ax.label_outer()
    for ax in axes[len(opts):]:
        ax.set_axis_off()
    fig.colorbar(sc, ax=list(axes[: len(opts)]), label="validation score")
    fig.suptitle(f"{task}: lr x weight decay")
    return fig


def _category_figure(task: str, tune: pd.DataFrame, column: str, title: str, colors) -> Figure | None:
    if column not in tune:
        return None
    pts = tune.dropna(subset=[column, "value"])
    if pts[column].nunique() < 2:
        return None
    fig, (ax,) = _fig(legend=True)
    order = sorted(pts[column].unique(), key=lambda v: (str(type(v)), v))
    opts = list(dict.fromkeys(pts["optimizer"]))
    width = 0.8 / len(opts)
    for j, opt in enumerate(opts):
        sub = pts[pts["optimizer"] == opt]
        data = [sub.loc[sub[column] == v, "value"].to_numpy(float) for v in order]
        keep = [i for i, d in enumerate(data) if d.size]
        pos = np.arange(len(order))[keep] + (j - (len(opts) - 1) / 2) * width
        box = ax.boxplot([data[i] for i in keep], positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False,
                         manage_ticks=False, medianprops={"color": "black"})
        for patch in box["boxes"]:
            patch.set(facecolor=colors[opt], alpha=0.8)
        ax.plot([], [], "s", color=colors[opt], label=opt)
    ax.set_xticks(range(len(order)), [str(v) for v in order])
    ax.set(xlabel=column[3:], ylabel="validation score", title=f"{task}: {title}")
    _legend(ax)
    return fig


def c_figure(task: str, tune: pd.DataFrame, colors) -> Figure | None:
    if "hp_c" not in tune:
        return None
    pts = _cap(tune.assign(c=_numeric(tune["hp_c"])).dropna(subset=["c", "value"]))
    if pts["c"].nunique() < 2:
        return None
    fig, (ax,) = _fig()
    for opt, grp in pts.groupby("optimizer", sort=False):
        ax.scatter(grp["c"], grp["value"], s=8, alpha=0.6, color=colors[opt], label=opt)
    ax.set(xlabel="ThermoLion c", ylabel="validation score", title=f"{task}: effect of ThermoLion's c")
    return fig


def seeds_figure(task: str, confirm: pd.DataFrame, summary: pd.DataFrame, colors) -> Figure | None:
    confirm = confirm[np.isfinite(confirm["test_value"].to_numpy(float))]
    if confirm.empty:
        return None
    fig, (ax,) = _fig()
    opts = list(summary.loc[(summary["task"] == task) & (summary["test_n"] > 0)].sort_values("test_mean", ascending=False)["optimizer"])
    rng = np.random.default_rng(0)
    for i, opt in enumerate(opts):
        vals = confirm.loc[confirm["optimizer"] == opt, "test_value"].to_numpy(float)
        row = summary[(summary["task"] == task) & (summary["optimizer"] == opt)].iloc[0]
        ax.scatter(i + rng.uniform(-0.12, 0.12, vals.size), vals, s=14, color=colors[opt], alpha=0.7)
        if np.isfinite(row["test_ci_low"]):
            ax.errorbar(i + 0.3, row["test_mean"], yerr=[[row["test_mean"] - row["test_ci_low"]], [row["test_ci_high"] - row["test_mean"]]],
                        fmt="o", color="black", capsize=3)
    ax.set_xticks(range(len(opts)), opts, rotation=30)
    ax.set(ylabel="test score (confirm runs)", title=f"{task}: seed spread of the tuned configs (mean, 95% CI)")
    return fig


SEPNORMS = ("sepnorm", "ortsepnorm")
MAX_SERIES = 4  # more groups than this per optimizer and family: draw their median instead
FAMILY_TITLES = {
    "gate_mean": "ThermoLion gate (solid share)",
    "weight_norm": "group weight norm",
    "momentum_tracing": "momentum-tracing count",
}


def _theorem_42(trials: pd.DataFrame, sizes: pd.DataFrame) -> pd.Series:
    """SepNorm Thm 4.2 limit of a group's weight norm, lr*sqrt(|l|)/sqrt(2*lr*wd - lr^2*wd^2),
    median over runs, per (optimizer, group); `sizes` holds the `group_size/<g>` rows."""
    hp = trials.set_index("trial_id")[["hp_lr", "hp_weight_decay"]].apply(pd.to_numeric, errors="coerce")
    s = sizes.join(hp, on="trial_id")
    lr, wd = s["hp_lr"], s["hp_weight_decay"]
    denom = (2 * lr * wd - (lr * wd) ** 2).where(lambda d: d > 0)
    return s.assign(pred=lr * np.sqrt(s["value"]) / np.sqrt(denom)).groupby(["optimizer", "series"], sort=False)["pred"].median().dropna()


def _diag_panel(ax, fam: pd.DataFrame, colors) -> None:
    """One family: per optimizer, each series (group) as a line, or their median if there are many."""
    for opt, grp in fam.groupby("optimizer", sort=False):
        n_series = grp["series"].nunique()
        if n_series > MAX_SERIES:
            line = grp.groupby("epoch")["value"].median()
            ax.plot(line.index, line.to_numpy(), color=colors.get(opt), label=f"{opt} (median of {n_series} groups)")
            continue
        for j, (series, line) in enumerate(grp.groupby("series", sort=False)):
            ax.plot(line["epoch"], line["value"], color=colors.get(opt), linestyle=("-", "--", ":", "-.")[j % 4],
                    label=f"{opt} {series}".strip())


def diag_figure(task: str, history: pd.DataFrame, trials: pd.DataFrame, colors) -> Figure | None:
    """Optimizer diagnostics over training: every `diag/<family>[/<group>]` history key, median over
    runs per epoch (the confirm runs where an optimizer has them), one panel per family.

    `weight_norm` shows the SepNorm optimizers when the study has them; where the history also
    records `group_size/<g>`, the dotted lines are Theorem 4.2's limit of each group's norm (which
    the theorem proves without momentum on scale-invariant groups).
    """
    diag = history[(history["task"] == task) & history["key"].str.startswith("diag/")]
    if diag.empty:
        return None
    has_confirm = diag.groupby("optimizer")["phase"].transform(lambda p: (p == "confirm").any())
    diag = diag[(diag["phase"] == "confirm") | ~has_confirm]
    parts = diag["key"].str.extract(r"^diag/([^/]+)(?:/(.*))?$")
    diag = diag.assign(family=parts[0], series=parts[1].fillna(""))
    sizes = diag[diag["family"] == "group_size"]
    diag = diag[diag["family"] != "group_size"]
    families = list(dict.fromkeys(diag["family"]))
    ncols = min(3, len(families))
    fig, axes = _fig(ncols, -(-len(families) // ncols), w=4.2, h=3.0, suptitle=True)
    med = diag.groupby(["family", "optimizer", "series", "epoch"], sort=False)["value"].median().reset_index()
    for ax, name in zip(axes, families):
        fam = med[med["family"] == name]
        title = FAMILY_TITLES.get(name, name)
        if name == "weight_norm" and fam["optimizer"].isin(SEPNORMS).any():
            fam = fam[fam["optimizer"].isin(SEPNORMS)]
            if len(sizes) and {"hp_lr", "hp_weight_decay"} <= set(trials.columns):
                for (opt, _series), value in _theorem_42(trials, sizes[sizes["optimizer"].isin(SEPNORMS)]).items():
                    ax.axhline(value, color=colors.get(opt), linestyle=":", linewidth=1)
                title += " (dotted: Thm 4.2)"
            ax.set_yscale("log")
        _diag_panel(ax, fam, colors)
        ax.set(title=title, xlabel="epoch")
        ax.legend(loc="upper left", fontsize=6)
    for ax in axes[len(families):]:
        ax.set_axis_off()
    fig.suptitle(f"{task}: optimizer diagnostics (median over runs)")
    return fig


def rank_figure(ranks: pd.DataFrame, colors) -> Figure | None:
    if ranks.empty:
        return None
    fig, (ax,) = _fig(h=0.4 * len(ranks) + 1.2)
    y = np.arange(len(ranks))
    ax.errorbar(ranks["mean_rank"], y, xerr=[ranks["mean_rank"] - ranks["ci_low"], ranks["ci_high"] - ranks["mean_rank"]],
                fmt="none", ecolor="grey", capsize=3)
    ax.scatter(ranks["mean_rank"], y, c=[colors[o] for o in ranks["optimizer"]], zorder=3)
    ax.set_yticks(y, ranks["optimizer"])
    ax.invert_yaxis()
    ax.set(xlabel="mean rank over tasks (1 = best), 95% bootstrap CI", title="Mean rank of the tuned optimizers")
    return fig


def poi_figure(poi: pd.DataFrame) -> Figure | None:
    if poi.shape[0] < 2:
        return None
    fig, (ax,) = _fig(w=0.55 * len(poi) + 2.5, h=0.5 * len(poi) + 1.5)
    sns.heatmap(poi.astype(float), annot=True, fmt=".2f", vmin=0, vmax=1, cmap="RdBu_r", center=0.5, ax=ax,
                cbar_kws={"label": "P(row beats column)"}, annot_kws={"fontsize": 7})
    ax.set(xlabel="", ylabel="", title="Probability of improvement (confirm runs, averaged over tasks)")
    return fig


def profile_figure(profile: pd.DataFrame, colors) -> Figure | None:
    if profile.empty:
        return None
    fig, (ax,) = _fig(legend=True)
    for opt, grp in profile.groupby("optimizer", sort=False):
        ax.step(grp["tau"], grp["share"], where="post", color=colors[opt], label=opt)
    ax.set(xlabel="tau: normalized score below the task's best (1 = best, 0 = chance)", ylabel="share of tasks within tau", ylim=(-0.02, 1.02),
           title="Performance profile (confirm test means)")
    _legend(ax)
    return fig


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def save(fig: Figure, path: Path) -> Path:
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_minor_locator(NullLocator())
    fig.savefig(path, dpi=DPI, pil_kwargs=PNG)
    return path


def task_figures(task: str, study, summary: pd.DataFrame, emp: pd.DataFrame, colors) -> dict[str, Figure]:
    """{figure name: Figure} for one task (only those the data allows)."""
    rows = study.trials[study.trials["task"] == task]
    tune, confirm = rows[rows["phase"] == "tune"], rows[rows["phase"] == "confirm"]
    sep = tune[tune["optimizer"].isin(["sepnorm", "ortsepnorm"])]
    figs = {
        "emp": emp_figure(task, emp, colors),
        "dist": dist_figure(task, tune, colors),
        "lr": lr_figure(task, tune, colors),
        "lr_wd": lr_wd_figure(task, tune, colors),
        "batch_size": _category_figure(task, tune, "hp_batch_size", "effect of batch size", colors),
        "thermolion_c": c_figure(task, tune[tune["optimizer"] == "thermolion"], colors),
        "sepnorm_groups": _category_figure(task, sep, "hp_groups", "SepNorm group definitions", colors),
        "seeds": seeds_figure(task, confirm, summary, colors),
        "diagnostics": diag_figure(task, study.history, study.trials, colors),
    }
    return {k: v for k, v in figs.items() if v is not None}


def draw_all(study, summary, emp, ranks, poi, profile, outdir: Path) -> dict[str, dict[str, Path]]:
    """Write every figure under outdir; returns {section: {figure name: png path}}, section = task or 'overall'."""
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.png"):  # a regenerated report must not keep figures it no longer draws
        old.unlink()
    colors = palette(list(study.optimizers))
    out: dict[str, dict[str, Path]] = {}
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="seaborn")  # seaborn 0.13 vs mpl 3.11
        overall = {"rank": rank_figure(ranks, colors), "poi": poi_figure(poi), "profile": profile_figure(profile, colors)}
        out["overall"] = {k: save(f, outdir / f"overall_{k}.png") for k, f in overall.items() if f is not None}
        for task in study.tasks:
            out[task] = {k: save(f, outdir / f"{_safe(task)}_{k}.png") for k, f in task_figures(task, study, summary, emp, colors).items()}
    return out
