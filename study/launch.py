"""`python -m study launch`: run a study's phases on Ray Tune and write its records and report.

Phases, in one study directory (see docs/ARCHITECTURE.md):
- tune: one Tuner over all cells (CellSearcher: equal budgets, per-cell seeded Optuna TPE);
- confirm (each cell's best tune config on fresh seeds), default (the default point) and paper (the
  paper point under the paper and the fair protocol): one Tuner over their explicit configs,
  stored as `fixed` (records/fixed.csv, ray/fixed); users and messages only see the phase names.
`study.json` records the spec and which phases are done, so `--resume` continues with
`Tuner.restore` where the driver stopped, and a phase whose records are written never reruns.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd

import search_spaces
from study import plugins, records
from study.bundles import bundle_configs, configured_size, expand, pack, running_config_id, seconds_per_epoch, tune_batch
from study.cluster import connect, plan_resources
from study.console import LOG_NAME, attach_ray_logs
from study.errors import SpecError
from study.spec import PHASES, StudySpec, is_uri
from study.batch_cap import batch_caps, capped_point, paper_setup
from study.tasks import parse_task, runner_config

FRESH_SEED_BASE = 1000  # confirm/default/paper seeds are FRESH_SEED_BASE + seed*100 + i
# The paper phase trains with the paper's own budget (search_spaces.paper_budget) under both
# protocols, so the two columns differ only in what is scored (ThermoLion: its 12 epochs at batch
# 1024; SepNorm on GLUE: 50k steps at batch 128, constant lr).
OPTUNA_JOURNAL = "optuna.journal"  # every cell's Optuna study, in the study directory
# Trials in flight when no node fits a trial yet (an autoscaling cluster): enough pending demand
# for the autoscaler to start several nodes at once.
AUTOSCALING_PENDING = 32


def _save_state(study_dir: Path, state: dict) -> None:
    tmp = study_dir / "study.json.tmp"
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, study_dir / "study.json")


def load_state(study_dir: Path) -> dict:
    path = study_dir / "study.json"
    if not path.is_file():
        raise SpecError(f"no study to resume at {study_dir} (study.json is missing)")
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path} is not valid JSON ({exc}); the study's records are in {study_dir}/records") from None
    if not isinstance(state, dict):
        raise SpecError(f"{path} must hold a JSON object, not {type(state).__name__}")
    phases, spec = state.get("phases"), state.get("spec")
    if isinstance(phases, dict) and phases.pop("fixed", None) == "done":  # written before the phases were named
        named = spec.get("phases") if isinstance(spec, dict) else None
        phases.update({p: "done" for p in tuner_phases(named or PHASES, "fixed")})
    return state


def cell_configs(spec: StudySpec, resources: dict) -> dict[str, dict]:
    """The base config every trial of a cell shares: task, runner keys and bookkeeping."""
    cells = {}
    caps = batch_caps(spec)  # GLUE training splits smaller than a batch size (study/batch_cap.py)
    manifest = plugins.manifest()
    loaded = {"_plugins": manifest} if manifest else {}  # the trials load the driver's plugins
    for task_name in spec.tasks:
        task = parse_task(task_name)
        for optimizer in spec.optimizers:
            cells[f"{task_name}/{optimizer}"] = {
                **runner_config(task, spec.task_config), "_batch_cap": caps.get(task_name),
                "task": task_name, "optimizer": optimizer, "phase": "tune", "protocol": "fair",
                "epochs": spec.epochs, "seed": spec.seed,
                "_runner": task.runner, "_cpus": resources["CPU"], "_study_dir": str(spec.study_dir),
                "_fault_rate": spec.fault_rate, "_trial_timeout": spec.trial_timeout,
                **loaded,
            }
    return cells


def fresh_seed(spec: StudySpec, i: int) -> int:
    """The i-th fresh seed of the confirm, default and paper phases."""
    return FRESH_SEED_BASE + spec.seed * 100 + i


def fixed_trial_id(config: dict) -> str:
    """A fixed-phase trial's stable id: phase, cell, protocol and seed."""
    return f"{config['phase']}-{config['task']}-{config['optimizer']}-{config['protocol']}-s{config['seed']}"


