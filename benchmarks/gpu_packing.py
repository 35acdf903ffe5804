"""Trials per GPU-hour through the whole study at several ``--gpus-per-trial`` (fractional packing).

For each share it runs ``python -m study launch`` (local Ray on this machine, tune phase only, the
same cells and budget every time) in a subprocess, samples ``nvidia-smi`` utilization every 0.5 s,
and timestamps the driver's lines. Reported per share: trials, the tune phase's span (the study's
header line to its last progress line), trials per hour over that span, mean GPU utilization over
it, the runner's mean wall time per trial (trials.csv), the trainable's mean time as Ray measured
it (the runner plus the adapter's reports), and ``busy``: runner time / (slots x span), the share
of the slots' time spent inside runners; the rest is Ray's per-trial overhead and idle slots.

    .venv/bin/python benchmarks/gpu_packing.py [--shares 1,0.25,0.125] [--trials 12] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

PROGRESS = re.compile(r"study \d+/\d+")


def sample_utilization(samples: list[tuple[float, float]], stop: threading.Event) -> None:
    """(time, GPU utilization %) every 0.5 s until ``stop``; nothing when nvidia-smi is missing."""
    if not shutil.which("nvidia-smi"):
        return
    proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                             "-lms", "500"], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if stop.is_set():
            break
        if line.strip().isdigit():
            samples.append((time.time(), float(line)))
    proc.terminate()


def ray_trial_seconds(study_dir: Path) -> list[float]:
    """Each trial's time inside its trainable as Ray measured it (``time_total_s`` of its last result)."""
    out = []
    for path in study_dir.rglob("result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            out.append(float(rows[-1]["time_total_s"]))
    return out


def run_share(share: float, args, storage: Path) -> dict:
    """One launch; the tune phase's span runs from the study's header line to its last progress
    line (``... | study N/N, ...``), both timestamped as the driver prints them."""
    name = f"pack-{share:g}".replace(".", "p")
    slots = max(1, round(1 / share))
    cmd = [sys.executable, "-m", "study", "launch", "--tasks", args.task, "--optimizers", args.optimizers,
           "--trials", str(args.trials), "--iid-trials", str(args.trials // 2), "--epochs", str(args.epochs),
           "--phases", "tune", "--gpus-per-trial", str(share), "--max-concurrent", str(slots),
           "--storage", str(storage), "--name", name]
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_utilization, args=(samples, stop), daemon=True)
    sampler.start()
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.time(), line) for line in proc.stdout]
    proc.wait()
    wall = time.time() - t0
    stop.set()
    if proc.returncode != 0:
        tail = "".join(line for _, line in lines[-40:])
        raise SystemExit(f"share {share}: launch failed ({proc.returncode}):\n{tail}")
    start = next(t for t, line in lines if line.startswith(f"study {name}:"))
    end = max(t for t, line in lines if PROGRESS.search(line))
    util = [u for t, u in samples if start <= t <= end]
    trials = pd.read_csv(storage / name / "trials.csv")
    ray_s = ray_trial_seconds(storage / name)
    span = end - start
    return {"share": share, "slots": slots, "trials": len(trials), "span_s": span, "launch_s": wall,
            "trials_per_hour": 3600 * len(trials) / span,
            "gpu_util": sum(util) / len(util) if util else float("nan"),
            "runner_s": float(trials["wall_time"].mean()), "ray_trial_s": sum(ray_s) / max(1, len(ray_s)),
            "busy": float(trials["wall_time"].sum()) / (slots * span)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shares", default="1,0.25,0.125")
    ap.add_argument("--task", default="digits")
    ap.add_argument("--optimizers", default="adamw,lion,thermolion,sepnorm")
    ap.add_argument("--trials", type=int, default=12, help="tune trials per cell")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for share in map(float, args.shares.split(",")):
            rows.append(run_share(share, args, Path(tmp)))
            print(rows[-1], flush=True)
    base = rows[0]["trials_per_hour"]
    print(f"\n{args.task}, {args.optimizers}, {args.trials} trials per cell, {args.epochs} epochs, tune phase")
    print("| GPUs per trial | slots | trials | span s | trials/hour | vs first | GPU util % | runner s/trial "
          "| Ray trainable s/trial | busy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['share']:g} | {r['slots']} | {r['trials']} | {r['span_s']:.1f} | {r['trials_per_hour']:,.0f} | "
              f"{r['trials_per_hour'] / base:.2f}x | {r['gpu_util']:.0f} | {r['runner_s']:.2f} | "
              f"{r['ray_trial_s']:.2f} | {r['busy']:.0%} |")


if __name__ == "__main__":
    main()
