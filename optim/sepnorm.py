"""SepNorm and OrtSepNorm (paper 002, Defs. 4.1, 4.2, A.3, A.4): Lion with the sign replaced by a
normalization per group of parameters.

With u = b1*m + (1-b1)*g and a partition of the parameters into groups l::

    p_l *= 1 - lr*wd
    p_l -= lr * sqrt(|l|) * u_l / ||u_l||          (a group with u_l = 0 gets no update)
    m    = b2*m + (1-b2)*g

OrtSepNorm first removes from u_l its component along the group's weights (taken before the
weight decay): ``u_l -= <u_l, w_l> / ||w_l||^2 * w_l`` (skipped where ||w_l|| = 0). A projected
norm at or below sqrt(eps) of the parameters' float type times the unprojected one counts as
zero: u_l was parallel to w_l up to rounding (always so for a one-element group), and normalizing
that residue would make a full-size step in a random direction where exact arithmetic gives none.

``norm`` picks the partition: ``element`` (each entry; SepNorm then is Lion exactly),
``tensor`` (each parameter tensor), ``group`` (each torch param_group, or all param_groups that share
the same ``norm_group`` option, see optim.groups) and ``global`` (all parameters: NormGD).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._common import (CompiledStep, check_hparams, compiled, decay_, foreach_addcmul_, foreach_lerp, gather,
                      to_device, wide_dtype)
from .lion import lion_group

NORMS = ("element", "tensor", "group", "global")


def _segment_sum(x: Tensor, ids: Tensor | None, n_segments: int) -> Tensor:
    """Sum the entries of ``x`` per segment id (``ids`` None: every entry is its own segment)."""
    if ids is None:
        return x
    return torch.zeros(n_segments, dtype=x.dtype, device=x.device).index_add_(0, ids, x)


def _norms(tensors: list[Tensor], device: torch.device) -> Tensor:
    """Euclidean norm of each tensor, in float32 or wider, stacked on ``device``."""
    dtype = wide_dtype(tensors)
    return torch.stack([n.to(device) for n in torch._foreach_norm(tensors, 2, dtype=dtype)])


def normalized_scales(
    params: list[Tensor],
    updates: list[Tensor],
    ids: Tensor | None,
    sqrt_sizes: Tensor,
    root_eps: Tensor,
    *,
    orthogonal: bool,
) -> list[Tensor]:
    """Per-tensor scalars s_i such that ``s_i * updates_i`` has norm sqrt(|l|) over each segment l.

    ``ids`` maps tensor i to its segment (None: one segment per tensor), ``sqrt_sizes`` holds
    sqrt(|l|) per segment and ``root_eps`` sqrt(eps) of the coarsest float type in it. With
    ``orthogonal`` the updates are first projected (in place) onto the complement of the segment's
    weights; a projected norm <= root_eps times the unprojected one (rounding, not signal) gives a
    zero scale. Scalars are device tensors; nothing syncs with the host.
    """
    device = sqrt_sizes.device
    n_seg = sqrt_sizes.numel()
    sqrt_sizes = sqrt_sizes.to(wide_dtype(params))
    floor = 0.0
    if orthogonal:
        unprojected = _segment_sum(_norms(updates, device).square(), ids, n_seg).sqrt()
        floor = unprojected * root_eps.to(sqrt_sizes.dtype)
        dots = torch.stack(
            [torch.dot(u.reshape(-1), p.reshape(-1)).to(device, sqrt_sizes.dtype)
             for u, p in zip(updates, params)]
        )
        dots = _segment_sum(dots, ids, n_seg)
        w_sq = _segment_sum(_norms(params, device).square(), ids, n_seg)
        coef = torch.where(w_sq > 0, dots / w_sq, 0.0)
        coef = coef if ids is None else coef[ids]
        torch._foreach_addcmul_(updates, params, list(coef.unbind(0)), value=-1.0)
    norm = _segment_sum(_norms(updates, device).square(), ids, n_seg).sqrt()
    scale = torch.where(norm > floor, sqrt_sizes / norm, 0.0)
    scale = scale if ids is None else scale[ids]
    return list(scale.unbind(0))


def sepnorm(
    groups: list[tuple[list[Tensor], list[Tensor], list[Tensor]]],
    hparams: list[tuple],
    ids: Tensor | None,
    sqrt_sizes: Tensor,
    root_eps: Tensor,
    *,
    orthogonal: bool,
) -> None:
    """One SepNorm / OrtSepNorm step over the (params, grads, exp_avgs) lists of several param_groups,
    normalized jointly over the segments of ``ids`` (see normalized_scales); ``hparams`` holds each
    group's (lr, beta1, beta2, weight_decay), numbers or, when compiled, 0-d tensors."""
    flat_p, flat_u = [], []
    for (params, grads, exp_avgs), (_, beta1, _, _) in zip(groups, hparams):
        flat_p += params
        flat_u += foreach_lerp(exp_avgs, grads, 1.0 - beta1)
    scales = normalized_scales(flat_p, flat_u, ids, sqrt_sizes, root_eps, orthogonal=orthogonal)
    start = 0
    for (params, grads, exp_avgs), (lr, _, beta2, weight_decay) in zip(groups, hparams):
        end = start + len(params)
        decay_(params, lr, weight_decay)
        foreach_addcmul_(params, flat_u[start:end], scales[start:end], -lr)
        foreach_lerp(exp_avgs, grads, 1.0 - beta2, inplace=True)
        start = end


