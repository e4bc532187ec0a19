"""Model registry: adding a model is one decorated builder function in one file.

A builder takes the input shape and the number of classes (plus optional keyword hyperparameters with
defaults) and returns an untrained model of its estimator kind (``benchmark.estimators``):

- ``@register_model``: an *uncompiled* Keras model, built with ``keras.*`` only so the same code runs on
  the TensorFlow, JAX and PyTorch backends; the Keras estimator compiles and trains it;
- ``@register_model(estimator="sklearn")``: an unfitted scikit-learn classifier on the flat beat; such a
  builder also takes ``seed`` (its ``random_state``), and its budget is its own hyperparameters.

The registry is the only list of models: the command line's choices and the tests come from it. A model
whose defaults are costly to trace and train may name ``test_params``: smaller hyperparameters with which
the generic tests fit it (as aeon's ``_get_test_params``); its default build is still tested.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ESTIMATORS = ("keras", "sklearn")  # the estimator kinds of benchmark.estimators
_FIXED = ("input_shape", "n_classes", "seed")  # given by the data and the run, not hyperparameters


@dataclass(frozen=True)
class ModelEntry:
    builder: Callable
    estimator: str
    test_params: dict = field(default_factory=dict)  # hyperparameters for the generic tests' fits


_MODELS: dict[str, ModelEntry] = {}


def register_model(fn: Callable | None = None, *, estimator: str = "keras", test_params: dict | None = None):
    """Register ``fn`` under its function name, as a model of estimator kind ``estimator``; usable bare
    (``@register_model``) or with the kind (``@register_model(estimator="sklearn")``). ``test_params``:
    hyperparameters that make the generic tests' fits cheap."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator kind {estimator!r} is not one of {', '.join(ESTIMATORS)}")

    def register(f: Callable) -> Callable:
        if f.__name__ in _MODELS:
            raise ValueError(f"model {f.__name__!r} is registered twice")
        unknown = set(test_params or {}) - set(inspect.signature(f).parameters)
        if unknown:
            raise TypeError(f"model {f.__name__!r}: test_params names no hyperparameter {sorted(unknown)}")
        _MODELS[f.__name__] = ModelEntry(f, estimator, dict(test_params or {}))
        return f
    return register(fn) if fn is not None else register


def list_models(estimator: str | None = None) -> list[str]:
    """Every registered model, or those of one estimator kind."""
    return [name for name, e in _MODELS.items() if estimator is None or e.estimator == estimator]


def _entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def model_estimator(name: str) -> str:
    """The estimator kind that trains ``name`` ("keras" or "sklearn")."""
    return _entry(name).estimator


def generic_test_params(name: str) -> dict:
    """The hyperparameters the generic tests fit ``name`` with (empty: its defaults)."""
    return dict(_entry(name).test_params)


def builder_arguments(name: str, **overrides) -> dict:
    """The hyperparameters a build uses: the builder's defaults with the non-``None`` overrides applied."""
    params = inspect.signature(_entry(name).builder).parameters
    kwargs = {k: p.default for k, p in params.items()
              if k not in _FIXED and p.default is not inspect.Parameter.empty}
    unknown = [k for k in overrides if k not in params or k in _FIXED]
    if unknown:
        raise TypeError(f"model {name!r} has no hyperparameter {', '.join(map(repr, unknown))}")
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return kwargs


def builder_source(name: str) -> Path:
    """The file that defines the model's builder (part of a run's code identity)."""
    return Path(inspect.getsourcefile(_entry(name).builder)).resolve()


def build_model(name: str, input_shape: tuple[int, ...] = (187, 1), n_classes: int = 5, seed: int = 0,
                **overrides):
    """Build a fresh, untrained model; ``None`` overrides keep the builder's own defaults. ``seed`` reaches
    builders that take one (scikit-learn's ``random_state``); Keras builders are seeded globally by the
    estimator (``keras.utils.set_random_seed``) before they build."""
    builder = _entry(name).builder
    fixed = {"input_shape": input_shape, "n_classes": n_classes}
    if "seed" in inspect.signature(builder).parameters:
        fixed["seed"] = seed
    return builder(**fixed, **builder_arguments(name, **overrides))
