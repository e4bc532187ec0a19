"""Resampler registry: adding a resampler is one decorated factory function in one file.

A factory takes the run's seed and returns an imbalanced-learn sampler. :func:`resample` is the
one entry point: it flattens (n, length, 1) beats to the 2-D input samplers need, resamples, and
restores the shape and float32 dtype. ``none`` is a resampler like the others (an identity sampler).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

_RESAMPLERS: dict[str, Callable] = {}


class ResamplingError(RuntimeError):
    """A resampler cannot work on this data (e.g. ADASYN finds no neighbours)."""


def register_resampler(fn: Callable) -> Callable:
    if fn.__name__ in _RESAMPLERS:
        raise ValueError(f"resampler {fn.__name__!r} is registered twice")
    _RESAMPLERS[fn.__name__] = fn
    return fn


def list_resamplers() -> list[str]:
    return list(_RESAMPLERS)


def make_sampler(name: str, seed: int):
    if name not in _RESAMPLERS:
        raise KeyError(f"unknown resampler {name!r}; known resamplers: {', '.join(list_resamplers())}")
    return _RESAMPLERS[name](seed)


def resample(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample a training part; returns float32 x of shape (m, *x.shape[1:]) and int8 y."""
    sampler = make_sampler(name, seed)
    flat = x.reshape(len(x), -1).astype(np.float32, copy=False)
    try:
        x_res, y_res = sampler.fit_resample(flat, y)
    except (RuntimeError, ValueError) as exc:
        raise ResamplingError(f"{name}: {exc}") from exc
    return np.asarray(x_res, dtype=np.float32).reshape(-1, *x.shape[1:]), np.asarray(y_res, dtype=np.int8)
