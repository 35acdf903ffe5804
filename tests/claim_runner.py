"""A test-only runner whose scores are known in advance, for studies that test claims (runner
contract of docs/ARCHITECTURE.md; select it with `_runner: "tests.claim_runner"`).

Keys: `quality` {optimizer: mean score}, `noise` {optimizer: SD of a per-seed deviation} (both
default 50 and 0). A trial's score is its optimizer's mean plus a deviation drawn from its seed and
optimizer name, so reruns of a seed score the same and the truth of every claim is set by the test.
"""
from __future__ import annotations

import zlib

import numpy as np

CHANCE = 10.0


def train(config: dict, report) -> dict:
    optimizer = config["optimizer"]
    rng = np.random.default_rng([int(config.get("seed", 0)), zlib.crc32(optimizer.encode())])
    score = float(config.get("quality", {}).get(optimizer, 50.0) + config.get("noise", {}).get(optimizer, 0.0) * rng.normal())
    epochs = int(config.get("epochs", 1))
    for epoch in range(1, epochs + 1):
        report({"epoch": epoch, "score": score, "chance": CHANCE, "train_loss": 1.0 / epoch})
    return {"status": "ok", "score": score, "test_score": score, "chance": CHANCE, "train_loss": 1.0 / epochs,
            "steps": epochs, "wall_time": 0.01, "time_per_step": 0.01 / epochs, "epochs_done": epochs}
