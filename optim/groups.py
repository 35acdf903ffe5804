"""Parameter-group definitions built from a model's structure.

Two independent choices are expressed here:

* ``wd_exempt``: biases (``bias``, ``*_bias`` such as attention's ``in_proj_bias``), the parameters
  of normalization modules, and free parameters that are no module's weight (class tokens,
  position embeddings: anything not named ``weight`` / ``*_weight``) get ``weight_decay=0``.
* a normalization partition for the SepNorm family (``groups``):
  ``element`` / ``tensor`` / ``global`` need no partition (the optimizer's ``norm`` mode does it);
  ``layer`` = the parameters owned directly by one module (a leaf module with parameters);
  ``block`` = the parameters under one top-level child of the model. When the model's only
  parameterized top-level child is a container (``nn.Sequential`` / ``nn.ModuleList``), as in
  ``nn.Sequential(stem, stage1, stage2, head)`` wrapped in a module, the blocks are that container's
  children instead (repeated while a single container remains), so a "block" is always a stage.
  A block that is a stack of repeated layers, i.e. an ``nn.ModuleList`` of >= 2 modules of one
  type or a module whose parameters all lie in one (``nn.TransformerEncoder``), is one block per
  layer (a T5 block's ModuleList of different sublayers stays one block):
  a ViT's blocks are its patch embedding, tokens, each transformer layer and its head.
  Parameters owned directly by the model itself form one extra block.

How ``wd_exempt`` combines with ``layer``/``block``: exempt parameters go to their own torch
param_group (``weight_decay=0``) but keep the ``norm_group`` id of their layer/block, and SepNorm's
``norm="group"`` normalizes jointly all param_groups with the same ``norm_group``. So decay and
normalization are chosen independently and the exemption never changes the normalization.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

GROUPINGS = ("element", "tensor", "layer", "block", "global")

_NORM_TYPES = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
)


def is_wd_exempt(module: nn.Module, name: str, param: torch.Tensor) -> bool:
    """True for biases, for parameters of normalization modules (any 1-d parameter of a norm), and
    for parameters that are no module's weight (class tokens, position embeddings)."""
    is_weight = name == "weight" or name.endswith("_weight")
    return not is_weight or isinstance(module, _NORM_TYPES) or (
        "norm" in type(module).__name__.lower() and param.ndim <= 1
    )


def _owned(module: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """Trainable parameters registered directly on ``module`` (not on its children)."""
    for name, p in module.named_parameters(recurse=False):
        if p.requires_grad:
            yield name, p


def leaf_modules(model: nn.Module) -> list[nn.Module]:
    """Modules that own trainable parameters, in registration order (shared ones once)."""
    seen: set[int] = set()
    out = []
    for m in model.modules():
        params = [p for _, p in _owned(m) if id(p) not in seen]
        if params:
            seen.update(id(p) for p in params)
            out.append(m)
    return out


def _trainable_children(module: nn.Module) -> list[nn.Module]:
    return [c for c in module.children() if any(p.requires_grad for p in c.parameters())]


def _repeated(module: nn.Module) -> list[nn.Module] | None:
    """The layers of a ModuleList of >= 2 modules of one type (a stack of repeated layers)."""
    kids = _trainable_children(module)
    if isinstance(module, nn.ModuleList) and len(kids) >= 2 and len({type(k) for k in kids}) == 1:
        return kids
    return None


def _layers(block: nn.Module) -> list[nn.Module]:
    """A stack of repeated layers (such a ModuleList, or a module holding only one) as its layers."""
    kids = _trainable_children(block)
    stack = _repeated(block)
    if stack is None and len(kids) == 1 and not any(True for _ in _owned(block)):
        stack = _repeated(kids[0])
    return stack or [block]


def _blocks(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """(module, recurse) per block: top-level children, descending through a lone container;
    a stack of repeated layers gives one block per layer."""
    root = model
    while True:
        kids = _trainable_children(root)
        owns = any(True for _ in _owned(root))
        if len(kids) == 1 and not owns and isinstance(kids[0], (nn.Sequential, nn.ModuleList)):
            root = kids[0]
            continue
        return ([(root, False)] if owns else []) + [(m, True) for k in kids for m in _layers(k)]


def partition(model: nn.Module, groups: str) -> list[list[tuple[nn.Module, str, nn.Parameter]]]:
    """Split the trainable parameters into normalization groups: ``layer``, ``block`` or one group.

    Every parameter appears once (shared parameters in their first group); each entry keeps its
    owning module and attribute name so that ``wd_exempt`` can be decided per parameter.
    """
    if groups not in GROUPINGS:
        raise ValueError(f"unknown groups {groups!r}; expected one of {GROUPINGS}")
    seen: set[int] = set()

    def collect(root: nn.Module, recurse: bool) -> list[tuple[nn.Module, str, nn.Parameter]]:
        out = []
        for m in root.modules() if recurse else [root]:
            for name, p in _owned(m):
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((m, name, p))
        return out

    if groups == "layer":
        parts = [collect(m, False) for m in leaf_modules(model)]
    elif groups == "block":
        parts = [collect(b, recurse) for b, recurse in _blocks(model)]
    else:
        parts = [collect(model, True)]
    return [p for p in parts if p]


def param_groups(
    model: nn.Module, weight_decay: float, wd_exempt: bool = False, groups: str = "tensor"
) -> list[dict]:
    """torch param_groups for ``model``: split by ``groups`` (layer/block) and by ``wd_exempt``.

    Each dict has ``params``, ``weight_decay`` and ``norm_group`` (the index of its normalization
    group; only SepNorm's ``norm="group"`` reads it). Empty groups are dropped.
    """
    out = []
    for gid, part in enumerate(partition(model, groups)):
        decay = [p for m, n, p in part if not (wd_exempt and is_wd_exempt(m, n, p))]
        exempt = [p for m, n, p in part if wd_exempt and is_wd_exempt(m, n, p)]
        if decay:
            out.append({"params": decay, "weight_decay": weight_decay, "norm_group": gid})
        if exempt:
            out.append({"params": exempt, "weight_decay": 0.0, "norm_group": gid})
    return out
