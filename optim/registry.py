"""Build any optimizer of the study by name from a model and flat scalar hyperparameters.

The hyperparameter names are those of docs/ARCHITECTURE.md. Every optimizer takes ``lr``,
``weight_decay`` and ``wd_exempt`` (biases, norm parameters and free tokens get no decay, see
optim.groups); anything not listed for the optimizer raises ``ValueError`` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .groups import is_wd_exempt, leaf_modules, param_groups
from .lion import Lion
from .lookahead import Lookahead, NotebookLookahead
from .muadam import NotebookMuAdam
from .muon import MuonAdamW
from .sepnorm import OrtSepNorm, SepNorm
from .swats import SWATS
from .thermolion import ThermoLion


@dataclass(frozen=True)
class Entry:
    """One registered optimizer: its accepted hyperparameters with defaults, and a factory."""

    defaults: dict[str, Any]
    make: Callable[[nn.Module, dict[str, Any]], torch.optim.Optimizer]


def _torch_groups(model: nn.Module, hp: dict[str, Any]) -> list[dict]:
    """Decay / exempt param_groups for optimizers that ignore normalization groups."""
    groups = param_groups(model, hp["weight_decay"], hp["wd_exempt"], "global")
    for g in groups:
        del g["norm_group"]
    return groups


def _common(lr: float, weight_decay: float, **extra: Any) -> dict[str, Any]:
    """Defaults every optimizer accepts (lr, weight_decay, wd_exempt) plus its own."""
    return {"lr": lr, "weight_decay": weight_decay, "wd_exempt": False, **extra}


def _betas(hp: dict[str, Any]) -> tuple[float, float]:
    return (hp["beta1"], hp["beta2"])


def _sepnorm(cls: type[SepNorm], groups: str | None = None):
    """Factory for the SepNorm family: ``groups`` picks the partition (see optim.groups)."""

    def make(model: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
        grouping = groups or hp["groups"]
        norm = {"layer": "group", "block": "group"}.get(grouping, grouping)
        pgs = param_groups(model, hp["weight_decay"], hp["wd_exempt"], grouping)
        return cls(pgs, lr=hp["lr"], betas=_betas(hp), weight_decay=hp["weight_decay"], norm=norm)

    return make


def _muon(model: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
    """Muon on hidden layers' >=2-D weights; AdamW on the first and last parameterized leaf modules
    (registration order: input layer and classifier head), embeddings, biases, norms and free
    parameters such as class tokens and position embeddings (optim.groups.is_wd_exempt)."""
    leaves = leaf_modules(model)
    edge = {id(leaves[0]), id(leaves[-1])} if leaves else set()
    muon, seen = [], set()
    for m in leaves:
        for name, p in m.named_parameters(recurse=False):
            if (p.requires_grad and id(p) not in seen and id(m) not in edge and p.ndim >= 2
                    and not isinstance(m, nn.Embedding) and not is_wd_exempt(m, name, p)):
                muon.append(p)
            seen.add(id(p))
    muon_ids = {id(p) for p in muon}
    adam = [
        {**g, "params": [p for p in g["params"] if id(p) not in muon_ids]}
        for g in _torch_groups(model, hp)
    ]
    groups = [{"params": muon, "use_muon": True, "lr": hp["muon_lr"], "momentum": hp["momentum"],
               "weight_decay": hp["weight_decay"]}] if muon else []
    groups += [{**g, "use_muon": False, "lr": hp["lr"], "betas": _betas(hp)}
               for g in adam if g["params"]]
    return MuonAdamW(groups)


_REGISTRY: dict[str, Entry] = {
    "adam": Entry(
        _common(1e-3, 0.0, beta1=0.9, beta2=0.999, eps=1e-8),
        lambda m, hp: torch.optim.Adam(_torch_groups(m, hp), lr=hp["lr"], betas=_betas(hp),
                                       eps=hp["eps"]),
    ),
    "adamw": Entry(
        _common(1e-3, 1e-2, beta1=0.9, beta2=0.999, eps=1e-8),
        lambda m, hp: torch.optim.AdamW(_torch_groups(m, hp), lr=hp["lr"], betas=_betas(hp),
                                        eps=hp["eps"]),
    ),
    "rmsprop": Entry(
        _common(1e-2, 0.0, beta2=0.99, momentum=0.0, eps=1e-8),
        lambda m, hp: torch.optim.RMSprop(_torch_groups(m, hp), lr=hp["lr"], alpha=hp["beta2"],
                                          eps=hp["eps"], momentum=hp["momentum"]),
    ),
    "sgd": Entry(
        _common(1e-3, 0.0, momentum=0.0, nesterov=False),
        lambda m, hp: torch.optim.SGD(_torch_groups(m, hp), lr=hp["lr"], momentum=hp["momentum"],
                                      nesterov=hp["nesterov"]),
    ),
    "lion": Entry(
        _common(1e-4, 0.0, beta1=0.9, beta2=0.99),
        lambda m, hp: Lion(_torch_groups(m, hp), lr=hp["lr"], betas=_betas(hp)),
    ),
    "normgd": Entry(_common(1e-4, 0.0, beta1=0.9, beta2=0.99), _sepnorm(SepNorm, "global")),
    "sepnorm": Entry(_common(1e-4, 0.0, beta1=0.9, beta2=0.99, groups="layer"), _sepnorm(SepNorm)),
    "ortsepnorm": Entry(
        _common(1e-4, 0.0, beta1=0.9, beta2=0.99, groups="layer"), _sepnorm(OrtSepNorm)
    ),
    "thermolion": Entry(
        _common(1e-3, 0.01, beta1=0.9, beta2=0.99, c=2.0, boost=0.5, temp_decay=0.99, eps=1e-8),
        lambda m, hp: ThermoLion(_torch_groups(m, hp), lr=hp["lr"], betas=_betas(hp), c=hp["c"],
                                 boost=hp["boost"], temp_decay=hp["temp_decay"], eps=hp["eps"]),
    ),
    "swats": Entry(
        _common(1e-3, 0.0, beta1=0.9, beta2=0.999, eps=1e-8, nesterov=False),
        lambda m, hp: SWATS(_torch_groups(m, hp), lr=hp["lr"], betas=_betas(hp), eps=hp["eps"],
                            nesterov=hp["nesterov"]),
    ),
    "muon": Entry(_common(3e-4, 1e-2, muon_lr=0.02, momentum=0.95, beta1=0.9, beta2=0.95), _muon),
    "muadam_paper": Entry(
        _common(1e-3, 0.0, beta1=0.9, beta2=0.999, eps=1e-8),
        lambda m, hp: NotebookMuAdam(_torch_groups(m, hp), lr=hp["lr"], betas=_betas(hp),
                                     eps=hp["eps"]),
    ),
}

# Optimizers with a compiled step (optim._common.CompiledStep), selected by build(..., compiled=True).
COMPILED = ("lion", "normgd", "ortsepnorm", "sepnorm", "thermolion")

# Wrappers: their own hyperparameters; the base optimizer's names are accepted besides.
_WRAPPERS: dict[str, dict[str, Any]] = {
    "lookahead": {"base": "adam", "k": 5, "alpha": 0.5},
    "lookahead_paper": {"base": "adam", "k": 5, "alpha": 0.5},
    "swa": {"base": "sgd", "swa_start": 0.75, "swa_lr": 1e-3},
}


def _lookahead(cls: type[Lookahead]):
    def make(model: nn.Module, hp: dict[str, Any], base_hp: dict[str, Any]):
        return cls(build(hp["base"], model, **base_hp), k=int(hp["k"]), alpha=hp["alpha"])

    return make


def _swa(model: nn.Module, hp: dict[str, Any], base_hp: dict[str, Any]):
    if not 0.0 < hp["swa_start"] <= 1.0:
        raise ValueError(f"invalid swa_start {hp['swa_start']!r}: a fraction of epochs in (0, 1]")
    opt = build(hp["base"], model, **base_hp)
    opt.swa = {"start": float(hp["swa_start"]), "lr": float(hp["swa_lr"])}
    return opt


_WRAPPER_MAKERS = {"lookahead": _lookahead(Lookahead), "lookahead_paper": _lookahead(NotebookLookahead),
                   "swa": _swa}


_PLUGINS: set[str] = set()  # names that register() added


class PluginError(RuntimeError):
    """A plugin optimizer's ``make`` or ``step`` failed; the message names the plugin."""


