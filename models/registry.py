"""Model registry: adding a model is one decorated builder function in one file.

A builder takes the input shape and the number of classes (plus optional keyword
hyperparameters) and returns an *uncompiled* Keras model. Builders use only
``keras.*`` so the same code runs on the TensorFlow, JAX and PyTorch backends.
"""
from __future__ import annotations

from typing import Callable

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register ``fn`` under its function name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return list(_MODELS)


def build_model(name: str, input_shape: tuple[int, ...] = (187, 1), n_classes: int = 5, **overrides):
    """Build a fresh, uncompiled model; ``None`` overrides keep the builder's own defaults."""
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    return _MODELS[name](input_shape=input_shape, n_classes=n_classes, **kwargs)
