"""Trained models in Keras' native ``.keras`` format (no pickle), without optimizer state.

A saved model is the registered builder's architecture with the weights a run tested (its best
validation check), and loads with plain Keras. A run's test predictions are that model's, computed by
``predict_probabilities``, the one function that predicts with a trained model (trainer, packed
training and ``evaluate``): so ``evaluate`` on the same backend and hardware reproduces them exactly,
also for runs trained in a pack, whose batched graph runs other GPU kernels than one model does.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

PREDICT_BATCH = 2048


def model_bytes(model_name: str, input_shape: tuple[int, ...], weights: list) -> bytes:
    """The ``.keras`` file of a fresh, uncompiled ``model_name`` holding ``weights`` (``get_weights`` order)."""
    from models import build_model

    model = build_model(model_name, input_shape=input_shape)
    model.set_weights(weights)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved.keras"  # Keras needs the suffix
        model.save(path)
        return path.read_bytes()


def load_model(path: Path):
    import keras

    return keras.saving.load_model(path, compile=False)


def model_from_bytes(data: bytes):
    """The model of a ``.keras`` file's bytes (``model_bytes``), loaded as ``load_model`` loads a file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved.keras"
        path.write_bytes(data)
        return load_model(path)


def predict_probabilities(model, x: np.ndarray) -> np.ndarray:
    """Class probabilities (n, classes) of beats ``x``, (n, length) or (n, length, 1)."""
    x = x[..., None] if x.ndim == 2 else x
    return np.asarray(model.predict(x, batch_size=PREDICT_BATCH, verbose=0))
