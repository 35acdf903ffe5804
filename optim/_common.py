"""Small helpers shared by the optimizers: argument checks and gathering of (param, grad, state)."""

from __future__ import annotations

import functools

import torch


def check_hparams(lr: float, betas: tuple[float, float], weight_decay: float) -> None:
    """Raise ValueError naming the first out-of-range learning rate, beta or weight decay."""
    if not lr >= 0.0:
        raise ValueError(f"invalid lr {lr!r}: must be >= 0")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"invalid betas {betas!r}: need two values in [0, 1)")
    if not weight_decay >= 0.0:
        raise ValueError(f"invalid weight_decay {weight_decay!r}: must be >= 0")


def gather(
    optimizer: torch.optim.Optimizer, group: dict, keys: tuple[str, ...]
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]]]:
    """Params with a gradient in ``group``, their grads, and their state buffers ``keys``.

    Buffers are created lazily as zeros like the parameter (torch's lazy-state convention). Empty
    tensors are left out: nothing to update, and per-tensor means or shape ratios would divide by 0.
    """
    params, grads, bufs = [], [], [[] for _ in keys]
    for p in group["params"]:
        if p.grad is None or p.numel() == 0:
            continue
        if p.grad.is_sparse:
            raise RuntimeError(f"{type(optimizer).__name__} does not support sparse gradients")
        state = optimizer.state[p]
        for key, out in zip(keys, bufs):
            if key not in state:
                state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            out.append(state[key])
        params.append(p)
        grads.append(p.grad)
    return params, grads, bufs


def wide_dtype(tensors: list[torch.Tensor]) -> torch.dtype:
    """float32, or the widest float type among ``tensors`` (for sums over mixed bf16/float32/float64 lists)."""
    return functools.reduce(torch.promote_types, (t.dtype for t in tensors), torch.float32)
