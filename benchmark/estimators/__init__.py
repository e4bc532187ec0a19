"""Estimators: what trains a model of the registry, predicts with it, and saves and loads it.

Each estimator kind (``models.registry.ESTIMATORS``) is one class here with the same protocol
(:class:`~benchmark.estimators.base.Estimator`): ``fit`` / ``predict_proba`` / ``save`` / ``load``, and what
it can do (``packable``: several runs in one compiled step on a GPU; ``uses_steps``: trained for the grid's
optimizer steps). A new kind is one class in a new file here and one entry in :data:`KINDS`.
"""
from __future__ import annotations

from benchmark.estimators.base import Estimator
from benchmark.estimators.keras_estimator import KerasEstimator
from benchmark.estimators.sklearn_estimator import SklearnEstimator

KINDS: dict[str, type[Estimator]] = {"keras": KerasEstimator, "sklearn": SklearnEstimator}


def estimator_class(model: str) -> type[Estimator]:
    """The estimator class that trains the registered ``model``."""
    from models import model_estimator

    return KINDS[model_estimator(model)]


def make_estimator(model: str, input_shape: tuple[int, ...], n_classes: int, seed: int, features: int = 0,
                   hyperparameters: dict | None = None) -> Estimator:
    """A fresh estimator of ``model`` for one run; ``features``: how many of the input's last positions are
    appended features (``benchmark.data.inputs``); ``hyperparameters``: its builder's, where tuned."""
    return estimator_class(model)(model, input_shape, n_classes, seed, features=features,
                                  hyperparameters=hyperparameters)


def load_estimator(model: str, path, n_classes: int | None = None) -> Estimator:
    """A saved model of ``model`` (``Estimator.save``), ready to predict."""
    return estimator_class(model).load(model, path, n_classes)


__all__ = ["Estimator", "KINDS", "KerasEstimator", "SklearnEstimator", "estimator_class", "load_estimator",
           "make_estimator"]
