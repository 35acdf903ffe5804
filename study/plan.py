"""`python -m study plan`: what a launch with the same flags will run, before it runs.

Cells, trials (configurations) per phase and in total, the Ray trials they are bundled into
(study/bundles.py), and (with `--probe`) an estimate of the trial-hours and of each phase's wall
time from one short probe trial per task timed on this machine. Starts no Ray and writes no study.
"""
from __future__ import annotations

import math
import os
import time
from collections import Counter, defaultdict

import pandas as pd

import search_spaces
from study.batch_cap import batch_caps
from study.bundles import HANDBACK_S, auto_size, cell_of, configured_size, pack
from study.spec import PHASES, StudySpec
from study.tasks import parse_task, runner_config


def planned_configs(spec: StudySpec) -> list[dict]:
    """One config-like dict (phase, task, optimizer, epochs) per trial a launch of `spec` runs.

    Built by the launch's own functions; the confirm phase is counted as if every cell had an ok
    tune trial (a cell whose tune trials all fail has no confirm trials)."""
    from study.launch import cell_configs, fixed_configs

    cells = cell_configs(spec, {"CPU": 1.0, "GPU": 0.0})
    out = []
    if "tune" in spec.phases:
        out += [base for base in cells.values() for _ in range(spec.trials)]
    rows = pd.DataFrame([{"trial_id": key, "task": b["task"], "optimizer": b["optimizer"], "status": "ok",
                          "score": 0.0} for key, b in cells.items()])
    tune_hps = {key: search_spaces.default_point(b["optimizer"]) for key, b in cells.items()}
    if any(p != "tune" for p in spec.phases):
        out += fixed_configs(spec, cells, rows if "tune" in spec.phases else None, tune_hps)
    if spec.ladder:
        from study.ladder import plan_rungs

        out += plan_rungs(spec, cells, [c for c in out if "_trial_id" in c and c["phase"] != "tune"])[2]
    return out


def rung_lines(spec: StudySpec) -> list[str]:
    """One line per ladder rung: what it changes, its trials, how many an earlier phase or rung runs."""
    from study.launch import cell_configs
    from study.ladder import change_words, plan_rungs, tune_phase

    cells = cell_configs(spec, {"CPU": 1.0, "GPU": 0.0})
    fixed = [c for c in planned_configs(spec) if c["phase"] not in ("tune", "ladder") and not c["phase"].startswith("tune-")]
    rungs, ids, to_run = plan_rungs(spec, cells, fixed)
    own = {c["_trial_id"]: c for c in to_run if c["phase"] == "ladder"}
    phases = Counter(c["phase"] for c in to_run)  # a `tune-<names>` phase runs only cells with a paper point
    lines = []
    for rung in rungs:
        new = [own[i] for i in ids[rung.name] if i in own and own[i]["rung"] == rung.name]
        tuning = rung.factors["tuning"]
        tune = (f" + {phases[tune_phase(tuning)]} `{tune_phase(tuning)}` trials"
                if tuning not in ("paper", "all") and rung.changed == ("tuning",) else "")
        lines.append(f"  rung {rung.name} ({change_words(rung)}): {len(ids[rung.name])} trials, "
                     f"{len(ids[rung.name]) - len(new)} shared with a phase or an earlier rung, "
                     f"{sum(c['epochs'] for c in new)} epochs of new runs{tune}")
        lines += [f"    note: {n}" for n in rung.notes]
    return lines
def most_configs(spec: StudySpec) -> list[dict]:
    """Under `--seeds auto`: the trials if every claim of the study's tasks and optimizers (the
    curated claims, reports/data, and the user's `--claims`) went to `seeds_max`, on the cells study/rounds.py would raise:
    confirm, and the paper phase's paper-protocol runs (fair where a task has no paper protocol)."""
    import dataclasses

    from reports.claims import alias_claims, curated_claims
    from reports.user_claims import read_file, with_user_claims

    claims = with_user_claims(alias_claims(curated_claims(), spec.tasks), read_file(spec.claims))
    claims = claims[(claims["kind"] != "all") & claims["task"].isin(spec.tasks)
                    & claims["optimizer"].isin(spec.optimizers) & claims["baseline"].isin(spec.optimizers)]
    claimed = {(t, o) for t, a, b in zip(claims["task"], claims["optimizer"], claims["baseline"]) for o in (a, b)}
    least = planned_configs(spec)
    paper_protocol = {(c["task"], c["optimizer"]) for c in least if c["phase"] == "paper" and c["protocol"] == "paper"}

    def raised(c: dict) -> bool:
        cell = (c["task"], c["optimizer"])
        return cell in claimed and (c["phase"] == "confirm" or c["phase"] == "paper" and (
            c["protocol"] == "paper" or cell not in paper_protocol))

    most = dataclasses.replace(spec, seeds=spec.seeds_max, paper_seeds=max(spec.paper_seeds or 0, spec.seeds_max))
    return [c for c in least if not raised(c)] + [c for c in planned_configs(most) if raised(c)]


