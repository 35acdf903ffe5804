"""Cluster occupancy: how busy a study keeps the slots of a multi-node GPU cluster.

A `ray.cluster_utils.Cluster` on this machine stands in for the cluster: a CPU-only head and
`--nodes` worker nodes of `--gpus-per-node` *logical* GPUs each (no real GPU needed; a trial asks
for 1 GPU and `--cpus-per-trial` CPUs, so the GPUs set the slots). The trials are the test-only
`tests.sleep_runner` (they sleep `--trial-s` seconds), run through the real launch path (CellSearcher,
per-cell TPE, concurrency from the cluster's slots, records).

Reported per trial length: occupancy = busy slot-seconds / (slots x span from the first trial's
start to the last trial's end); steady occupancy, the same over the window in which every worker
process is up (from the last worker's first trial to the first worker's last trial end), which
leaves out the start of the 32 worker processes; and the tune phase's wall time (launch after Ray
is up, preflight and records included) against the ideal ceil(trials / slots) x trial length, with
its parts before the first trial starts (`first_trial_s`) and after the last one ends (`tail_s`:
Tune's end, the records).

With `--bare-tune`, each trial length is also run, on its own fresh cluster of the same shape, by
a bare Ray Tune `Tuner` (a function trainable that only sleeps, random search, the same slots,
trial count (`--bare-waves`, default `--waves`) and `reuse_actors`, one configuration per Ray
trial): the pace Ray Tune itself reaches on this machine, side by side with the study's.

The study bundles configurations into Ray trials (study/bundles.py): `--bundle N` fixes N per Ray
trial, `--bundle 1` is one each, default the automatic size. Driver time per configuration = CPU
seconds of this (the driver's) process during the launch or fit, all its threads, over the
configurations run: what one driver spends per configuration, little inflated by other processes
competing for the cores (unlike wall time). The modules both import once per process (Ray Tune,
its default TensorBoard logger's torch, MLflow's) are imported before either clock starts.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cluster_occupancy.py --trial-s 0.5 3 --bare-tune
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from unittest import mock

import pandas as pd


def busy_profile(spans: pd.DataFrame) -> pd.Series:
    """Trials running at each start/end instant (a sweep over the spans' events)."""
    ends_first = [pd.Series(-1, index=spans["end"]), pd.Series(1, index=spans["start"])]  # at a tie, a slot is freed first
    events = pd.concat(ends_first).sort_index(kind="stable")
    return events.cumsum()


def steady_window(spans: pd.DataFrame) -> tuple[float, float]:
    """From the moment the last worker process started its first trial (all slots' actors up) to
    the moment the first one finished its last trial: occupancy there is the driver's pace alone."""
    by_worker = spans.groupby("pid")
    return float(by_worker["start"].min().max()), float(by_worker["end"].max().min())


def occupancy(spans: pd.DataFrame, slots: int, window: tuple[float, float]) -> float:
    """Busy slot-seconds inside `window` / (slots x its length)."""
    lo, hi = window
    if hi <= lo:
        return math.nan
    busy = (spans["end"].clip(lo, hi) - spans["start"].clip(lo, hi)).sum()
    return float(busy / (slots * (hi - lo)))


def start_cluster(nodes: int, gpus_per_node: int, cpus_per_node: float):
    """A CPU-only head and `nodes` worker nodes of logical GPUs."""
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus_per_node, num_gpus=gpus_per_node)
    cluster.wait_for_nodes()
    return cluster


def figures(spans: pd.DataFrame, n: int, slots: int, trial_s: float, wall: float) -> dict:
    """Occupancy figures of one run from its trials' wall-clock spans."""
    first, last = float(spans["start"].min()), float(spans["end"].max())
    ideal = math.ceil(n / slots) * trial_s
    return {"trial_s": trial_s, "trials": n, "slots": slots, "peak_busy": int(busy_profile(spans).max()),
            "occupancy": occupancy(spans, slots, (first, last)),
            "steady_occupancy": occupancy(spans, slots, steady_window(spans)),
            "first_trial_s": first, "span_s": last - first, "tail_s": wall - last, "wall_s": wall, "ideal_s": ideal,
            "wall_over_ideal": wall / ideal}


def _sleep_trainable(config: dict) -> dict:
    """Bare Tune's trial: sleep, stamp the span, return one result."""
    start = time.time()
    time.sleep(config["sleep_s"])
    with open(config["stamps"], "a") as f:
        f.write(f"{start} {time.time()} {os.getpid()} bare\n")
    return {"score": config["x"]}


def run_bare_tune(trial_s: float, nodes: int, gpus_per_node: int, waves: int, cpus_per_trial: float,
                  cpus_per_node: float) -> dict:
    """The same slots and trial count through a bare Ray Tune Tuner: Tune's own pace here."""
    import ray
    from ray import tune

    cluster = start_cluster(nodes, gpus_per_node, cpus_per_node)
    slots = nodes * gpus_per_node
    workdir = tempfile.mkdtemp(prefix="occupancy-bare-")
    stamps = os.path.join(workdir, "spans.txt")
    try:
        ray.init(address=cluster.address)
        trainable = tune.with_resources(_sleep_trainable, {"cpu": cpus_per_trial, "gpu": 1})
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0, 1), "sleep_s": trial_s, "stamps": stamps},
            tune_config=tune.TuneConfig(num_samples=waves * slots, max_concurrent_trials=slots,
                                        reuse_actors=True, metric="score", mode="max"),
            run_config=tune.RunConfig(storage_path=workdir, name="bare", verbose=0))
        start, launched, cpu = time.perf_counter(), time.time(), time.process_time()
        tuner.fit()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        ray.shutdown()
        cluster.shutdown()
    spans = pd.read_csv(stamps, sep=" ", names=["start", "end", "pid", "cell"])
    spans[["start", "end"]] -= launched
    shutil.rmtree(workdir)
    return {"runner": "bare Ray Tune", **figures(spans, len(spans), slots, trial_s, wall), "ray_trials": len(spans),
            "driver_s_per_config": cpu / len(spans)}


