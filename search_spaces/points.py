"""Fixed points: each optimizer's one-shot default and the papers' own settings.

Default point = what a user gets without tuning: torch's defaults for torch optimizers, the
authors' released defaults otherwise, batch_size 128, wd_exempt False.

- Lion: lr 1e-4, betas (0.9, 0.99), weight_decay 0: the defaults of the authors' code
  (google/automl lion_pytorch.py; also lion-pytorch). The Lion paper's advice "lr 3-10x below
  AdamW's, wd 3-10x above" is a tuning rule, not a default; the ThermoLion paper's reading of it
  (lr 1e-3 / 3, wd 0) is its paper point below.
- NormGD / SepNorm / OrtSepNorm: Lion's defaults (same update scale); groups = "layer", the
  grouping the SepNorm paper uses "in all experiments" (Sec. 4).
- ThermoLion: the reference code's defaults (lr 1e-3, betas (0.9, 0.99), c 2, boost 0.5,
  temp_decay 0.99, wd 0.01, eps 1e-8).
- SWATS: starts as Adam with Adam's defaults (Keskar & Socher 2017), nesterov off.
- Lookahead: k 5, alpha 0.5 around Adam (Zhang et al. 2019); lookahead_paper (the ThermoLion
  notebook's variant) the same. SWA: torch SGD's defaults, averaging over the last 25% of the
  epochs (Izmailov et al. 2018) at swa_lr = lr.
- Muon: Jordan's SingleDeviceMuonWithAuxAdam example: muon_lr 0.02, momentum 0.95, the AdamW
  part at lr 3e-4, betas (0.9, 0.95), weight_decay 0.01.
- muadam_paper: the ThermoLion notebook's MuAdam class defaults (Adam's, wd 0).

Paper points:

- ``thermolion``: Sec. 4.3 as the notebook ran it: lr 1e-3 for all, Lion 1e-3/3 (wd 0),
  ThermoLion wd 0.01 / temp_decay 0.99 (c 2 and boost 0.5 are hard-coded there), SWA on plain SGD
  at lr 1e-2 with swa_lr 0.01 and averaging in epochs 7-12 of 12 (``ep > 5``, so swa_start = 0.5:
  the first averaged epoch has 0-based index swa_start * epochs), Lookahead(Adam, k 5, alpha 0.5),
  SWATS and MuAdam with their class defaults, everything else torch defaults; batch 1024. The
  paper is vision only: no point for glue tasks or for optimizers it did not run. Its Lookahead
  row is the notebook's own class (slow copy after the first fast step of a cycle), so the paper
  phase of the ``lookahead`` cell builds ``lookahead_paper`` (``paper_build``); every other phase
  of that cell is Zhang et al.'s Lookahead.
- ``sepnorm``: Appendix D, Table 5 (ResNet-50 trained from scratch at batch 256, the setting
  closest to this study's from-scratch vision nets): AdamW lr 7.5e-4, wd 0.1, betas (0.9, 0.999);
  Lion and SepNorm (groups = layer) lr 7.5e-5, wd 1, betas (0.9, 0.99). Tables 6-7 (ViT / Mixer
  fine-tuned from ImageNet-21k weights) are not used. No OrtSepNorm vision row: None.
- ``sepnorm`` on ``glue-*`` (Sec. 6.2, Table 3: T5-Base, 50,000 steps, batch 128, constant lr,
  the peak dev score of 3 runs; AdamW, Lion, SepNorm, OrtSepNorm). The paper gives no lr or wd
  for T5, so the point is the one its setup implies: Appendix D's fine-tuning rule (Tables 6-7:
  Lion and SepNorm at 1/10 of AdamW's lr with 3x its wd: 6.25e-5 / 0.1 against 6.25e-6 / 0.3;
  betas 0.9/0.999 and 0.9/0.99) anchored at AdamW lr 1e-4, the constant lr the T5 docs give for
  AdamW fine-tuning (1e-4 to 3e-4; the T5 paper's own 1e-3 is Adafactor's), wd 0.1 as in every
  AdamW row of Appendix D. So AdamW 1e-4 / 0.1, Lion, SepNorm and OrtSepNorm (groups = layer)
  1e-5 / 0.3. Not the default point: Lion's default lr 1e-4 and AdamW's 1e-3 are
  from-scratch values, 10x the fine-tuning ones. ``paper_budget`` adds the runner keys of the
  paper's training (steps 50,000, constant schedule, no warmup); the eval count stays the
  study's ``epochs``. Same numbers as runners/glue/paper.py (tested).
"""

