"""Training throughput (tokens/s) of the GLUE runner with the tiny T5 on CPU.

Synthetic SST-2-format data (byte-level tokens, ~130 per example) is written to a temporary
directory and trained on through the real runner (data_files path, tokenized cache, text-to-text
loss, optimizer step). tokens/s counts encoder input tokens (no padding), training time only
(evals excluded), after one warm-up run.

    .venv/bin/python benchmarks/glue_tokens.py [--threads 1] [--steps 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch

from runners import glue

WORDS = "the a movie plot was very really and it good bad great awful fine poor nice sad".split()


def _write(d: Path, n: int, seed: int, split: str) -> None:
    rng = random.Random(seed)
    with open(d / f"{split}.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"sentence": " ".join(rng.choice(WORDS) for _ in range(24)),
                                "label": rng.randint(0, 1), "idx": i}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-sizes", default="16,64")
    ap.add_argument("--optimizers", default="adamw,sgd")
    ap.add_argument("--out", default=None, help="append the markdown table rows to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _write(d, 2000, 0, "train")
        _write(d, 64, 1, "validation")
        base = {"task": "sst2", "model": "tiny", "data_dir": str(d), "cache_dir": str(d / "c"),
                "max_length": 128, "n_val": 64, "device": "cpu", "lr": 1e-3}
        glue.train({**base, "steps": 5, "eval_every": 5, "batch_size": 16}, lambda r: None)
        for opt in args.optimizers.split(","):
            for bs in map(int, args.batch_sizes.split(",")):
                out = glue.train({**base, "optimizer": opt, "batch_size": bs,
                                  "steps": args.steps, "eval_every": args.steps}, lambda r: None)
                rows.append(f"| {opt} | {bs} | {args.threads} | {args.steps} | "
                            f"{out['tokens_per_s']:,.0f} | {1e3 * out['time_per_step']:.1f} |")
    header = [f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} logical CPUs", "",
              "| optimizer | batch | threads | steps | tokens/s | ms/step |",
              "|---|---|---|---|---|---|"]
    text = "\n".join(header + rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
