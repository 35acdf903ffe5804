"""Optimizers of the study (imports torch only) and a registry that builds them by name.

torch.optim's Adam, AdamW, RMSprop, SGD and swa_utils are used as they are.
"""

from .groups import param_groups
from .lion import Lion
from .lookahead import Lookahead, NotebookLookahead
from .muadam import NotebookMuAdam
from .muon import MuonAdamW
from .registry import PluginError, build, defaults, names, resolve
from .sepnorm import OrtSepNorm, SepNorm
from .swats import SWATS
from .thermolion import ThermoLion

__all__ = [
    "Lion", "Lookahead", "MuonAdamW", "NotebookLookahead", "NotebookMuAdam", "OrtSepNorm", "PluginError", "SWATS", "SepNorm",
    "ThermoLion", "build", "defaults", "names", "param_groups", "resolve",
]
