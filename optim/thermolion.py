"""ThermoLion (paper 000; reference: github ahmednebli/ThermoLion v0.1.0): multi-tensor code,
and a chunked per-tensor path for CPU, where whole-tensor passes are memory-bound.

Per parameter tensor and step (reference semantics, shared notes/OPTIMIZERS.md)::

    temp <- temp * temp_decay                    (temp starts at 1)
    m    <- b1*m + (1-b1)*g ;  v <- b2*v + (1-b2)*g^2        (no bias correction)
    r     = m / (sqrt(v) + eps) ;  gate = tanh(|r|)
    align = 1 where sign(m) == sign(g) != 0, else 0
    step  = lr * [(1-gate) * sign(m) * (1 + boost*align) + c * gate * r]
    if temp > 0.01:  step += lr * (1-gate) * N(0, 1) * sqrt(temp * mean(v) + 1e-10)
    p *= 1 - lr*wd ;  p -= step

As in the reference code (and unlike the paper's Eq. 6) the noise is scaled by lr. mean(v) is the
mean over one tensor, computed on the device (no host sync); temp is a host float per parameter.
1 - tanh|r| is computed as 2*sigmoid(-2|r|) (equal to float rounding; much cheaper on CPU).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._common import (CompiledStep, check_hparams, compiled, decay_, foreach_add_scaled_, foreach_lerp, foreach_addcmul_,
                      gather, per_tensor, wide_dtype)

NOISE_FLOOR = 0.01


def thermolion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    temps: list[float] | list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float | Tensor,
    beta2: float | Tensor,
    c: float | Tensor,
    boost: float | Tensor,
    weight_decay: float | Tensor,
    eps: float | Tensor,
    noisy: tuple[int, ...] | None = None,
    track: bool = False,
) -> list[Tensor] | None:
    """One ThermoLion step over tensor lists (``temps`` already decayed).

    Hyperparameters and temps are numbers, or 0-d tensors under torch.compile; then ``noisy``, the
    indices of the tensors whose temp is above NOISE_FLOOR, comes from the host (by default it is
    read from ``temps``). Returns the per-tensor sums of the gate when ``track``.
    """
    foreach_lerp(exp_avgs, grads, 1.0 - beta1, inplace=True)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    foreach_addcmul_(exp_avg_sqs, grads, grads, 1.0 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, per_tensor(eps, len(denom)))
    ratio = torch._foreach_div(exp_avgs, denom)  # r = m / (sqrt(v) + eps)
    del denom
    half = torch._foreach_abs(ratio)  # (1 - tanh|r|) / 2 = sigmoid(-2|r|)
    torch._foreach_mul_(half, -2.0)
    torch._foreach_sigmoid_(half)
    step = torch._foreach_sign(exp_avgs)
    align = torch._foreach_sign(grads)
    torch._foreach_mul_(align, step)
    torch._foreach_clamp_min_(align, 0.0)
    foreach_addcmul_(step, step, align, boost)  # sign(m) * (1 + boost*align)
    torch._foreach_mul_(ratio, c)
    torch._foreach_sub_(step, ratio)
    torch._foreach_addcmul_(ratio, half, step, value=2.0)  # c*r + (1-gate)*(lion - c*r)
    del step, align
    if noisy is None:
        noisy = tuple(i for i, t in enumerate(temps) if t > NOISE_FLOOR)
    if noisy:
        std = list(torch._foreach_norm([exp_avg_sqs[i] for i in noisy], 1))  # sum(v), v >= 0
        torch._foreach_mul_(std, [temps[i] / exp_avg_sqs[i].numel() for i in noisy])
        torch._foreach_add_(std, 1e-10)
        torch._foreach_sqrt_(std)
        noise = [torch.randn_like(params[i]) for i in noisy]
        torch._foreach_mul_(noise, std)
        torch._foreach_addcmul_([ratio[i] for i in noisy], [half[i] for i in noisy], noise, value=2.0)
    decay_(params, lr, weight_decay)
    foreach_add_scaled_(params, ratio, -lr)
    if not track:
        return None
    dtype = wide_dtype(half)
    return [h.numel() - 2.0 * s for h, s in zip(half, torch._foreach_norm(half, 1, dtype=dtype))]


CHUNK = 1 << 17


def thermolion_chunked(
    p: Tensor, g: Tensor, m: Tensor, v: Tensor, temp: float, *, lr: float, beta1: float,
    beta2: float, c: float, boost: float, weight_decay: float, eps: float, track: bool = False,
) -> Tensor | None:
    """The same step for one contiguous CPU tensor, run in chunks of CHUNK entries so that its
    ~20 elementwise passes stay in cache (3-4x faster than whole-tensor passes on CPU).

    mean(v) for the noise is computed before the chunks as b2*mean(v) + (1-b2)*mean(g^2), the
    updated mean. Returns the sum of the gate when ``track``.
    """
    flat_p, flat_g, flat_m, flat_v = (t.view(-1) for t in (p, g, m, v))
    n = flat_p.numel()
    std = None
    if temp > NOISE_FLOOR:
        sum_v = flat_v.sum() * beta2 + torch.dot(flat_g, flat_g) * (1.0 - beta2)
        std = (sum_v * (temp / n)).add_(1e-10).sqrt_()
    size = min(n, CHUNK)
    ratio, half, step, align = (torch.empty(size, dtype=p.dtype) for _ in range(4))
    total = torch.zeros((), dtype=torch.promote_types(p.dtype, torch.float32)) if track else None
    for start in range(0, n, CHUNK):
        end = min(n, start + CHUNK)
        k = end - start
        pc, gc, mc, vc = (t[start:end] for t in (flat_p, flat_g, flat_m, flat_v))
        rc, hc, sc, ac = ratio[:k], half[:k], step[:k], align[:k]
        mc.lerp_(gc, 1.0 - beta1)
        vc.mul_(beta2).addcmul_(gc, gc, value=1.0 - beta2)
        torch.sqrt(vc, out=rc).add_(eps)
        torch.div(mc, rc, out=rc)
        torch.abs(rc, out=hc).mul_(-2.0).sigmoid_()
        torch.sign(mc, out=sc)
        torch.sign(gc, out=ac).mul_(sc).clamp_min_(0.0)
        sc.addcmul_(sc, ac, value=boost)
        sc.sub_(rc.mul_(c))
        rc.addcmul_(hc, sc, value=2.0)
        if std is not None:
            rc.addcmul_(hc, torch.randn(k, out=ac).mul_(std), value=2.0)
        if track:
            total += k - 2.0 * hc.sum(dtype=total.dtype)
        if weight_decay != 0.0:
            pc.mul_(1.0 - lr * weight_decay)
        pc.add_(rc, alpha=-lr)
    return total


def use_chunks(*tensor_lists: list[Tensor]) -> bool:
    """Chunked path for contiguous CPU tensors; multi-tensor code otherwise (GPU)."""
    return tensor_lists[0][0].device.type == "cpu" and all(
        t.is_contiguous() for ts in tensor_lists for t in ts
    )


class ThermoLion(CompiledStep, torch.optim.Optimizer):
    """ThermoLion: an SNR gate blends a boosted Lion sign step with a c-scaled Adam-like step,
    plus annealed Gaussian exploration noise while temp = temp_decay^t > 0.01.

    State: two buffers per parameter (``exp_avg``, ``exp_avg_sq``) and the host float ``temp``.
    With ``temp_decay <= 0.01`` no noise is ever added and the step is deterministic.
    ``diagnostics()`` (or ``diagnostics=True``) turns on a per-group mean gate (the share of the
    "solid", Adam-like phase) kept as device tensors; off by default, so the step costs nothing extra.
    Contiguous CPU tensors take a chunked path (thermolion_chunked), others multi-tensor code;
    ``compiled=True``: the multi-tensor code under torch.compile on any device (optim._common.CompiledStep;
    one graph with the noise and one without, as the noise ends after log(0.01)/log(temp_decay) steps).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.99),
        c: float = 2.0,
        boost: float = 0.5,
        temp_decay: float = 0.99,
        weight_decay: float = 0.01,
        eps: float = 1e-8,
        *,
        diagnostics: bool = False,
        compiled: bool = False,
    ) -> None:
        check_hparams(lr, betas, weight_decay)
        if not 0.0 <= temp_decay <= 1.0:  # 0: no noise ever (the reference demands > 0)
            raise ValueError(f"invalid temp_decay {temp_decay!r}: must be in [0, 1]")
        if not eps > 0.0:
            raise ValueError(f"invalid eps {eps!r}: must be > 0")
        defaults = dict(lr=lr, betas=tuple(betas), c=c, boost=boost, temp_decay=temp_decay,
                        weight_decay=weight_decay, eps=eps)
        super().__init__(params, defaults)
        self.track_diagnostics = diagnostics
        self.compiled = compiled
        self._diagnostics: dict[str, Tensor] = {}

    def diagnostics(self) -> dict[str, Tensor]:
        """``{"gate_mean/<group index>": scalar device tensor}`` of the latest step.

        The first call turns tracking on (returns {} until the next step).
        """
        self.track_diagnostics = True
        return dict(self._diagnostics)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            params, grads, (exp_avgs, exp_avg_sqs) = gather(self, group, ("exp_avg", "exp_avg_sq"))
            if not params:
                continue
            temps = []
            for p in params:
                state = self.state[p]
                state["temp"] = state.get("temp", 1.0) * group["temp_decay"]
                temps.append(state["temp"])
            hp = dict(lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1],
                      c=group["c"], boost=group["boost"], weight_decay=group["weight_decay"],
                      eps=group["eps"])
            if self.compiled:
                noisy = tuple(i for i, t in enumerate(temps) if t > NOISE_FLOOR)
                live = (t if t > NOISE_FLOOR else 0.0 for t in temps)  # constant once the noise ends
                values = self.scalars(index, (*hp.values(), *live), params[0].device)
                sums = compiled(thermolion)(params, grads, exp_avgs, exp_avg_sqs, values[len(hp):],
                                            **dict(zip(hp, values)), noisy=noisy,
                                            track=self.track_diagnostics)
            elif use_chunks(params, grads, exp_avgs, exp_avg_sqs):
                sums = [thermolion_chunked(*args, **hp, track=self.track_diagnostics)
                        for args in zip(params, grads, exp_avgs, exp_avg_sqs, temps)]
            else:
                sums = thermolion(params, grads, exp_avgs, exp_avg_sqs, temps, **hp,
                                  track=self.track_diagnostics)
            if self.track_diagnostics:
                total = sum(p.numel() for p in params)
                self._diagnostics[f"gate_mean/{index}"] = torch.stack(list(sums)).sum() / total
        return loss

    def warm_up_steps(self, steps: int) -> None:
        """The first step's graph, and the noise-free one if the noise ends within ``steps`` steps."""
        self.step()
        if any(g["temp_decay"] > NOISE_FLOOR and g["temp_decay"] ** steps <= NOISE_FLOOR for g in self.param_groups):
            for state in self.state.values():
                state["temp"] = 0.0
            self.step()
