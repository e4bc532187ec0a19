"""Baseline MLP (the efsxanth oversampling study): Flatten → Dense 128 → Dropout → softmax."""
import keras

from benchmark.search_space import FloatRange, IntRange
from models.registry import register_model

SEARCH_SPACE = {"units": IntRange(32, 256, step=32), "dropout": FloatRange(0.0, 0.5, step=0.05)}


@register_model(flat=True, search_space=SEARCH_SPACE)
def mlp(input_shape, n_classes, units=128, dropout=0.2):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(units, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mlp")
