"""The per-optimizer search spaces as data, the ranges' sources, and the accepted names.

Ranges are sized for small vision nets trained from scratch at batch 64-1024 and for T5
fine-tuning alike, i.e. they span the values the literature uses in both settings:

- Adam-type lr, log-uniform [1e-5, 3e-2]: Adam's 1e-3 (Kingma & Ba 2015) for small nets,
  6.25e-5 to 7.5e-4 for ViT / ResNet-50 and ~1e-4 for T5 fine-tuning (SepNorm App. D, Tables 5-7;
  DeiT's 1e-5 is the low end). Schmidt et al. 2021 ("Descending through a crowded valley") tune
  every optimizer's lr on a log scale; our ranges are narrower than their [1e-4, 1]-style ranges
  because budgets here are tens of trials.
- Sign-type lr (Lion, NormGD, SepNorm, OrtSepNorm, ThermoLion), log-uniform [1e-6, 3e-3]: the
  Adam range divided by 10, as the Lion paper (Chen et al. 2023) finds Lion's lr 3-10x smaller
  than AdamW's (App. D: 7.5e-5 / 6.25e-6 / 3e-4 against AdamW's 7.5e-4 / 6.25e-5 / 1e-3;
  ThermoLion Sec. 4.3 uses 1e-3 for ThermoLion and 3.3e-4 for Lion, both inside).
- SGD lr (and SWA's swa_lr), log-uniform [1e-4, 1]: torch's 1e-3, ThermoLion's SWA 1e-2 and the
  usual 0.1 for CIFAR ResNets. Muon's muon_lr, log-uniform [1e-3, 0.1] around Jordan's 0.02.
- weight_decay: "0 or log-uniform" (see dims.LogOrZero), by how the decay enters the update:
  coupled L2 (torch's adam, rmsprop, sgd, and swats, which adds it to the gradient as torch's Adam
  and Keskar & Socher's Adam phase do) [1e-6, 1e-2]; decoupled and multiplied by an Adam-type
  lr (adamw, muon, muadam_paper) [1e-4, 1] (torch 0.01, App. D 0.1-0.3); decoupled with a
  sign-type lr [1e-3, 10], 10x the AdamW range as the Lion paper advises (App. D 0.3-5; ThermoLion
  0.01).
- beta1 uniform [0.8, 0.99]; beta2 in {0.95, 0.98, 0.99, 0.999} (Adam's 0.999, Lion's 0.99, the
  Lion paper's 0.98 for language models, Muon's auxiliary Adam 0.95); RMSprop's square-average
  decay adds Hinton's 0.9. eps is fixed at 1e-8: Choi et al. 2019 show it matters once lr and eps
  are searched over very wide ranges together, which small budgets cannot afford here; an
  override can search it.
- batch_size in {64, 128, 256, 512, 1024}; wd_exempt in {False, True} for every optimizer.
- ThermoLion: c log-uniform [0.25, 8] around the reference 2.0, boost uniform [0, 2] around 0.5,
  temp_decay in {0, 0.9, 0.99, 0.999} (0 = never any noise; 0.99 stops the noise after ~460
  steps, 0.999 after ~4600).
- SepNorm and OrtSepNorm: groups in {tensor, layer, block}, the family's own partitions. ``element``
  (SepNorm = Lion) and ``global`` (= NormGD) are the cells lion and normgd: searching them here
  would make a tuned "SepNorm" the best of a family at a fifth of the budget per member. The
  records' ``hp_groups`` says which partition won. An override may still pin element or global
  (OrtSepNorm: not element, whose projection on a one-element group leaves a zero update).
- Lookahead (Zhang et al. 2019: k in {5, 10}, alpha in {0.5, 0.8} all work): k int [2, 20],
  alpha uniform [0.2, 0.9]; lookahead_paper (the ThermoLion notebook's variant) the same. SWA (Izmailov et al. 2018 average the last 25%): swa_start uniform
  [0.25, 0.9] (fraction of the epochs before averaging starts).

Inclusion (Choi et al. 2019): Adam and AdamW share every range but weight_decay and both reach
weight_decay = 0, where they are the same optimizer; SepNorm shares every range with Lion and
NormGD, and pinned (by an override) to groups=element is Lion, to groups=global NormGD; its own
search does not reach them. tests/test_search_spaces.py checks all three.
"""

from __future__ import annotations

from . import registry
from .dims import Categorical, Constant, Dim, Float, Int, LogOrZero

GROUPINGS = ("element", "tensor", "layer", "block", "global")
SEPNORM_GROUPINGS = ("tensor", "layer", "block")  # searched; element = lion, global = normgd
#: The groups each optimizer accepts (what an override may pin), beyond the searched ones.
GROUP_DOMAINS = {"sepnorm": GROUPINGS, "ortsepnorm": GROUPINGS[1:]}
BATCH_SIZES = (64, 128, 256, 512, 1024)