def register(name: str, defaults: dict[str, Any], make: Callable[..., torch.optim.Optimizer],
             origin: str) -> None:
    """Add a plugin optimizer built by ``make(param_groups, **hp)`` (study.plugins).

    ``param_groups`` are the decay / no-decay groups of the built-ins (``wd_exempt`` applied);
    ``hp`` is ``defaults`` overridden by the trial's values, without ``wd_exempt``. An exception
    in ``make`` or in the optimizer's ``step`` is re-raised as ``PluginError`` naming the plugin.
    ``name`` is new: study.plugins registers it in search_spaces.registry first, which decides it.
    """
    _PLUGINS.add(name)

    def build_plugin(model: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
        own = {k: v for k, v in hp.items() if k != "wd_exempt"}
        opt = _named(name, origin, "make", make)(_torch_groups(model, hp), **own)
        if not isinstance(opt, torch.optim.Optimizer):
            raise PluginError(f"plugin optimizer {name!r} ({origin}): make returned "
                              f"{type(opt).__name__}, not a torch.optim.Optimizer")
        opt.step = _named(name, origin, "step", opt.step)
        return opt

    _REGISTRY[name] = Entry(dict(defaults), build_plugin)


def unregister(name: str) -> None:
    """Remove a plugin optimizer (a plugin whose loading failed half-way; tests)."""
    if name in _PLUGINS:
        _PLUGINS.discard(name)
        del _REGISTRY[name]


def _named(name: str, origin: str, what: str, fn: Callable) -> Callable:
    """``fn`` whose exceptions become ``PluginError``s naming the plugin and its exception."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            line = (str(exc).strip().splitlines() or [""])[0][:200]
            raise PluginError(f"plugin optimizer {name!r} ({origin}) {what}() raised "
                              f"{type(exc).__name__}: {line}") from exc

    return call


def names() -> list[str]:
    """The registered optimizer names, sorted."""
    return sorted([*_REGISTRY, *_WRAPPERS])


def defaults(name: str, base: str | None = None) -> dict[str, Any]:
    """The hyperparameters ``build(name, ...)`` accepts, with their default values.

    For the wrappers (lookahead, swa) these are their own plus those of ``base`` (or its default).
    """
    if name in _WRAPPERS:
        own = {**_WRAPPERS[name], **({"base": base} if base else {})}
        return {**defaults(own["base"]), **own}
    return dict(_entry(name).defaults)


def _entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]


def resolve(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """Defaults of ``name`` overridden by ``hparams``; unknown names raise ``ValueError``."""
    if name in _WRAPPERS and "base" in hparams and hparams["base"] not in _REGISTRY:
        raise ValueError(
            f"unknown base optimizer {hparams['base']!r} for {name!r}; "
            f"known: {', '.join(sorted(_REGISTRY))}"
        )
    accepted = defaults(name, hparams.get("base") if name in _WRAPPERS else None)
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for optimizer {name!r}; "
            f"accepted: {', '.join(sorted(accepted))}"
        )
    return {**accepted, **hparams}


def build(name: str, model: nn.Module, *, compiled: bool = False, **hparams: Any) -> torch.optim.Optimizer:
    """The optimizer ``name`` over ``model``'s trainable parameters, configured by ``hparams``.

    ``lookahead`` returns a Lookahead around its ``base`` (``lookahead_paper``: the ThermoLion
    notebook's NotebookLookahead); ``swa`` returns the ``base`` optimizer
    with the attribute ``swa = {"start": swa_start, "lr": swa_lr}``: the runner averages the weights
    with torch.optim.swa_utils (AveragedModel from that fraction of the epochs, SWALR at swa_lr,
    update_bn before evaluation; see docs/ARCHITECTURE.md).
    ``compiled=True`` selects the torch.compile'd step (``COMPILED``: lion, the SepNorm family,
    thermolion); any other optimizer raises ``ValueError``.
    """
    if compiled and name not in COMPILED:
        raise ValueError(f"no compiled step for optimizer {name!r}; available for: {', '.join(COMPILED)}")
    hp = resolve(name, hparams)
    if name in _WRAPPERS:
        own = {k: hp[k] for k in _WRAPPERS[name]}
        base_hp = {k: v for k, v in hparams.items() if k not in own}
        return _WRAPPER_MAKERS[name](model, own, base_hp)
    optimizer = _entry(name).make(model, hp)
    if compiled:
        optimizer.compiled = True
    return optimizer