class SepNorm(CompiledStep, torch.optim.Optimizer):
    """SepNorm: Lion's momentum with per-group normalization instead of the sign.

    State: one buffer per parameter (``exp_avg``); the interpolated update is a temporary.
    ``norm`` in {element, tensor, group, global}; ``norm="group"`` normalizes each torch param_group
    (or each set of param_groups sharing the ``norm_group`` option) jointly. Zero updates give zeros.
    ``compiled=True``: the step (function ``sepnorm``) runs under torch.compile (optim._common.CompiledStep).
    """

    orthogonal = False

    def __init__(
        self,
        params,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        norm: str = "tensor",
        *,
        compiled: bool = False,
    ) -> None:
        check_hparams(lr, betas, weight_decay)
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, norm=norm,
                        norm_group=None)
        super().__init__(params, defaults)
        self._segments: dict[tuple, tuple[Tensor | None, Tensor]] = {}
        self.compiled = compiled

    def _norm(self) -> str:
        norms = {g["norm"] for g in self.param_groups}
        if len(norms) != 1:
            raise ValueError(f"all param_groups must share one norm, got {sorted(norms)}")
        return norms.pop()

    def _segment_tensors(self, key: tuple, device: torch.device) -> tuple[Tensor | None, Tensor, Tensor]:
        """(ids, sqrt sizes, sqrt eps) device tensors for one partition, cached so steps copy nothing."""
        if (key, device) not in self._segments:
            norm, seg_of, numels, dtypes = key
            n_seg = max(seg_of) + 1
            sizes, root_eps = [0] * n_seg, [0.0] * n_seg
            for s, n, dtype in zip(seg_of, numels, dtypes):
                sizes[s] += n
                root_eps[s] = max(root_eps[s], torch.finfo(dtype).eps ** 0.5)
            ids = None if norm == "tensor" else to_device(torch.tensor(seg_of), device)
            sqrt_sizes = to_device(torch.tensor(sizes, dtype=torch.float64), device).sqrt()
            self._segments[key, device] = (ids, sqrt_sizes, to_device(torch.tensor(root_eps, dtype=torch.float64), device))
        return self._segments[key, device]

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One optimization step; ``closure`` re-evaluates the loss (returned)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        norm = self._norm()
        work = []
        for index, group in enumerate(self.param_groups):
            params, grads, (exp_avgs,) = gather(self, group, ("exp_avg",))
            if params:
                work.append((index, group, params, grads, exp_avgs))
        if not work:
            return loss
        if norm == "element":
            self._element_step(work)
            return loss

        seg_of, numels, dtypes = [], [], []
        seg_ids: dict = {}
        for index, group, params, grads, exp_avgs in work:
            for p in params:
                if norm == "tensor":
                    label = len(seg_of)
                elif norm == "group":
                    label = ("id", group["norm_group"]) if group["norm_group"] is not None else index
                else:
                    label = 0
                seg_of.append(seg_ids.setdefault(label, len(seg_ids)))
                numels.append(p.numel())
                dtypes.append(p.dtype)
        device = work[0][2][0].device
        segments = self._segment_tensors((norm, tuple(seg_of), tuple(numels), tuple(dtypes)), device)
        groups = [(params, grads, exp_avgs) for _, _, params, grads, exp_avgs in work]
        values = [(g["lr"], g["betas"][0], g["betas"][1], g["weight_decay"]) for _, g, *_ in work]
        fn = sepnorm
        if self.compiled:
            fn = compiled(sepnorm)
            values = [tuple(self.scalars(index, v, device)) for (index, *_), v in zip(work, values)]
        fn(groups, values, *segments, orthogonal=self.orthogonal)
        return loss

    def _element_step(self, work: list) -> None:
        """Element groups: the Lion step (OrtSepNorm: only entries whose weight is exactly 0 move,
        since the per-entry projection removes everything else; never compiled)."""
        for index, group, params, grads, exp_avgs in work:
            beta1, beta2 = group["betas"]
            if not self.orthogonal:
                lion_group(self, index, group, params, grads, exp_avgs)
                continue
            updates = torch._foreach_lerp(exp_avgs, grads, 1.0 - beta1)
            torch._foreach_sign_(updates)
            for u, p in zip(updates, params):
                u.masked_fill_(p != 0, 0.0)
            lr, wd = group["lr"], group["weight_decay"]
            if wd != 0.0:
                torch._foreach_mul_(params, 1.0 - lr * wd)
            torch._foreach_add_(params, updates, alpha=-lr)
            torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta2)


class OrtSepNorm(SepNorm):
    """OrtSepNorm: SepNorm whose update is first made orthogonal to the weights of its group.

    State: one buffer per parameter (``exp_avg``). Same arguments and partitions as SepNorm; the
    update of every normalization group satisfies <update_l, w_l> = 0 (before weight decay).
    """

    orthogonal = True