from __future__ import annotations

from typing import Any

from . import registry
from .spaces import check_optimizer

_ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
_LION = {"beta1": 0.9, "beta2": 0.99}
_SGD = {"momentum": 0.0, "nesterov": False}


def _p(lr: float, wd: float, **rest: Any) -> dict[str, Any]:
    return {"lr": lr, "weight_decay": wd, "wd_exempt": False, **rest}


#: The built-ins' default points, in the order they are registered (search_spaces.builtins).
BUILTIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "adam": _p(1e-3, 0.0, **_ADAM),
    "adamw": _p(1e-3, 1e-2, **_ADAM),
    "rmsprop": _p(1e-2, 0.0, beta2=0.99, momentum=0.0, eps=1e-8),
    "sgd": _p(1e-3, 0.0, **_SGD),
    "lion": _p(1e-4, 0.0, **_LION),
    "normgd": _p(1e-4, 0.0, **_LION),
    "sepnorm": _p(1e-4, 0.0, **_LION, groups="layer"),
    "ortsepnorm": _p(1e-4, 0.0, **_LION, groups="layer"),
    "thermolion": _p(1e-3, 1e-2, **_LION, c=2.0, boost=0.5, temp_decay=0.99, eps=1e-8),
    "swats": _p(1e-3, 0.0, **_ADAM, nesterov=False),
    "lookahead": _p(1e-3, 0.0, base="adam", k=5, alpha=0.5, **_ADAM),
    "lookahead_paper": _p(1e-3, 0.0, base="adam", k=5, alpha=0.5, **_ADAM),
    "swa": _p(1e-3, 0.0, base="sgd", swa_start=0.75, swa_lr=1e-3, **_SGD),
    "muon": _p(3e-4, 1e-2, muon_lr=0.02, momentum=0.95, beta1=0.9, beta2=0.95),
    "muadam_paper": _p(1e-3, 0.0, **_ADAM),
}

_THERMOLION_PAPER: dict[str, dict[str, Any]] = {
    "adam": _p(1e-3, 0.0, **_ADAM),
    "adamw": _p(1e-3, 1e-2, **_ADAM),
    "rmsprop": _p(1e-3, 0.0, beta2=0.99, momentum=0.0, eps=1e-8),
    "lion": _p(1e-3 / 3, 0.0, **_LION),
    "thermolion": _p(1e-3, 1e-2, **_LION, c=2.0, boost=0.5, temp_decay=0.99, eps=1e-8),
    "swats": _p(1e-3, 0.0, **_ADAM, nesterov=False),
    "lookahead": _p(1e-3, 0.0, base="adam", k=5, alpha=0.5, **_ADAM),
    "lookahead_paper": _p(1e-3, 0.0, base="adam", k=5, alpha=0.5, **_ADAM),
    "swa": _p(1e-2, 0.0, base="sgd", swa_start=0.5, swa_lr=1e-2, **_SGD),
    "muadam_paper": _p(1e-3, 0.0, **_ADAM),
}

_SEPNORM_PAPER_VISION: dict[str, dict[str, Any]] = {
    "adamw": _p(7.5e-4, 0.1, **_ADAM),
    "lion": _p(7.5e-5, 1.0, **_LION),
    "sepnorm": _p(7.5e-5, 1.0, **_LION, groups="layer"),
}

