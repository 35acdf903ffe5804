"""Study overhead: wall time of a ~48-trial study against its trials' own training time.

Target (issue 5): wall <= 1.3 x (sum of trial training time / concurrency), plus Ray's start.
Each trial trains the ConvNet on `synthetic` data for about a second on one CPU; the trials' own
`wall_time` (measured inside the runner) is summed from trials.csv.

    .venv/bin/python benchmarks/study_overhead.py [--trials-per-cell 12] [--n-train 600]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import pandas as pd

from study.cluster import connect
from study.launch import launch
from study.spec import build_spec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials-per-cell", type=int, default=12)
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--optimizers", default="adamw,lion,sgd,thermolion")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as storage:
        spec = build_spec("quick", None, {
            "tasks": ["synthetic"], "optimizers": args.optimizers, "trials": args.trials_per_cell,
            "iid_trials": args.trials_per_cell // 2, "epochs": 1, "phases": ["tune"], "storage": storage,
            "name": "overhead", "task_config": {"n_train": args.n_train},
        })
        t0 = time.perf_counter()
        connect(spec)
        ray_start = time.perf_counter() - t0
        import ray

        concurrency = int(ray.cluster_resources().get("CPU", 1))
        t1 = time.perf_counter()
        study_dir = launch(spec)
        wall = time.perf_counter() - t1
        trials = pd.read_csv(study_dir / "trials.csv")

    busy = trials["wall_time"].sum()
    ideal = busy / concurrency
    print(f"trials: {len(trials)} ({(trials['status'] == 'ok').sum()} ok), concurrency {concurrency}, "
          f"cpus {os.cpu_count()}")
    print(f"mean trial training time: {trials['wall_time'].mean():.2f} s")
    print(f"ray start: {ray_start:.1f} s")
    print(f"study wall (after ray start): {wall:.1f} s; ideal sum/concurrency: {ideal:.1f} s; "
          f"ratio {wall / ideal:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
