"""Search-space dimensions: what a hyper-parameter search may try for one parameter, declared beside the
thing it tunes (a model's builder, a treatment's factory, the training budget) and read by the tuner.

Plain data with no dependency, so a model file can declare its space without the tuner's optional packages.
A space is a mapping {parameter name: dimension}. Every dimension can say whether it holds a value, and which
few values a grid search tries (``grid``); those always include the thing's own default, so the untuned
setting is one point of every grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

GRID_POINTS = 3  # values a grid search tries of a range without its own grid: both ends and the middle


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (bool, int, float, str or None)."""

    values: tuple

    def __post_init__(self):
        if not self.values or not all(v is None or isinstance(v, (bool, int, float, str)) for v in self.values):
            raise ValueError(f"Choice needs at least one value of type bool, int, float, str or None, got "
                             f"{self.values!r}")

    def contains(self, value) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def grid(self, default=None) -> tuple:
        return self.values

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.values))


@dataclass(frozen=True)
class IntRange:
    """A whole number from ``low`` to ``high`` (both included) in steps of ``step``; ``log``: sampled on a
    log scale (then ``step`` must be 1)."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self):
        if not (isinstance(self.low, int) and isinstance(self.high, int) and isinstance(self.step, int)) \
                or self.low > self.high or self.step < 1 or (self.log and (self.low < 1 or self.step != 1)):
            raise ValueError(f"IntRange({self.low!r}, {self.high!r}, step={self.step!r}, log={self.log}) is no range: "
                             "whole numbers with low <= high, step >= 1, and low >= 1 with step 1 on a log scale")

    def contains(self, value) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
                and (value - self.low) % self.step == 0)

    def grid(self, default=None) -> tuple:
        values = list(range(self.low, self.high + 1, self.step))
        if len(values) > GRID_POINTS:
            values = [values[0], values[len(values) // 2], values[-1]]
        return _with_default(values, default)

    def describe(self) -> str:
        return f"whole numbers {self.low}..{self.high}" + (f" in steps of {self.step}" if self.step > 1 else "") + \
            (" (log scale)" if self.log else "")


@dataclass(frozen=True)
class FloatRange:
    """A number from ``low`` to ``high``; ``log``: sampled on a log scale; ``step``: only multiples of it
    above ``low``; ``points``: the values a grid search tries (default: both ends and the middle)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    points: tuple = ()

    def __post_init__(self):
        if not self.low <= self.high or (self.log and self.low <= 0) or (self.step is not None and self.step <= 0) \
                or (self.log and self.step is not None):
            raise ValueError(f"FloatRange({self.low!r}, {self.high!r}, log={self.log}, step={self.step!r}) is no "
                             "range: low <= high, low > 0 on a log scale, a positive step and not both")
        if not all(self.contains(p) for p in self.points):
            raise ValueError(f"FloatRange: grid points {self.points!r} are not all in {self.low}..{self.high}")

    def contains(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        multiple = (value - self.low) / self.step
        return abs(multiple - round(multiple)) < 1e-6

    def grid(self, default=None) -> tuple:
        if self.points:
            values = list(self.points)
        elif self.log:
            values = [self.low, math.sqrt(self.low * self.high), self.high]
        else:
            middle = (self.low + self.high) / 2
            if self.step is not None:
                middle = self.low + round((middle - self.low) / self.step) * self.step
            values = [self.low, middle, self.high]
        return _with_default([rounded(v) for v in values], default)

    def describe(self) -> str:
        return f"numbers {self.low:g}..{self.high:g}" + (f" in steps of {self.step:g}" if self.step else "") + \
            (" (log scale)" if self.log else "")


Dimension = Choice | IntRange | FloatRange


def rounded(value):
    """A sampled float written as a person would (6 significant digits): it names runs and files, and a value
    such as 0.30000000000000004 from a stepped range should read, and hash, as 0.3."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def _with_default(values: list, default) -> tuple:
    if default is not None and default not in values:
        values.append(default)
    return tuple(sorted(set(values)))


def check_space(space: Mapping[str, Any], parameters: Mapping[str, Any], owner: str) -> dict[str, Dimension]:
    """``space`` as a dict of dimensions, checked against the ``parameters`` it tunes (name → default): every
    name is one of them and every default lies in its dimension, so the untuned setting is a point of the
    space. TypeError (a wrong name or dimension) or ValueError (a default outside), naming ``owner``."""
    space = dict(space)
    unknown = sorted(set(space) - set(parameters))
    if unknown:
        raise TypeError(f"{owner}: its search space names {', '.join(map(repr, unknown))}, which "
                        f"{'is' if len(unknown) == 1 else 'are'} not among its parameters "
                        f"({', '.join(parameters) or 'none'}); name only those")
    for name, dimension in space.items():
        if not isinstance(dimension, (Choice, IntRange, FloatRange)):
            raise TypeError(f"{owner}: search space entry {name!r} is {dimension!r}, not a Choice, IntRange or "
                            "FloatRange (benchmark.search_space)")
        if not dimension.contains(parameters[name]):
            raise ValueError(f"{owner}: the default {name}={parameters[name]!r} is outside its search space "
                             f"({dimension.describe()}); widen the space so the untuned setting is one of its points")
    return space
