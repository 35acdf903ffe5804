"""SWATS (Keskar & Socher 2017): start with Adam, switch each param group to SGD with momentum
once the Adam step's projected SGD learning rate has settled.

Per group and Adam step, with s the group's Adam step and g its gradient::

    gamma = s.s / (-s.g)                 (when s.g != 0)
    lam   = b2*lam + (1-b2)*gamma ;  Lam = lam / (1 - b2^t)
    switch when t > 1, Lam > 0 and |Lam - gamma| <= eps*|gamma| + 1e-8  (torch.isclose(rtol=eps))

then ``param_groups[i]["phase"] = "sgd"``, ``lr = Lam``, ``switch_step = t`` and the SGD phase runs
``buf = b1*buf + g ; p -= lr*(1-b1)*buf`` (nesterov: ``p -= lr*(1-b1)*(g + b1*buf)``).
The Adam phase equals torch.optim.Adam (L2 ``weight_decay`` added to the gradient, as in both
phases). The switch is a host decision: each Adam step reads two scalars per group (one sync);
the SGD phase has none.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._common import check_hparams, gather


class SWATS(torch.optim.Optimizer):
    """SWATS: Adam, then SGD with momentum at the learning rate the Adam phase projected.

    State: ``exp_avg`` and ``exp_avg_sq`` per parameter; ``momentum_buffer`` once switched.
    Group entries: ``phase`` ("adam" | "sgd"), ``switch_step`` (None until the switch),
    ``adam_step`` (steps taken in the Adam phase) and ``lam`` (the running projected lr).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        check_hparams(lr, betas, weight_decay)
        if not eps >= 0.0:
            raise ValueError(f"invalid eps {eps!r}: must be >= 0")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        nesterov=nesterov, phase="adam", switch_step=None, adam_step=0, lam=0.0)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["phase"] == "adam":
                self._adam_step(group)
            else:
                self._sgd_step(group)
        return loss

    def _adam_step(self, group: dict) -> None:
        params, grads, (exp_avgs, exp_avg_sqs) = gather(self, group, ("exp_avg", "exp_avg_sq"))
        if not params:
            return
        beta1, beta2 = group["betas"]
        if group["weight_decay"] != 0.0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        group["adam_step"] += 1
        t = group["adam_step"]
        bias1, bias2 = 1.0 - beta1**t, 1.0 - beta2**t
        torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, math.sqrt(bias2))
        torch._foreach_add_(denom, group["eps"])
        steps = torch._foreach_div(exp_avgs, denom)
        torch._foreach_mul_(steps, -group["lr"] / bias1)
        torch._foreach_add_(params, steps)
        flat = [(s.reshape(-1), g.reshape(-1)) for s, g in zip(steps, grads)]
        dots = torch.stack([torch.stack([s @ g, s @ s]) for s, g in flat]).sum(0, dtype=torch.float64)
        s_g, s_s = dots.tolist()
        if s_g == 0.0:
            return
        gamma = s_s / -s_g
        group["lam"] = beta2 * group["lam"] + (1.0 - beta2) * gamma
        lam_hat = group["lam"] / bias2
        if t > 1 and lam_hat > 0 and abs(lam_hat - gamma) <= group["eps"] * abs(gamma) + 1e-8:
            group["phase"], group["lr"], group["switch_step"] = "sgd", lam_hat, t

    def _sgd_step(self, group: dict) -> None:
        params, grads, (bufs,) = gather(self, group, ("momentum_buffer",))
        if not params:
            return
        beta1 = group["betas"][0]
        if group["weight_decay"] != 0.0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        torch._foreach_mul_(bufs, beta1)
        torch._foreach_add_(bufs, grads)
        update = torch._foreach_add(grads, bufs, alpha=beta1) if group["nesterov"] else bufs
        torch._foreach_add_(params, update, alpha=-group["lr"] * (1.0 - beta1))
