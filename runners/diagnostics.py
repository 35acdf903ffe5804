"""Per-epoch optimizer diagnostics, reported as ``diag/<name>`` with one host sync per epoch.

* whatever ``optimizer.diagnostics()`` returns (e.g. ThermoLion's mean gate), as is;
* ``weight_norm/<g>`` and ``group_size/<g>``: the L2 norm and the number of elements of the
  weights of each normalization group (the param_groups' ``norm_group`` when set, else the
  param_group index): SepNorm's Theorem 4.2 predicts the norm's limit from the size;
* ``momentum_tracing`` (only for networks with BatchNorm): how many parameter elements have a zero
  gradient on the last step but non-zero momentum, i.e. are still moved by stale momentum, the
  mechanism the SepNorm paper blames for Lion's instability with BatchNorm+ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

MOMENTUM_KEYS = ("exp_avg", "momentum_buffer", "m", "momentum")


def _optimizers(optimizer) -> list:
    """The optimizer and any optimizers it wraps (``.optimizer`` / ``.base_optimizer``)."""
    out = [optimizer]
    for attr in ("optimizer", "base_optimizer"):
        inner = getattr(optimizer, attr, None)
        if inner is not None and inner is not optimizer and hasattr(inner, "state"):
            out += _optimizers(inner)
    return out


def _momentum(optimizer, p: torch.Tensor) -> torch.Tensor | None:
    for opt in _optimizers(optimizer):
        state = opt.state.get(p, {})
        for key in MOMENTUM_KEYS:
            buf = state.get(key)
            if isinstance(buf, torch.Tensor) and buf.shape == p.shape:
                return buf
    return None


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def collect(model: nn.Module, optimizer) -> dict[str, float]:
    """All diagnostics of this epoch as floats (a single device-to-host copy)."""
    names: list[str] = []
    values: list[torch.Tensor] = []
    own = getattr(optimizer, "diagnostics", None)
    if callable(own):
        for key, val in own().items():
            names.append(f"diag/{key}")
            values.append(torch.as_tensor(val).detach().float().reshape(()))
    sq: dict[str, list[torch.Tensor]] = {}
    sizes: dict[str, int] = {}
    for i, group in enumerate(optimizer.param_groups):
        key = str(i if group.get("norm_group") is None else group["norm_group"])
        sq.setdefault(key, []).extend(p.detach().float().square().sum() for p in group["params"])
        sizes[key] = sizes.get(key, 0) + sum(p.numel() for p in group["params"])
    for key, parts in sq.items():
        names.append(f"diag/weight_norm/{key}")
        values.append(torch.stack(parts).sum().sqrt())
    group_sizes = {f"diag/group_size/{key}": float(size) for key, size in sizes.items()}
    if has_batchnorm(model):
        count = []
        for p in model.parameters():
            m = _momentum(optimizer, p)
            if p.grad is not None and m is not None:
                count.append(((p.grad == 0) & (m != 0)).sum())
        names.append("diag/momentum_tracing")
        values.append(torch.stack(count).sum().float() if count else torch.tensor(0.0))
    if not values:
        return group_sizes
    device = values[0].device
    flat = torch.stack([v.to(device) for v in values]).tolist()
    return {**dict(zip(names, flat)), **group_sizes}
