"""Small drawing pieces several figure modules share: a drawn figure's record, interval dot rows,
per-optimizer legends and small-multiple grids."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reports.figures.style import FONT, WIDTH, Look, legend_outside, new_figure, text_width


@dataclass
class Drawing:
    """A figure before saving: file stem, the Figure, a short title and a caption saying what to look at."""

    key: str
    figure: Figure
    title: str
    caption: str


@dataclass
class Drawn:
    """A saved figure: its PNG (embedded in the HTML, linked from markdown) and PDF, title, caption."""

    key: str
    png: Path
    pdf: Path
    title: str
    caption: str


def interval_rows(ax, labels, values, lows, highs, look: Look, optimizers, offset: float = 0.0,
                  filled: bool = True, size: float = 30) -> None:
    """One row per label: a marker at the value (the optimizer's colour and marker) and its CI line."""
    y = np.arange(len(labels)) + offset
    for yi, opt, v, lo, hi in zip(y, optimizers, values, lows, highs):
        if not np.isfinite(v):
            continue
        st = look.style(opt)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [yi, yi], color=st["color"], linewidth=1.6, solid_capstyle="butt", zorder=2)
        ax.scatter([v], [yi], s=size, marker=st["marker"], zorder=3, edgecolors=st["color"],
                   facecolors=st["color"] if filled else "white", linewidths=1.2)


def optimizer_handles(look: Look, optimizers) -> tuple[list, list[str]]:
    """Legend handles (colour + marker) for the given optimizers, in family order."""
    opts = look.sort(optimizers)
    handles = [Line2D([], [], linestyle="-", linewidth=1.4, markersize=5, **look.style(o)) for o in opts]
    return handles, opts


def _legend_columns(labels: list[str]) -> int:
    """As many legend columns as fit the figure's width."""
    return max(1, min(len(labels), int(WIDTH // (text_width(labels, FONT - 0.5) + 0.45))))


def optimizer_legend(fig: Figure, look: Look, optimizers, y: float = 0.0) -> None:
    handles, labels = optimizer_handles(look, optimizers)
    legend_outside(fig, handles, labels, ncol=_legend_columns(labels), y=y)


def legend_rows(look: Look, optimizers) -> int:
    """Lines the optimizer legend below a figure takes (to size its bottom margin)."""
    _, labels = optimizer_handles(look, optimizers)
    return -(-len(labels) // _legend_columns(labels)) if labels else 0


def grid(n_panels: int, ncols: int, panel_h: float, legend_lines: int = 0, **kw) -> tuple[Figure, np.ndarray]:
    """Small multiples: n_panels in rows of ncols, with room for a legend of legend_lines below."""
    nrows = max(1, -(-n_panels // ncols))
    bottom = kw.pop("bottom", 0.5) + 0.2 * legend_lines
    return new_figure(nrows, ncols, panel_h=panel_h, bottom=bottom, **kw)


def label_task_family_panel(ax, row: int, col: int, n_rows: int, family: str, task: str, xlabel: str) -> None:
    """Labels of one panel in a tasks x families grid: the family on the top row, the task on the
    first column (other columns share its y ticks), the x label on the bottom row."""
    if row == 0:
        ax.set_title(family, loc="left")
    if col == 0:
        ax.set_ylabel(task)
    else:
        ax.tick_params(labelleft=False)
    if row == n_rows - 1:
        ax.set_xlabel(xlabel)
