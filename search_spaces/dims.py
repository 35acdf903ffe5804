"""One search dimension as data: what it can produce, how to sample it, how to print it.

A space is ``dict[name, Dim]``. Each dimension knows
``sample(trial, name)`` (one ``trial.suggest_*`` call, or none for a constant),
``contains(value)`` (can it produce this value?) and ``pieces()`` (its support as points and
closed intervals), from which :func:`covers` decides whether one dimension can produce everything
another can: that is how the inclusion relations between optimizers' spaces are checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import optuna

Value = Union[bool, int, float, str]


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Float:
    """A real number in [low, high], sampled uniformly or (``log``) log-uniformly."""

    low: float
    high: float
    log: bool = False

    def sample(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def contains(self, v: Any) -> bool:
        return is_number(v) and self.low <= v <= self.high

    def pieces(self) -> list[tuple]:
        return [("interval", self.low, self.high, False)]

    def describe(self) -> str:
        return f"{'log-' if self.log else ''}uniform[{_fmt(self.low)}, {_fmt(self.high)}]"


@dataclass(frozen=True)
class Int:
    """An integer in [low, high], sampled uniformly or (``log``) log-uniformly."""

    low: int
    high: int
    log: bool = False

    def sample(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def contains(self, v: Any) -> bool:
        return is_number(v) and float(v).is_integer() and self.low <= v <= self.high

    def pieces(self) -> list[tuple]:
        return [("interval", self.low, self.high, True)]

    def describe(self) -> str:
        return f"{'log-' if self.log else ''}int[{self.low}, {self.high}]"


@dataclass(frozen=True)
class LogOrZero:
    """0 or a log-uniform value in [low, high]: a log range that also reaches exactly 0.

    Optuna's log ranges cannot hold 0, and a separate on/off parameter would add a name that no
    optimizer accepts. So one log-uniform parameter is drawn over ``[floor, high]``, where
    ``floor = low * (low/high) ** (zero_share / (1 - zero_share))`` makes the part below ``low``
    exactly ``zero_share`` of the log range, and every draw below ``low`` is returned as 0.0.
    The config therefore holds 0.0 or a value in [low, high]; Optuna's own record keeps the raw
    draw (ordered, so TPE models "0" as the low end of the range).
    """

    low: float
    high: float
    zero_share: float = 0.2

    @property
    def floor(self) -> float:
        return self.low * (self.low / self.high) ** (self.zero_share / (1.0 - self.zero_share))

    def sample(self, trial: optuna.Trial, name: str) -> float:
        x = trial.suggest_float(name, self.floor, self.high, log=True)
        return 0.0 if x < self.low else x

    def contains(self, v: Any) -> bool:
        return is_number(v) and (v == 0 or self.low <= v <= self.high)

    def pieces(self) -> list[tuple]:
        return [("point", 0.0), ("interval", self.low, self.high, False)]

    def describe(self) -> str:
        return (
            f"0 ({self.zero_share:.0%}) or log-uniform[{_fmt(self.low)}, {_fmt(self.high)}]"
        )


@dataclass(frozen=True)
class Categorical:
    """One of a fixed tuple of choices (unordered for the sampler)."""

    choices: tuple

    def sample(self, trial: optuna.Trial, name: str) -> Value:
        return trial.suggest_categorical(name, self.choices)

    def contains(self, v: Any) -> bool:
        return any(_same(v, c) for c in self.choices)

    def pieces(self) -> list[tuple]:
        return [("point", c) for c in self.choices]

    def describe(self) -> str:
        return "{" + ", ".join(_fmt(c) for c in self.choices) + "}"


@dataclass(frozen=True)
class Constant:
    """A fixed value: not searched, but always written into the config."""

    value: Value

    def sample(self, trial: optuna.Trial, name: str) -> Value:
        return self.value

    def contains(self, v: Any) -> bool:
        return _same(v, self.value)

    def pieces(self) -> list[tuple]:
        return [("point", self.value)]

    def describe(self) -> str:
        return _fmt(self.value)


Dim = Union[Float, Int, LogOrZero, Categorical, Constant]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps bools apart from numbers (True is not 1 here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def covers(outer: Dim, inner: Dim) -> bool:
    """True if ``outer`` can produce every value ``inner`` can produce."""
    for piece in inner.pieces():
        if piece[0] == "point":
            if not outer.contains(piece[1]):
                return False
            continue
        _, lo, hi, integer = piece
        if not any(
            p[0] == "interval" and p[1] <= lo and hi <= p[2] and (integer or not p[3])
            for p in outer.pieces()
        ):
            return False
    return True
