"""How long `reports.write_report` takes on a synthetic study of about 10,000 trials (target <= 30 s).

Usage: .venv/bin/python benchmarks/report_speed.py [--tasks 6] [--optimizers 14] [--trials 110] [--profile]
The study (tests/synthetic_study.py) has 6 tasks x 14 optimizers x (110 tune + 20 fixed-phase)
rows (~10,900 trials), history with diagnostics, one missing and one partial cell; the time is one
full report (all CSVs, LaTeX tables, every figure as PNG and PDF, report.md and report.html), best
of --repeat runs. Wall time depends on what else runs on the machine; CPU time (process_time, this
process and its figure workers) is what free cores would take.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synthetic_study import make_study  # noqa: E402

from reports import write_report  # noqa: E402

TASKS = ("cifar10", "cifar100", "svhn", "digits", "glue-cola", "gtsrb", "mnist", "glue-rte")
OPTIMIZERS = ("adamw", "adam", "lion", "thermolion", "sepnorm", "ortsepnorm", "rmsprop", "swats", "lookahead",
              "muadam_paper", "sgd", "swa", "normgd", "muon")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=6)
    ap.add_argument("--optimizers", type=int, default=14)
    ap.add_argument("--trials", type=int, default=110, help="tune trials per cell")
    ap.add_argument("--iid", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    tasks, opts = TASKS[: args.tasks], OPTIMIZERS[: args.optimizers]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = make_study(Path(tmp) / "bench", tasks=tasks, optimizers=opts, n_trials=args.trials, iid_trials=args.iid,
                          seeds=args.seeds, missing=((tasks[-1], opts[-1]),), partial=((tasks[0], opts[1]),))
        n_rows = sum(1 for _ in open(path / "trials.csv")) - 1
        n_hist = sum(1 for _ in open(path / "history.csv")) - 1
        print(f"synthetic study: {n_rows} trials, {n_hist} history rows, {len(tasks)} tasks x {len(opts)} optimizers "
              f"({time.perf_counter() - t0:.1f} s to generate)")
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), os.times()
            if args.profile:
                prof = cProfile.Profile()
                prof.runcall(write_report, path, log=lambda m: None)
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            else:
                write_report(path, log=lambda m: None)
            c1 = os.times()
            times.append(time.perf_counter() - t0)
            cpu.append(c1.user + c1.system + c1.children_user + c1.children_system
                       - c0.user - c0.system - c0.children_user - c0.children_system)
        n_figs = len(list((path / "figures").glob("*.png")))
        print(f"write_report: wall best {min(times):.1f} s (all {', '.join(f'{t:.1f}' for t in times)}), "
              f"CPU best {min(cpu):.1f} s (this process and its figure workers); {n_figs} figures (PNG + PDF); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
