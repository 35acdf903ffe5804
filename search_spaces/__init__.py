"""Per-optimizer Optuna search spaces, default points and paper points (pure; no ray, no torch).

Each space is data: ``space(optimizer)`` gives ``{name: Float | Int | LogOrZero | Categorical |
Constant}`` (search_spaces.dims); ``define_by_run`` turns it into the function OptunaSearch calls,
``describe`` into readable ranges. The names are those of docs/ARCHITECTURE.md ("Hyperparameter
names", encoded as ``ACCEPTED``) plus the runner key ``batch_size``. The ranges and their
literature sources are documented in search_spaces.spaces, the fixed points in
search_spaces.points.

Weight decay that can be exactly 0 is one log-uniform Optuna parameter whose lowest 20% (of the
log range) maps to 0.0: the config records 0.0 or the sampled value, and no extra name appears.

Overrides (a study YAML's per-optimizer ``search_space:`` mapping), validated by
``validate_overrides``; each entry replaces that name's dimension::

    lr: {low: 1e-4, high: 1e-2}                # range; keeps the default scale (log for lr)
    beta1: {low: 0.85, high: 0.95, log: false} # explicit scale
    weight_decay: {low: 1e-3, high: 1, zero_share: 0}  # never 0; default share keeps 20% zeros
    batch_size: {choices: [64, 128]}           # a set of values
    groups: {choices: [layer, block]}
    beta2: 0.99                                # a constant
    base: adamw                                # lookahead(_paper) / swa only: the wrapped optimizer
                                               # (its own space replaces the default base's)

A bare list (``lr: [1e-4, 1e-2]``) is refused as ambiguous. Unknown optimizers or names,
inverted ranges, empty choices, non-positive log bounds and out-of-domain values (beta >= 1,
groups outside the optimizer's partitions, ...) each raise one ``ValueError`` line
naming the optimizer, the hyperparameter and the value.
"""

from types import MappingProxyType

from . import builtins as _builtins  # noqa: F401 - registers the built-in optimizers
from .dims import Categorical, Constant, Dim, Float, Int, LogOrZero, covers
from .overrides import parse_space
from .points import default_point, paper_budget, paper_build, paper_point
from .sampling import define_by_run, describe, inclusion_gaps, space, validate_overrides
from .registry import Optimizer, origin, register, unregister
from .spaces import GROUPINGS, RUNNER_KEYS, accepted, names

#: The built-ins' accepted names (the docs/ARCHITECTURE.md table), read-only.
ACCEPTED = MappingProxyType({name: accepted(name) for name in names()})

__all__ = [
    "ACCEPTED",
    "GROUPINGS",
    "RUNNER_KEYS",
    "Categorical",
    "Constant",
    "Dim",
    "Float",
    "Int",
    "Optimizer",
    "LogOrZero",
    "accepted",
    "covers",
    "default_point",
    "define_by_run",
    "describe",
    "inclusion_gaps",
    "names",
    "paper_budget",
    "paper_build",
    "origin",
    "paper_point",
    "parse_space",
    "register",
    "space",
    "unregister",
    "validate_overrides",
]
