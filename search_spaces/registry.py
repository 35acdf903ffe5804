"""The one list of the study's optimizers: each name's search space, default point, optional paper
point and origin (pure data; no torch, no ray).

Built-ins (search_spaces.builtins) and plugins (study.plugins.register_optimizer) are added by
the same ``register``; everything the study asks about an optimizer (names, spaces, points,
``list``) reads this registry, and optim.registry holds the matching factories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .dims import Dim

BUILT_IN = "built-in"


@dataclass(frozen=True)
class Optimizer:
    """One registered optimizer.

    ``space``: name -> dimension before overrides (with ``batch_size`` and ``wd_exempt``); for a
    wrapper (``wraps`` = its default base optimizer) only its own dimensions. ``default``: the
    untuned point (``batch_size`` optional, 128 when absent). ``paper``: a plugin's own paper point
    (None: no paper phase; the built-ins' paper points are per paper, in search_spaces.points).
    """

    name: str
    space: dict[str, Dim]
    default: dict[str, Any]
    paper: dict[str, Any] | None = None
    origin: str = BUILT_IN
    wraps: str | None = None


_ENTRIES: dict[str, Optimizer] = {}


def register(entry: Optimizer) -> None:
    """Add ``entry``. The one place an optimizer name is decided (optim.registry takes the names
    given here): one already registered raises ``ValueError`` naming the origin of its holder."""
    if entry.name in _ENTRIES:
        raise ValueError(f"optimizer {entry.name!r} collides with the {_ENTRIES[entry.name].origin} "
                         "optimizer of that name")
    _ENTRIES[entry.name] = entry


def unregister(name: str) -> None:
    """Remove a plugin's optimizer (a plugin whose loading failed half-way; tests)."""
    if name in _ENTRIES and _ENTRIES[name].origin != BUILT_IN:
        del _ENTRIES[name]


def names() -> list[str]:
    """Every registered optimizer, in registration order (built-ins first, baselines first)."""
    return list(_ENTRIES)


def get(name: str) -> Optimizer:
    """The entry of ``name``; an unknown name raises ``ValueError`` naming it."""
    if name not in _ENTRIES:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(_ENTRIES)}")
    return _ENTRIES[name]


def origin(name: str) -> str:
    """Where ``name`` comes from: ``built-in`` or the plugin that registered it."""
    return get(name).origin
