"""Driver stalls: what the study's driver is doing when the slots of a simulated cluster go idle.

Runs benchmarks/cluster_occupancy.py's study (4 x 8 logical GPUs, sleeping configurations) with
timers on the driver's periodic work: Tune's experiment checkpoint (`TuneController.checkpoint`,
which saves the experiment state and the searcher), the searcher's save and its Optuna journal
export, its suggestions, and Python's full (generation 2) garbage collections. Prints each
activity's count, total and longest seconds (calls over 0.05 s), and every 2-second window whose
occupancy is under 70% with the driver activities that overlap it.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/driver_stalls.py --waves 207
"""
from __future__ import annotations

import argparse
import functools
import gc
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd

import cluster_occupancy

LONG_S = 0.05  # calls shorter than this are not logged
WINDOW_S = 2.0


def timed(owner, name: str, label: str, log: list) -> None:
    """Replace `owner.name` by a wrapper that logs (start, seconds, label) of its long calls."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            if time.time() - start > LONG_S:
                log.append((start, time.time() - start, label))

    setattr(owner, name, wrapper)


def watch_full_collections(log: list) -> None:
    started = {}

    def callback(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                started["t"] = time.time()
            elif "t" in started:
                log.append((started["t"], time.time() - started["t"], "gc generation 2"))

    gc.callbacks.append(callback)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waves", type=int, default=207, help="configurations per slot (207: 6,624)")
    parser.add_argument("--trial-s", type=float, default=0.5)
    args = parser.parse_args()

    from ray.tune.execution.tune_controller import TuneController

    from study.searcher import CellSearcher

    log: list[tuple[float, float, str]] = []
    timed(TuneController, "checkpoint", "Tune experiment checkpoint (all below it included)", log)
    timed(CellSearcher, "save", "searcher save (its export included)", log)
    timed(CellSearcher, "export", "searcher export to the Optuna journal", log)
    timed(CellSearcher, "suggest", "searcher suggest (TPE asks)", log)
    watch_full_collections(log)

    print(f"load average at start: {os.getloadavg()}", flush=True)
    cluster_occupancy.preimport()
    storage = tempfile.mkdtemp(prefix="driver-stalls-")
    result = cluster_occupancy.run(args.trial_s, 4, 8, args.waves, 0.25, 2.0, storage=storage)
    print({k: result[k] for k in ("trials", "occupancy", "steady_occupancy", "span_s", "driver_s_per_config")})

    spans = pd.read_csv(os.path.join(storage, "spans.txt"), sep=" ", names=["start", "end", "pid", "cell", "trial"])
    shutil.rmtree(storage)
    calls = pd.DataFrame(log, columns=["start", "seconds", "activity"])
    origin = spans["start"].min()
    spans[["start", "end"]] -= origin
    calls["start"] -= origin
    calls = calls[calls["start"] >= 0]
    print(calls.groupby("activity")["seconds"].agg(["count", "sum", "max"]).round(2).to_string())
    for lo in np.arange(0.0, spans["end"].max(), WINDOW_S):
        hi = lo + WINDOW_S
        busy = cluster_occupancy.occupancy(spans, result["slots"], (lo, hi))
        if busy < 0.7:
            during = calls[(calls["start"] < hi) & (calls["start"] + calls["seconds"] > lo)]
            names = "; ".join(f"{a} {s:.2f} s" for a, s in zip(during["activity"], during["seconds"]))
            print(f"{lo:6.0f}-{hi:.0f} s: occupancy {busy:.2f}  {names}")


if __name__ == "__main__":
    main()