def run(trial_s: float, nodes: int, gpus_per_node: int, waves: int, cpus_per_trial: float,
        cpus_per_node: float, max_concurrent: int | None = None, profile: str | None = None,
        storage: str | None = None, bundle: int | None = None) -> dict:
    """One study on a fresh simulated cluster; returns its occupancy figures."""
    import ray

    from study import launch as launch_module
    from study.spec import build_spec

    cluster = start_cluster(nodes, gpus_per_node, cpus_per_node)
    slots = nodes * gpus_per_node
    optimizers = ["adamw", "lion", "sgd", "adam"]
    trials_per_cell = math.ceil(waves * slots / len(optimizers))
    original = launch_module.cell_configs
    workdir = storage or tempfile.mkdtemp(prefix="occupancy-")
    stamps = os.path.join(workdir, "spans.txt")

    def sleeping_cells(spec, resources):
        return {key: {**base, "_runner": "tests.sleep_runner", "sleep_s": trial_s, "stamps": stamps}
                for key, base in original(spec, resources).items()}

    try:
        with mock.patch.object(launch_module, "cell_configs", sleeping_cells):
            overrides = {"tasks": ["synthetic"], "optimizers": optimizers, "trials": trials_per_cell,
                         "iid_trials": trials_per_cell // 2, "epochs": 1, "phases": ["tune"], "storage": workdir,
                         "name": "occupancy", "address": cluster.address, "storage_is_shared": True,
                         "cpus_per_trial": cpus_per_trial, "max_concurrent": max_concurrent, "bundle": bundle}
            spec = build_spec("quick", None, {k: v for k, v in overrides.items() if v is not None})
            launch_module.connect(spec)
            from study.cluster import plan_resources

            concurrency = launch_module.concurrency(spec, plan_resources(spec))
            start, launched, cpu = time.perf_counter(), time.time(), time.process_time()
            with mock.patch("reports.write_report"):
                if profile:
                    import cProfile

                    cProfile.runctx("launch_module.launch(spec)", globals(), {"launch_module": launch_module,
                                                                              "spec": spec}, profile)
                    study_dir = spec.study_dir
                else:
                    study_dir = launch_module.launch(spec)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            trials = pd.read_csv(study_dir / "trials.csv")
            ray_trials = sum(p.is_dir() for p in (study_dir / "ray" / "tune").iterdir())
    finally:
        ray.shutdown()
        cluster.shutdown()
    spans = pd.read_csv(stamps, sep=" ", names=["start", "end", "pid", "cell", "trial"])
    spans[["start", "end"]] -= launched
    if storage is None:
        shutil.rmtree(workdir)
    cells = spans.groupby("cell").agg(start=("start", "min"), end=("end", "max"))
    return {"runner": "study", **figures(spans, len(trials), slots, trial_s, wall),
            "ok": int((trials["status"] == "ok").sum()), "concurrency": concurrency, "ray_trials": ray_trials,
            "driver_s_per_config": cpu / len(trials),
            "cells_overlap": bool(cells["start"].max() < cells["end"].min())}


def preimport() -> None:
    """One-time imports of any driver (seconds of CPU), out of the per-configuration figures."""
    import mlflow  # noqa: F401  (Ray Tune's usage tags import it)
    import ray.tune  # noqa: F401
    import tensorboardX  # noqa: F401  (Tune's default logger; imports torch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trial-s", type=float, nargs="+", default=[0.5, 3.0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--waves", type=int, default=4, help="trials per slot")
    parser.add_argument("--cpus-per-node", type=float, default=2.0)
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument("--profile", help="write the driver's cProfile stats to this file")
    parser.add_argument("--bundle", type=int, help="configurations per Ray trial (default: automatic)")
    parser.add_argument("--bare-tune", action="store_true",
                        help="also run each trial length through a bare Ray Tune Tuner (Tune's own pace)")
    parser.add_argument("--bare-waves", type=int, help="trials per slot of the bare Tune run (default --waves)")
    args = parser.parse_args()
    cpus_per_trial = args.cpus_per_node / args.gpus_per_node
    print(f"load average at start: {os.getloadavg()}", flush=True)
    preimport()
    for trial_s in args.trial_s:
        r = run(trial_s, args.nodes, args.gpus_per_node, args.waves, cpus_per_trial,
                args.cpus_per_node, args.max_concurrent, args.profile, bundle=args.bundle)
        print(r, flush=True)
        if args.bare_tune:
            print(run_bare_tune(trial_s, args.nodes, args.gpus_per_node, args.bare_waves or args.waves,
                                cpus_per_trial, args.cpus_per_node), flush=True)
    print(f"load average at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
