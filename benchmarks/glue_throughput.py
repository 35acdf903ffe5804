"""Training throughput of the GLUE runner for a T5 shape: tokens/s, time per 1k steps, peak memory.

The model has random weights in the shape given by ``--model-config`` (``tiny``, ``t5-small`` or
``t5-base``: ``runners.glue.model.SHAPES``, the real 32128-token vocabulary, the ByT5 byte
tokenizer; no download), so it runs on a machine with no network (a lent GPU). Synthetic
SST-2-format data with inputs of about ``--seq-len`` tokens is trained on through the real
runner (``runners.glue.train``: text-to-text loss, optimizer step, bf16 autocast with ``--amp``).
tokens/s counts encoder input tokens (no padding) per second of training time (evals excluded);
one short warm-up run first (CUDA context, allocator, kernels). Peak memory: CUDA max allocated,
or the process's peak RSS on CPU.

    python benchmarks/glue_throughput.py --model-config t5-base --batch-size 128 --steps 200 \\
        --device cuda --amp
    python benchmarks/glue_throughput.py --model-config tiny --batch-size 32 --steps 60 --device cpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from runners import glue  # noqa: E402

WORDS = "the a movie plot was very really and it good bad great awful fine poor nice sad".split()
PREFIX = len("sst2 sentence: ") + 1  # ByT5: one token per byte, plus </s>


def write_split(path: Path, n: int, seq_len: int, seed: int) -> None:
    """n SST-2 rows whose inputs are about ``seq_len`` byte tokens long."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            words = []
            while sum(len(w) + 1 for w in words) < seq_len - PREFIX:
                words.append(rng.choice(WORDS))
            f.write(json.dumps({"sentence": " ".join(words)[: seq_len - PREFIX],
                                "label": rng.randint(0, 1), "idx": i}) + "\n")


def measure(model: str, batch_size: int, steps: int, device: str, amp: bool, seq_len: int,
            optimizer: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_split(d / "train.jsonl", max(4 * batch_size, 512), seq_len, 0)
        write_split(d / "validation.jsonl", 32, seq_len, 1)
        base = {"task": "sst2", "model": model, "data_dir": str(d), "cache_dir": str(d / "c"),
                "max_length": seq_len, "n_val": 32, "device": device, "amp": amp,
                "optimizer": optimizer, "lr": 1e-4, "batch_size": batch_size,
                "eval_batch_size": 32, "phase": "tune", "epochs": 1}
        glue.train({**base, "steps": 3}, lambda r: None)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        out = glue.train({**base, "steps": steps}, lambda r: None)
        wall = time.perf_counter() - start
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**30
        where = torch.cuda.get_device_name()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
        where = f"{platform.processor() or platform.machine()}, {threads} thread(s)"
    return {"model": model, "device": where, "amp": amp, "batch": batch_size, "seq_len": seq_len,
            "steps": steps, "optimizer": optimizer, "tokens_per_s": out["tokens_per_s"],
            "s_per_1k_steps": 1e3 * out["time_per_step"], "peak_gib": peak, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-config", default="tiny", choices=("tiny", "t5-small", "t5-base"))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (the runner's amp)")
    ap.add_argument("--seq-len", type=int, default=128, help="input tokens per example")
    ap.add_argument("--optimizer", default="adamw")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", default=None, help="append the markdown row to this file")
    args = ap.parse_args()
    model = "tiny" if args.model_config == "tiny" else f"random-{args.model_config}"
    r = measure(model, args.batch_size, args.steps, args.device, args.amp, args.seq_len,
                args.optimizer, args.threads)
    row = (f"| {args.model_config} | {r['device']} | {'bf16' if r['amp'] else 'fp32'} | {r['batch']} | "
           f"{r['seq_len']} | {r['optimizer']} | {r['steps']} | {r['tokens_per_s']:,.0f} | "
           f"{r['s_per_1k_steps']:,.1f} | {r['peak_gib']:.2f} |")
    print(f"torch {torch.__version__}")
    print("| model | device | precision | batch | seq len | optimizer | steps | tokens/s | "
          "s per 1k steps | peak memory GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row)
    if args.out:
        with open(args.out, "a") as f:
            f.write(row + "\n")


if __name__ == "__main__":
    main()
