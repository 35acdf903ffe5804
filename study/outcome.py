"""How a finished launch ends: one line per cause of failed trials, the exit code, and the answer
framed like pytest's summary (`answer_block`), which the report's path follows.

A study is usable when every phase of every cell it ran has at least one trial with a score
(diverged trials count: they are scored at chance). A cell/phase whose trials all failed leaves
a hole in the report, so the launch exits 1 and says why, once per cause, not once per trial.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SCORED = ("ok", "diverged")
RULE_WIDTH = 78
EXIT_FAILED = 1


def failure_lines(trials: pd.DataFrame) -> list[str]:
    """`N trials failed: <cause>` per distinct cause, most frequent first."""
    failed = trials[~trials["status"].isin(SCORED)]
    if failed.empty:
        return []
    causes = failed["error"].fillna("").astype(str).str.strip().replace("", "no error message recorded")
    return [f"{n} trial{'s' if n != 1 else ''} failed: {cause}" for cause, n in causes.value_counts().items()]


def unusable_cells(trials: pd.DataFrame) -> list[str]:
    """`phase task x optimizer` of every cell phase in which no trial got a score."""
    scored = trials["status"].isin(SCORED).groupby([trials["phase"], trials["task"], trials["optimizer"]]).any()
    return [f"{phase} {task} x {optimizer}" for (phase, task, optimizer), ok in scored.items() if not ok]


def summarize(study_dir: Path, log_path: Path) -> int:
    """Print the failure causes (if any) and return the launch's exit code."""
    path = study_dir / "trials.csv"
    if not path.is_file():
        return 0
    trials = pd.read_csv(path, dtype={"trial_id": str})
    lines = failure_lines(trials)
    if not lines:
        return 0
    empty = unusable_cells(trials)
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        lines.append(f"no usable result for {len(empty)} cell phase(s): {shown}")
    print("\n" + "\n".join(lines + [f"tracebacks: {log_path}"]), file=sys.stderr)
    if empty:
        return EXIT_FAILED
    return 0


def answer_block(lines: list[str]) -> str:
    """The report's answer (verdict.txt) between two rules, `==== verdict ====` on the first."""
    title = " verdict "
    side = (RULE_WIDTH - len(title)) // 2
    return "\n".join(["=" * side + title + "=" * (RULE_WIDTH - side - len(title)), *lines, "=" * RULE_WIDTH])