def trial_counts(spec: StudySpec) -> dict[str, int]:
    """Trials per phase, in phase order."""
    counts = Counter(config["phase"] for config in planned_configs(spec))
    return {phase: counts[phase] for phase in PHASES if counts[phase]}


# Driver time per Ray trial (benchmarks/results/cluster_occupancy.md, gpu.md: 0.25-0.35 s): the
# driver hands out Ray trials one after another, so a phase takes at least this per Ray trial.
DRIVER_S_PER_RAY_TRIAL = 0.35


def plan_slots(spec: StudySpec) -> int:
    """Trials at once for the projection: --max-concurrent, else this machine's CPUs per trial's."""
    return spec.max_concurrent or max(1, int((os.cpu_count() or 1) // (spec.cpus_per_trial or 1.0)))


def tune_bundle_sizes(spec: StudySpec, seconds: dict[str, float] | None, slots: int) -> list[int]:
    """The configurations each of the tune phase's Ray trials runs, as CellSearcher hands them out:
    round-robin over the cells; the first `slots` elastic bundles of start-up draws, each running
    what fits in HANDBACK_S and handing the rest back (one configuration, unmeasured); a cell's
    first Ray trial after that, elastic too, sized from the other cells' seconds; then the size rule
    of study/bundles.py with `seconds` (per cell) as the measured length; None: unmeasured."""
    if "tune" not in spec.phases:
        return []
    seconds = seconds or {}
    left = {f"{t}/{o}": spec.trials for t in spec.tasks for o in spec.optimizers}
    draws = {key: spec.iid_trials for key in left}  # start-up draws not yet in an elastic bundle
    share = math.ceil(spec.iid_trials * len(left) / max(1, slots))
    seen: set[str] = set()  # cells measured by the time their next Ray trial is sized
    sizes: list[int] = []
    while any(left.values()):
        key = max(left, key=lambda k: left[k])  # the cell with the fewest handed out
        own = seconds.get(key)
        if configured_size(spec):
            size = configured_size(spec)
        elif key in seen and len(sizes) >= slots:
            size = auto_size(own, sum(left.values()), slots)
        else:  # elastic: it runs what fits in HANDBACK_S
            if len(sizes) < slots:  # the first wave: nothing measured yet
                held = max(1, min(draws[key], share))
                draws[key] -= held
            else:
                study = [seconds[k] for k in seen if k in seconds]
                held = auto_size(sum(study) / len(study) if study else None, sum(left.values()), slots)
            size = min(held, math.ceil(HANDBACK_S / own)) if own else 1
            seen.add(key)
        size = min(size, left[key])
        left[key] -= size
        sizes.append(size)
    return sizes


def phase_lines(spec: StudySpec, configs: list[dict], slots: int,
                seconds_per_epoch: dict[str, float] | None) -> dict[str, str]:
    """Per phase: its Ray trials (a bundle counts 1/B for each of its B configurations' phases)
    and, with measured seconds, its projected wall time."""
    from study.progress import duration  # imports Ray Tune: only when a line needs it

    seconds = {cell: s * spec.epochs for cell, s in (seconds_per_epoch or {}).items()}
    ray_trials: dict[str, float] = defaultdict(float)
    work: dict[str, float] = defaultdict(float)
    tune_sizes = tune_bundle_sizes(spec, seconds if seconds_per_epoch else None, slots)
    ray_trials["tune"] = len(tune_sizes)
    fixed = [c for c in configs if c["phase"] != "tune"]
    for bundle in pack(fixed, slots, configured_size(spec), seconds_per_epoch):
        for config in bundle:
            ray_trials[config["phase"]] += 1 / len(bundle)
    for config in configs:
        per_epoch = (seconds_per_epoch or {}).get(cell_of(config))
        work[config["phase"]] += (per_epoch or 0.0) * config["epochs"]
    out = {}
    for phase in ray_trials:
        line = f"in {math.ceil(ray_trials[phase] - 1e-9)} Ray trials"
        if seconds_per_epoch:
            wall = max(work[phase] / slots, ray_trials[phase] * DRIVER_S_PER_RAY_TRIAL)
            line += f", projected {duration(wall)} wall at {slots} at once"
        out[phase] = line
    return out


def probe_seconds_per_epoch(spec: StudySpec, task_name: str) -> float:
    """Wall seconds of one epoch (eval interval) of a default-point trial of `task_name`, here."""
    import importlib

    task = parse_task(task_name)
    optimizer = spec.optimizers[0]
    config = {**runner_config(task, spec.task_config), **search_spaces.default_point(optimizer),
              "task": task_name, "optimizer": optimizer, "protocol": "fair", "epochs": 1, "seed": spec.seed}
    runner = importlib.import_module(f"runners.{task.runner}")
    start = time.perf_counter()
    result = runner.train(config, lambda metrics: None)
    return float(result.get("wall_time") or time.perf_counter() - start)  # the runner's own clock: no imports


def print_plan(spec: StudySpec, probe: bool = False) -> int:
    configs = planned_configs(spec)
    counts = trial_counts(spec)
    cells = len(spec.tasks) * len(spec.optimizers)
    print(f"study plan ({spec.preset}): {len(spec.tasks)} task(s) x {len(spec.optimizers)} optimizer(s) = {cells} cells")
    print(f"  tasks: {', '.join(spec.tasks)}")
    print(f"  optimizers: {', '.join(spec.optimizers)}")
    slots = plan_slots(spec)
    per_epoch = None
    if probe:
        per_task = {task: probe_seconds_per_epoch(spec, task) for task in spec.tasks}
        per_epoch = {f"{t}/{o}": per_task[t] for t in spec.tasks for o in spec.optimizers}
    lines = phase_lines(spec, configs, slots, per_epoch) if (per_epoch or configured_size(spec)) else {}
    for phase, n in counts.items():
        print(f"  {phase}: {n} trials" + (f" {lines[phase]}" if phase in lines else ""))
    if spec.ladder:
        ladder = [c for c in configs if c["phase"] == "ladder" or c["phase"].startswith("tune-")]
        print(f"  ladder: {len(ladder)} trials of its own")
        for line in rung_lines(spec):
            print(line)
    print(f"  total: {len(configs)} trials")
    if not lines:
        print("  Ray trials: bundles of trials sized at launch from the measured trial length (study/bundles.py); "
              "--probe projects them, --bundle N fixes them")
    if spec.seeds_max:
        most = most_configs(spec)
        print(f"  seeds auto, {spec.seeds} to {spec.seeds_max} per cell: {len(configs)} trials if every claim is decided "
              f"at {spec.seeds} seeds, at most {len(most)} if every claim goes to {spec.seeds_max} "
              f"({sum(c['epochs'] for c in configs):g} to {sum(c['epochs'] for c in most):g} epochs)")
    gpus = spec.gpus_per_trial
    print(f"  per trial: {spec.epochs} epochs (paper phase: its paper's budget), "
          f"timeout {f'{spec.trial_timeout:g} s' if spec.trial_timeout else 'none'}, "
          f"GPUs {'auto (1 if the cluster has GPUs)' if gpus is None else f'{gpus:g}'}")
    if spec.task_config.get("paper_steps") and any(parse_task(t).runner == "glue" for t in spec.tasks):
        print(f"  GLUE paper phase: {spec.task_config['paper_steps']} steps (task_config paper_steps; the paper's 50,000)")
    for task_name, cap in batch_caps(spec).items():
        print(f"  batch sizes on {task_name}: at most {cap}, the examples its training split has "
              "(larger search choices dropped, the default and paper points run at it)")
    if not probe:
        print("  cost: pass --probe to time one short trial per task on this machine")
        return 0
    epochs = Counter()
    for config in configs:
        epochs[config["task"]] += config["epochs"]
    most_epochs = Counter()
    for config in most_configs(spec) if spec.seeds_max else configs:
        most_epochs[config["task"]] += config["epochs"]
    total = 0.0
    for task_name in spec.tasks:
        seconds = per_task[task_name]
        hours = seconds * epochs[task_name] / 3600
        total += hours
        most = f" (at most {seconds * most_epochs[task_name] / 3600:.2f} with seeds auto)" if spec.seeds_max else ""
        print(f"  probe {task_name}: {seconds:.1f} s per epoch here -> {hours:.2f} trial-hours{most}")
    device = f"x {gpus:g} GPU per trial = {total * gpus:.2f} GPU-hours" if gpus else "(one device per trial)"
    print(f"  estimate: {total:.2f} trial-hours {device}, if trials run as fast as the probe did here")
    return 0
