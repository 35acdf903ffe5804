"""Which images a vision trial trains on, selects on (val) and reports on (test), per protocol.

* ``paper`` (the ThermoLion notebook): the first 5000 training images in stored order (not a
  sample: on GTSRB only the lowest class ids), and "validation" is those same training images.
  ``n_train`` is ignored. The official test split is still scored, as ``test_acc``, so the report
  can show the gap the paper's protocol hides.
* ``fair``: a fixed stratified validation split (20% of the official training split, at most 5000
  images, seed 0, the same for every trial) for selection; from the rest, a stratified random
  subset of ``n_train`` images drawn with the trial's seed (all of them when unset; ``n_train``
  larger than what is left means all of it); the official test split for reporting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .vision_data import VisionData

PROTOCOLS = ("fair", "paper")
PAPER_N_TRAIN = 5000
VAL_FRACTION = 0.2
VAL_MAX = 5000
SPLIT_SEED = 0


@dataclass(frozen=True)
class Splits:
    """uint8 images and int64 labels of the three roles (CPU tensors)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def _stratified(y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (chosen, rest) of a stratified random subset of ``size`` labels."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    chosen, rest = train_test_split(idx, train_size=size, stratify=y, random_state=seed)
    return np.sort(chosen), np.sort(rest)


def select(data: VisionData, protocol: str, n_train: int | None, seed: int) -> Splits:
    """The train/val/test images of one trial; an unknown protocol raises ``ValueError``."""
    if protocol == "paper":
        x, y = data.train_x[:PAPER_N_TRAIN], data.train_y[:PAPER_N_TRAIN]
        return Splits(x, y, x, y, data.test_x, data.test_y)
    if protocol != "fair":
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if n_train is not None and n_train < data.classes:
        raise ValueError(f"n_train={n_train} is smaller than the {data.classes} classes")
    y = data.train_y.numpy()
    n_val = min(VAL_MAX, round(VAL_FRACTION * len(y)))
    val, pool = _stratified(y, n_val, SPLIT_SEED)
    if n_train is not None and n_train < len(pool):
        sub, _ = _stratified(y[pool], n_train, seed)
        pool = pool[sub]
    tr, va = torch.from_numpy(pool), torch.from_numpy(val)
    return Splits(data.train_x[tr], data.train_y[tr], data.train_x[va], data.train_y[va],
                  data.test_x, data.test_y)
