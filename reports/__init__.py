"""Study directory -> tables, robustness metrics, figures and a report (never imports ray).

`write_report(study_dir)` is the one entry point: it reads trials.csv, history.csv and study.json
(reports.load), computes the per-cell tables (reports.cells), the cross-task comparison
(reports.metrics) and the papers' claims (reports.claims), hands them to the presentation through
reports.views, draws the figures (reports.figures), writes the tables as LaTeX (reports.latex)
and writes report.md and a self-contained report.html beside the CSVs (reports.report, .render).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from reports import latex, metrics
from reports.aggregates import aggregate
from reports.cells import cell_tables
from reports.claims import check_claims
from reports.ladder import claims_columns, ladder_verdicts
from reports.rounds import apply_rounds
from reports.figures import draw_all
from reports.load import load_study
from reports.render import to_html, to_markdown
from reports.report import build_blocks, latex_exports, relevant_claims, report_notes
from reports.user_claims import load_user_claims
from reports.verdict import answer_lines
from reports.views import numbers_from_today

__all__ = ["write_report"]


def write_report(study_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Write the report of a (possibly partly finished) study; returns {file name: path}.

    Files: report.md, report.html, summary.csv (one row per cell), emp.csv (expected max),
    importance.csv, claims.csv, ranks.csv (mean rank, IQM, profile area with CIs), poi.csv, poi_ci.csv,
    profile.csv, trials.csv (the study's own, listed for completeness), verdict.txt (the answer in a
    few plain lines), `tables/*.tex` (LaTeX) and `figures` (PNG + PDF of every figure).
    """
    start = time.perf_counter()
    study = load_study(study_dir)
    out = study.path
    summary, emp, importance = cell_tables(study)
    confirm = study.trials[study.trials["phase"] == "confirm"]
    scores = confirm[["task", "optimizer", "test_value", "chance"]].rename(columns={"test_value": "value"})
    ranks, poi, poi_ci, normalized, overall_note = aggregate(scores)
    profile = metrics.performance_profile(normalized)
    user_claims = load_user_claims(out)
    claims = check_claims(study.trials, user=user_claims)
    if study.spec.get("seeds_max"):  # --seeds auto: the verdicts as the rounds decided them
        claims = apply_rounds(claims, study.trials, int(study.spec["seeds"]), int(study.spec["seeds_max"]))
    ladder = ladder_verdicts(study.trials, study.ladder, claims)
    claims = claims_columns(claims, ladder)
    files: dict[str, Path] = {}
    if len(ladder):
        ladder.to_csv(out / "ladder.csv", index=False)
        files["ladder.csv"] = out / "ladder.csv"
    for name, df in (("summary.csv", summary), ("emp.csv", emp), ("importance.csv", importance), ("claims.csv", claims),
                     ("ranks.csv", ranks), ("poi.csv", poi.reset_index()), ("poi_ci.csv", poi_ci), ("profile.csv", profile)):
        df.to_csv(out / name, index=False)
        files[name] = out / name
    if (out / "trials.csv").exists():
        files["trials.csv"] = out / "trials.csv"
    notes = [*study.notes, *([overall_note] if overall_note else [])]
    numbers = numbers_from_today(summary, emp, relevant_claims(claims, study), ranks, poi, profile, notes=notes,
                                 poi_long=poi_ci)
    numbers.ladder, numbers.rungs = ladder, study.ladder.get("rungs") or []
    figures = draw_all(study, numbers, out / "figures")
    files.update(latex.write_tables(latex_exports(study, numbers), out / "tables"))
    answer = answer_lines(numbers, len(report_notes(study, numbers)))
    (out / "verdict.txt").write_text("\n".join(answer) + "\n")  # the answer in plain lines (the launch prints it)
    files = {"report.md": out / "report.md", "report.html": out / "report.html", **files,
             "verdict.txt": out / "verdict.txt", "figures": out / "figures"}
    blocks = build_blocks(study, numbers, figures, files)
    (out / "report.md").write_text(to_markdown(blocks, out))
    (out / "report.html").write_text(to_html(blocks, f"Optimizer study: {study.name}"))
    n_figures = sum(len(f) for f in figures.values())
    log(f"report: {len(study.trials)} trials, {len(summary)} cells, {n_figures} figures -> {out / 'report.html'} "
        f"({time.perf_counter() - start:.1f} s)")
    return files
