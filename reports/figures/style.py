"""The look every report figure shares: one colour and marker per optimizer, fonts, sizes, saving.

Colours are fixed per optimizer name (not per study), grouped by family so that related optimizers
share a hue and the families stay apart: adaptive (blues), sign (reds / oranges), normalized
(greens), SGD-based and hybrid (purple, brown, pink, grey). Within a family the shades differ in
lightness and every optimizer has its own marker, so no two of the 14 look alike even in grey.
An optimizer outside the table gets a colour from the remaining tab20 shades and the family "other".

Figures are drawn at DPI >= 150 on a fixed width (WIDTH inches, about the report's column at 100%
zoom), with fixed margins instead of a layout engine (a layout engine draws every figure twice,
the largest cost of a big report) and room measured from the longest tick label, so labels are
never clipped. Each figure is saved as PNG (embedded in the HTML) and PDF (for papers).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

DPI = 150
WIDTH = 7.2  # inches: 1080 px at DPI, the width of the report's text column
FONT = 7.5
STYLE = {**sns.axes_style("whitegrid"), "font.size": FONT, "axes.titlesize": FONT + 0.5, "axes.labelsize": FONT,
         "xtick.labelsize": FONT - 0.5, "ytick.labelsize": FONT - 0.5, "legend.fontsize": FONT - 0.5,
         "figure.titlesize": FONT + 1.5, "axes.titley": 1.01, "xtick.minor.visible": False, "ytick.minor.visible": False,
         "lines.linewidth": 1.4, "lines.markersize": 5}
PNG = {"compress_level": 1}  # zlib at its fastest: PNG encoding is a tenth of a figure's time

# family -> {optimizer: (colour, marker)}; the order is the order optimizers are listed in
FAMILIES: dict[str, dict[str, tuple[str, str]]] = {
    "adaptive": {"adam": ("#08306b", "o"), "adamw": ("#2171b5", "s"), "rmsprop": ("#17becf", "^"),
                 "muadam_paper": ("#6baed6", "D")},
    "sign": {"lion": ("#d62728", "v"), "thermolion": ("#ff7f0e", "P")},
    "normalized": {"normgd": ("#2ca02c", "X"), "sepnorm": ("#00441b", "*"), "ortsepnorm": ("#74c476", "h"),
                   "muon": ("#bcbd22", "p")},
    "hybrid": {"sgd": ("#525252", "<"), "swats": ("#9467bd", ">"), "lookahead": ("#8c564b", "d"),
               "lookahead_paper": ("#dbdb8d", "H"), "swa": ("#e377c2", "8")},
}
FAMILY_LABELS = {"adaptive": "adaptive", "sign": "sign", "normalized": "normalized", "hybrid": "SGD & hybrid",
                 "other": "other"}
KNOWN = {opt: (fam, colour, marker) for fam, members in FAMILIES.items() for opt, (colour, marker) in members.items()}
_SPARE_COLOURS = [c for c in sns.color_palette("tab20").as_hex() if c not in {v[1] for v in KNOWN.values()}]
_SPARE_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


class Look:
    """Colour, marker and family of each optimizer of one report (fixed for known names)."""

    def __init__(self, optimizers):
        names = list(dict.fromkeys(optimizers))
        extra = [o for o in names if o not in KNOWN]
        self.family = {o: KNOWN[o][0] for o in names if o in KNOWN}
        self.color = {o: KNOWN[o][1] for o in names if o in KNOWN}
        self.marker = {o: KNOWN[o][2] for o in names if o in KNOWN}
        for i, o in enumerate(extra):
            self.family[o] = "other"
            self.color[o] = _SPARE_COLOURS[i % len(_SPARE_COLOURS)]
            self.marker[o] = _SPARE_MARKERS[i % len(_SPARE_MARKERS)]
        self.optimizers = [o for o in KNOWN if o in self.color] + extra

    def sort(self, optimizers) -> list[str]:
        """The given optimizers in family order."""
        present = set(optimizers)
        return [o for o in self.optimizers if o in present]

    def families(self, optimizers=None) -> dict[str, list[str]]:
        """{family: its optimizers (of the given ones)} in family order, empty families left out."""
        opts = self.sort(self.optimizers if optimizers is None else optimizers)
        out: dict[str, list[str]] = {}
        for o in opts:
            out.setdefault(self.family[o], []).append(o)
        return out

    def style(self, opt: str) -> dict:
        """Keyword arguments for ax.plot / ax.scatter: colour and marker."""
        return {"color": self.color.get(opt, "#333333"), "marker": self.marker.get(opt, "o")}


def text_width(labels, size: float = FONT - 0.5) -> float:
    """Approximate width in inches of the longest label (0.6 em per character)."""
    longest = max((len(str(s)) for s in labels), default=0)
    return longest * 0.6 * size / 72


def new_figure(nrows: int = 1, ncols: int = 1, panel_h: float = 2.2, width: float = WIDTH, left: float = 0.65,
               right: float = 0.15, top: float = 0.45, bottom: float = 0.55, wspace: float = 0.3,
               hspace: float = 0.6, sharex=False, sharey=False) -> tuple[Figure, np.ndarray]:
    """A figure of nrows x ncols panels with margins in inches (fixed; no layout engine).

    `left` must hold the y tick labels and label, `right` an outside legend, `top` the titles
    (and a suptitle), `bottom` the x tick labels and label: callers size them from their labels.
    """
    height = panel_h * nrows + top + bottom + (nrows - 1) * hspace * panel_h / (1 + hspace)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace, hspace=hspace)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey)
    return fig, np.atleast_1d(axes).ravel()


def hide_unused(axes, used: int) -> None:
    for ax in axes[used:]:
        ax.set_axis_off()


def legend_outside(fig: Figure, handles, labels, ncol: int = 1, y: float = 0.0) -> None:
    """A legend below the panels (the figure's bottom margin must hold it)."""
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, y), ncol=ncol, frameon=False,
               handlelength=1.6, columnspacing=1.2)


def save(fig: Figure, stem: Path) -> tuple[Path, Path]:
    """Write `stem`.png (DPI) and `stem`.pdf; returns both paths."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_minor_locator(NullLocator())
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=DPI, pil_kwargs=PNG)
    fig.savefig(pdf)
    return png, pdf
