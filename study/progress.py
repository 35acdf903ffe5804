"""Progress lines while a study runs: which cell, trials done out of budget, best so far."""
from __future__ import annotations

import math
import time

from ray.tune import Callback


def progress_key(config: dict) -> str:
    """What a progress line counts: a phase of one cell, e.g. `[tune] digits x lion`."""
    return f"[{config['phase']}] {config['task']} x {config['optimizer']}"


class CellProgress(Callback):
    """Prints one line per finished trial, e.g. `[tune] digits x lion: 3/8 done, best 94.2 (1 diverged)`."""

    def __init__(self, budget: dict[str, int]):
        self.budget = budget  # progress_key(config) -> trials it will run
        self.done = {key: 0 for key in budget}
        self.best = {key: -math.inf for key in budget}
        self.failed = {key: 0 for key in budget}
        self.started = time.monotonic()

    def _finish(self, trial, status: str | None) -> None:
        config = trial.config.get("trial", trial.config)  # fixed-phase configs are nested
        key = progress_key(config)
        if key not in self.done:
            return
        self.done[key] += 1
        result = trial.last_result or {}
        score = result.get("score")
        status = status or result.get("status", "ok")
        if status == "ok" and isinstance(score, (int, float)) and math.isfinite(score):
            self.best[key] = max(self.best[key], score)
        else:
            self.failed[key] += 1
        total_done, total = sum(self.done.values()), sum(self.budget.values())
        best = f"best {self.best[key]:.1f}" if math.isfinite(self.best[key]) else "no score yet"
        failed = f" ({self.failed[key]} diverged/errored)" if self.failed[key] else ""
        print(
            f"{key}: {self.done[key]}/{self.budget[key]} done, "
            f"{best}{failed} | study {total_done}/{total}, {time.monotonic() - self.started:.0f}s",
            flush=True,
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finish(trial, None)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finish(trial, "error")
