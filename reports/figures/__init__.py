"""Report figures, one module per question (matplotlib Agg canvas, no pyplot state):

- claims: does each paper claim hold (paper's gap vs ours, paper protocol vs fair);
- ladder: at which rung of the protocol ladder (one factor changed per rung) each claim's verdict changes;
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

import multiprocessing as mp
import os
import re
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib

from reports.figures import across, claims, cost, curves, diagnostics, ladder, per_task, robustness
from reports.figures.panels import Drawing, Drawn
from reports.figures.style import STYLE, Look, save

__all__ = ["Drawn", "Look", "draw_all"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _jobs(study) -> list[tuple[str, str | None]]:
    """The figure sections to draw, (kind, task), the costliest (per-task small multiples) first."""
    per_task = [(kind, t) for t in study.tasks for kind in ("sensitivity", "diagnostics")]
    return per_task + [(k, None) for k in ("expected_max", "curves", "claims", "ladder", "across", "per_task", "cost")]


def _draw_job(study, numbers, look: Look, kind: str, task: str | None) -> list[Drawing]:
    if kind == "sensitivity":
        return robustness.sensitivity_figures(study, look, task)
    if kind == "diagnostics":
        d = diagnostics.diagnostics_figure(task, study.history, study.trials, look)
        return [d] if d else []
    if kind == "expected_max":
        d = robustness.emp_figure(numbers.emp, look, study.tasks)
        return [d] if d else []
    return {"claims": lambda: claims.claim_figures(numbers.claims),
            "ladder": lambda: ladder.ladder_figures(numbers.ladder, numbers.rungs, _claim_rows(numbers.claims)),
            "across": lambda: across.across_figures(numbers, look),
            "per_task": lambda: per_task.per_task_figures(numbers.summary, look, study.tasks),
            "curves": lambda: curves.curve_figures(study.history, look, study.tasks),
            "cost": lambda: cost.cost_figures(study, look)}[kind]()


def _claim_rows(view):
    """The claims' fields by claim_id (kind, task, optimizer, baseline), for row labels."""
    return view.drop_duplicates("claim_id").set_index("claim_id") if len(view) else None


def _section(kind: str, task: str | None) -> str:
    return f"{kind}/{task}" if task else kind


def drawings(study, numbers, look: Look) -> dict[str, list[Drawing]]:
    """{section: figures} drawn in this process and not saved (tests inspect them); per-task sections
    are `sensitivity/<task>`, `diagnostics/<task>`."""
    out = {_section(k, t): _draw_job(study, numbers, look, k, t) for k, t in _jobs(study)}
    return {k: v for k, v in out.items() if v}


_SHARED: dict = {}  # what forked workers read: study, numbers, look, outdir (inherited, never pickled)


def _draw_and_save(job: tuple[str, str | None]) -> list[Drawn]:
    study, numbers, look, outdir = (_SHARED[k] for k in ("study", "numbers", "look", "outdir"))
    saved = []
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="seaborn")
        for d in _draw_job(study, numbers, look, *job):
            png, pdf = save(d.figure, outdir / _safe(d.key))
            saved.append(Drawn(d.key, png, pdf, d.title, d.caption))
    return saved


def draw_all(study, numbers, outdir: Path, workers: int | None = None) -> dict[str, list[Drawn]]:
    """Draw and save every figure under outdir (PNG + PDF); returns {section: [Drawn, ...]} in report order.

    Sections are drawn in `workers` forked processes (default: one per CPU core; matplotlib's
    drawing is single-threaded, and it is most of a report's time); 1 draws in this process, and so
    does a process that has loaded Ray (`study launch` writes its report with Ray's gRPC threads
    running, and forking those threads can deadlock the child).
    """
    outdir.mkdir(parents=True, exist_ok=True)
    for old in [*outdir.glob("*.png"), *outdir.glob("*.pdf")]:  # a regenerated report keeps no stale figure
        old.unlink()
    jobs = _jobs(study)
    _SHARED.update(study=study, numbers=numbers, look=Look(study.optimizers), outdir=outdir)
    workers = 1 if "ray" in sys.modules else min(workers or os.cpu_count() or 1, len(jobs))
    try:
        if workers > 1 and "fork" in mp.get_all_start_methods():
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                results = list(pool.map(_draw_and_save, jobs))
        else:
            results = [_draw_and_save(job) for job in jobs]
    finally:
        _SHARED.clear()
    return {_section(*job): drawn for job, drawn in zip(jobs, results) if drawn}
