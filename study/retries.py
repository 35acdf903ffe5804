"""Which trials Tune retried, and why: `retries.csv` in the study directory, one row per retry.

A trial is retried (up to `max_failures` times) when its worker dies: a node lost or preempted, a
crash outside the trial's own config (study/trainable.py). The retry runs the same trial (same id,
config and seed) on whatever node has a free slot, from its last checkpoint where the runner
writes one, so the study's budget stays exact; this log is how the report can say which trials
needed it. Written by the driver (a Tune callback), so it works the same on every storage.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

from ray import tune

RETRIES_FILE = "retries.csv"
COLUMNS = ("trial_id", "phase", "time", "cause")


def _cause(trial) -> str:
    """The last line of the error Tune recorded for the failed attempt (e.g. Ray's ActorDiedError)."""
    try:
        lines = [line.strip() for line in Path(trial.error_file).read_text().splitlines() if line.strip()]
    except (OSError, TypeError):  # no error file (yet): the cause is unknown, the retry is not
        return ""
    return lines[-1][:300] if lines else ""


class RetryLog(tune.Callback):
    """Append a row to `<study_dir>/retries.csv` each time Tune schedules a failed trial again."""

    def __init__(self, study_dir: Path, phase: str, trial_name):
        self.path, self.phase, self.trial_name = Path(study_dir) / RETRIES_FILE, phase, trial_name

    def on_trial_recover(self, iteration, trials, trial, **info):
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow([self.trial_name(trial), self.phase, f"{time.time():.0f}", _cause(trial)])
