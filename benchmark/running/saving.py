"""Trained models in Keras' native ``.keras`` format (no pickle), without optimizer state.

A saved model is the registered builder's architecture with the weights a run tested (its best
validation check), so it predicts exactly what the run predicted and loads with plain Keras.
"""
from __future__ import annotations

import tempfile
from pathlib import Path


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
