"""Progress lines while a study runs: which cell, trials done out of budget, the statistic the
report shows for it, and study-wide done/total across phases with an ETA.

The statistic matches the report's column: tune shows the best validation score ("best val"),
confirm and default the mean test score, paper the mean score as its protocol scores it.
Counts continue across `--resume`: the first event of a run counts the trials Tune restored as
finished. The ETA extrapolates this launch's throughput (epochs finished per second since its
first trial started, over all its phases, trials running in parallel) to the epochs still to run.
"""
from __future__ import annotations

import math
import time

from ray.tune import Callback

from study.bundles import bundle_configs, trial_states, unpack



class _Launch:
    """This launch's start, its first trial's start (Ray's start-up is no trial's time) and the
    epochs finished so far, shared by its phases' callbacks."""

    started = time.monotonic()
    first_trial: float | None = None
    epochs = 0.0


def start_clock() -> None:
    """Called when a launch starts: elapsed time counts from here."""
    _Launch.started, _Launch.first_trial, _Launch.epochs = time.monotonic(), None, 0.0


def progress_key(config: dict) -> str:
    """What a progress line counts: a phase of one cell, e.g. `[tune] digits x lion`, or under
    `--seeds auto` a later round of it, `[confirm round 2] mnist5k x adam`."""
    phase = f"{config['phase']} round {config['_round']}" if config.get("_round") else config["phase"]
    key = f"[{phase}] {config['task']} x {config['optimizer']}"
    return f"{key}, {config.get('protocol', 'fair')} protocol" if config["phase"] == "paper" else key


def statistic(phase: str, protocol: str) -> str:
    """The name of the number a progress line shows, as the report names it."""
    if phase == "tune":
        return "best val"
    return "mean score" if (phase, protocol) == ("paper", "paper") else "mean test"


def trial_score(config: dict, result: dict, errored: bool) -> float | None:
    """The trial's number for its statistic (diverged trials at chance, as the report scores them)."""
    status = "error" if errored else result.get("status", "ok")
    if status == "diverged":
        value = result.get("chance")
    elif status == "ok":
        scored_on_test = config["phase"] != "tune" and (config["phase"], config.get("protocol")) != ("paper", "paper")
        value = result.get("test_score" if scored_on_test else "score")
    else:
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def duration(seconds: float) -> str:
    """`4m05s`, or `1h20m` from an hour on."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class CellProgress(Callback):
    """Prints one line per finished trial, e.g.
    `[tune] digits x lion: 3/4 done, best val 94.2 (1 errored) | study 17/92 done, 1m40s, ETA 6m10s`.

    `budget`: progress_key -> trials it will run in this Tuner. `study_trials` / `study_epochs`: the
    whole study's planned trials and epochs; `done_trials` / `done_epochs`: those of earlier phases.
    """

    def __init__(self, budget: dict[str, int], study_trials: int, study_epochs: float,
                 done_trials: int = 0, done_epochs: float = 0.0):
        self.budget = budget
        self.study_trials, self.study_epochs = study_trials, study_epochs
        self.before = (done_trials, done_epochs)
        self.setup()

    def setup(self, **info) -> None:
        """Called by Tune at the start of every run, a restored one included."""
        self.counted: set[str] = set()
        self.scores = {key: [] for key in self.budget}
        self.failed = {key: 0 for key in self.budget}
        self.diverged = {key: 0 for key in self.budget}
        self.unscored = {key: 0 for key in self.budget}
        self.done_trials, self.done_epochs = self.before
        self.synced = False

    def _count(self, config: dict, result: dict | None, errored: bool) -> str | None:
        """Count one finished trial (configuration); `result` None: finished, its score unknown here
        (a configuration a restored bundle finished before the last one)."""
        key = progress_key(config)
        config_id = config.get("_trial_id") or id(config)
        if key not in self.budget or config_id in self.counted:
            return None
        self.counted.add(config_id)
        if result is not None:
            score = trial_score(config, result, errored)
            self.diverged[key] += not errored and result.get("status") == "diverged"
            if score is None:
                self.failed[key] += 1
            else:
                self.scores[key].append(score)
        else:
            self.unscored[key] += 1
        self.done_trials += 1
        self.done_epochs += float(config.get("epochs", 1))
        return key

    def _sync(self, trials, current) -> None:
        """Count the trials a restored run starts with as finished (not part of this run's rate)."""
        self.synced = True
        for trial in trials:
            if trial is current:
                continue
            for config, state, result in trial_states(trial.config, trial.status, trial.last_result):
                if state == "TERMINATED":
                    self._count(config, result or None, False)
                elif state == "ERROR":
                    self._count(config, {}, True)

    def _finish(self, trials, trial, config: dict, result: dict, errored: bool) -> None:
        if not self.synced:
            self._sync(trials, trial)
        key = self._count(config, result, errored)
        if key is None:
            return
        _Launch.epochs += float(config.get("epochs", 1))
        print(f"{key}: {self._cell(key, config)} | {self._study()}", flush=True)

    def _cell(self, key: str, config: dict) -> str:
        scores, failed = self.scores[key], self.failed[key]
        stat = statistic(config["phase"], config.get("protocol", "fair"))
        if not scores:
            value = f"no {stat} yet"
        elif stat == "best val":
            value = f"{stat} {max(scores):.1f}"
        else:
            value = f"{stat} {sum(scores) / len(scores):.1f}"
        notes = [f"{n} {what}" for n, what in ((self.diverged[key], "diverged"), (failed, "errored")) if n]
        return f"{len(scores) + failed + self.unscored[key]}/{self.budget[key]} done, {value}" + (f" ({', '.join(notes)})" if notes else "")

    def _study(self) -> str:
        now = time.monotonic()
        line = f"study {self.done_trials}/{self.study_trials} done, {duration(now - _Launch.started)}"
        remaining = max(self.study_epochs - self.done_epochs, 0.0)
        if _Launch.epochs > 0 and _Launch.first_trial is not None:
            line += f", ETA {duration(remaining * (now - _Launch.first_trial) / _Launch.epochs)}"
        return line

    def on_trial_start(self, iteration, trials, trial, **info):
        if _Launch.first_trial is None:
            _Launch.first_trial = time.monotonic()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        """Configurations of a bundle finished: their lines now, not when the bundle ends."""
        if "bundle" not in trial.config:
            return
        for report in unpack(result):
            if report.get("final") is True:
                self._finish(trials, trial, bundle_configs(trial.config)[int(report.get("config_index", 0))], report, False)

    def on_trial_complete(self, iteration, trials, trial, **info):
        bundled = "bundle" in trial.config
        for result in unpack(trial.last_result or {}):
            if bundled and result.get("final") is not True:
                continue  # an epoch of a configuration: its final result, not this, is its line
            self._finish(trials, trial, bundle_configs(trial.config)[int(result.get("config_index", 0))], result, False)

    def on_trial_error(self, iteration, trials, trial, **info):
        for config in bundle_configs(trial.config):  # those it had not finished (the others are counted)
            self._finish(trials, trial, config, {}, True)
