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

Features appended to the waveform (``benchmark.data.inputs``: beat statistics, RR intervals) reach a model
in one of two ways. A ``flat`` model (``register_model(flat=True)``, and every scikit-learn one) reads the
input row as one vector. Any other model is built on the waveform alone and the features join it as a
second branch: its representation just before its classifier, concatenated with the features, feeds a
classifier of the same kind (:func:`with_features`). No builder is written twice for it.

A model's ``search_space`` ({hyperparameter: dimension of ``benchmark.search_space``}) is what a tune
(``run_benchmark.py tune``) may try for it, declared beside its builder; ``{}`` says it has nothing to tune
(its training settings still are), and a model registered without one cannot be tuned. It is checked
when the model registers: only the builder's hyperparameters, each default inside its dimension.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from benchmark.search_space import check_space

ESTIMATORS = ("keras", "sklearn")  # the estimator kinds of benchmark.estimators
_FIXED = ("input_shape", "n_classes", "seed")  # given by the data and the run, not hyperparameters


@dataclass(frozen=True)
class ModelEntry:
    builder: Callable
    estimator: str
    test_params: dict = field(default_factory=dict)  # hyperparameters for the generic tests' fits
    flat: bool = False  # reads the input row as one vector (appended features are more of its inputs)
    search_space: dict | None = None  # what a tune may try (module docstring); None: not declared


_MODELS: dict[str, ModelEntry] = {}


def register_model(fn: Callable | None = None, *, estimator: str = "keras", test_params: dict | None = None,
                   flat: bool = False, search_space: Mapping | None = None):
    """Register ``fn`` under its function name, as a model of estimator kind ``estimator``; usable bare
    (``@register_model``) or with the kind (``@register_model(estimator="sklearn")``). ``test_params``:
    hyperparameters that make the generic tests' fits cheap; ``flat``: the model reads its input as one
    vector (scikit-learn models always do); ``search_space``: what a tune may try (module docstring)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator kind {estimator!r} is not one of {', '.join(ESTIMATORS)}")

    def register(f: Callable) -> Callable:
        if f.__name__ in _MODELS:
            raise ValueError(f"model {f.__name__!r} is registered twice")
        unknown = set(test_params or {}) - set(inspect.signature(f).parameters)
        if unknown:
            raise TypeError(f"model {f.__name__!r}: test_params names no hyperparameter {sorted(unknown)}")
        space = None if search_space is None else check_space(search_space, _defaults(f), f"model {f.__name__!r}")
        _MODELS[f.__name__] = ModelEntry(f, estimator, dict(test_params or {}), flat or estimator == "sklearn",
                                         space)
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


def _defaults(builder: Callable) -> dict:
    return {k: p.default for k, p in inspect.signature(builder).parameters.items()
            if k not in _FIXED and p.default is not inspect.Parameter.empty}


def model_search_space(name: str) -> dict | None:
    """What a tune may try for ``name``'s hyperparameters ({} : nothing), or None when it declares no space."""
    space = _entry(name).search_space
    return None if space is None else dict(space)


def builder_arguments(name: str, **overrides) -> dict:
    """The hyperparameters a build uses: the builder's defaults with the non-``None`` overrides applied."""
    params = inspect.signature(_entry(name).builder).parameters
    kwargs = _defaults(_entry(name).builder)
    unknown = [k for k in overrides if k not in params or k in _FIXED]
    if unknown:
        raise TypeError(f"model {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; its hyperparameters: "
                        f"{', '.join(kwargs) or 'none'}")
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return kwargs


def builder_source(name: str) -> Path:
    """The file that defines the model's builder (part of a run's code identity)."""
    return Path(inspect.getsourcefile(_entry(name).builder)).resolve()


def build_model(name: str, input_shape: tuple[int, ...] = (187, 1), n_classes: int = 5, seed: int = 0,
                features: int = 0, **overrides):
    """Build a fresh, untrained model; ``None`` overrides keep the builder's own defaults. ``seed`` reaches
    builders that take one (scikit-learn's ``random_state``); Keras builders are seeded globally by the
    estimator (``keras.utils.set_random_seed``) before they build. ``features``: how many of the input's
    last positions are appended features rather than waveform (module docstring)."""
    entry = _entry(name)
    arguments = builder_arguments(name, **overrides)

    def build(shape):
        fixed = {"input_shape": shape, "n_classes": n_classes}
        if "seed" in inspect.signature(entry.builder).parameters:
            fixed["seed"] = seed
        return entry.builder(**fixed, **arguments)

    if not features or entry.flat:
        return build(input_shape)
    if not 0 < features < input_shape[0]:
        raise ValueError(f"model {name!r}: {features} appended features do not fit an input of shape {input_shape}")
    return with_features(build, input_shape, features)


def with_features(build: Callable, input_shape: tuple[int, ...], features: int):
    """The model ``build`` makes for the waveform (the first ``input_shape[0] - features`` positions),
    with the last ``features`` positions as a second branch: its classifier's input, concatenated with the
    features, feeds a classifier of the same kind (units and activation) in its place."""
    import keras

    length = input_shape[0] - features
    base = build((length, *input_shape[1:]))
    head = base.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise TypeError(f"model {base.name!r} ends in {type(head).__name__}, not a Dense classifier, so appended "
                        "features have no place to join it; register it with flat=True or end it in a Dense layer")
    body = keras.Model(base.inputs, head.input, name=f"{base.name}_waveform")
    inputs = keras.Input(shape=input_shape)
    waveform = inputs[:, :length]
    side = keras.layers.Flatten(name="features")(inputs[:, length:])
    joined = keras.layers.Concatenate(name="waveform_and_features")([body(waveform), side])
    outputs = keras.layers.Dense(head.units, activation=head.activation, name="classifier")(joined)
    return keras.Model(inputs, outputs, name=base.name)
