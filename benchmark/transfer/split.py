"""The target's split: its records (patients) into a fine-tuning, a validation and a test part, and the nested
fractions of the fine-tuning part a learning curve trains on. Pure functions of arrays.

A record goes to one part whole, so no patient is on two sides. The split is seeded and stratified by which
classes a record has: first, for every class (those held by the fewest records first), each part that lacks it
gets one of the records that have it, as far as there are such records (priority: fine-tuning, then test, then
validation, so a class with two records is learnt and tested); then the other records, ordered by the classes
they hold, are dealt to the parts in proportion to the parts' shares, so records alike in their classes spread
over the three parts. A fraction of the fine-tuning part is the first ``ceil(fraction × n)`` of its records in
one seeded order, which starts with records that cover its classes (greedily, most classes first): so the
fractions are nested, and the smallest ones hold as many classes as their size allows.

A target without records (a CSV of single beats) is split the same way with every beat its own unit: the
split is then by beats, stratified by class, and its tests are over beats (the report says so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchmark.errors import DataError

PRIORITY = (0, 2, 1)  # which part gets a rare class's records first: fine-tuning, test, validation


@dataclass(frozen=True)
class TargetSplit:
    """The target's units (``unit``: "record", i.e. patients, or "beat") on three sides; ``fine_tune`` in
    fraction order (a fraction takes the first of them)."""

    unit: str
    fine_tune: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]

    def fraction(self, fraction: float) -> tuple[str, ...]:
        """The fine-tuning units of ``fraction`` of the part: the first ``ceil(fraction × n)``, at least one."""
        return self.fine_tune[:fraction_size(fraction, len(self.fine_tune))]

    def sides(self) -> dict[str, tuple[str, ...]]:
        return {"fine_tune": self.fine_tune, "validation": self.validation, "test": self.test}


def fraction_size(fraction: float, n: int) -> int:
    """How many of ``n`` units a fraction takes: ``ceil(fraction × n)`` (rounding noise aside), at least one."""
    return max(1, min(n, math.ceil(round(fraction * n, 9))))


def presence(units: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct units, sorted; (units, classes) bool: whether a unit has a beat of each class)."""
    names, inverse = np.unique(np.asarray(units).astype(str), return_inverse=True)
    counts = np.bincount(inverse * n_classes + np.asarray(labels, np.int64), minlength=len(names) * n_classes)
    return names, counts.reshape(len(names), n_classes) > 0


def part_sizes(n: int, shares, at_least_one: bool = True) -> np.ndarray:
    """Units per part: ``shares × n`` by largest remainder; with ``at_least_one`` (and n ≥ parts), no part
    empty (its unit taken from the largest part)."""
    shares = np.asarray(shares, float)
    exact = shares / shares.sum() * n
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[:n - sizes.sum()]:
        sizes[i] += 1
    for i in np.flatnonzero(sizes == 0) if at_least_one and n >= len(sizes) else ():
        sizes[np.argmax(sizes)] -= 1
        sizes[i] = 1
    return sizes


def deal(n: int, sizes: np.ndarray) -> np.ndarray:
    """The part of each of ``n`` ordered positions, parts interleaved in proportion to ``sizes`` (sum n)."""
    sizes = np.asarray(sizes, int)
    counts, out = np.zeros(len(sizes), int), np.empty(n, int)
    for i in range(n):
        deficit = np.where(counts < sizes, sizes * (i + 1) / n - counts, -np.inf)
        out[i] = int(np.argmax(deficit))
        counts[out[i]] += 1
    return out


def nested_order(has: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Indices of the fine-tuning units in fraction order: greedily the unit that adds the most classes not yet
    held (ties: the seeded rank) until every class of the part is held, then the rest by rank."""
    left, covered, order = list(np.argsort(rank, kind="stable")), np.zeros(has.shape[1], bool), []
    while left:
        gains = has[left][:, ~covered].sum(axis=1)
        if gains.max(initial=0) == 0:
            break
        pick = left.pop(int(np.argmax(gains)))  # the first of the best, in rank order
        order.append(pick)
        covered |= has[pick]
    return np.array(order + left, dtype=int)


def split_units(units, labels, n_classes: int, parts=(0.6, 0.2, 0.2), seed: int = 0,
                unit: str = "record") -> TargetSplit:
    """The seeded, stratified split of the module docstring; ``units``: the unit (patient) of every beat."""
    names, has = presence(units, labels, n_classes)
    m = len(names)
    if m < 3:
        raise DataError(f"the target has {m} {unit}(s); splitting it into fine-tuning, validation and test parts "
                        f"needs at least 3, one per part")
    rank = np.empty(m, int)
    rank[np.random.default_rng(seed).permutation(m)] = np.arange(m)
    side = np.full(m, -1)
    for c in sorted(range(n_classes), key=lambda c: (has[:, c].sum(), c)):
        holders = np.flatnonzero(has[:, c])
        for p in PRIORITY[:len(holders)]:
            if (side[holders] == p).any():
                continue
            free = holders[side[holders] == -1]
            if len(free):
                side[free[np.argmin(rank[free])]] = p
    rest = np.flatnonzero(side == -1)
    if len(rest):
        room = np.maximum(part_sizes(m, parts) - np.bincount(side[side >= 0], minlength=3), 0)
        sizes = part_sizes(len(rest), room if room.sum() else parts, at_least_one=False)
        signature = has[rest] @ (1 << np.arange(n_classes))  # the classes a unit holds, as one number
        ordered = rest[np.lexsort((rank[rest], signature))]
        side[ordered] = deal(len(ordered), sizes)
    for p in range(3):  # rare classes may have filled two parts with every unit: no part stays empty
        if not (side == p).any():
            donor = int(np.argmax(np.bincount(side, minlength=3)))
            side[_cheapest(np.flatnonzero(side == donor), has, rank)] = p
    members = [np.flatnonzero(side == p) for p in range(3)]
    fine = members[0][nested_order(has[members[0]], rank[members[0]])]
    by_rank = [s[np.argsort(rank[s], kind="stable")] for s in members[1:]]
    return TargetSplit(unit, *(tuple(names[s].tolist()) for s in (fine, *by_rank)))


def _cheapest(candidates: np.ndarray, has: np.ndarray, rank: np.ndarray) -> int:
    """The unit of a part whose leaving costs it the fewest classes (those no other unit of it holds)."""
    held = has[candidates].sum(axis=0)
    lost = (has[candidates] & (held == 1)).sum(axis=1)
    return int(candidates[np.lexsort((rank[candidates], lost))[0]])
