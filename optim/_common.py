"""Small helpers shared by the optimizers: argument checks and gathering of (param, grad, state)."""

from __future__ import annotations

import copy
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


# ---------------------------------------------------------------- compiled steps
# The multi-tensor functions take each hyperparameter as a number (the eager reference) or as a
# 0-d device tensor (the compiled path: a new value is new data for the same graph, not a new graph).


def is_tensor(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def per_tensor(value, n: int):
    """A number as it is; a 0-d tensor repeated once per tensor of a list, for the foreach overloads
    that take a list (those taking one scalar would read a tensor on the host)."""
    return [value] * n if is_tensor(value) else value


def foreach_lerp(xs: list[torch.Tensor], ys: list[torch.Tensor], weight, inplace: bool = False):
    """xs + weight * (ys - xs), in place into ``xs`` with ``inplace`` (``weight`` a number or a 0-d tensor)."""
    weight = per_tensor(weight, len(xs))
    return torch._foreach_lerp_(xs, ys, weight) if inplace else torch._foreach_lerp(xs, ys, weight)


def foreach_add_scaled_(xs: list[torch.Tensor], ys: list[torch.Tensor], alpha) -> None:
    """xs += alpha * ys (``alpha`` a number or a 0-d tensor)."""
    if is_tensor(alpha):
        torch._foreach_add_(xs, torch._foreach_mul(ys, alpha))
    else:
        torch._foreach_add_(xs, ys, alpha=alpha)


def foreach_addcmul_(xs: list[torch.Tensor], ys: list[torch.Tensor], zs: list[torch.Tensor], value) -> None:
    """xs += value * ys * zs (``value`` a number or a 0-d tensor)."""
    if is_tensor(value):
        torch._foreach_addcmul_(xs, ys, torch._foreach_mul(zs, value))
    else:
        torch._foreach_addcmul_(xs, ys, zs, value=value)


def decay_(params: list[torch.Tensor], lr, weight_decay) -> None:
    """Decoupled weight decay p *= 1 - lr*wd (skipped for a number wd of 0)."""
    if is_tensor(weight_decay) or weight_decay != 0.0:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without blocking the host (pinned memory, async copy)."""
    return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t.to(device)


_COMPILED: dict = {}
# torch.compile's backend for the compiled steps. Tests on a small CPU set "aot_eager": the same
# captured full graph (graph breaks, host reads and recompiles show there too) without inductor's
# C++ code generation, which costs minutes per process on 2 cores; one test keeps inductor.
COMPILE_BACKEND = "inductor"


def compiled(fn):
    """``fn`` under torch.compile (one full graph, static shapes), one wrapper per function and backend."""
    key = (fn, COMPILE_BACKEND)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(fn, fullgraph=True, dynamic=False, backend=COMPILE_BACKEND)
    return _COMPILED[key]


class CompiledStep:
    """The ``compiled`` option of an optimizer: its multi-tensor function runs under torch.compile
    (one fused kernel per group of tensors on CUDA instead of ~5-20 passes), hyperparameters as
    float64 0-d device tensors (``scalars``), so an lr schedule changes data, not the graph.

    The graph is compiled at the first step, or ahead of it by ``warm_up`` (a runner calls it in the
    trial's setup). The foreach function stays the reference and the default.
    """

    compiled: bool = False

    def scalars(self, key, values: tuple[float, ...], device: torch.device) -> list[torch.Tensor]:
        """``values`` as 0-d float64 tensors on ``device``, copied (asynchronously) only when they change."""
        cache = self.__dict__.setdefault("_scalar_cache", {})
        hit = cache.get(key)
        if hit is None or hit[0] != values or hit[1][0].device != device:
            hit = (values, to_device(torch.tensor(values, dtype=torch.float64), device).unbind(0))
            cache[key] = hit
        return list(hit[1])

    def warm_up(self, steps: int = 1) -> None:
        """Compile now what ``steps`` steps will run, on a copy of this optimizer, its parameters and
        state (zero gradients where none is set): this optimizer and its parameters do not change."""
        if not self.compiled:
            return
        twin = copy.deepcopy(self)  # torch.optim.Optimizer copies defaults, state and param_groups only
        for key, value in self.__dict__.items():
            twin.__dict__.setdefault(key, copy.copy(value))
        for group in twin.param_groups:
            for p in group["params"]:
                if p.grad is None and p.requires_grad:
                    p.grad = torch.zeros_like(p)
        twin.warm_up_steps(steps)

    def warm_up_steps(self, steps: int) -> None:
        """Run the steps that compile every graph ``steps`` steps need (here: one)."""
        self.step()
