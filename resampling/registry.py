"""Treatment registry: adding a treatment (resampler, loss weighting, ...) is one decorated factory in one file.

A factory takes the run's seed and returns a sampler with imbalanced-learn's ``fit_resample``; a
sampler that also weights the loss has ``sample_weight(y)`` (a weight per training beat). Every treatment
goes through one protocol, :func:`treat`: it returns the training part, its per-beat loss weights (or
None) and the class prior the model trains under (the weighted class frequencies), so no other layer
asks what kind a treatment is. The kind it is registered with says what it does to the class counts,
which the generic tests check:

- ``identity``: the training part unchanged;
- ``over``: no class shrinks and the minority classes grow;
- ``under``: no class grows;
- ``combined``: oversampling then cleaning, so a class may grow or shrink;
- ``weighting``: the training part unchanged, and the loss weighted instead (``sample_weight``).

:func:`treat` flattens (n, length, 1) beats to the 2-D input samplers need, resamples, and restores the
shape and float32 dtype. The registry is the only list of treatments: the command line's choices
(``--resamplers``) and the tests come from it.
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


def _sample_weight(sampler, y: np.ndarray) -> np.ndarray | None:
    weigh = getattr(sampler, "sample_weight", None)
    return None if weigh is None else np.asarray(weigh(np.asarray(y)), dtype=np.float32)


def loss_weights(name: str, y: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """The per-beat loss weights treatment ``name`` gives a training part labelled ``y``, or None."""
    return _sample_weight(make_sampler(name, seed), y)


@dataclass
class Treated:
    """A treated training part: beats (m, *shape) float32, labels int8, loss weights (or None)."""

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None


def treat(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> Treated:
    """Apply treatment ``name`` to a training part: the one entry point of every treatment."""
    sampler = make_sampler(name, seed)
    flat = x.reshape(len(x), -1).astype(np.float32, copy=False)
    try:
        x_res, y_res = sampler.fit_resample(flat, y)
    except (RuntimeError, ValueError) as exc:
        raise ResamplingError(f"{name}: {exc}") from exc
    y_res = np.asarray(y_res, dtype=np.int8)
    return Treated(np.asarray(x_res, dtype=np.float32).reshape(-1, *x.shape[1:]), y_res, _sample_weight(sampler, y_res))


def resample(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The treated part's beats and labels (:func:`treat` without the weights)."""
    treated = treat(name, x, y, seed)
    return treated.x, treated.y


def trained_prior(y: np.ndarray, weights: np.ndarray | None, n_classes: int) -> np.ndarray:
    """The class prior a model trains under: each class's share of the (weighted) training loss."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    mass = np.bincount(np.asarray(y, dtype=np.int64), weights=w, minlength=n_classes)
    return mass / mass.sum()
