"""The ThermoLion notebook's "MuAdam": an Adam variant, not a matrix (Muon-like) method.

The paper describes MuAdam as matrix-adaptive, citing Muon, but the notebook that produced its
tables runs this element-wise rule (registered as ``muadam_paper``; the real Muon hybrid is ``muon``)::

    p *= 1 - lr*wd
    m  = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g^2          (no bias correction)
    p -= lr * (b1*m + (1-b1)*g) / (sqrt(v) + eps)          (Nesterov-style numerator)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._common import check_hparams, gather


class NotebookMuAdam(torch.optim.Optimizer):
    """The notebook's "MuAdam" (a Nadam-like Adam without bias correction, decoupled decay).

    State: two buffers per parameter (``exp_avg``, ``exp_avg_sq``). Defaults are the notebook's.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        check_hparams(lr, betas, weight_decay)
        if not eps > 0.0:
            raise ValueError(f"invalid eps {eps!r}: must be > 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, (exp_avgs, exp_avg_sqs) = gather(self, group, ("exp_avg", "exp_avg_sq"))
            if not params:
                continue
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            if wd != 0.0:
                torch._foreach_mul_(params, 1.0 - lr * wd)
            torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_add_(denom, group["eps"])
            numer = torch._foreach_lerp(exp_avgs, grads, 1.0 - beta1)
            torch._foreach_addcdiv_(params, numer, denom, value=-lr)
        return loss
