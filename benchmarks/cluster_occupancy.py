"""Cluster occupancy: how busy a study keeps the slots of a multi-node GPU cluster.

A `ray.cluster_utils.Cluster` on this machine stands in for the cluster: a CPU-only head and
`--nodes` worker nodes of `--gpus-per-node` *logical* GPUs each (no real GPU needed; a trial asks
for 1 GPU and `--cpus-per-trial` CPUs, so the GPUs set the slots). The trials are the test-only
`tests.sleep_runner` (they sleep `--trial-s` seconds), run through the real launch path (CellSearcher,
per-cell TPE, concurrency from the cluster's slots, records).

Reported per trial length: occupancy = busy slot-seconds / (slots x span from the first trial's
start to the last trial's end), and the tune phase's wall time (launch after Ray is up, preflight
and records included) against the ideal ceil(trials / slots) x trial length.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cluster_occupancy.py --trial-s 0.5 3
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from unittest import mock

import pandas as pd


def run(trial_s: float, nodes: int, gpus_per_node: int, waves: int, cpus_per_trial: float,
        cpus_per_node: float, max_concurrent: int | None = None) -> dict:
    """One study on a fresh simulated cluster; returns its occupancy figures."""
    import ray
    from ray.cluster_utils import Cluster

    from study import launch as launch_module
    from study.spec import build_spec

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus_per_node, num_gpus=gpus_per_node)
    cluster.wait_for_nodes()
    slots = nodes * gpus_per_node
    optimizers = ["adamw", "lion", "sgd", "adam"]
    trials_per_cell = math.ceil(waves * slots / len(optimizers))
    original = launch_module.cell_configs
    stamps = tempfile.mktemp(suffix=".stamps")

    def sleeping_cells(spec, resources):
        return {key: {**base, "_runner": "tests.sleep_runner", "sleep_s": trial_s, "stamps": stamps}
                for key, base in original(spec, resources).items()}

    try:
        with tempfile.TemporaryDirectory() as storage, mock.patch.object(launch_module, "cell_configs", sleeping_cells):
            overrides = {"tasks": ["synthetic"], "optimizers": optimizers, "trials": trials_per_cell,
                         "iid_trials": trials_per_cell // 2, "epochs": 1, "phases": ["tune"], "storage": storage,
                         "name": "occupancy", "address": cluster.address, "storage_is_shared": True,
                         "cpus_per_trial": cpus_per_trial, "max_concurrent": max_concurrent}
            spec = build_spec("quick", None, {k: v for k, v in overrides.items() if v is not None})
            launch_module.connect(spec)
            start, launched = time.perf_counter(), time.time()
            with mock.patch("reports.write_report"):
                study_dir = launch_module.launch(spec)
            wall = time.perf_counter() - start
            trials = pd.read_csv(study_dir / "trials.csv")
    finally:
        ray.shutdown()
        cluster.shutdown()
    spans = pd.read_csv(stamps, sep=" ", names=["start", "end"])
    os.unlink(stamps)
    if os.environ.get("OCCUPANCY_SPANS"):
        (spans - launched).to_csv(os.environ["OCCUPANCY_SPANS"], index=False)
    busy = float((spans["end"] - spans["start"]).sum())
    span = float(spans["end"].max() - spans["start"].min())
    n = len(trials)
    ideal = math.ceil(n / slots) * trial_s
    return {"trial_s": trial_s, "trials": n, "ok": int((trials["status"] == "ok").sum()), "slots": slots,
            "occupancy": busy / (slots * span), "span_s": span, "wall_s": wall, "ideal_s": ideal,
            "wall_over_ideal": wall / ideal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trial-s", type=float, nargs="+", default=[0.5, 3.0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--waves", type=int, default=4, help="trials per slot")
    parser.add_argument("--cpus-per-node", type=float, default=2.0)
    parser.add_argument("--max-concurrent", type=int)
    args = parser.parse_args()
    for trial_s in args.trial_s:
        r = run(trial_s, args.nodes, args.gpus_per_node, args.waves, args.cpus_per_node / args.gpus_per_node,
                args.cpus_per_node, args.max_concurrent)
        print(r, flush=True)


if __name__ == "__main__":
    main()
