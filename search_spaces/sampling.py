"""Optuna define-by-run functions, descriptions and inclusion checks generated from the data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .dims import Constant, Dim, covers
from .overrides import resolve

if TYPE_CHECKING:
    import optuna


def space(optimizer: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Dim]:
    """The search space of ``optimizer`` as data (name -> dimension), overrides applied."""
    return resolve(optimizer, overrides)


def define_by_run(
    optimizer: str, overrides: Mapping[str, Any] | None = None
) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function for OptunaSearch: one ``suggest_*`` per searched name.

    It returns every hyperparameter of the optimizer (searched and constant) plus
    ``batch_size``, so the dict alone is the trial's optimizer config (Ray merges it over the
    captured suggestions, which also lets a "0 or log" weight decay record 0). Overrides are
    validated here, before any trial runs.
    """
    dims = resolve(optimizer, overrides)

    def sample(trial: optuna.Trial) -> dict[str, Any]:
        return {name: dim.sample(trial, name) for name, dim in dims.items()}

    sample.__name__ = f"{optimizer}_space"
    return sample


def describe(optimizer: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Name -> human-readable range, e.g. ``{"lr": "log-uniform[1e-05, 0.03]", ...}``."""
    return {name: dim.describe() for name, dim in resolve(optimizer, overrides).items()}


def validate_overrides(optimizer: str, overrides: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` (one line naming the problem) if ``overrides`` are not usable."""
    resolve(optimizer, overrides)


def inclusion_gaps(outer: str, inner: str, fixed: Mapping[str, Any] | None = None) -> list[str]:
    """Why ``outer``'s space (with ``fixed`` names pinned) cannot reach all of ``inner``'s.

    ``fixed`` pins names in both spaces (each must allow the value); ``outer``'s other names
    must each cover ``inner``'s dimension of that name, and ``outer`` may have no unpinned name
    that ``inner`` lacks. An empty list means the inclusion holds.
    """
    spaces = {"outer": resolve(outer), "inner": resolve(inner)}
    gaps = []
    for name, value in (fixed or {}).items():
        for role, dims in spaces.items():
            if name not in dims:
                continue
            if not dims[name].contains(value):
                gaps.append(f"{role} {name} {dims[name].describe()} excludes {value!r}")
            dims[name] = Constant(value)
    o, i = spaces["outer"], spaces["inner"]
    for name in i:
        if name not in o:
            gaps.append(f"{outer} has no {name}")
        elif not covers(o[name], i[name]):
            gaps.append(f"{name}: {outer} {o[name].describe()} misses {inner} {i[name].describe()}")
    for name in o:
        if name not in i and not isinstance(o[name], Constant):
            gaps.append(f"{outer} searches {name}, which {inner} lacks; pin it")
    return gaps
