"""`python -m study launch`: run a study's phases on Ray Tune and write its records and report.

Phases, in one study directory (see docs/ARCHITECTURE.md):
- tune: one Tuner over all cells (CellSearcher: equal budgets, per-cell seeded Optuna TPE);
- fixed: one Tuner over explicit configs: confirm (each cell's best tune config on fresh seeds),
  default (the default point) and paper (the paper point under the paper and the fair protocol).
`study.json` records the spec and which phases are done, so `--resume` continues with
`Tuner.restore` where the driver stopped, and a phase whose records are written never reruns.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd

import search_spaces
from study import records
from study.cluster import connect, plan_resources
from study.errors import SpecError
from study.spec import StudySpec, is_uri
from study.tasks import parse_task, runner_config

FRESH_SEED_BASE = 1000  # confirm/default/paper seeds are FRESH_SEED_BASE + seed*100 + i
# The paper phase trains with the paper's own budget under both protocols, so the two columns
# differ only in what is scored (ThermoLion: its 12 epochs at batch 1024, from its paper point).
PAPER_BUDGET = {"thermolion": {"epochs": 12}}


def _save_state(study_dir: Path, state: dict) -> None:
    tmp = study_dir / "study.json.tmp"
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, study_dir / "study.json")


def load_state(study_dir: Path) -> dict:
    path = study_dir / "study.json"
    if not path.is_file():
        raise SpecError(f"no study to resume at {study_dir} (study.json is missing)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path} is not valid JSON ({exc}); the study's records are in {study_dir}/records") from None


def cell_configs(spec: StudySpec, resources: dict) -> dict[str, dict]:
    """The base config every trial of a cell shares: task, runner keys and bookkeeping."""
    cells = {}
    for task_name in spec.tasks:
        task = parse_task(task_name)
        for optimizer in spec.optimizers:
            cells[f"{task_name}/{optimizer}"] = {
                **runner_config(task, spec.task_config),
                "task": task_name, "optimizer": optimizer, "phase": "tune", "protocol": "fair",
                "epochs": spec.epochs, "seed": spec.seed,
                "_runner": task.runner, "_cpus": resources["CPU"], "_study_dir": str(spec.study_dir),
                "_fault_rate": spec.fault_rate,
            }
    return cells


def fixed_configs(spec: StudySpec, cells: dict[str, dict], tune_rows: pd.DataFrame | None,
                  tune_hps: dict[str, dict]) -> list[dict]:
    """Explicit trials of the confirm, default and paper phases, with stable trial ids."""
    seeds = [FRESH_SEED_BASE + spec.seed * 100 + i for i in range(spec.seeds)]
    paper_seeds = [FRESH_SEED_BASE + spec.seed * 100 + i for i in range(spec.paper_seeds or spec.seeds)]
    out = []

    def add(phase: str, base: dict, hps: dict, protocol: str = "fair") -> None:
        for seed in paper_seeds if phase == "paper" else seeds:
            config = {**base, **hps, "phase": phase, "protocol": protocol, "seed": seed, "iid": False,
                      "_hps": sorted(hps)}
            if phase == "paper":
                config.update(PAPER_BUDGET.get(parse_task(base["task"]).paper, {}))
            config["_trial_id"] = f"{phase}-{base['task']}-{base['optimizer']}-{protocol}-s{seed}"
            out.append(config)

    for key, base in cells.items():
        task = parse_task(base["task"])
        if "confirm" in spec.phases and tune_rows is not None:
            cell = tune_rows[(tune_rows["task"] == base["task"]) & (tune_rows["optimizer"] == base["optimizer"])
                             & (tune_rows["status"] == "ok")]
            if not cell.empty:
                best_id = cell.sort_values("score", ascending=False, kind="stable")["trial_id"].iloc[0]
                add("confirm", base, tune_hps[best_id])
        if "default" in spec.phases:
            add("default", base, search_spaces.default_point(base["optimizer"]))
        if "paper" in spec.phases:
            point = search_spaces.paper_point(base["optimizer"], task.paper, base["task"])
            if point is not None:
                for protocol in task.paper_protocols:
                    add("paper", base, point, protocol)
    return out


def trial_dirname(trial) -> str:
    """Short trial directories (Ray's default spells out the whole config)."""
    return f"trial_{trial.trial_id}"


def _run_config(spec: StudySpec, phase: str, callbacks: list):
    from ray import tune

    return tune.RunConfig(
        name=phase, storage_path=spec.ray_storage, verbose=0, callbacks=callbacks,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )


def _fit(spec: StudySpec, phase: str, trainable, resume: bool, **tuner_args):
    """Run a phase's Tuner: restored from the study directory on --resume, else new."""
    from ray import tune

    path = f"{spec.ray_storage}/{phase}"
    if resume and tune.Tuner.can_restore(path):
        print(f"[{phase}] resuming from {path}", flush=True)
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=False).fit()
    return tune.Tuner(trainable, **tuner_args).fit()


