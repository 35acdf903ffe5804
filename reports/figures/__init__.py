"""Report figures, one module per question (matplotlib Agg canvas, no pyplot state):

- claims: does each paper claim hold (paper's gap vs ours, paper protocol vs fair);
- across: who wins across tasks (aggregates with CIs, probability of improvement, profile);
- per_task: tuned test score per optimizer and task, next to default and paper hyperparameters;
- robustness: expected max vs trials, score vs each searched hyperparameter (i.i.d. trials);
- curves: learning curves of the confirm runs;
- cost: time per step and time to a target score;
- diagnostics: what the optimizers recorded during training.

Every figure uses the same colour and marker per optimizer (style.Look), is saved as PNG and PDF,
and comes with a caption saying what to look at. A figure whose data the study lacks is not drawn.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib

from reports.figures import across, claims, cost, curves, diagnostics, per_task, robustness
from reports.figures.panels import Drawing, Drawn
from reports.figures.style import STYLE, Look, save

__all__ = ["Drawn", "Look", "draw_all"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def drawings(study, numbers, look: Look) -> dict[str, list[Drawing]]:
    """{section: figures} before saving; per-task sections are `sensitivity/<task>`, `diagnostics/<task>`."""
    emp = robustness.emp_figure(numbers.emp, look, study.tasks)
    out = {
        "claims": claims.claim_figures(numbers.claims),
        "across": across.across_figures(numbers, look),
        "per_task": per_task.per_task_figures(numbers.summary, look, study.tasks),
        "expected_max": [emp] if emp else [],
        "curves": curves.curve_figures(study.history, look, study.tasks),
        "cost": cost.cost_figures(study, look),
    }
    for task in study.tasks:
        out[f"sensitivity/{task}"] = robustness.sensitivity_figures(study, look, task)
        diag = diagnostics.diagnostics_figure(task, study.history, study.trials, look)
        out[f"diagnostics/{task}"] = [diag] if diag else []
    return {k: v for k, v in out.items() if v}


def draw_all(study, numbers, outdir: Path) -> dict[str, list[Drawn]]:
    """Draw and save every figure under outdir (PNG + PDF); returns {section: [Drawn, ...]}."""
    outdir.mkdir(parents=True, exist_ok=True)
    for old in [*outdir.glob("*.png"), *outdir.glob("*.pdf")]:  # a regenerated report keeps no stale figure
        old.unlink()
    look = Look(study.optimizers)
    out: dict[str, list[Drawn]] = {}
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="seaborn")
        for section, items in drawings(study, numbers, look).items():
            out[section] = []
            for d in items:
                png, pdf = save(d.figure, outdir / _safe(d.key))
                out[section].append(Drawn(d.key, png, pdf, d.title, d.caption))
    return out
