"""Lion (Chen et al. 2023), the google/automl update, as multi-tensor torch code."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._common import check_hparams, gather


def lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
) -> None:
    """One Lion step over tensor lists::

        p *= 1 - lr*wd ;  p -= lr * sign(b1*m + (1-b1)*g) ;  m = b2*m + (1-b2)*g

    sign(0) = 0, so a zero interpolation gives a zero update.
    """
    if not params:
        return
    if weight_decay != 0.0:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)
    update = torch._foreach_lerp(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_sign_(update)
    torch._foreach_add_(params, update, alpha=-lr)
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta2)


class Lion(torch.optim.Optimizer):
    """Lion: sign of the interpolated momentum, decoupled weight decay.

    State: one buffer per parameter (``exp_avg``). Defaults are the paper's: lr=1e-4,
    betas=(0.9, 0.99), weight_decay=0 (use ~3-10x smaller lr and larger wd than AdamW).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        check_hparams(lr, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, (exp_avgs,) = gather(self, group, ("exp_avg",))
            lion(
                params, grads, exp_avgs, lr=group["lr"], beta1=group["betas"][0],
                beta2=group["betas"][1], weight_decay=group["weight_decay"],
            )
        return loss
