"""The built-in optimizers, registered through the same ``registry.register`` as a plugin's.

One entry per name of points.BUILTIN_DEFAULTS (its order is the registry's: baselines first),
with its space from spaces.BUILTIN_SPACES, or a wrapper's own dimensions and default base from
spaces.WRAPPERS.
"""

from __future__ import annotations

from . import registry
from .points import BUILTIN_DEFAULTS
from .spaces import BUILTIN_SPACES, WRAPPERS


def register_builtins() -> None:
    for name, default in BUILTIN_DEFAULTS.items():
        wraps, space = WRAPPERS[name] if name in WRAPPERS else (None, BUILTIN_SPACES[name])
        registry.register(registry.Optimizer(name, space, default, wraps=wraps))


register_builtins()