def fixed_configs(spec: StudySpec, cells: dict[str, dict], tune_rows: pd.DataFrame | None,
                  tune_hps: dict[str, dict]) -> list[dict]:
    """Explicit trials of the confirm, default and paper phases, with stable trial ids."""
    seeds = [fresh_seed(spec, i) for i in range(spec.seeds)]
    paper_seeds = [fresh_seed(spec, i) for i in range(spec.paper_seeds or spec.seeds)]
    out = []

    def add(phase: str, base: dict, hps: dict, protocol: str = "fair", build: str | None = None) -> None:
        for seed in paper_seeds if phase == "paper" else seeds:
            config = {**base, **hps, "phase": phase, "protocol": protocol, "seed": seed, "iid": False,
                      "_hps": sorted(hps)}
            if phase == "paper":
                paper = parse_task(base["task"]).paper
                config.update(search_spaces.paper_budget(paper, base["task"], spec.task_config.get("paper_steps")))
            if build:
                config["_build"] = build
            config["_trial_id"] = fixed_trial_id(config)
            out.append(config)

    for key, base in cells.items():
        task = parse_task(base["task"])
        if "confirm" in spec.phases and tune_rows is not None:
            best = records.best_row(tune_rows, base["task"], base["optimizer"])
            if best is not None:
                add("confirm", base, tune_hps[best["trial_id"]])
            else:
                print(f"[confirm] {base['task']} x {base['optimizer']}: no tune trial ended ok (all diverged or "
                      "failed), so there is no tuned configuration to confirm", flush=True)
        if "default" in spec.phases:
            add("default", base, capped_point(search_spaces.default_point(base["optimizer"]), base["_batch_cap"]))
        if "paper" in spec.phases:
            point, build = paper_setup(base)
            if point is not None:
                for protocol in task.paper_protocols:
                    add("paper", base, point, protocol, build)
    return out


def tuner_phases(phases, tuner: str) -> list[str]:
    """Of a study's ``phases``, those (as users name them) that a Tuner runs: `tune`, or e.g.
    confirm, default, paper."""
    return [tuner] if tuner == "tune" else [p for p in phases if p != "tune"]


def phase_names(spec: StudySpec, tuner: str) -> str:
    """The phases a Tuner runs as one label: `tune`, or e.g. `confirm/default/paper`; a ladder's
    Tuners (`tune-lr`, `ladder-1`) by their own name."""
    return "/".join(tuner_phases(spec.phases, tuner)) if tuner in records.PHASE_FILES else tuner


def tune_plan(spec: StudySpec) -> tuple[int, float]:
    """Trials and epochs of the tune phase."""
    trials = spec.trials * len(spec.tasks) * len(spec.optimizers) if "tune" in spec.phases else 0
    return trials, float(trials * spec.epochs)


def study_plan(spec: StudySpec) -> tuple[int, float]:
    """Trials and epochs of the whole study, as if every cell gets its confirm runs (study.plan)."""
    from study.plan import planned_configs

    configs = planned_configs(spec)
    return len(configs), float(sum(c["epochs"] for c in configs))


def trial_dirname(trial) -> str:
    """A Ray trial's directory and name are the study's id of its (bundle's first) configuration
    (Ray's default spells out the config)."""
    return bundle_configs(trial.config)[0].get("_trial_id") or f"trial_{trial.trial_id}"


def _run_config(spec: StudySpec, phase: str, callbacks: list, largest_bundle: int = 1):
    """Tune's run settings of a phase. A bundle of B configurations shares B x `max_failures`
    retries (Tune counts failures per Ray trial; a retry reruns only unfinished configurations)."""
    from ray import tune

    from study.checkpoints import DropFinishedCheckpoints
    from study.retries import RetryLog
    from study.trackers import tracker_callbacks

    callbacks = callbacks + tracker_callbacks(spec, phase) + [RetryLog(spec.study_dir, phase, running_config_id)]
    return tune.RunConfig(
        name=phase, storage_path=spec.ray_storage, verbose=0, callbacks=[*callbacks, DropFinishedCheckpoints()],
        failure_config=tune.FailureConfig(max_failures=spec.max_failures * largest_bundle),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )


