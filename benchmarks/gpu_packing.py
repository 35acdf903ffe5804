"""Trials per GPU-hour through the whole study at several ``--gpus-per-trial`` (fractional packing).

For each share it runs ``python -m study launch`` (local Ray on this machine, tune phase only, the
same cells and budget every time) in a subprocess, samples ``nvidia-smi`` utilization every 0.5 s,
and reads each trial's start and end from Ray's ``result.json`` files. Reported per share: trials,
the tune phase's span (first trial start to last trial end), trials per hour over that span, mean
GPU utilization over it, and the mean trial wall time.

    .venv/bin/python benchmarks/gpu_packing.py [--shares 1,0.25,0.125] [--trials 12] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


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


def trial_spans(study_dir: Path) -> list[tuple[float, float]]:
    """(start, end) wall-clock seconds of every finished trial: the end is when Ray last wrote the
    trial's result.json (its ``timestamp`` field has whole seconds only), the start that minus the
    trial's ``time_total_s``."""
    spans = []
    for path in study_dir.rglob("result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            end = path.stat().st_mtime
            spans.append((end - rows[-1]["time_total_s"], end))
    return spans


def run_share(share: float, args, storage: Path) -> dict:
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
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"share {share}: launch failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    spans = trial_spans(storage / name)
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    util = [u for t, u in samples if start <= t <= end]
    return {"share": share, "slots": slots, "trials": len(spans), "span_s": end - start, "launch_s": wall,
            "trials_per_hour": 3600 * len(spans) / (end - start),
            "gpu_util": sum(util) / len(util) if util else float("nan"),
            "trial_s": sum(e - s for s, e in spans) / len(spans)}


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
    print("| GPUs per trial | slots | trials | span s | trials/hour | vs first | mean GPU util % | mean trial s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['share']:g} | {r['slots']} | {r['trials']} | {r['span_s']:.1f} | {r['trials_per_hour']:,.0f} | "
              f"{r['trials_per_hour'] / base:.2f}x | {r['gpu_util']:.0f} | {r['trial_s']:.2f} |")


if __name__ == "__main__":
    main()
