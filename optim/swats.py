"""SWATS (Keskar & Socher 2017): start with Adam, switch each param group to SGD with momentum
once the Adam step's projected SGD learning rate has settled.

Per group and Adam step, with d = m_hat / (sqrt(v_hat) + eps) the Adam direction, g the gradient
and s = -base_lr * d the Adam step at the group's base lr (the lr it was built with)::

    gamma = s.s / (-s.g)                 (when s.g != 0)
    lam   = b2*lam + (1-b2)*gamma ;  Lam = lam / (1 - b2^t)
    switch when t > 1, Lam > 0 and |Lam - gamma| <= eps*|gamma| + 1e-8

then ``param_groups[i]["phase"] = "sgd"``, ``switch_lr = Lam`` and ``switch_step = t``, and the SGD
phase runs ``buf = b1*buf + g ; p -= Lam*f*(1-b1)*buf`` (nesterov: ``p -= Lam*f*(1-b1)*(g + b1*buf)``)
with ``f = lr / base_lr`` the schedule's current factor. With a constant lr this is the paper's
algorithm; under a schedule (a runner's cosine loop, LambdaLR) the projection is measured at the
base lr, so Lam is in base-lr units and the SGD phase follows the same schedule as the Adam phase
did. The group's ``lr`` is never rewritten, so schedulers that set it keep working.

The Adam phase equals torch.optim.Adam: ``eps`` is added to sqrt(v_hat) (torch's placement; the
paper adds it to sqrt(v) before the bias correction), and ``weight_decay`` is L2, added to the
gradient in both phases (the paper's Adam phase; search range: the coupled one).

No host sync: gamma, lam and the switch decision are device tensors; the decision is copied to the
host without blocking and read at the start of the next step, the step whose phase it decides
(on CUDA after an event recorded behind it, so only the previous step must have finished).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ._common import check_hparams, gather


class SWATS(torch.optim.Optimizer):
    """SWATS: Adam, then SGD with momentum at the learning rate the Adam phase projected.

    State: ``exp_avg`` and ``exp_avg_sq`` per parameter; ``momentum_buffer`` once switched.
    Group entries: ``phase`` ("adam" | "sgd"), ``switch_step`` (None until the switch),
    ``adam_step`` (steps taken in the Adam phase), ``base_lr`` (the lr at construction), and the
    device scalars ``lam`` (running projected lr), ``switch_due`` (the pending decision) and
    ``switch_lr`` (Lam, the SGD lr at the base lr; None until the switch).
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
                        nesterov=nesterov, phase="adam", switch_step=None, adam_step=0, lam=None,
                        switch_due=None, switch_lr=None)
        super().__init__(params, defaults)
        for group in self.param_groups:
            group.setdefault("base_lr", group["lr"])
        self._pending: dict[int, tuple[Tensor, torch.cuda.Event | None]] = {}

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        self.param_groups[-1].setdefault("base_lr", self.param_groups[-1]["lr"])

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._pending.clear()  # decisions are re-read from the groups' switch_due

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            if group["phase"] == "adam" and self._switch_is_due(index, group):
                group["phase"], group["switch_step"] = "sgd", group["adam_step"]
                group["switch_lr"] = group["lam"] / (1.0 - group["betas"][1] ** group["adam_step"])
            if group["phase"] == "adam":
                self._adam_step(index, group)
            else:
                self._sgd_step(group)
        return loss

    def _switch_is_due(self, index: int, group: dict) -> bool:
        """The previous Adam step's decision, read from its non-blocking host copy."""
        if group["switch_due"] is None:
            return False
        host, event = self._pending.pop(index, (None, None))
        if host is None:  # no copy in flight (e.g. just after load_state_dict): copy it now
            host = group["switch_due"].to("cpu")
        elif event is not None:
            event.synchronize()
        return bool(host.numpy())

    def _adam_step(self, index: int, group: dict) -> None:
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
        directions = torch._foreach_div(exp_avgs, denom)  # d; the step is -lr/bias1 * d
        torch._foreach_add_(params, directions, alpha=-group["lr"] / bias1)
        self._project(index, group, directions, grads, t, group["base_lr"] / bias1)

    def _project(self, index: int, group: dict, directions: list[Tensor], grads: list[Tensor],
                 t: int, scale: float) -> None:
        """Update lam from gamma of the step ``-scale * d`` and decide the switch, on the device."""
        beta2 = group["betas"][1]
        dots = torch.stack([torch.stack([d.reshape(-1) @ g.reshape(-1), d.reshape(-1) @ d.reshape(-1)])
                            for d, g in zip(directions, grads)]).sum(0, dtype=torch.float64)
        d_g, d_d = dots.unbind(0)
        defined = d_g != 0.0
        gamma = scale * d_d / torch.where(defined, d_g, 1.0)  # s.s / (-s.g) with s = -scale*d
        lam = group["lam"] if group["lam"] is not None else torch.zeros_like(gamma)
        lam = torch.where(defined, beta2 * lam + (1.0 - beta2) * gamma, lam)
        lam_hat = lam / (1.0 - beta2**t)
        close = (lam_hat - gamma).abs() <= group["eps"] * gamma.abs() + 1e-8
        group["lam"] = lam
        group["switch_due"] = defined & close & (lam_hat > 0) & (t > 1)
        self._pending[index] = self._copy_to_host(group["switch_due"])

    @staticmethod
    def _copy_to_host(flag: Tensor) -> tuple[Tensor, torch.cuda.Event | None]:
        """A host copy of ``flag`` that is ready once the returned event (if any) has completed."""
        if flag.device.type == "cpu":
            return flag, None
        if flag.device.type != "cuda":
            return flag.to("cpu"), None
        host = torch.empty_like(flag, device="cpu", pin_memory=True)
        host.copy_(flag, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(flag.device))  # the copy's stream, not the current device's
        return host, event

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
        factor = -(1.0 - beta1) * group["lr"] / group["base_lr"] if group["base_lr"] else 0.0
        step_size = (group["switch_lr"] * factor).to(params[0].dtype)
        torch._foreach_add_(params, torch._foreach_mul(update, step_size))