def _fit(spec: StudySpec, phase: str, trainable, resume: bool, retry_errored: bool = False, **tuner_args):
    """Run a phase's Tuner: restored from the study directory on --resume (with --retry-errored,
    the trials Tune gave up on start again from scratch, with fresh retries), else new."""
    from ray import tune

    path = f"{spec.ray_storage}/{phase}"
    if resume and tune.Tuner.can_restore(path):
        print(f"[{phase_names(spec, phase)}] resuming from {path}", flush=True)
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, restart_errored=retry_errored).fit()
    return tune.Tuner(trainable, **tuner_args).fit()


def concurrency(spec: StudySpec, resources: dict) -> int:
    """Trials in flight at once: --max-concurrent, else every slot of the cluster (Tune's default
    for a custom searcher is one pending trial at a time, which leaves a large cluster idle)."""
    from study.cluster import trial_slots

    return spec.max_concurrent or trial_slots(resources) or AUTOSCALING_PENDING


def run_tune_phase(spec: StudySpec, cells: dict[str, dict], resources: dict, resume: bool,
                   retry_errored: bool = False, phase: str = "tune", overrides: dict | None = None):
    """The tune phase's Tuner (or a ladder's `tune-<names>` phase: its own cells and per-cell
    search-space `overrides`)."""
    from ray import tune

    from study.progress import CellProgress, progress_key
    from study.searcher import METRIC, MODE, CellSearcher, ReconcileOnResume
    from study.trainable import run_trial

    searcher = CellSearcher(cells, spec.trials, spec.iid_trials, spec.seed,
                            spec.search_space if overrides is None else overrides,
                            storage_path=str(spec.study_dir / OPTUNA_JOURNAL), bundle=configured_size(spec),
                            slots=concurrency(spec, resources))
    tune_config = tune.TuneConfig(
        search_alg=searcher, num_samples=spec.trials * len(cells), metric=METRIC, mode=MODE,
        max_concurrent_trials=concurrency(spec, resources), reuse_actors=True, trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_dirname,  # trackers (MLflow run names) show the study's trial ids
    )
    progress = CellProgress({progress_key(base): spec.trials for base in cells.values()}, *study_plan(spec))
    callbacks = [progress, ReconcileOnResume(searcher)]
    return _fit(spec, phase, tune.with_resources(run_trial, resources), resume, retry_errored,
                tune_config=tune_config, run_config=_run_config(spec, phase, callbacks, configured_size(spec) or spec.trials))


def run_fixed_phase(spec: StudySpec, configs: list[dict], resources: dict, resume: bool,
                    retry_errored: bool = False, name: str = "fixed"):
    """One Tuner over explicit configs: the confirm/default/paper phases (`fixed`), one of
    their later rounds of seeds under `--seeds auto` (study/rounds.py), or a ladder's runs (study/ladder.py)."""
    from ray import tune

    from study.progress import CellProgress, progress_key
    from study.searcher import METRIC, MODE
    from study.trainable import run_trial

    budget = Counter(progress_key(config) for config in configs)
    tune_trials, tune_epochs = tune_plan(spec)
    progress = CellProgress(budget, tune_trials + len(configs), tune_epochs + sum(c["epochs"] for c in configs),
                            tune_trials, tune_epochs)
    tune_config = tune.TuneConfig(metric=METRIC, mode=MODE, max_concurrent_trials=concurrency(spec, resources),
                                  reuse_actors=True, trial_dirname_creator=trial_dirname, trial_name_creator=trial_dirname)
    bundles = pack(configs, concurrency(spec, resources), configured_size(spec),
                   load_state(spec.study_dir).get("seconds_per_epoch"))  # measured by the tune phase
    label = phase_names(spec, name if name.startswith("ladder-") else "fixed")
    print(f"[{label}] {len(configs)} trials in {len(bundles)} Ray trials", flush=True)
    # bundles of one: the configs themselves (nested under "trial"), as trackers log them
    space = {"bundle": tune.grid_search(bundles)} if max(map(len, bundles)) > 1 else \
        {"trial": tune.grid_search([b[0] for b in bundles])}
    return _fit(spec, name, tune.with_resources(run_trial, resources), resume, retry_errored,
                param_space=space, tune_config=tune_config,
                run_config=_run_config(spec, name, [progress], max(map(len, bundles))))


