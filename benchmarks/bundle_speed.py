"""Bundles on this machine: a launch with automatic bundles beside the same launch with `--bundle 1`.

Targets (issue 23): the default launch (`quick` preset, all phases) takes <= 1.15 x (the sum of
its trials' own compute / concurrency) and is >= 1.5x faster than with `--bundle 1`. Both run in
one process, on one local Ray, one after the other (`--order`), each in a fresh study directory.
Compute = the runner's `wall_time` of every trial (trials.csv, all phases); wall = `launch()` after
Ray is up (preflight, every phase, records; the report is not written).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bundle_speed.py [--optimizers a,b] [--order auto,1]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from unittest import mock

import pandas as pd

from study.cluster import connect
from study.launch import launch
from study.spec import build_spec


def one_launch(storage: str, name: str, bundle: int | None, overrides: dict) -> dict:
    spec = build_spec("quick", None, {**overrides, "storage": storage, "name": name, "bundle": bundle})
    import ray

    concurrency = int(ray.cluster_resources().get("CPU", 1))
    start = time.perf_counter()
    with mock.patch("reports.write_report"):
        study_dir = launch(spec)
    wall = time.perf_counter() - start
    trials = pd.read_csv(study_dir / "trials.csv")
    state = json.loads((study_dir / "study.json").read_text())
    ray_trials = sum(p.is_dir() for tuner in ("tune", "fixed") if (study_dir / "ray" / tuner).is_dir()
                     for p in (study_dir / "ray" / tuner).iterdir())
    ideal = trials["wall_time"].sum() / concurrency
    return {"bundle": bundle or "auto", "trials": len(trials), "ok": int((trials["status"] == "ok").sum()),
            "ray_trials": ray_trials, "tune_batch": state.get("tune_batch"), "concurrency": concurrency,
            "mean_trial_s": round(float(trials["wall_time"].mean()), 2), "wall_s": round(wall, 1),
            "compute_over_concurrency_s": round(ideal, 1), "wall_over_ideal": round(wall / ideal, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--optimizers", help="default: the quick preset's (all of them)")
    parser.add_argument("--order", default="auto,1", help="bundle settings in the order run (auto = automatic)")
    args = parser.parse_args()
    overrides = {"optimizers": args.optimizers} if args.optimizers else {}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as storage:
        connect(build_spec("quick", None, {"storage": storage, "name": "connect"}))
        for i, setting in enumerate(args.order.split(",")):
            bundle = None if setting == "auto" else int(setting)
            rows.append(one_launch(storage, f"run{i}", bundle, overrides))
            print(rows[-1], f"load average {os.getloadavg()}", flush=True)
    table = pd.DataFrame(rows)
    walls = table.set_index("bundle")["wall_s"]
    if "auto" in walls and 1 in walls:
        print(f"speed-up of automatic bundles over --bundle 1: {walls[1] / walls['auto']:.2f}x (target >= 1.5)")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
