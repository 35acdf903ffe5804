"""Checkpoint bytes on disk per GLUE trial, peak and final, through a real (tiny) Ray Tune study.

Runs ``python -m study launch`` in-process on synthetic SST-2 files with a random-weight T5 in
the shape of ``--model-config`` (``runners.glue.model.SHAPES``: t5-base's 223M parameters by
default), a few steps and 3 evals per trial (so 2 checkpoints: none at the last eval), one tune
trial per optimizer. A thread samples, every 50 ms, the checkpoint files of every trial: Tune's
persisted copies (``<study>/ray/<phase>/trial_<id>/checkpoint_*``) and the trial's local copy
(``$TMPDIR/ckpt-<id>-*``). Reports per trial the largest single checkpoint file, the peak of the
sum and what is left after the study.

    python benchmarks/glue_checkpoint_disk.py --model-config t5-base --optimizers adamw,lion \\
        --out benchmarks/results/glue_checkpoint_disk.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def checkpoint_files(roots: list[Path]) -> dict[str, list[int]]:
    """{trial id: sizes of its checkpoint files} (Tune's persisted copies and the local ones)."""
    out: dict[str, list[int]] = {}
    for root in roots:
        for path in list(root.glob("ray/*/trial_*/checkpoint_*/*")) + list(root.glob("ckpt-*/*")):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            part = path.parent.parent.name if path.parent.name.startswith("checkpoint_") else path.parent.name
            trial = part.removeprefix("trial_") if part.startswith("trial_") else part.split("-")[1]
            out.setdefault(trial, []).append(size)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-config", default="t5-base", choices=("tiny", "t5-small", "t5-base"))
    ap.add_argument("--optimizers", default="adamw,lion")
    ap.add_argument("--checkpoint-every", type=int, default=1)
    ap.add_argument("--out", default=None, help="append the markdown table to this file")
    args = ap.parse_args()
    model = "tiny" if args.model_config == "tiny" else f"random-{args.model_config}"

    from study.cli import main as study_main

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        local = root / "tmp"
        local.mkdir()
        os.environ["TMPDIR"] = str(local)  # the trials' local checkpoint copies land here
        os.environ.setdefault("RAY_TMPDIR", "/tmp")
        data = root / "sst2"
        data.mkdir()
        rng = random.Random(0)
        for split, n in (("train", 64), ("validation", 16)):
            rows = [{"sentence": f"the movie was {rng.choice(['good', 'bad'])}", "label": rng.randint(0, 1),
                     "idx": i} for i in range(n)]
            (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        opts = args.optimizers.split(",")
        config = root / "glue.yaml"
        config.write_text(
            f"tasks: [glue-sst2]\noptimizers: [{', '.join(opts)}]\ntrials: 1\niid_trials: 1\nepochs: 3\n"
            f"phases: [tune]\nstorage: {root}\nname: disk\nmax_concurrent: 1\n"
            f"task_config: {{model: {model}, data_dir: {data}, cache_dir: {root / 'cache'}, steps: 3, n_val: 16, "
            f"eval_batch_size: 16, checkpoint_every: {args.checkpoint_every}}}\n"
            "search_space: {" + ", ".join(f"{o}: {{batch_size: 8}}" for o in opts) + "}\n")
        peak: dict[str, int] = {}
        largest: dict[str, int] = {}
        done = threading.Event()

        def poll():
            while not done.is_set():
                for trial, sizes in checkpoint_files([root / "disk", local]).items():
                    peak[trial] = max(peak.get(trial, 0), sum(sizes))
                    largest[trial] = max(largest.get(trial, 0), *sizes)
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        start = time.perf_counter()
        try:
            code = study_main(["launch", "--config", str(config)])
        finally:
            done.set()
            poller.join()
        wall = time.perf_counter() - start
        errors = list((root / "disk" / "ray").glob("*/trial_*/error.txt"))
        if code != 0 or errors:
            raise SystemExit(f"study failed (exit code {code}): {errors[0].read_text() if errors else ''}")
        final = checkpoint_files([root / "disk", local])
        left_dirs = list((root / "disk" / "ray").glob("*/trial_*/checkpoint_*"))
        rows = []
        for params in sorted((root / "disk" / "ray").glob("*/trial_*/params.json")):
            tid = params.parent.name.removeprefix("trial_")
            optimizer = json.loads(params.read_text())["optimizer"]
            rows.append(f"| {args.model_config} | {optimizer} | {args.checkpoint_every} | "
                        f"{largest.get(tid, 0) / 1e6:,.1f} | {peak.get(tid, 0) / 1e6:,.1f} | "
                        f"{sum(final.get(tid, [])) / 1e6:,.1f} |")
    text = "\n".join(["| model | optimizer | checkpoint every | one checkpoint MB | peak MB | final MB |",
                      "|---|---|---|---|---|---|", *rows]) + "\n"
    print(text)
    print(f"checkpoint directories left: {len(left_dirs)}; study wall time {wall:.0f} s")
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
