"""The GLUE average beside the per-task GLUE numbers, and which data the fair protocol selected on.

GLUE average = the macro mean over the study's GLUE tasks of each task's primary metric (CoLA
MCC, SST-2 / QNLI / RTE accuracy, MRPC / QQP F1, STS-B Pearson), MNLI counting once as the mean
of its matched and mismatched accuracies. It differs from the leaderboard's GLUE score, which
also averages the second metric of MRPC, QQP and STS-B and includes WNLI (Wang et al. 2019).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

# (label, phase, protocol): the settings a GLUE study reports; every score is the row's
# `test_value` (under the paper protocol that is the peak dev score, as the paper scores).
SETTINGS = (
    ("tuned (confirm)", "confirm", "fair"),
    ("default point", "default", "fair"),
    ("paper point, paper protocol", "paper", "paper"),
    ("paper point, fair protocol", "paper", "fair"),
)
SELECTION_NOTES = {
    "train-holdout": "the fair protocol selected on examples held out of GLUE's train set and reports GLUE's dev "
                     "set(s). The original t5-base was pre-trained on a mixture that includes GLUE's train sets "
                     "with these exact input prefixes, so that held-out split is not unseen data for it: selection "
                     "can favour memorization. `selection: dev-split` (or `model: t5-v1_1-base`, C4-only) avoids it.",
    "dev-split": "the fair protocol selected on one fixed half of each GLUE dev set and reports the other half, data "
                 "that no T5 checkpoint saw in pre-training (the test half is half the size: wider intervals).",
}


def glue_average(scores: Mapping[str, float | Sequence[float]]) -> float:
    """Macro mean over tasks of {task: primary score}; a task given as several numbers (MNLI: its
    matched and mismatched accuracy) counts once, as their mean. NaN if any task is missing a
    number (an average over a subset of tasks would not compare across optimizers)."""
    if not scores:
        return float("nan")
    per_task = [float(np.mean(v)) if isinstance(v, (Sequence, np.ndarray)) else float(v) for v in scores.values()]
    return float(np.mean(per_task))


def _mnli_mm(rows: pd.DataFrame) -> np.ndarray:
    """Each MNLI run's mismatched score in points (a diverged run: its chance score)."""
    mm = 100 * pd.to_numeric(rows["test_acc_mm"], errors="coerce") if "test_acc_mm" in rows else np.nan
    return np.where(rows["status"] == "ok", mm, rows["test_value"]).astype(float)


def glue_table(trials: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """One row per (setting, optimizer) that has runs: the mean score per GLUE task over its runs
    and the GLUE average (``glue_average``; NaN until every task has runs)."""
    glue_tasks = [t for t in tasks if t.startswith("glue-")]
    rows = []
    for label, phase, protocol in SETTINGS:
        sel = trials[(trials["phase"] == phase) & (trials["protocol"] == protocol) & trials["task"].isin(glue_tasks)]
        for opt, grp in sel.groupby("optimizer", sort=False):
            row: dict = {"setting": label, "optimizer": opt}
            scores: dict = {}
            for task in glue_tasks:
                runs = grp[grp["task"] == task]
                m = runs["test_value"].to_numpy(float)
                m = m[np.isfinite(m)]
                row[task] = float(m.mean()) if m.size else np.nan
                if task == "glue-mnli" and m.size:
                    mm = _mnli_mm(runs)
                    mm = mm[np.isfinite(mm)]
                    row["glue-mnli (mm)"] = float(mm.mean()) if mm.size else np.nan
                    scores[task] = (row[task], row["glue-mnli (mm)"])
                else:
                    scores[task] = row[task]
            row["GLUE avg"] = glue_average(scores)
            rows.append(row)
    cols = ["setting", "optimizer"] + [c for t in glue_tasks for c in ([t, "glue-mnli (mm)"] if t == "glue-mnli" else [t])]
    return pd.DataFrame(rows, columns=cols + ["GLUE avg"])


def selection_note(spec: Mapping) -> str:
    """Which split the fair protocol selected on, and why it matters, for a study's spec."""
    config = spec.get("task_config", {}) or {}
    selection = config.get("selection", "train-holdout")
    model = config.get("model", "t5-base")
    return f"Model `{model}`; selection `{selection}`: {SELECTION_NOTES.get(selection, '')}"
