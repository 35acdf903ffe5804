"""A test-only runner that sleeps instead of training, for the occupancy benchmark and the study's
end-to-end tests (runner contract of docs/ARCHITECTURE.md; select it with `_runner:
"tests.sleep_runner"`).

Keys: `sleep_s` (seconds per epoch), `epochs`, `lr` (the score peaks at lr = 1e-3; the test score
also depends on `seed`), and misbehaviours: `oom_above_lr` (a trial with a larger lr raises CUDA's
out-of-memory error after its first report: a config error), `oom_seeds` (the same for these
seeds), `hang` (the trial never ends: the timeout must stop it), `hang_seeds` (the same for these
seeds) and `crash_unless` (an infrastructure error, OSError, until that file exists).
With `stamps` (a file path), each trial that ends appends `<start> <end> <pid> <optimizer> <trial id>`
(wall clock) to it, so that a benchmark can count busy slots over time and a test the runs of a trial.
With `starts` (a file path), each trial (each attempt) appends its id when it starts, so that a
test can tell how many are running.
"""
from __future__ import annotations

import math
import os
import time

CHANCE = 10.0


def _sleep(seconds: float) -> None:
    """Sleep in short steps so that an asynchronous exception (the trial timeout) lands promptly."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))


def train(config: dict, report) -> dict:
    t_start = time.time()
    if config.get("starts"):
        with open(config["starts"], "a") as f:
            f.write(f"{config.get('_trial_id')}\n")
    lr = float(config.get("lr", 1e-3))
    score = max(CHANCE, 90.0 - 20.0 * abs(math.log10(lr) + 3.0))
    epochs = int(config.get("epochs", 1))
    for epoch in range(1, epochs + 1):
        _sleep(float(config.get("sleep_s", 0.0)))
        report({"epoch": epoch, "score": score * epoch / epochs, "chance": CHANCE, "train_loss": 1.0 / epoch})
        seed = config.get("seed")
        if (config.get("oom_above_lr") is not None and lr > config["oom_above_lr"]) or seed in config.get("oom_seeds", ()):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (sleep_runner)")
        if config.get("crash_unless") and not os.path.exists(config["crash_unless"]):
            raise OSError(f"node lost its scratch disk (sleep_runner; {config['crash_unless']} missing)")
        while config.get("hang") or seed in config.get("hang_seeds", ()):
            _sleep(1.0)
    t_end = time.time()
    if config.get("stamps"):
        with open(config["stamps"], "a") as f:
            f.write(f"{t_start} {t_end} {os.getpid()} {config.get('optimizer')} {config.get('_trial_id')}\n")
    wall = t_end - t_start
    test_score = score - 1.0 - (int(config.get("seed") or 0) % 10) / 10
    return {"status": "ok", "score": score, "test_score": test_score, "chance": CHANCE, "train_loss": 1.0 / epochs,
            "steps": epochs, "wall_time": wall, "time_per_step": wall / epochs, "epochs_done": epochs}
