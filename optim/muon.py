"""Muon + AdamW hybrid (Jordan 2024; KellerJordan/Muon ``SingleDeviceMuonWithAuxAdam``).

Muon (Newton-Schulz orthogonalized momentum) for hidden 2-D weights and conv filters (flattened to
``(out_channels, -1)``); AdamW (torch's own functional Adam with decoupled decay) for everything
else. Each param_group says which with ``use_muon``. The Muon part is KellerJordan/Muon's
``muon_update``: same Newton-Schulz coefficients, bf16 iteration, decay ``p *= 1 - lr*wd``, and
the shape factor ``sqrt(max(1, size(-2)/size(-1)))`` of the parameter itself, i.e. rows/cols for
a matrix (as torch.optim.Muon) and kh/kw for a conv filter (1 for square kernels), not the ratio
of the flattened view. Newton-Schulz normalizes by ``max(||X||, eps)`` as torch.optim.Muon, where
the reference divides by ``||X|| + eps`` (a relative difference of eps/||X||).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim.adam import adam

from ._common import gather

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)

MUON_DEFAULTS = dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, ns_steps=5, eps=1e-7)
ADAMW_DEFAULTS = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.0)


def zeropower_via_newtonschulz(grad: Tensor, steps: int = 5, eps: float = 1e-7) -> Tensor:
    """Approximately orthogonalize a 2-D matrix (U S V^T -> U S' V^T, S' ~ 1) in bfloat16."""
    a, b, c = NS_COEFFICIENTS
    x = grad.bfloat16()
    transpose = grad.size(0) > grad.size(1)
    if transpose:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if transpose else x


class MuonAdamW(torch.optim.Optimizer):
    """Muon on groups with ``use_muon=True``, AdamW on the others, in one optimizer.

    Every param_group must set ``use_muon``; missing options take MUON_DEFAULTS or ADAMW_DEFAULTS.
    State: Muon params one buffer (``momentum_buffer``); AdamW params two (+ a step counter).
    """

    def __init__(self, param_groups: list[dict]) -> None:
        groups = []
        for group in param_groups:
            if "use_muon" not in group:
                raise ValueError("every param_group of MuonAdamW needs 'use_muon' (True or False)")
            base = MUON_DEFAULTS if group["use_muon"] else ADAMW_DEFAULTS
            unknown = set(group) - set(base) - {"params", "use_muon"}
            if unknown:
                raise ValueError(f"unknown option(s) {sorted(unknown)} for a "
                                 f"{'Muon' if group['use_muon'] else 'AdamW'} group")
            group = {**base, **group}
            if group["use_muon"] and any(p.ndim < 2 for p in group["params"]):
                raise ValueError("Muon groups take only parameters with 2 or more dimensions")
            groups.append(group)
        super().__init__(groups, {})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["use_muon"]:
                self._muon_step(group)
            else:
                self._adamw_step(group)
        return loss

    def _muon_step(self, group: dict) -> None:
        params, grads, (bufs,) = gather(self, group, ("momentum_buffer",))
        if not params:
            return
        lr, momentum = group["lr"], group["momentum"]
        torch._foreach_lerp_(bufs, grads, 1.0 - momentum)
        if group["weight_decay"] != 0.0:
            torch._foreach_mul_(params, 1.0 - lr * group["weight_decay"])
        for p, g, buf in zip(params, grads, bufs):
            update = g.lerp(buf, momentum) if group["nesterov"] else buf
            ortho = zeropower_via_newtonschulz(update.reshape(update.size(0), -1), group["ns_steps"],
                                               group["eps"])
            p.add_(ortho.reshape(p.shape), alpha=-lr * math.sqrt(max(1.0, p.size(-2) / p.size(-1))))

    def _adamw_step(self, group: dict) -> None:
        params, grads, (exp_avgs, exp_avg_sqs) = gather(self, group, ("exp_avg", "exp_avg_sq"))
        if not params:
            return
        steps = []
        for p in params:
            state = self.state[p]
            if "step" not in state:
                state["step"] = torch.tensor(0.0)
            steps.append(state["step"])
        adam(
            params, grads, exp_avgs, exp_avg_sqs, [], steps, decoupled_weight_decay=True,
            amsgrad=False, beta1=group["betas"][0], beta2=group["betas"][1], lr=group["lr"],
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
        )