class StudyInterrupted(Exception):
    """A phase's Tuner returned before all its trials ended (Ctrl-C): resume continues it."""


def finished_results(results) -> list:
    """The results of trials (configurations) that ended: with their final report, or given up by
    Tune (ERROR). A bundle's Result gives one ConfigResult per configuration (study.bundles.expand).

    A trial whose first attempt failed and that waits for or runs its retry also carries that
    error in its Result, but it has not ended (a Ctrl-C then must not record it as failed).
    """
    trials = results._experiment_analysis.trials  # ResultGrid keeps its results in this order
    out = []
    for trial, result in zip(trials, results):
        if "bundle" in (getattr(result, "config", None) or {}):
            out += [c for c in expand(result) if c.finished or trial.status == trial.ERROR]
        elif (result.metrics or {}).get("final") is True or trial.status == trial.ERROR:
            out.append(result)
    return out


def _record(study_dir: Path, phase: str, results, expected: int, label: str | None = None) -> list:
    """Write a phase's records; if trials are missing or unfinished, keep the finished ones and stop.
    Returns the finished trials' results (finished_results)."""
    done = finished_results(results)
    trials, history = records.rows_from_results(done)
    records.write_phase(study_dir, phase, trials, history)
    if len(done) < expected:
        raise StudyInterrupted(f"{label or phase} phase interrupted with {len(done)}/{expected} trials finished")
    return done


