"""Training throughput (tokens/s, time per 1k steps, peak memory) of the GLUE runner.

Synthetic SST-2-format data (byte-level tokens, ~130 per example) is written to a temporary
directory and trained on through the real runner (data_files path, tokenized cache, text-to-text
loss, optimizer step). tokens/s counts encoder input tokens (no padding), training time only
(evals excluded), after one warm-up run. ``--model t5-small`` / ``t5-base`` build a randomly
initialized T5 of that shape (the real 32128-token vocabulary and LM head; ByT5's byte tokenizer,
since nothing is downloaded) and save it to a temporary directory the runner loads like a checkpoint.

    .venv/bin/python benchmarks/glue_tokens.py [--threads 1] [--steps 60] [--out FILE]
    python benchmarks/glue_tokens.py --model t5-base --device cuda --amp --batch-sizes 128 --steps 100
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

SHAPES = {  # the T5 paper's small and base models (Raffel et al. 2020, Table 14)
    "t5-small": dict(d_model=512, d_ff=2048, d_kv=64, num_heads=8, num_layers=6),
    "t5-base": dict(d_model=768, d_ff=3072, d_kv=64, num_heads=12, num_layers=12),
}
WORDS = "the a movie plot was very really and it good bad great awful fine poor nice sad".split()


def _write(d: Path, n: int, seed: int, split: str) -> None:
    rng = random.Random(seed)
    with open(d / f"{split}.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"sentence": " ".join(rng.choice(WORDS) for _ in range(24)),
                                "label": rng.randint(0, 1), "idx": i}) + "\n")


def random_t5(shape: str, d: Path) -> str:
    """A randomly initialized T5 of the given shape saved with the ByT5 tokenizer; its directory."""
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    tok = ByT5Tokenizer()
    cfg = T5Config(vocab_size=32128, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id, **SHAPES[shape])
    T5ForConditionalGeneration(cfg).save_pretrained(d / shape)
    tok.save_pretrained(d / shape)
    return str(d / shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-sizes", default="16,64")
    ap.add_argument("--optimizers", default="adamw,sgd")
    ap.add_argument("--model", choices=["tiny", *SHAPES], default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--out", default=None, help="append the markdown table rows to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _write(d, 2000, 0, "train")
        _write(d, 64, 1, "validation")
        model = "tiny" if args.model == "tiny" else random_t5(args.model, d)
        base = {"task": "sst2", "model": model, "data_dir": str(d), "cache_dir": str(d / "c"),
                "max_length": 128, "n_val": 64, "device": args.device, "amp": args.amp, "lr": 1e-4}
        glue.train({**base, "steps": 5, "eval_every": 5, "batch_size": 16}, lambda r: None)
        for opt in args.optimizers.split(","):
            for bs in map(int, args.batch_sizes.split(",")):
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                out = glue.train({**base, "optimizer": opt, "batch_size": bs,
                                  "steps": args.steps, "eval_every": args.steps}, lambda r: None)
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if cuda else "-"
                rows.append(f"| {args.model} | {opt} | {bs} | {args.amp} | {args.steps} | "
                            f"{out['tokens_per_s']:,.0f} | {1e3 * out['time_per_step']:.1f} | "
                            f"{out['time_per_step'] * 1000:.0f} | {peak} |")
    device = torch.cuda.get_device_name() if cuda else f"{platform.processor() or platform.machine()}, {args.threads} threads"
    header = [f"torch {torch.__version__}, {device}, {os.cpu_count()} logical CPUs", "",
              "| model | optimizer | batch | bf16 | steps | tokens/s | ms/step | s per 1k steps | peak GiB |",
              "|---|---|---|---|---|---|---|---|---|"]
    text = "\n".join(header + rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
