"""Optimizer diagnostics over training, where the history records them (`diag/<family>[/<group>]`):
ThermoLion's gate (solid-phase share), SepNorm's group weight norms against Theorem 4.2's limit,
momentum-tracing counts, and any other family as is. Median over runs per epoch, the confirm runs
where an optimizer has them; one panel per diagnostic (split by optimizer family past 4 lines)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from reports.figures.panels import Drawing, grid
from reports.figures.style import FONT, Look, hide_unused

SEPNORMS = ("sepnorm", "ortsepnorm")
MAX_SERIES = 4  # more groups than this per optimizer and family: draw their median instead
MAX_LINES = 4  # more optimizers than this in one panel: one panel per optimizer family
TITLES = {"gate_mean": "ThermoLion gate (solid share)", "weight_norm": "group weight norm",
          "momentum_tracing": "momentum-tracing count"}


def theorem_42(trials: pd.DataFrame, sizes: pd.DataFrame) -> pd.Series:
    """SepNorm Thm 4.2 limit of a group's weight norm, lr*sqrt(|g|)/sqrt(2*lr*wd - (lr*wd)^2),
    median over runs, per (optimizer, group); `sizes` holds the `group_size/<g>` rows."""
    hp = trials.set_index("trial_id")[["hp_lr", "hp_weight_decay"]].apply(pd.to_numeric, errors="coerce")
    s = sizes.join(hp, on="trial_id")
    lr, wd = s["hp_lr"], s["hp_weight_decay"]
    denom = (2 * lr * wd - (lr * wd) ** 2).where(lambda d: d > 0)
    return s.assign(pred=lr * np.sqrt(s["value"]) / np.sqrt(denom)).groupby(["optimizer", "series"], sort=False)["pred"].median().dropna()


def _lines(ax, fam: pd.DataFrame, look: Look) -> None:
    for opt, grp in fam.groupby("optimizer", sort=False):
        st = look.style(opt)
        n_series = grp["series"].nunique()
        if n_series > MAX_SERIES:
            line = grp.groupby("epoch")["value"].median()
            ax.plot(line.index, line.to_numpy(), label=f"{opt} (median of {n_series})", markersize=4, **st)
            continue
        for j, (series, line) in enumerate(grp.groupby("series", sort=False)):
            ax.plot(line["epoch"], line["value"], linestyle=("-", "--", ":", "-.")[j % 4], markersize=4,
                    label=f"{opt} {series}".strip(), **st)


def _panels(med: pd.DataFrame, look: Look) -> list[tuple[str, str, pd.DataFrame]]:
    """(diagnostic family, panel title, rows) per panel."""
    out = []
    for name in dict.fromkeys(med["family"]):
        fam = med[med["family"] == name]
        if name == "weight_norm" and fam["optimizer"].isin(SEPNORMS).any():
            fam = fam[fam["optimizer"].isin(SEPNORMS)]
        title = TITLES.get(name, name)
        opts = fam["optimizer"].unique()
        if len(opts) <= MAX_LINES:
            out.append((name, title, fam))
            continue
        for group, members in look.families(opts).items():
            out.append((name, f"{title}: {group}", fam[fam["optimizer"].isin(members)]))
    return out


def diagnostics_figure(task: str, history: pd.DataFrame, trials: pd.DataFrame, look: Look) -> Drawing | None:
    diag = history[(history["task"] == task) & history["key"].str.startswith("diag/")]
    if diag.empty:
        return None
    has_confirm = diag.groupby("optimizer")["phase"].transform(lambda p: (p == "confirm").any())
    diag = diag[(diag["phase"] == "confirm") | ~has_confirm]
    parts = diag["key"].str.extract(r"^diag/([^/]+)(?:/(.*))?$")
    diag = diag.assign(family=parts[0], series=parts[1].fillna(""))
    sizes = diag[diag["family"] == "group_size"]
    diag = diag[diag["family"] != "group_size"]
    if diag.empty:
        return None
    med = diag.groupby(["family", "optimizer", "series", "epoch"], sort=False)["value"].median().reset_index()
    panels = _panels(med, look)
    fig, axes = grid(len(panels), min(3, len(panels)), panel_h=1.7, left=0.6, top=0.55, hspace=0.6, wspace=0.3)
    thm_drawn = False
    for ax, (name, title, fam) in zip(axes, panels):
        if name == "weight_norm" and fam["optimizer"].isin(SEPNORMS).any():
            if len(sizes) and {"hp_lr", "hp_weight_decay"} <= set(trials.columns):
                for (opt, _series), value in theorem_42(trials, sizes[sizes["optimizer"].isin(SEPNORMS)]).items():
                    ax.axhline(value, color=look.color.get(opt), linestyle=":", linewidth=1)
                    thm_drawn = True
                title += " (dotted: Thm 4.2)"
            ax.set_yscale("log")
        _lines(ax, fam, look)
        ax.set_title(title, loc="left", fontsize=FONT)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.legend(loc="best", fontsize=FONT - 1.5, handlelength=1.4)
    hide_unused(axes, len(panels))
    fig.suptitle(f"{task}: optimizer diagnostics (median over runs per epoch)", x=0.01, ha="left")
    thm = (" Dotted lines: SepNorm Theorem 4.2's limit of each group's norm, lr·sqrt(|g|)/sqrt(2·lr·wd − (lr·wd)²) "
           "(proved without momentum on scale-invariant groups); look at whether the norms settle near it.") if thm_drawn else ""
    caption = (f"{task}: diagnostics the optimizers recorded during training. The ThermoLion gate is the share of "
               "coordinates in the solid (sign) phase: look for a gate stuck at 0 or 1 (one phase never acts)." + thm)
    return Drawing(f"diagnostics_{task}", fig, f"{task}: diagnostics", caption)
