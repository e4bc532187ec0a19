"""Model registry: adding a model is one decorated builder function in one file.

A builder takes the input shape and the number of classes (plus optional keyword
hyperparameters with defaults) and returns an *uncompiled* Keras model. Builders use only
``keras.*`` so the same code runs on the TensorFlow, JAX and PyTorch backends. The registry is the
only list of models: the command line's choices and the tests come from it.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

_MODELS: dict[str, Callable] = {}
_FIXED = ("input_shape", "n_classes")  # given by the data, not hyperparameters


def register_model(fn: Callable) -> Callable:
    """Register ``fn`` under its function name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return list(_MODELS)


def _builder(name: str) -> Callable:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def builder_arguments(name: str, **overrides) -> dict:
    """The hyperparameters a build uses: the builder's defaults with the non-``None`` overrides applied."""
    params = inspect.signature(_builder(name)).parameters
    kwargs = {k: p.default for k, p in params.items()
              if k not in _FIXED and p.default is not inspect.Parameter.empty}
    unknown = [k for k in overrides if k not in params or k in _FIXED]
    if unknown:
        raise TypeError(f"model {name!r} has no hyperparameter {', '.join(map(repr, unknown))}")
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return kwargs


def builder_source(name: str) -> Path:
    """The file that defines the model's builder (part of a run's code identity)."""
    return Path(inspect.getsourcefile(_builder(name))).resolve()


def build_model(name: str, input_shape: tuple[int, ...] = (187, 1), n_classes: int = 5, **overrides):
    """Build a fresh, uncompiled model; ``None`` overrides keep the builder's own defaults."""
    return _builder(name)(input_shape=input_shape, n_classes=n_classes, **builder_arguments(name, **overrides))
