"""Resampler registry: adding a resampler is one decorated factory function in one file.

A factory takes the run's seed and returns an imbalanced-learn sampler; it is registered with the kind
of change it makes to the class counts, which the generic tests check:

- ``identity``: the training part unchanged;
- ``over``: no class shrinks and the minority classes grow;
- ``under``: no class grows;
- ``combined``: oversampling then cleaning, so a class may grow or shrink;
- ``weighting``: the training part unchanged, and the loss weighted by inverse class frequency instead
  (:func:`loss_weights`): the alternative to resampling a reviewer asks for.

:func:`resample` is the one entry point: it flattens (n, length, 1) beats to the 2-D input samplers
need, resamples, and restores the shape and float32 dtype. The registry is the only list of
resamplers: the command line's choices and the tests come from it.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

KINDS = ("identity", "over", "under", "combined", "weighting")


class ResamplingError(RuntimeError):
    """A resampler cannot work on this data (e.g. ADASYN finds no neighbours)."""


@dataclass(frozen=True)
class Entry:
    factory: Callable
    kind: str


_RESAMPLERS: dict[str, Entry] = {}


def register_resampler(kind: str) -> Callable[[Callable], Callable]:
    """Register the decorated factory under its function name, as a resampler of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"resampler kind {kind!r} is not one of {', '.join(KINDS)}")

    def register(fn: Callable) -> Callable:
        if fn.__name__ in _RESAMPLERS:
            raise ValueError(f"resampler {fn.__name__!r} is registered twice")
        _RESAMPLERS[fn.__name__] = Entry(fn, kind)
        return fn
    return register


def list_resamplers() -> list[str]:
    return list(_RESAMPLERS)


def _entry(name: str) -> Entry:
    if name not in _RESAMPLERS:
        raise KeyError(f"unknown resampler {name!r}; known resamplers: {', '.join(list_resamplers())}")
    return _RESAMPLERS[name]


def resampler_kind(name: str) -> str:
    return _entry(name).kind


def make_sampler(name: str, seed: int):
    return _entry(name).factory(seed)


def sampler_parameters(name: str, seed: int) -> dict:
    """Every parameter of the sampler a run uses (scikit-learn's ``get_params``, nested ones included),
    as JSON-able values: part of a run's identity."""
    params = make_sampler(name, seed).get_params(deep=True)
    return {k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v) for k, v in sorted(params.items())}


def sampler_code(name: str) -> tuple[str, list[Path]]:
    """The code that resamples: the factory's own source, and the project files that define the classes
    of the sampler it makes (part of a run's code identity)."""
    entry = _entry(name)
    project = Path(__file__).resolve().parent.parent
    files = {Path(__file__).resolve()}
    for cls in type(entry.factory(0)).__mro__:
        source = inspect.getsourcefile(cls) if cls.__module__ != "builtins" else None
        if source and Path(source).resolve().is_relative_to(project):
            files.add(Path(source).resolve())
    return inspect.getsource(entry.factory), sorted(files)


def loss_weights(name: str, y: np.ndarray) -> np.ndarray | None:
    """Per-beat loss weights for a ``weighting`` resampler, else None: inverse class frequency,
    n / (classes present × count of the beat's class) (scikit-learn's "balanced"), so every class
    weighs as much in the loss as it would in a balanced set."""
    if _entry(name).kind != "weighting":
        return None
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    per_class = dict(zip(classes.tolist(), (len(y) / (len(classes) * counts)).tolist()))
    return np.array([per_class[c] for c in y.tolist()], dtype=np.float32)


def resample(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample a training part; returns float32 x of shape (m, *x.shape[1:]) and int8 y."""
    sampler = make_sampler(name, seed)
    flat = x.reshape(len(x), -1).astype(np.float32, copy=False)
    try:
        x_res, y_res = sampler.fit_resample(flat, y)
    except (RuntimeError, ValueError) as exc:
        raise ResamplingError(f"{name}: {exc}") from exc
    return np.asarray(x_res, dtype=np.float32).reshape(-1, *x.shape[1:]), np.asarray(y_res, dtype=np.int8)
