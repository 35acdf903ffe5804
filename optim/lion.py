"""Lion (Chen et al. 2023), the google/automl update, as multi-tensor torch code."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._common import CompiledStep, check_hparams, compiled, decay_, foreach_add_scaled_, foreach_lerp, gather


def lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float | Tensor,
    beta2: float | Tensor,
    weight_decay: float | Tensor,
) -> None:
    """One Lion step over tensor lists (hyperparameters: numbers, or 0-d tensors when compiled)::

        p *= 1 - lr*wd ;  p -= lr * sign(b1*m + (1-b1)*g) ;  m = b2*m + (1-b2)*g

    sign(0) = 0, so a zero interpolation gives a zero update.
    """
    if not params:
        return
    decay_(params, lr, weight_decay)
    update = foreach_lerp(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_sign_(update)
    foreach_add_scaled_(params, update, -lr)
    foreach_lerp(exp_avgs, grads, 1.0 - beta2, inplace=True)


def lion_group(optimizer: CompiledStep, index: int, group: dict, params: list[Tensor], grads: list[Tensor],
               exp_avgs: list[Tensor]) -> None:
    """The Lion step of param_group ``index`` of ``optimizer`` (compiled if the optimizer is)."""
    values = (group["lr"], group["betas"][0], group["betas"][1], group["weight_decay"])
    fn = lion
    if optimizer.compiled:
        fn, values = compiled(lion), optimizer.scalars(index, values, params[0].device)
    fn(params, grads, exp_avgs, **dict(zip(("lr", "beta1", "beta2", "weight_decay"), values)))


class Lion(CompiledStep, torch.optim.Optimizer):
    """Lion: sign of the interpolated momentum, decoupled weight decay.

    State: one buffer per parameter (``exp_avg``). Defaults are the paper's: lr=1e-4,
    betas=(0.9, 0.99), weight_decay=0 (use ~3-10x smaller lr and larger wd than AdamW).
    ``compiled=True``: the step runs under torch.compile (optim._common.CompiledStep).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        compiled: bool = False,
    ) -> None:
        check_hparams(lr, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))
        self.compiled = compiled

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            params, grads, (exp_avgs,) = gather(self, group, ("exp_avg",))
            if params:
                lion_group(self, index, group, params, grads, exp_avgs)
        return loss
