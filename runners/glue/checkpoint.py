"""Checkpoints of a GLUE trial: written atomically at an eval, read back when a trial restarts.

Size (T5-base, 223M parameters in float32): model 0.9 GB, plus AdamW's two moments 1.8 GB or
Lion/SepNorm's one 0.9 GB. The runner writes one every ``checkpoint_every`` evals (never at the
last, when the trial is done); the study keeps one per running trial and deletes it when the
trial ends (study/trainable.py, study/checkpoints.py).
"""

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


def compact_optimizer_state(opt: torch.optim.Optimizer) -> dict:
    """``opt.state_dict()`` with every per-parameter state tensor (a moment: the parameter's shape)
    in its parameter's dtype, so that no optimizer's state is written wider than the weights;
    scalars such as Adam's ``step`` keep their dtype. Resuming loses nothing:
    ``Optimizer.load_state_dict`` casts floating state (all but ``step``) to the parameter's
    dtype anyway."""
    params = [p for group in opt.param_groups for p in group["params"]]
    sd = opt.state_dict()  # its per-parameter dicts are the optimizer's own: build new ones

    def cast(value, p):
        if torch.is_tensor(value) and value.is_floating_point() and value.shape == p.shape:
            return value.to(p.dtype)
        return value

    sd["state"] = {i: {k: cast(v, params[i]) for k, v in st.items()}
                   for i, st in sd["state"].items()}
    return sd


def save(directory: str, state: dict) -> None:
    """Write ``state`` to ``directory/glue_checkpoint.pt`` via a temporary file and a rename, so
    that a crash mid-write leaves the previous checkpoint intact."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{FILENAME}.tmp{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, d / FILENAME)


def load(directory: str | None) -> dict | None:
    """The checkpoint in ``directory``, or None when there is none (or no directory).

    The file is removed once read: the copy it came from (Tune's) stays, and a file left in the
    directory would be handed over again as a new checkpoint at the next report.
    """
    path = Path(directory) / FILENAME if directory else None
    if path is None or not path.is_file():
        return None
    # Our own file; it holds RNG states (Python tuples, NumPy arrays), so not weights_only.
    state = torch.load(path, map_location="cpu", weights_only=False)
    path.unlink()
    return state