def refresh_records(study_dir: Path) -> None:
    """Bring the records of unfinished phases up to date from Ray's experiment state (finished trials)."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    state = load_state(study_dir)
    spec = state.get("spec") if isinstance(state.get("spec"), dict) else {}
    storage = str(spec.get("storage") or "")
    # a local study's Ray results sit in its own directory (wherever it was moved); a URI storage names its study
    ray_storage = f"{storage.rstrip('/')}/{spec.get('name') or state.get('name') or study_dir.name}/ray" \
        if is_uri(storage) else str(study_dir / "ray")
    phases = state.get("phases") if isinstance(state.get("phases"), dict) else {}
    for phase in records.PHASE_FILES:
        path = f"{ray_storage}/{phase}"
        names = tuner_phases(spec.get("phases") or PHASES, phase)
        if all(phases.get(p) == "done" for p in names) or not (is_uri(path) or os.path.isdir(path)):
            continue
        try:
            results = ResultGrid(ExperimentAnalysis(path))
        except Exception as exc:  # a state file cut short by a kill: the phase is simply not readable yet
            print(f"[{'/'.join(names)}] records not refreshed: {exc}", flush=True)
            continue
        records.write_phase(study_dir, phase, *records.rows_from_results(finished_results(results)))


def _has_errors(study_dir: Path, phase: str) -> bool:
    rows = records.read_phase(study_dir, phase)
    return rows is not None and bool((rows["status"] == "error").any())


def launch(spec: StudySpec, resume: bool = False, retry_errored: bool = False) -> Path:
    """Run (or resume) a study; returns the study directory with its records and report.

    One driver at a time holds the study (study/lock.py). With `retry_errored`, a resumed study
    reruns the trials that Tune recorded as errored (infrastructure failures after their retries)
    in phases already done, leaving every finished trial as it is.
    """
    from study.lock import StudyLock
    from study.preflight import preflight
    from study.trackers import check_installed

    study_dir = spec.study_dir
    check_installed(spec)
    lock = StudyLock(study_dir)
    if resume:
        state = load_state(study_dir)
        lock.acquire()  # before joining Ray: a second driver stops here
    else:
        if (study_dir / "study.json").exists():
            raise SpecError(f"study {spec.name!r} already exists in {spec.storage}; pass --resume to continue it")
        state = {"name": spec.name, "spec": spec.to_dict(), "phases": {}, "batch_caps": batch_caps(spec),
                 "plugins": plugins.manifest()}
    from study.progress import start_clock

    start_clock()
    try:
        connect(spec)
        attach_ray_logs()  # ray.init dropped the study log's handler
        resources = plan_resources(spec)
        checked = preflight(spec, resources)
        study_dir.mkdir(parents=True, exist_ok=True)
        if not lock.held:
            lock.acquire()
        _save_state(study_dir, state)
        if spec.claims and not resume:  # the report judges the claims as they were at launch
            from reports.user_claims import USER_FILE

            shutil.copyfile(spec.claims, study_dir / USER_FILE)
        print(f"study {spec.name}: {len(spec.tasks)} task(s) x {len(spec.optimizers)} optimizer(s), "
              f"{spec.trials} tune trials per cell ({spec.iid_trials} i.i.d.), "
              f"{spec.seeds}{f'-{spec.seeds_max} (auto)' if spec.seeds_max else ''} seeds; "
              f"{resources['CPU']:g} CPU / {resources.get('GPU', 0):g} GPU per trial, "
              f"{concurrency(spec, resources)} at once; {checked} node(s) passed preflight; directory {study_dir}; "
              f"log {study_dir / LOG_NAME}", flush=True)
        _run_phases(spec, state, resources, resume, retry_errored)
    finally:
        lock.release()
    return study_dir


def _run_phases(spec: StudySpec, state: dict, resources: dict, resume: bool, retry_errored: bool) -> None:
    study_dir = spec.study_dir
    if retry_errored:
        for tuner in records.PHASE_FILES:
            phases = tuner_phases(spec.phases, tuner)
            if all(state["phases"].get(p) == "done" for p in phases) and _has_errors(study_dir, tuner):
                print(f"[{phase_names(spec, tuner)}] rerunning errored trials", flush=True)
                for p in phases:
                    state["phases"].pop(p, None)
    cells = cell_configs(spec, resources)
    if "tune" in spec.phases and state["phases"].get("tune") != "done":
        results = run_tune_phase(spec, cells, resources, resume, retry_errored)
        done = _record(study_dir, "tune", results, expected=spec.trials * len(cells))
        state["tune_hps"] = {r.config["_trial_id"]: {h: r.config[h] for h in r.config["_hps"]}
                             for r in done if r.config}
        state["seconds_per_epoch"] = seconds_per_epoch(done)  # sizes the fixed phases' bundles
        state["tune_batch"] = tune_batch(results)
        state["phases"]["tune"] = "done"
        _save_state(study_dir, state)

    fixed_phases = [p for p in spec.phases if p != "tune"]
    if fixed_phases and not all(state["phases"].get(phase) == "done" for phase in fixed_phases):
        if "fixed_configs" not in state:
            state["fixed_configs"] = fixed_configs(spec, cells, records.read_phase(study_dir, "tune"),
                                                   state.get("tune_hps", {}))
            _save_state(study_dir, state)
        configs = state["fixed_configs"]
        # `rounds`: round 1 is recorded and later ones run (study/rounds.py); --retry-errored reruns round 1's errors
        if configs and ("rounds" not in state or retry_errored):
            results = run_fixed_phase(spec, configs, resources, resume, retry_errored)
            _record(study_dir, "fixed", results, expected=len(configs), label=phase_names(spec, "fixed"))
        if spec.seeds_max and configs:
            from study.rounds import run_rounds

            run_rounds(spec, state, resources, resume, retry_errored)
        state["phases"].update({phase: "done" for phase in fixed_phases})
        _save_state(study_dir, state)
    if spec.ladder:
        from study.ladder import run_ladder

        run_ladder(spec, state, cells, resources, resume, retry_errored)