def run_tune_phase(spec: StudySpec, cells: dict[str, dict], resources: dict, resume: bool):
    from ray import tune

    from study.progress import CellProgress, progress_key
    from study.searcher import METRIC, MODE, CellSearcher
    from study.trainable import run_trial

    searcher = CellSearcher(cells, spec.trials, spec.iid_trials, spec.seed, spec.search_space)
    tune_config = tune.TuneConfig(
        search_alg=searcher, num_samples=spec.trials * len(cells), metric=METRIC, mode=MODE,
        max_concurrent_trials=spec.max_concurrent, reuse_actors=True, trial_dirname_creator=trial_dirname,
    )
    progress = CellProgress({progress_key(base): spec.trials for base in cells.values()})
    return _fit(spec, "tune", tune.with_resources(run_trial, resources), resume, tune_config=tune_config,
                run_config=_run_config(spec, "tune", [progress]))


def run_fixed_phase(spec: StudySpec, configs: list[dict], resources: dict, resume: bool):
    from ray import tune

    from study.progress import CellProgress, progress_key
    from study.searcher import METRIC, MODE
    from study.trainable import run_fixed_trial

    budget = Counter(progress_key(config) for config in configs)
    tune_config = tune.TuneConfig(metric=METRIC, mode=MODE, max_concurrent_trials=spec.max_concurrent,
                                  reuse_actors=True, trial_dirname_creator=trial_dirname)
    return _fit(spec, "fixed", tune.with_resources(run_fixed_trial, resources), resume,
                param_space={"trial": tune.grid_search(configs)}, tune_config=tune_config,
                run_config=_run_config(spec, "fixed", [CellProgress(budget)]))


class StudyInterrupted(Exception):
    """A phase's Tuner returned before all its trials ended (Ctrl-C): resume continues it."""


def _finished(result) -> bool:
    return result.error is not None or (result.metrics or {}).get("final") is True


def _record(study_dir: Path, phase: str, results, expected: int) -> None:
    """Write a phase's records; if trials are missing or unfinished, keep the finished ones and stop."""
    done = [r for r in results if _finished(r)]
    trials, history = records.rows_from_results(done)
    records.write_phase(study_dir, phase, trials, history)
    if len(done) < expected:
        raise StudyInterrupted(f"{phase} phase interrupted with {len(done)}/{expected} trials finished")


def refresh_records(study_dir: Path) -> None:
    """Bring the records of unfinished phases up to date from Ray's experiment state (finished trials)."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    state = load_state(study_dir)
    if not isinstance(state, dict):
        raise SpecError(f"{study_dir / 'study.json'} must hold a JSON object, not {type(state).__name__}")
    spec = state.get("spec") if isinstance(state.get("spec"), dict) else {}
    storage = str(spec.get("storage") or "")
    # a local study's Ray results sit in its own directory (wherever it was moved); a URI storage names its study
    ray_storage = f"{storage.rstrip('/')}/{spec.get('name') or state.get('name') or study_dir.name}/ray" \
        if is_uri(storage) else str(study_dir / "ray")
    phases = state.get("phases") if isinstance(state.get("phases"), dict) else {}
    for phase in records.PHASE_FILES:
        path = f"{ray_storage}/{phase}"
        if phases.get(phase) == "done" or not (is_uri(path) or os.path.isdir(path)):
            continue
        try:
            results = ResultGrid(ExperimentAnalysis(path))
        except Exception as exc:  # a state file cut short by a kill: the phase is simply not readable yet
            print(f"[{phase}] records not refreshed: {exc}", flush=True)
            continue
        done = [r for r in results if _finished(r)]
        records.write_phase(study_dir, phase, *records.rows_from_results(done))


def launch(spec: StudySpec, resume: bool = False) -> Path:
    """Run (or resume) a study; returns the study directory with its records and report."""
    study_dir = spec.study_dir
    if resume:
        state = load_state(study_dir)
    else:
        if (study_dir / "study.json").exists():
            raise SpecError(f"study {spec.name!r} already exists in {spec.storage}; pass --resume to continue it")
        state = {"name": spec.name, "spec": spec.to_dict(), "phases": {}}

    connect(spec)
    resources = plan_resources(spec)
    study_dir.mkdir(parents=True, exist_ok=True)
    _save_state(study_dir, state)
    print(f"study {spec.name}: {len(spec.tasks)} task(s) x {len(spec.optimizers)} optimizer(s), "
          f"{spec.trials} tune trials per cell ({spec.iid_trials} i.i.d.), {spec.seeds} seeds; "
          f"{resources['CPU']:g} CPU / {resources.get('GPU', 0):g} GPU per trial; directory {study_dir}", flush=True)

    cells = cell_configs(spec, resources)
    if "tune" in spec.phases and state["phases"].get("tune") != "done":
        results = run_tune_phase(spec, cells, resources, resume)
        _record(study_dir, "tune", results, expected=spec.trials * len(cells))
        state["tune_hps"] = {r.config["_trial_id"]: {h: r.config[h] for h in r.config["_hps"]}
                             for r in results if r.config}
        state["phases"]["tune"] = "done"
        _save_state(study_dir, state)

    fixed_phases = [p for p in spec.phases if p != "tune"]
    if fixed_phases and state["phases"].get("fixed") != "done":
        if "fixed_configs" not in state:
            state["fixed_configs"] = fixed_configs(spec, cells, records.read_phase(study_dir, "tune"),
                                                   state.get("tune_hps", {}))
            _save_state(study_dir, state)
        configs = state["fixed_configs"]
        if configs:
            results = run_fixed_phase(spec, configs, resources, resume)
            _record(study_dir, "fixed", results, expected=len(configs))
        state["phases"]["fixed"] = "done"
        _save_state(study_dir, state)
    return study_dir

