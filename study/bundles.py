"""Bundles: several configurations of one cell run back to back in one Ray trial.

A Ray Tune trial costs the driver a fraction of a second (~0.25-0.35 s measured here; Ray documents
~14 trials/s per driver and asks for trainables that run "more than a few seconds"), so trials of
0.5 s leave most of a cluster idle. A bundle is a list of configurations of the same cell (task and
optimizer); the adapter (study/trainable.py) runs them one after another and reports each one's
epochs and final result tagged with `config_index`/`config_id`, so that the records, progress lines,
TPE and status still see one trial per configuration (`expand`). Bundling is only packing: it takes
whatever list of configurations a phase makes and never changes one.

Size rule (`auto_size`, `pack`): a bundle should last about TARGET_S seconds, measured, never so
long that the cluster's slots run out of work: with `s` the measured seconds of one configuration
(per epoch times its epochs), `n` the configurations still to hand out and `slots` the trials run at
once, a bundle holds floor(TARGET_S / s) configurations, at most ceil(n / slots), at least 1. A fixed
phase's configuration of a cell never measured goes alone; the tune phase's first wave, before
anything is measured, goes in elastic bundles (below).
`--bundle N` fixes N configurations per bundle; `--bundle 1` is one Ray trial per configuration.

Hand-backs: the tune phase's bundles of a cell not measured yet (study/searcher.py) carry
HANDBACK_KEY: such a bundle stops once it ran that many seconds and names the configurations
it did not start in its last final report (HANDED_BACK); the searcher asks them again in a later
Ray trial, and every view of the bundle (records, progress, status) leaves them out.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

TARGET_S = 5.0  # seconds a bundle should last: 2-7% driver overhead at 0.1-0.35 s per Ray trial
HANDBACK_KEY, HANDBACK_S = "handback_after_s", TARGET_S  # in an elastic bundle's Ray trial config
LENT_TO = "handback_trial"  # the Ray trial id it was lent to: a reset trial (--retry-errored) runs it all
HANDED_BACK = "handed_back"  # JSON list of the configuration ids an elastic bundle did not start
# Keys the adapter adds to a bundled configuration's reports (not part of its per-epoch history).
BUNDLE_KEYS = {"config_index", "config_id", "config_time_s", HANDED_BACK}


def bundle_configs(trial_config: dict) -> list[dict]:
    """The configurations a Ray trial runs: its `bundle`, or the one config a Ray trial of one
    configuration has (plain in the tune phase, nested under `trial` in the fixed phases)."""
    if "bundle" in trial_config:
        return list(trial_config["bundle"])
    return [trial_config.get("trial", trial_config)]


def cell_of(config: dict) -> str:
    return f"{config['task']}/{config['optimizer']}"


def auto_size(seconds: float | None, remaining: int, slots: int) -> int:
    """Configurations per bundle from one configuration's measured seconds (the module's rule)."""
    if not seconds or seconds <= 0 or remaining <= 0:
        return 1
    return max(1, min(int(TARGET_S // seconds), math.ceil(remaining / max(1, slots))))


def estimate(config: dict, seconds_per_epoch: dict[str, float]) -> float | None:
    """A configuration's expected seconds: its cell's measured seconds per epoch times its epochs
    (the paper phase trains longer than tune); None when the cell was never measured."""
    per_epoch = seconds_per_epoch.get(cell_of(config))
    return None if per_epoch is None else per_epoch * float(config.get("epochs", 1))


def pack(configs: list[dict], slots: int, size: int | None = None,
         seconds_per_epoch: dict[str, float] | None = None) -> list[list[dict]]:
    """A phase's configurations in bundles of one cell each, in their order.

    `size`: that many per bundle. Else each bundle is filled up to a budget of TARGET_S seconds
    (less when the phase's whole work divided by the slots is smaller, so every slot gets some), a
    configuration without an estimate alone.
    """
    cells: dict[str, list[dict]] = {}
    for config in configs:
        cells.setdefault(cell_of(config), []).append(config)
    estimates = {id(c): estimate(c, seconds_per_epoch or {}) for c in configs}
    known = [s for s in estimates.values() if s is not None]
    budget = min(TARGET_S, sum(known) / max(1, slots)) if known else 0.0
    out: list[list[dict]] = []
    for group in cells.values():
        current: list[dict] = []
        spent = 0.0
        for config in group:
            seconds = estimates[id(config)]
            full = len(current) >= size if size else (seconds is None or spent + seconds > budget)
            if current and full:
                out.append(current)
                current, spent = [], 0.0
            current.append(config)
            spent += seconds or 0.0
            if not size and seconds is None:
                out.append(current)
                current, spent = [], 0.0
        if current:
            out.append(current)
    return out


def seconds_per_epoch(results: list) -> dict[str, float]:
    """Each cell's mean measured seconds per epoch over its finished configurations (ConfigResults)."""
    per_cell: dict[str, list[float]] = {}
    for result in results:
        seconds, epochs = result.metrics.get("config_time_s"), result.config.get("epochs", 1)
        if isinstance(seconds, (int, float)) and math.isfinite(seconds) and epochs:
            per_cell.setdefault(cell_of(result.config), []).append(float(seconds) / float(epochs))
    return {cell: sum(v) / len(v) for cell, v in per_cell.items()}


@dataclass
class ConfigResult:
    """One configuration's part of a Ray trial's Result, shaped like a Result for study.records."""

    config: dict
    metrics: dict  # its final report, else its last report, else empty
    error: BaseException | None
    reports: list[dict]  # all its reports, in order (study.records reads its history from them)
    path: str
    finished: bool = field(default=False)


def unpack(result: dict) -> list[dict]:
    """The configurations' reports one Tune result carries: a bundle sends several at once as the
    JSON list `reports` (study.outbox.Outbox), a Ray trial of one configuration one each."""
    packed = result.get("reports")
    return json.loads(packed) if isinstance(packed, str) else [result]


def handed_back(result: dict) -> set[str]:
    """Ids of the configurations an elastic bundle handed back, from its last Tune result."""
    return {i for report in unpack(result) if isinstance(report.get(HANDED_BACK), str)
            for i in json.loads(report[HANDED_BACK])}


def tune_batch(results) -> int:
    """The most configurations TPE proposed at once, for one Ray trial (the report's search method):
    those asked for it (not those another Ray trial handed back to run here), leaving out the random
    start-up draws of an elastic bundle."""
    results = [r for r in results if r.config]
    backs = [handed_back(r.metrics or {}) for r in results]
    every = set().union(*backs)
    asked = []
    for result, own in zip(results, backs):
        elsewhere = every - own  # handed back by another Ray trial, which asked them
        asked.append(sum(c.get("_trial_id") not in elsewhere and not (HANDBACK_KEY in result.config and c.get("iid"))
                         for c in bundle_configs(result.config)))
    return max(asked, default=1) or 1


def _reports(filesystem, path: str) -> list[dict]:
    """Every report of a Ray trial as Ray stored it (its result.json in `path`: the reported types,
    where a DataFrame would turn an integer column with gaps into floats), without the config it repeats."""
    try:
        with filesystem.open_input_stream(f"{path}/result.json") as f:
            lines = f.readall().decode("utf-8").splitlines()
    except (OSError, AttributeError):  # not written (yet): no report
        return []
    return [{k: v for k, v in report.items() if k != "config"}
            for line in lines if line.strip() for report in unpack(json.loads(line))]


def expand(result) -> list[ConfigResult]:
    """A bundle's Result -> one ConfigResult per configuration, with its own reports.

    A configuration is finished once it reported `final=True`; its last such report is its result
    (a bundle restarted from a checkpoint older than its last report runs a configuration again:
    the last run counts). Unfinished configurations carry the trial's error, if Tune gave up on it.
    Those it handed back last are left out, even if an earlier attempt finished them: they belong to
    the Ray trial that runs them next.
    """
    reports = _reports(result.filesystem, result.path)
    back = handed_back(result.metrics or {}) if result.error is None else set()  # they ran in another Ray trial
    by_index: dict[int, list[dict]] = {}
    for report in reports:
        by_index.setdefault(report.get("config_index"), []).append(report)
    out = []
    for index, config in enumerate(bundle_configs(result.config or {})):
        if config.get("_trial_id") in back:
            continue
        mine = by_index.get(index, [])
        finals = [r for r in mine if r.get("final") is True]
        metrics = finals[-1] if finals else (mine[-1] if mine else {})
        out.append(ConfigResult(config=config, metrics=metrics, error=None if finals else result.error,
                                reports=mine, path=str(result.path), finished=bool(finals)))
    return out


def trial_states(trial_config: dict, status: str, last_result: dict | None) -> list[tuple[dict, str, dict | None]]:
    """(config, state, final result or None) of each configuration of a Ray trial from Tune's view
    of it (status, last report): configurations run in order, so those before the last finished one
    are done (their results are in the trial's reports, not in `last_result`); those it handed back
    are left out."""
    last = last_result or {}
    back = handed_back(last) if status == "TERMINATED" else set()  # run in another Ray trial
    configs = [c for c in bundle_configs(trial_config) if c.get("_trial_id") not in back]
    if "bundle" not in trial_config:  # one configuration: the trial's own state
        return [(configs[0], status, last if status == "TERMINATED" else None)]
    index = last.get("config_index", 0 if last else -1)
    finished_upto = len(configs) - 1 if status == "TERMINATED" else (index if last.get("final") else index - 1)
    out = []
    for i, config in enumerate(configs):
        if i <= finished_upto:
            out.append((config, "TERMINATED", last if i == index else {}))
        elif status == "ERROR":
            out.append((config, "ERROR", None))
        else:
            out.append((config, "RUNNING" if status == "RUNNING" and i == finished_upto + 1 else "PENDING", None))
    return out


def final_reports(trial) -> dict[int, dict]:
    """Each finished configuration's final report (its last, as in `expand`) by its index in the
    bundle, from the reports of a Ray trial of Tune's experiment state (ExperimentAnalysis.trials)."""
    return {r.get("config_index", 0): r for r in _reports(trial.storage.storage_filesystem, trial.path)
            if r.get("final") is True}


def running_config_id(trial) -> str:
    """The study's id of the configuration a Ray trial was running (what a retry log names)."""
    states = trial_states(trial.config, "RUNNING", trial.last_result)
    running = [c for c, state, _ in states if state == "RUNNING"] or [c for c, _, _ in states]
    return running[0].get("_trial_id") or f"trial_{trial.trial_id}"


def configured_size(spec) -> int | None:
    """Configurations per bundle as the spec sets it: `--bundle`; else 1 with experiment trackers
    (`--log-to` logs one run per Ray trial: each trial stays its own run); else None (automatic)."""
    return spec.bundle or (1 if spec.log_to else None)
