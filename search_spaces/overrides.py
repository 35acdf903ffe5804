"""User overrides of a search space (from a study YAML): parsing and validation.

Format, one entry per hyperparameter name (see the package docstring for examples):

- a scalar (``beta1: 0.9``, ``groups: layer``, ``wd_exempt: true``): fix the value;
- ``{low: L, high: H}`` with optional ``log: bool`` and ``zero_share: s``: a numeric range.
  ``log`` defaults to the default dimension's scale; a ``weight_decay``-style "0 or log-uniform"
  default keeps its zero share unless ``zero_share`` says otherwise (0 = never zero);
  integer names (``batch_size``, ``k``) give an integer range;
- ``{choices: [a, b, ...]}``: a set of values.

A bare list is refused: ``[64, 128]`` could mean either a range or a set.
Every problem raises ``ValueError`` with one line naming the optimizer, the name and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import registry
from .dims import Categorical, Constant, Dim, Float, Int, LogOrZero, is_number
from .spaces import BASES, COMMON_DIMS, GROUP_DOMAINS, base_space, check_optimizer

_INF = math.inf
# name -> (low, low included, high, high included, integer): the values that make sense at all.
_NUMERIC = {
    "lr": (0.0, False, _INF, False, False),
    "muon_lr": (0.0, False, _INF, False, False),
    "swa_lr": (0.0, False, _INF, False, False),
    "weight_decay": (0.0, True, _INF, False, False),
    "beta1": (0.0, True, 1.0, False, False),
    "beta2": (0.0, True, 1.0, False, False),
    "momentum": (0.0, True, 1.0, False, False),
    "eps": (0.0, False, _INF, False, False),
    "c": (0.0, False, _INF, False, False),
    "boost": (0.0, True, _INF, False, False),
    "temp_decay": (0.0, True, 1.0, True, False),
    "alpha": (0.0, False, 1.0, True, False),
    "swa_start": (0.0, False, 1.0, True, False),
    "k": (1, True, _INF, False, True),
    "batch_size": (1, True, _INF, False, True),
}
_LOG_NAMES = {"lr", "muon_lr", "swa_lr", "weight_decay", "eps", "c"}
_BOOLS = {"wd_exempt", "nesterov"}
_RANGE_KEYS = {"low", "high", "log", "zero_share"}


def _fail(optimizer: str, name: str, problem: str) -> ValueError:
    return ValueError(f"search space override {optimizer}.{name}: {problem}")


def _interval_text(lo: float, lo_in: bool, hi: float, hi_in: bool) -> str:
    return f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"


def _check_value(optimizer: str, name: str, v: Any) -> None:
    """Raise if ``v`` is not a meaningful value of hyperparameter ``name``."""
    if name in _NUMERIC:
        lo, lo_in, hi, hi_in, integer = _NUMERIC[name]
        if not is_number(v) or (integer and not float(v).is_integer()):
            kind = "an integer" if integer else "a finite number"
            raise _fail(optimizer, name, f"{v!r} is not {kind}")
        inside = (lo < v or (lo_in and v == lo)) and (v < hi or (hi_in and v == hi))
        if not inside:
            raise _fail(optimizer, name, f"{v!r} is outside {_interval_text(lo, lo_in, hi, hi_in)}")
    elif name in _BOOLS:
        if not isinstance(v, bool):
            raise _fail(optimizer, name, f"{v!r} is not true/false")
    elif name == "groups":
        allowed = GROUP_DOMAINS.get(optimizer, GROUP_DOMAINS["sepnorm"])
        if v not in allowed:
            raise _fail(optimizer, name, f"{v!r} is not one of {', '.join(allowed)}")


def _parse_range(optimizer: str, name: str, spec: Mapping, default: Dim) -> Dim:
    unknown = sorted(set(spec) - _RANGE_KEYS)
    if unknown:
        raise _fail(optimizer, name, f"unknown key(s) {', '.join(map(str, unknown))}; "
                    "use low/high/log/zero_share or choices")
    if "low" not in spec or "high" not in spec:
        raise _fail(optimizer, name, "a range needs both low and high")
    if not _numeric(name, default):
        raise _fail(optimizer, name, "is not numeric: give a value or {choices: [...]}")
    low, high = _coerce(name, spec["low"]), _coerce(name, spec["high"])
    if name not in _NUMERIC and not (is_number(low) and is_number(high)):
        raise _fail(optimizer, name, f"range bounds {spec['low']!r}, {spec['high']!r} are not finite numbers")
    _check_value(optimizer, name, low)
    _check_value(optimizer, name, high)
    if low > high:
        raise _fail(optimizer, name, f"inverted range: low {low!r} > high {high!r}")
    default_log = isinstance(default, LogOrZero) or getattr(default, "log", name in _LOG_NAMES)
    log = spec.get("log", default_log)
    if not isinstance(log, bool):
        raise _fail(optimizer, name, f"log must be true/false, not {log!r}")
    default_share = default.zero_share if isinstance(default, LogOrZero) and log else 0.0
    share = spec.get("zero_share", default_share)
    if not is_number(share) or not 0.0 <= share < 1.0:
        raise _fail(optimizer, name, f"zero_share {share!r} is not in [0, 1)")
    if (log or share > 0) and low <= 0:
        raise _fail(optimizer, name, f"log scale needs a positive low bound, got {low!r}")
    if share > 0:
        if name != "weight_decay":
            raise _fail(optimizer, name, "zero_share applies to weight_decay only")
        return LogOrZero(float(low), float(high), float(share))
    if _integer(name, default, low, high):
        return Int(int(low), int(high), log)
    return Float(float(low), float(high), log)


def _numeric(name: str, default: Dim | None) -> bool:
    """A range is allowed for the vocabulary's numeric names and, for a plugin's own names, where
    its space has a range (``default``) or while its space is being declared (no ``default``)."""
    return name in _NUMERIC or default is None or isinstance(default, (Float, Int, LogOrZero))


def _integer(name: str, default: Dim | None, low: Any, high: Any) -> bool:
    """Integer names of the vocabulary; a plugin's own name is integer where its space says so, or
    (while declared) where both bounds are written as integers."""
    if name in _NUMERIC:
        return _NUMERIC[name][4]
    if default is None:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    return isinstance(default, Int)


def _coerce(name: str, v: Any) -> Any:
    """Numeric strings become numbers: PyYAML reads ``1e-4`` (no dot) as the string "1e-4"."""
    if name in _NUMERIC and isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _typed(name: str, v: Any) -> Any:
    """Integer names keep int values (``batch_size: 64.0`` becomes 64)."""
    return int(v) if name in _NUMERIC and _NUMERIC[name][4] else v


def _parse(optimizer: str, name: str, spec: Any, default: Dim) -> Dim:
    if isinstance(spec, Mapping):
        if "choices" not in spec:
            return _parse_range(optimizer, name, spec, default)
        if len(spec) != 1:
            raise _fail(optimizer, name, "choices cannot be combined with other keys")
        choices = spec["choices"]
        if not isinstance(choices, (list, tuple)):
            raise _fail(optimizer, name, f"choices must be a list, not {choices!r}")
        if not choices:
            raise _fail(optimizer, name, "empty choices")
        choices = [_coerce(name, c) for c in choices]
        for c in choices:
            _check_value(optimizer, name, c)
        return Categorical(tuple(_typed(name, c) for c in choices))
    if isinstance(spec, (list, tuple)):
        raise _fail(optimizer, name, f"bare list {list(spec)!r} is ambiguous; write "
                    "{low: L, high: H} for a range or {choices: [...]} for a set")
    if not isinstance(spec, (bool, int, float, str)):
        raise _fail(optimizer, name, f"unsupported value {spec!r}")
    spec = _coerce(name, spec)
    _check_value(optimizer, name, spec)
    return Constant(_typed(name, spec))


def _check_nesterov(optimizer: str, space: Mapping[str, Dim]) -> None:
    """torch's SGD refuses nesterov=True with momentum 0: no point of the space may ask for it."""
    if "nesterov" in space and "momentum" in space:
        zero = [p for p in space["momentum"].pieces() if p[0] == "point" and p[1] == 0]
        zero += [p for p in space["momentum"].pieces() if p[0] == "interval" and p[2] == 0]
        if space["nesterov"].contains(True) and zero:
            raise _fail(optimizer, "nesterov", "nesterov=true needs momentum > 0; "
                        "fix nesterov: false or exclude momentum 0")