_SEPNORM_PAPER_GLUE: dict[str, dict[str, Any]] = {
    "adamw": _p(1e-4, 0.1, **_ADAM),
    "lion": _p(1e-5, 0.3, **_LION),
    "sepnorm": _p(1e-5, 0.3, **_LION, groups="layer"),
    "ortsepnorm": _p(1e-5, 0.3, **_LION, groups="layer"),
}

_PAPERS = {"thermolion": (_THERMOLION_PAPER, 1024), "sepnorm": (_SEPNORM_PAPER_VISION, 256)}
# The paper's own implementation where it differs from the cell's optimizer (same hyperparameters).
_PAPER_BUILDS = {"thermolion": {"lookahead": "lookahead_paper"}}
_GLUE_PAPERS = {"sepnorm": (_SEPNORM_PAPER_GLUE, 128)}
GLUE_PAPER_STEPS = 50_000  # SepNorm Sec. 6.2 (10x fewer than the Lion paper's 500k)
THERMOLION_PAPER_EPOCHS = 12  # ThermoLion Sec. 4.3: 12 epochs at batch 1024 on 5000 images


def default_point(optimizer: str) -> dict[str, Any]:
    """The one-shot default setting of ``optimizer``, with ``batch_size`` 128."""
    return {"batch_size": 128, **registry.get(optimizer).default}


def paper_point(optimizer: str, paper: str, task: str | None = None) -> dict[str, Any] | None:
    """The setting ``paper`` ran ``optimizer`` with on ``task`` (None: a vision task).

    Returns None where the paper has no setting for that optimizer or task kind; glue tasks are
    named ``glue-<name>``. A plugin optimizer's own ``paper`` point (if it gave one) stands for
    every paper.
    """
    entry = registry.get(optimizer)
    if entry.origin != registry.BUILT_IN:
        return None if entry.paper is None else {"batch_size": 128, **entry.paper}
    if paper not in _PAPERS:
        raise ValueError(f"unknown paper {paper!r}; known: {', '.join(_PAPERS)}")
    if _is_glue(task):
        if paper not in _GLUE_PAPERS:
            return None
        table, batch_size = _GLUE_PAPERS[paper]
    else:
        table, batch_size = _PAPERS[paper]
    point = table.get(optimizer)
    return None if point is None else {**point, "batch_size": batch_size}


def paper_build(optimizer: str, paper: str) -> str:
    """The registry name that runs ``optimizer``'s paper point as ``paper`` ran it (usually itself).

    The records keep the cell's name; only what the runner builds differs (ThermoLion's Lookahead
    row: ``lookahead_paper``, the notebook's class).
    """
    check_optimizer(optimizer)
    if paper not in _PAPERS:
        raise ValueError(f"unknown paper {paper!r}; known: {', '.join(_PAPERS)}")
    return _PAPER_BUILDS.get(paper, {}).get(optimizer, optimizer)


def paper_budget(paper: str, task: str | None = None, glue_steps: int | None = None) -> dict[str, Any]:
    """Runner keys of the paper's training budget on ``task`` (added to the paper point's trials
    under both protocols): ThermoLion's 12 epochs; SepNorm's GLUE steps and constant lr.
    ``glue_steps`` replaces the paper's 50,000 GLUE steps (a study's ``task_config: {paper_steps: N}``,
    for a smoke run)."""
    if paper not in _PAPERS:
        raise ValueError(f"unknown paper {paper!r}; known: {', '.join(_PAPERS)}")
    if paper == "thermolion":  # the paper measures final accuracy: no per-epoch evaluation
        return {"epochs": THERMOLION_PAPER_EPOCHS, "eval_each_epoch": False}
    if _is_glue(task):
        # eval_every None: the study's `epochs` evals, whatever interval its task_config sets
        return {"steps": glue_steps or GLUE_PAPER_STEPS, "eval_every": None, "schedule": "constant",
                "warmup_steps": 0}
    return {}


def _is_glue(task: str | None) -> bool:
    return task is not None and task.startswith("glue-")
