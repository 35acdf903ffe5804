"""Checkpoints of a GLUE trial: written atomically at each eval, read back when a trial restarts."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

FILENAME = "glue_checkpoint.pt"


def rng_state() -> dict:
    """Every RNG a training step draws from (dropout on CPU/GPU, Python, NumPy)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def save(directory: str, state: dict) -> None:
    """Write ``state`` to ``directory/glue_checkpoint.pt`` via a temporary file and a rename, so
    that a crash mid-write leaves the previous checkpoint intact."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{FILENAME}.tmp{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, d / FILENAME)


def load(directory: str | None) -> dict | None:
    """The checkpoint in ``directory``, or None when there is none (or no directory)."""
    if not directory or not (Path(directory) / FILENAME).is_file():
        return None
    # Our own file; it holds RNG states (Python tuples, NumPy arrays), so not weights_only.
    return torch.load(Path(directory) / FILENAME, map_location="cpu", weights_only=False)