ADAM_LR = Float(1e-5, 3e-2, log=True)
SIGN_LR = Float(1e-6, 3e-3, log=True)
SGD_LR = Float(1e-4, 1.0, log=True)
MUON_LR = Float(1e-3, 1e-1, log=True)
COUPLED_WD = LogOrZero(1e-6, 1e-2)
DECOUPLED_WD = LogOrZero(1e-4, 1.0)
SIGN_WD = LogOrZero(1e-3, 10.0)
BETA1 = Float(0.8, 0.99)
BETA2 = Categorical((0.95, 0.98, 0.99, 0.999))
RMS_ALPHA = Categorical((0.9, 0.95, 0.98, 0.99, 0.999))
MOMENTUM = Float(0.0, 0.99)
EPS = Constant(1e-8)
BOOL = Categorical((False, True))

COMMON_DIMS = {"batch_size": Categorical(BATCH_SIZES), "wd_exempt": BOOL}


def _space(lr: Dim, wd: Dim, **rest: Dim) -> dict[str, Dim]:
    return {"lr": lr, "weight_decay": wd, **rest, **COMMON_DIMS}


_SIGN = {"beta1": BETA1, "beta2": BETA2}

#: The built-in optimizers' spaces, baselines first (registered by search_spaces.builtins).
BUILTIN_SPACES: dict[str, dict[str, Dim]] = {
    "adam": _space(ADAM_LR, COUPLED_WD, beta1=BETA1, beta2=BETA2, eps=EPS),
    "adamw": _space(ADAM_LR, DECOUPLED_WD, beta1=BETA1, beta2=BETA2, eps=EPS),
    "rmsprop": _space(ADAM_LR, COUPLED_WD, beta2=RMS_ALPHA, momentum=MOMENTUM, eps=EPS),
    "sgd": _space(SGD_LR, COUPLED_WD, momentum=MOMENTUM, nesterov=BOOL),
    "lion": _space(SIGN_LR, SIGN_WD, **_SIGN),
    "normgd": _space(SIGN_LR, SIGN_WD, **_SIGN),
    "sepnorm": _space(SIGN_LR, SIGN_WD, **_SIGN, groups=Categorical(SEPNORM_GROUPINGS)),
    "ortsepnorm": _space(SIGN_LR, SIGN_WD, **_SIGN, groups=Categorical(SEPNORM_GROUPINGS)),
    "thermolion": _space(
        SIGN_LR, SIGN_WD, **_SIGN, c=Float(0.25, 8.0, log=True), boost=Float(0.0, 2.0),
        temp_decay=Categorical((0.0, 0.9, 0.99, 0.999)), eps=EPS,
    ),
    "swats": _space(ADAM_LR, COUPLED_WD, beta1=BETA1, beta2=BETA2, eps=EPS, nesterov=BOOL),
    "muon": _space(
        ADAM_LR, DECOUPLED_WD, muon_lr=MUON_LR, momentum=Float(0.8, 0.99), beta1=BETA1,
        beta2=BETA2,
    ),
    "muadam_paper": _space(ADAM_LR, DECOUPLED_WD, beta1=BETA1, beta2=BETA2, eps=EPS),
}

#: Wrappers: their own dimensions, added to the space of their inner (``base``) optimizer.
WRAPPERS: dict[str, tuple[str, dict[str, Dim]]] = {
    "lookahead": ("adam", {"k": Int(2, 20), "alpha": Float(0.2, 0.9)}),
    "lookahead_paper": ("adam", {"k": Int(2, 20), "alpha": Float(0.2, 0.9)}),
    "swa": ("sgd", {"swa_start": Float(0.25, 0.9), "swa_lr": SGD_LR}),
}

#: Optimizers a wrapper may wrap (its ``base``).
BASES = tuple(BUILTIN_SPACES)

#: Keys of a point or sampled config that go to the runner, not to ``optim.build``.
RUNNER_KEYS = frozenset({"batch_size"})
COMMON = frozenset({"lr", "weight_decay", "wd_exempt"})


def check_optimizer(optimizer: str) -> None:
    """Raise ``ValueError`` naming ``optimizer`` if it is not registered."""
    registry.get(optimizer)


def accepted(optimizer: str, base: str | None = None) -> frozenset[str]:
    """The names ``optim.build(optimizer, ...)`` accepts (a wrapper's for the given ``base``): its
    space's names but the runner keys."""
    return frozenset((set(base_space(optimizer, base)) | COMMON) - RUNNER_KEYS)


def names() -> list[str]:
    """The registered optimizers (built-ins first, baselines first, then plugins)."""
    return registry.names()


def base_space(optimizer: str, base: str | None = None) -> dict[str, Dim]:
    """The default space of ``optimizer`` (a wrapper's around ``base``), before overrides."""
    entry = registry.get(optimizer)
    if entry.wraps is None:
        return dict(entry.space)
    inner = base or entry.wraps
    if inner not in BASES:
        raise ValueError(f"{optimizer}: cannot wrap base {inner!r}; one of {', '.join(BASES)}")
    return {"base": Constant(inner), **entry.space, **registry.get(inner).space}