def parse_space(optimizer: str, spec: Any) -> dict[str, Dim]:
    """A plugin's space, written in the override vocabulary, as dimensions: ``lr`` and
    ``weight_decay`` required; ``batch_size`` and ``wd_exempt`` searched as for every optimizer
    unless the plugin gives them. ``ValueError`` (one line) on any problem."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"optimizer {optimizer}: space must be a mapping name -> value, range or "
                         f"choices, not {type(spec).__name__}")
    missing = [name for name in ("lr", "weight_decay") if name not in spec]
    if missing:
        raise ValueError(f"optimizer {optimizer}: space lacks {' and '.join(missing)} (every optimizer "
                         "has lr and weight_decay; fix weight_decay: 0 if it takes none)")
    bad = [name for name in spec if not isinstance(name, str) or not name.isidentifier()]
    if bad or "base" in spec:
        raise ValueError(f"optimizer {optimizer}: space name {(bad or ['base'])[0]!r} is not allowed "
                         "(names are Python identifiers, base belongs to the built-in wrappers)")
    space = {str(name): _parse(optimizer, str(name), value, None) for name, value in spec.items()}
    space = {**space, **{k: v for k, v in COMMON_DIMS.items() if k not in space}}
    _check_nesterov(optimizer, space)
    return space


def resolve(optimizer: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Dim]:
    """The space of ``optimizer`` with ``overrides`` applied; ``ValueError`` on any problem."""
    check_optimizer(optimizer)
    overrides = {} if overrides is None else overrides
    if not isinstance(overrides, Mapping):
        raise ValueError(f"search space overrides for {optimizer} must be a mapping, "
                         f"not {type(overrides).__name__}")
    base = None
    if "base" in overrides:
        base = overrides["base"]
        if registry.get(optimizer).wraps is None:
            wrappers = [n for n in registry.names() if registry.get(n).wraps]
            raise _fail(optimizer, "base", f"only {', '.join(wrappers)} take a base optimizer")
        if not isinstance(base, str) or base not in BASES:
            raise _fail(optimizer, "base", f"{base!r} is not one of {', '.join(BASES)}")
    space = base_space(optimizer, base)
    for name, spec in overrides.items():
        if name == "base":
            continue
        if name not in space:
            raise _fail(optimizer, str(name), f"unknown hyperparameter; known: {', '.join(space)}")
        space[name] = _parse(optimizer, name, spec, space[name])
    _check_nesterov(optimizer, space)
    return space
