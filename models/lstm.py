"""Stacked LSTM: two LSTM(64) layers (optionally bidirectional) → softmax."""
import keras

from benchmark.search_space import Choice, IntRange
from models.registry import register_model

# what a tune tries: the width (cost grows with it) and the direction (bidirectional doubles a step's cost)
SEARCH_SPACE = {"units": IntRange(32, 128, step=32), "bidirectional": Choice((False, True))}


@register_model(search_space=SEARCH_SPACE)
def lstm(input_shape, n_classes, units=64, bidirectional=False):
    def recurrent(return_sequences):
        layer = keras.layers.LSTM(units, return_sequences=return_sequences)
        return keras.layers.Bidirectional(layer) if bidirectional else layer

    inputs = keras.Input(shape=input_shape)
    x = recurrent(return_sequences=True)(inputs)
    x = recurrent(return_sequences=False)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lstm")
